// The SQLite DataBackend: one table per collection, `_id TEXT PRIMARY KEY, doc TEXT NOT NULL`,
// the document stored as the JSON text Value::to_json writes. Filters are compiled to SQL over
// the JSON1 functions (sql_compiler.h); updates are applied in C++ by the evaluator inside one
// transaction, because MongoDB's update language has no faithful SQL form.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backends/sqlite/sql_compiler.h"
#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

// Documents read from a statement one row per next(). The statement is the cursor's own (not
// from the cache). On a file it runs on a reader handle of its own (SqliteConnection::
// acquire_reader) inside a read transaction begun by find(), so it reads the snapshot of that
// moment and never takes the connection's lock. On :memory: it runs on the shared connection,
// locked only for one step, so calls made between two next() calls, even on this thread, are
// never blocked by the cursor.
class StatementSource : public DocumentSource {
 public:
  // `compiled` holds the regexes bound to `stmt` as pointers, so it lives as long as it.
  // `reader` (may be null) is returned to the connection when the cursor ends.
  StatementSource(std::shared_ptr<SqliteConnection> conn, sqlite3* reader, Stmt stmt,
                  CompiledFilter compiled, std::optional<query::FilterNode> residual,
                  query::Projection projection, std::int64_t skip, std::int64_t limit)
      : conn_(std::move(conn)),
        reader_(reader),
        stmt_(std::make_unique<Stmt>(std::move(stmt))),
        compiled_(std::move(compiled)),
        residual_(std::move(residual)),
        projection_(std::move(projection)),
        skip_(skip),
        limit_(limit),
        what_("a document stored in " + conn_->uri()) {}

  ~StatementSource() override { finish(); }

  std::optional<Document> next() override {
    if (!stmt_ || (limit_ > 0 && returned_ >= limit_)) {
      finish();
      return std::nullopt;
    }
    while (true) {
      Value doc;
      {
        std::unique_lock<std::recursive_mutex> lock;
        if (!reader_) lock = conn_->lock();
        bool row = false;
        try {
          row = stmt_->step();
        } catch (...) {
          // A reset statement would start again from the first row: end the cursor instead.
          finish();
          throw;
        }
        if (!row) {
          finish();
          return std::nullopt;
        }
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_->raw(), 0));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_->raw(), 0));
        doc = Value::parse(std::string_view(text ? text : "", size), what_);
      }
      if (residual_ && !query::matches(*residual_, doc)) continue;
      if (skip_ > 0) {
        --skip_;
        continue;
      }
      ++returned_;
      if (projection_.active) return query::apply_projection(projection_, doc);
      return doc;
    }
  }

 private:
  void finish() {
    if (!stmt_) return;
    if (reader_) {
      stmt_.reset();
      conn_->release_reader(reader_);
      reader_ = nullptr;
      return;
    }
    auto lock = conn_->lock();
    stmt_.reset();
  }

  std::shared_ptr<SqliteConnection> conn_;
  sqlite3* reader_;
  std::unique_ptr<Stmt> stmt_;
  CompiledFilter compiled_;
  std::optional<query::FilterNode> residual_;
  query::Projection projection_;
  std::int64_t skip_;
  std::int64_t limit_;
  std::int64_t returned_ = 0;
  std::string what_;
};

// Gives a reader handle back unless released(); for the steps of find() that may throw.
class ReaderLease {
 public:
  ReaderLease(SqliteConnection& conn, sqlite3* reader) : conn_(conn), reader_(reader) {}
  ~ReaderLease() { conn_.release_reader(reader_); }
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  sqlite3* get() const { return reader_; }
  sqlite3* release() { return std::exchange(reader_, nullptr); }

 private:
  SqliteConnection& conn_;
  sqlite3* reader_;
};

class VectorSource : public DocumentSource {
 public:
  explicit VectorSource(std::vector<Document> docs) : docs_(std::move(docs)) {}
  std::optional<Document> next() override {
    if (pos_ >= docs_.size()) return std::nullopt;
    return std::move(docs_[pos_++]);
  }

 private:
  std::vector<Document> docs_;
  std::size_t pos_ = 0;
};

// A path as it appears in an index name. SQLite compares index names without regard to ASCII
// case, so the indexes of "Name" and "name" would share one name and the second
// CREATE INDEX IF NOT EXISTS would make nothing. Upper-case letters are written as '^' and the
// letter in lower case ('^' itself as "^^"): lossless, and paths without either keep the names
// that files written before this have.
std::string index_name_part(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c >= 'A' && c <= 'Z') {
      out += '^';
      out += static_cast<char>(c - 'A' + 'a');
    } else if (c == '^') {
      out += "^^";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// The dotted prefixes ("a", "a.b") of the paths the filter walks from the document root. The
// children of $elemMatch walk from an element, so they are left out.
void collect_prefixes(const query::FilterNode& n, std::set<std::string>& out) {
  std::string dotted;
  for (const std::string& part : n.path.parts) {
    dotted += (dotted.empty() ? "" : ".") + part;
    out.insert(dotted);
  }
  if (n.kind == query::FilterNode::Kind::elem_match) return;
  for (const query::FilterNode& c : n.children) collect_prefixes(c, out);
}

// A matching row read inside a write transaction.
struct Row {
  std::int64_t rowid;
  std::string id;
  Value doc;
};

class SqliteBackend : public DataBackend {
 public:
  explicit SqliteBackend(std::shared_ptr<SqliteConnection> conn) : conn_(std::move(conn)) {}

  std::string uri() const override { return conn_->uri(); }

  std::vector<std::string> list_collections() override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    std::vector<std::string> out;
    while (s.step()) {
      std::string name = s.column_text(0);
      // sddb's own tables start with '_', SQLite's with "sqlite_"; collections never do.
      if (name.empty() || name[0] == '_' || name.rfind("sqlite_", 0) == 0) continue;
      out.push_back(std::move(name));
    }
    return out;
  }

  void drop_collection(const std::string& collection) override {
    validate_collection_name(collection);
    auto lock = conn_->lock();
    // Exact names only: "DROP TABLE People" would drop "people" (see create_table).
    if (!table_exists(collection)) return;
    conn_->exec("DROP TABLE IF EXISTS " + quote_identifier(collection));
  }

  void insert_many(const std::string& collection, const std::vector<Document>& docs) override {
    validate_collection_name(collection);
    if (docs.empty()) return;
    auto lock = conn_->lock();
    const bool created = create_table(collection);
    try {
      Transaction tx(*conn_);
      Stmt s = conn_->prepare("INSERT INTO " + quote_identifier(collection) +
                              " (_id, doc) VALUES (?1, ?2)");
      std::string buffer;
      for (std::size_t i = 0; i < docs.size(); ++i) insert_one(s, collection, docs[i], i, buffer);
      tx.commit();
    } catch (...) {
      if (created) drop_if_empty(collection);
      throw;
    }
  }

  Cursor find(const Find& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    query::Projection projection = query::parse_projection(q.projection);
    CompiledFilter cf = compile_filter(filter);
    std::optional<query::FilterNode> residual;
    if (!cf.exact) residual = std::move(filter);

    if (!q.sort_keys.empty()) {
      auto lock = conn_->lock();
      if (!table_exists(q.collection)) return empty_cursor();
      return Cursor(std::make_unique<VectorSource>(
          sorted_find(q, cf, residual ? &*residual : nullptr, projection)));
    }

    std::string where = where_clause(cf);
    std::string tail;
    std::int64_t skip = q.skip_n, limit = std::abs(q.limit_n);
    // Without sort keys the order is MongoDB's natural order, which is unspecified. A full scan
    // gives insertion order; an index search gives index order, and asking for rowid order there
    // would make SQLite pick the scan (it avoids the sort) instead of the index. Skip and limit
    // need one order to mean anything, so they get insertion order.
    if (skip > 0 || limit > 0) tail += " ORDER BY rowid";
    if (cf.exact) {
      // Without a residual check SQLite can skip and limit by itself.
      if (limit > 0 || skip > 0) {
        tail += " LIMIT " + std::to_string(limit > 0 ? limit : -1) + " OFFSET " +
                std::to_string(std::max<std::int64_t>(skip, 0));
      }
      skip = 0;
      limit = 0;
    }
    const std::string table = quote_identifier(q.collection);
    const std::string from = source(q.collection, filter, cf);  // reads filter only if exact

    ReaderLease reader(*conn_, conn_->acquire_reader());
    if (reader.get()) {
      // The read transaction begins here, with the existence check, so the cursor reads the
      // data as of this call whatever is written before or during its iteration.
      conn_->exec("BEGIN", reader.get());
      {
        Stmt e = conn_->prepare_owned(kTableExistsSql, reader.get());
        e.bind_text(1, q.collection);
        if (!e.step()) return empty_cursor();
      }
      if (cf.exact) {
        // Paths proven array-free in this read transaction's snapshot lose their array branches.
        std::set<std::string> free = array_free_paths(q.collection, filter, reader.get());
        if (!free.empty()) recompile(filter, free, cf, where);
      }
      Stmt s =
          conn_->prepare_owned("SELECT doc FROM " + from + " WHERE " + where + tail, reader.get());
      bind_filter(s.raw(), cf);
      return Cursor(std::make_unique<StatementSource>(conn_, reader.release(), std::move(s),
                                                      std::move(cf), std::move(residual),
                                                      std::move(projection), skip, limit));
    }

    // :memory: has no second handle, so the cursor shares the connection and sees its writes.
    // Rows inserted after this call have higher rowids and are left out, so that a loop that
    // inserts into the collection it iterates ends.
    auto lock = conn_->lock();
    if (!table_exists(q.collection)) return empty_cursor();
    std::int64_t max_rowid = 0;
    {
      Stmt m = conn_->prepare("SELECT max(rowid) FROM " + table);
      if (!m.step() || m.column_is_null(0)) return empty_cursor();
      max_rowid = m.column_int(0);
    }
    if (cf.exact) {
      // :memory: has no other connection, and this one is locked until the statement is made.
      std::set<std::string> free = array_free_paths(q.collection, filter, nullptr);
      if (!free.empty()) recompile(filter, free, cf, where);
    }
    // The unary '+' keeps the planner from trading an index search for a rowid range.
    Stmt s = conn_->prepare_owned("SELECT doc FROM " + from + " WHERE (" + where +
                                  ") AND +rowid <= " + std::to_string(max_rowid) + tail);
    bind_filter(s.raw(), cf);
    return Cursor(std::make_unique<StatementSource>(conn_, nullptr, std::move(s), std::move(cf),
                                                    std::move(residual), std::move(projection),
                                                    skip, limit));
  }

  std::int64_t count(const Count& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    CompiledFilter cf = compile_filter(filter);
    auto lock = conn_->lock();
    if (!table_exists(q.collection)) return 0;
    const std::string table = quote_identifier(q.collection);
    if (cf.exact) {
      Stmt s = conn_->prepare("SELECT count(*) FROM " + source(q.collection, filter, cf) +
                              " WHERE " + cf.sql);
      bind_filter(s.raw(), cf);
      s.step();
      return s.column_int(0);
    }
    // Rows the SQL decides are counted in SQL; only the undecided ones are parsed.
    Stmt s = conn_->prepare("SELECT count(*) FROM " + table + " WHERE (" + cf.sql + ") IS 1");
    bind_filter(s.raw(), cf);
    s.step();
    std::int64_t n = s.column_int(0);
    Stmt u = conn_->prepare("SELECT doc FROM " + table + " WHERE (" + cf.sql + ") IS NULL");
    bind_filter(u.raw(), cf);
    while (u.step()) {
      if (query::matches(filter, Value::parse(u.column_text(0)))) ++n;
    }
    return n;
  }

  UpdateResult update(const UpdateMany& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    query::Update upd = query::parse_update(q.update);
    return write_matching(q.collection, filter, upd, q.many, q.upsert);
  }

  UpdateResult replace_one(const ReplaceOne& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    query::Update upd = query::parse_update(q.replacement, /*replacement_only=*/true);
    return write_matching(q.collection, filter, upd, /*many=*/false, q.upsert);
  }

  DeleteResult remove(const DeleteMany& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    CompiledFilter cf = compile_filter(filter);
    auto lock = conn_->lock();
    DeleteResult result;
    if (!table_exists(q.collection)) return result;
    Transaction tx(*conn_);
    // Checked again inside the transaction: another process may drop the table in between.
    if (!table_exists(q.collection)) return result;
    const std::string table = quote_identifier(q.collection);
    if (cf.exact) {
      // Proven inside this write transaction, so no writer can add an array before the DELETE.
      std::set<std::string> free = array_free_paths(q.collection, filter, nullptr);
      std::string unused;
      if (!free.empty()) recompile(filter, free, cf, unused);
    }
    if (cf.exact) {
      // SQL decides alone: no document is read into C++, only the deleted _ids come back.
      const std::string from = source(q.collection, filter, cf);
      std::string sql = "DELETE FROM " + (q.many ? from : table) + " WHERE ";
      sql += q.many ? cf.sql
                    : "rowid = (SELECT rowid FROM " + from + " WHERE " + cf.sql +
                          " ORDER BY rowid LIMIT 1)";
      Stmt del = conn_->prepare(sql + " RETURNING _id");
      bind_filter(del.raw(), cf);
      while (del.step()) result.deleted_ids.push_back(del.column_text(0));
    } else {
      Stmt del = conn_->prepare("DELETE FROM " + table + " WHERE rowid = ?1");
      for_each_match(q.collection, filter, cf, q.many, [&](const Row& r) {
        del.bind_int(1, r.rowid);
        del.run();
        sqlite3_reset(del.raw());
        result.deleted_ids.push_back(r.id);
      });
    }
    tx.commit();
    result.deleted = static_cast<std::int64_t>(result.deleted_ids.size());
    return result;
  }

  void create_index(const std::string& collection, const std::string& path) override {
    validate_collection_name(collection);
    std::vector<std::string> parts = split_path(path);
    for (const std::string& p : parts) {
      if (p.empty()) {
        throw Error(ErrorCode::invalid_argument,
                    "cannot index '" + path + "' on '" + collection + "': not a field path");
      }
    }
    const std::string literal = json_path_literal(parts);
    if (literal.empty()) {
      throw Error(ErrorCode::not_supported, "cannot index '" + path + "' on '" + collection +
                                                "': SQLite JSON paths cannot name a field with "
                                                "a '\"' in it");
    }
    auto lock = conn_->lock();
    create_table(collection);
    Transaction tx(*conn_);
    const std::string table = quote_identifier(collection);
    // The values at the path, for equality and ranges on non-array values...
    conn_->exec("CREATE INDEX IF NOT EXISTS " +
                quote_identifier(collection + "$v$" + index_name_part(path)) + " ON " + table +
                " (json_extract(doc, " + literal + "))");
    // ...and the type at the path and at each prefix, so that the compiled filter's array
    // branches ("json_type(doc, p) = 'array' AND EXISTS (... json_each ...)") are index
    // searches too and the whole OR becomes a multi-index OR instead of a scan.
    for (std::size_t n = 1; n <= parts.size(); ++n) {
      std::vector<std::string> prefix(parts.begin(), parts.begin() + static_cast<long>(n));
      std::string dotted;
      for (const std::string& p : prefix) dotted += (dotted.empty() ? "" : ".") + p;
      conn_->exec("CREATE INDEX IF NOT EXISTS " +
                  quote_identifier(collection + "$t$" + index_name_part(dotted)) + " ON " + table +
                  " (json_type(doc, " + json_path_literal(prefix) + "))");
    }
    tx.commit();
  }

 private:
  static std::string where_clause(const CompiledFilter& cf) {
    return cf.exact ? cf.sql : "(" + cf.sql + ") IS NOT 0";
  }

  // The collection's table for FROM, searched by its primary key when an exact filter asks for
  // given ids (sql_compiler.h, searches_key).
  static std::string source(const std::string& collection, const query::FilterNode& filter,
                            const CompiledFilter& cf) {
    const std::string table = quote_identifier(collection);
    if (!cf.exact || !searches_key(filter)) return table;
    return table + " INDEXED BY " + quote_identifier("sqlite_autoindex_" + collection + "_1");
  }

  // Recompiles an exact filter without the array branches of the paths in `free`; keeps the
  // first compilation unless the new one is exact too.
  static void recompile(const query::FilterNode& filter, const std::set<std::string>& free,
                        CompiledFilter& cf, std::string& where) {
    CompiledFilter narrowed = compile_filter(filter, &free);
    if (!narrowed.exact) return;
    cf = std::move(narrowed);
    where = where_clause(cf);
  }

  // The prefixes of the filter's paths that hold no array in any document, proven with the type
  // indexes that create_index makes (an index search each). Prefixes without a type index are
  // left out: proving them would read the whole table. Runs on `reader` (inside its read
  // transaction) or, when null, on the shared connection (caller holds lock(), inside the
  // transaction whose statements use the answer), so the answer holds for that snapshot.
  std::set<std::string> array_free_paths(const std::string& collection,
                                         const query::FilterNode& filter, sqlite3* reader) {
    std::set<std::string> prefixes, out;
    collect_prefixes(filter, prefixes);
    if (prefixes.empty()) return out;
    auto prepare = [&](const std::string& sql) {
      return reader ? conn_->prepare_owned(sql, reader) : conn_->prepare(sql);
    };
    const std::string table = quote_identifier(collection);
    for (const std::string& dotted : prefixes) {
      const std::string literal = json_path_literal(split_path(dotted));
      if (literal.empty()) continue;
      {
        Stmt idx = prepare(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1 AND tbl_name = ?2");
        idx.bind_text(1, collection + "$t$" + index_name_part(dotted));
        idx.bind_text(2, collection);
        if (!idx.step()) continue;
      }
      Stmt probe = prepare("SELECT 1 FROM " + table + " WHERE json_type(doc, " + literal +
                           ") = 'array' LIMIT 1");
      if (!probe.step()) out.insert(dotted);
    }
    return out;
  }

  // ORDER BY for the documents whose sort keys are plain scalars: no array on any sort path and
  // no object at its end. For them MongoDB's order is (type rank, value) with missing as null,
  // which SQL can say exactly: SQLite compares integers with reals exactly and text bytewise,
  // as the evaluator does. Empty when a path cannot be written as a SQLite JSON path.
  struct SortSql {
    std::string simple;  // the condition "this document's keys are plain scalars"
    std::string order_by;
  };
  static std::optional<SortSql> sort_sql(const std::vector<SortKey>& keys) {
    SortSql out;
    for (const SortKey& k : keys) {
      std::vector<std::string> parts = split_path(k.path);
      const std::string p = json_path_literal(parts);
      if (p.empty()) return std::nullopt;
      for (std::size_t n = 1; n < parts.size(); ++n) {
        std::vector<std::string> prefix(parts.begin(), parts.begin() + static_cast<long>(n));
        out.simple += (out.simple.empty() ? "" : " AND ") + std::string("json_type(doc, ") +
                      json_path_literal(prefix) + ") IS NOT 'array'";
      }
      const std::string t = "json_type(doc, " + p + ")";
      out.simple +=
          (out.simple.empty() ? "" : " AND ") + t + " IS NOT 'array' AND " + t + " IS NOT 'object'";
      const char* dir = k.direction < 0 ? " DESC" : "";
      // Ranks as the evaluator's type_rank: null (and missing) < numbers < strings < booleans.
      out.order_by += (out.order_by.empty() ? "" : ", ") + std::string("CASE WHEN ") + t +
                      " IN ('integer','real') THEN 2 WHEN " + t + " = 'text' THEN 3 WHEN " + t +
                      " IN ('true','false') THEN 8 ELSE 1 END" + dir + ", json_extract(doc, " + p +
                      ")" + dir;
    }
    return out;
  }

  // A sorted find. Documents with plain scalar keys come ordered (and, with a limit, cut) from
  // SQLite; the others (arrays on a sort path, objects as keys: MongoDB orders those by smallest
  // or largest element and by BSON object order) are sorted in C++ with the evaluator's
  // compare_for_sort, and the two ordered runs are merged. Ties keep insertion order, as the
  // evaluator's stable sort does.
  std::vector<Document> sorted_find(const Find& q, const CompiledFilter& cf,
                                    const query::FilterNode* residual,
                                    const query::Projection& projection) {
    struct Item {
      std::int64_t rowid;
      Document doc;
    };
    const std::string base =
        "SELECT rowid, doc FROM " + quote_identifier(q.collection) + " WHERE " + where_clause(cf);
    const std::size_t skip = static_cast<std::size_t>(std::max<std::int64_t>(q.skip_n, 0));
    const std::size_t limit = static_cast<std::size_t>(std::abs(q.limit_n));
    auto read = [&](const std::string& sql, std::size_t max_rows) {
      Stmt s = conn_->prepare(sql);
      bind_filter(s.raw(), cf);
      std::vector<Item> items;
      while ((max_rows == 0 || items.size() < max_rows) && s.step()) {
        Value doc = Value::parse(s.column_text(1), "a document stored in " + conn_->uri());
        if (residual && !query::matches(*residual, doc)) continue;
        items.push_back({s.column_int(0), std::move(doc)});
      }
      return items;
    };
    auto before = [&](const Item& a, const Item& b) {
      int c = query::compare_for_sort(q.sort_keys, a.doc, b.doc);
      return c != 0 ? c < 0 : a.rowid < b.rowid;
    };

    std::vector<Item> simple, complex;
    if (std::optional<SortSql> ss = sort_sql(q.sort_keys)) {
      simple = read(base + " AND (" + ss->simple + ") ORDER BY " + ss->order_by + ", rowid",
                    limit > 0 ? skip + limit : 0);
      complex = read(base + " AND NOT (" + ss->simple + ") ORDER BY rowid", 0);
    } else {
      complex = read(base + " ORDER BY rowid", 0);
    }
    // As the evaluator does: parallel arrays are an error whatever order the documents are in.
    for (const Item& i : complex) (void)query::compare_for_sort(q.sort_keys, i.doc, i.doc);
    std::stable_sort(complex.begin(), complex.end(), before);

    std::vector<Document> out;
    std::size_t a = 0, b = 0, position = 0;
    while (a < simple.size() || b < complex.size()) {
      if (limit > 0 && out.size() >= limit) break;
      const bool take_simple =
          b >= complex.size() || (a < simple.size() && before(simple[a], complex[b]));
      Item& next = take_simple ? simple[a++] : complex[b++];
      if (position++ < skip) continue;
      out.push_back(projection.active ? query::apply_projection(projection, next.doc)
                                      : std::move(next.doc));
    }
    return out;
  }

  static constexpr const char* kTableExistsSql =
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";

  // Exact: '=' compares names byte for byte, while SQLite resolves table names without regard
  // to ASCII case (see create_table).
  bool table_exists(const std::string& collection) {
    Stmt s = conn_->prepare(kTableExistsSql);
    s.bind_text(1, collection);
    return s.step();
  }

  static Cursor empty_cursor() {
    return Cursor(std::make_unique<VectorSource>(std::vector<Document>{}));
  }

  // Makes the collection's table unless it exists; true when this call made it. Runs in a
  // transaction of its own, committed before the caller's writes: a rolled-back transaction
  // that changed the schema makes SQLite abort every statement running on the connection,
  // which would kill unrelated open cursors (on :memory:) with SQLITE_ABORT_ROLLBACK.
  //
  // SQLite resolves table names without regard to ASCII case, so "People" would be the table
  // of "people", while sddb's (and MongoDB's) collection names are case-sensitive. Mapping names
  // to tables losslessly would rename the tables of every file already written, so instead a
  // name that differs only in case from an existing collection is refused (already_exists), and
  // lookups compare names exactly: while "people" exists, "People" is an empty collection that
  // cannot be written to.
  bool create_table(const std::string& collection) {
    if (table_exists(collection)) return false;
    Transaction tx(*conn_);
    Stmt s = conn_->prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE");
    s.bind_text(1, collection);
    if (s.step()) {
      const std::string existing = s.column_text(0);
      if (existing == collection) return false;  // made meanwhile by another connection
      throw Error(ErrorCode::already_exists,
                  "cannot create collection '" + collection + "': collection '" + existing +
                      "' exists, and SQLite table names differ only in case");
    }
    conn_->exec("CREATE TABLE " + quote_identifier(collection) +
                " (_id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
    tx.commit();
    return true;
  }

  // Undoes create_table after the write it was made for failed, so that a failed first write
  // leaves no empty collection behind. Best effort: the table stays when another connection
  // has written to it meanwhile, or when a cursor runs on this connection (DROP TABLE would
  // fail with SQLITE_LOCKED; only :memory: cursors share the connection).
  void drop_if_empty(const std::string& collection) noexcept {
    try {
      for (sqlite3_stmt* st = sqlite3_next_stmt(conn_->handle(), nullptr); st;
           st = sqlite3_next_stmt(conn_->handle(), st)) {
        if (sqlite3_stmt_busy(st)) return;
      }
      Transaction tx(*conn_);
      const std::string table = quote_identifier(collection);
      {
        Stmt s = conn_->prepare("SELECT 1 FROM " + table + " LIMIT 1");
        if (s.step()) return;
      }
      conn_->exec("DROP TABLE " + table);
      tx.commit();
    } catch (const Error&) {
      // The original error is the one to report.
    }
  }

  // `buffer` is reused across one batch: the JSON text is bound without a copy.
  void insert_one(Stmt& s, const std::string& collection, const Document& doc, std::size_t i,
                  std::string& buffer) {
    const Value* id = doc.find("_id");
    if (!id || !id->is_string()) {
      throw Error(ErrorCode::invalid_argument, "document " + std::to_string(i) +
                                                   " of the insert into '" + collection +
                                                   "' has no string _id");
    }
    buffer.clear();
    doc.append_json(buffer);
    s.bind_text_static(1, id->as_string());
    s.bind_text_static(2, buffer);
    int rc = sqlite3_step(s.raw());
    sqlite3_reset(s.raw());
    if (rc == SQLITE_DONE) return;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
      throw Error(ErrorCode::already_exists,
                  "duplicate _id '" + id->as_string() + "' in collection '" + collection + "'");
    }
    conn_->fail(rc, "inserting into '" + collection + "'");
  }

  // Calls `f` for each row matching the filter (only the first with !many), in rowid order.
  // Rows are read in chunks of kChunkRows candidates, each read completely before `f` writes,
  // so that writes cannot move rows under a running scan and memory stays bounded by a chunk.
  // Rowids of updated rows do not change, so a chunk never sees a row twice. Caller holds the
  // lock and a transaction.
  static constexpr int kChunkRows = 512;
  template <typename F>
  void for_each_match(const std::string& collection, const query::FilterNode& filter,
                      const CompiledFilter& cf, bool many, F&& f) {
    int after_param = static_cast<int>(cf.params.size());
    for (const auto& [index, regex] : cf.regex_params) after_param = std::max(after_param, index);
    ++after_param;
    const std::string sql = "SELECT rowid, _id, doc FROM " + source(collection, filter, cf) +
                            " WHERE rowid > ?" + std::to_string(after_param) + " AND (" +
                            where_clause(cf) + ") ORDER BY rowid LIMIT " +
                            std::to_string(!many && cf.exact ? 1 : kChunkRows);
    std::int64_t after = std::numeric_limits<std::int64_t>::min();
    std::vector<Row> rows;
    while (true) {
      rows.clear();
      int candidates = 0;
      {
        Stmt s = conn_->prepare(sql);
        bind_filter(s.raw(), cf);
        s.bind_int(after_param, after);
        while (s.step()) {
          ++candidates;
          after = s.column_int(0);
          Row r{after, s.column_text(1), Value::parse(s.column_text(2))};
          if (!cf.exact && !query::matches(filter, r.doc)) continue;
          rows.push_back(std::move(r));
          if (!many) break;
        }
      }
      for (const Row& r : rows) f(r);
      if ((!many && !rows.empty()) || candidates < kChunkRows) return;
    }
  }

  UpdateResult write_matching(const std::string& collection, const query::FilterNode& filter,
                              const query::Update& upd, bool many, bool upsert) {
    CompiledFilter cf = compile_filter(filter);
    auto lock = conn_->lock();
    UpdateResult result;
    if (!upsert && !table_exists(collection)) return result;
    const bool created = upsert && create_table(collection);
    try {
      // Checked again inside the transaction: another process may drop the table in between.
      Transaction tx(*conn_);
      const std::string table = quote_identifier(collection);
      if (!table_exists(collection)) {
        if (!upsert) return result;
        conn_->exec("CREATE TABLE IF NOT EXISTS " + table +
                    " (_id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
      }
      if (cf.exact) {
        // Proven inside this write transaction. The writes below change only rows already read
        // (for_each_match reads in rowid order, past the last row read), so the rows it reads
        // later are as proven.
        std::set<std::string> free = array_free_paths(collection, filter, nullptr);
        std::string unused;
        if (!free.empty()) recompile(filter, free, cf, unused);
      }
      {
        Stmt write = conn_->prepare("UPDATE " + table + " SET doc = ?1 WHERE rowid = ?2");
        std::string buffer;
        for_each_match(collection, filter, cf, many, [&](const Row& r) {
          ++result.matched;
          Value updated = query::apply_update(upd, r.doc);
          if (updated == r.doc) return;
          buffer.clear();
          updated.append_json(buffer);
          write.bind_text_static(1, buffer);
          write.bind_int(2, r.rowid);
          write.run();
          sqlite3_reset(write.raw());
          ++result.modified;
          result.modified_ids.push_back(r.id);
        });
      }
      if (result.matched == 0 && upsert) {
        Value doc = query::upsert_document(filter, upd);
        if (!doc.contains("_id")) {
          // _id first, as inserts store it.
          Object obj;
          obj.emplace_back("_id", Value(new_id()));
          for (auto& m : doc.as_object()) obj.push_back(std::move(m));
          doc = Value(std::move(obj));
        }
        Stmt s = conn_->prepare("INSERT INTO " + table + " (_id, doc) VALUES (?1, ?2)");
        std::string buffer;
        insert_one(s, collection, doc, 0, buffer);
        result.upserted_id = doc.find("_id")->as_string();
        result.modified_ids.push_back(*result.upserted_id);
      }
      tx.commit();
    } catch (...) {
      if (created) drop_if_empty(collection);
      throw;
    }
    return result;
  }

  std::shared_ptr<SqliteConnection> conn_;

  // --- model outputs (design §5) ---
  // seq is the rowid. Its high-water mark lives in _outputs_seq and only grows, even when the
  // rows with the highest seq are deleted, so a reader that saw everything up to seq S catches
  // up with "seq > S". A rewritten row is deleted and inserted again (INSERT OR REPLACE on the
  // unique _id) with a new seq. (AUTOINCREMENT would do the same with a write to
  // sqlite_sequence per row; this is one per transaction.)
  void create_outputs(const std::string& table) override {
    validate_outputs_name(table);
    auto lock = conn_->lock();
    Transaction tx(*conn_);
    conn_->exec(
        "CREATE TABLE IF NOT EXISTS _outputs_seq (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    conn_->exec("CREATE TABLE IF NOT EXISTS " + quote_identifier(table) +
                " (seq INTEGER PRIMARY KEY, _id TEXT NOT NULL UNIQUE, output BLOB NOT NULL, "
                "model_version INTEGER NOT NULL)");
    tx.commit();
  }

  void drop_outputs(const std::string& table) override {
    validate_outputs_name(table);
    auto lock = conn_->lock();
    if (!table_exists(table)) return;
    Transaction tx(*conn_);
    conn_->exec("DROP TABLE " + quote_identifier(table));
    Stmt s = conn_->prepare("DELETE FROM _outputs_seq WHERE name = ?1");
    s.bind_text(1, table);
    s.run();
    tx.commit();
  }

  void write_outputs(const std::string& table, const std::vector<OutputRow>& rows) override {
    put_outputs(table, rows, /*replace=*/true);
  }

  std::size_t insert_missing_outputs(const std::string& table,
                                     const std::vector<OutputRow>& rows) override {
    return put_outputs(table, rows, /*replace=*/false);
  }

  // Writes rows in one transaction: every row (replace) or those whose _id has none yet.
  // Returns how many rows were written.
  std::size_t put_outputs(const std::string& table, const std::vector<OutputRow>& rows,
                          bool replace) {
    validate_outputs_name(table);
    if (rows.empty()) return 0;
    auto lock = conn_->lock();
    require_outputs(table);
    Transaction tx(*conn_);
    std::int64_t seq = 0;
    {
      Stmt h = conn_->prepare("SELECT seq FROM _outputs_seq WHERE name = ?1");
      h.bind_text(1, table);
      if (h.step()) seq = h.column_int(0);
      sqlite3_reset(h.raw());
    }
    Stmt s = conn_->prepare(std::string(replace ? "INSERT OR REPLACE" : "INSERT") + " INTO " +
                            quote_identifier(table) +
                            " (seq, _id, output, model_version) VALUES (?1, ?2, ?3, ?4)" +
                            (replace ? "" : " ON CONFLICT (_id) DO NOTHING"));
    std::size_t written = 0;
    for (const OutputRow& r : rows) {
      s.bind_int(1, seq + 1);
      s.bind_text_static(2, r.id);
      sqlite3_bind_blob(s.raw(), 3, r.vector.data(),
                        static_cast<int>(r.vector.size() * sizeof(float)), SQLITE_STATIC);
      s.bind_int(4, r.model_version);
      s.run();
      sqlite3_reset(s.raw());
      if (sqlite3_changes(conn_->handle()) > 0) {
        ++seq;
        ++written;
      }
    }
    if (written == 0) return 0;
    Stmt h = conn_->prepare(
        "INSERT INTO _outputs_seq (name, seq) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq");
    h.bind_text(1, table);
    h.bind_int(2, seq);
    h.run();
    sqlite3_reset(h.raw());
    tx.commit();
    return written;
  }

  void delete_outputs(const std::string& table, const std::vector<std::string>& ids) override {
    validate_outputs_name(table);
    if (ids.empty()) return;
    auto lock = conn_->lock();
    if (!table_exists(table)) return;
    Transaction tx(*conn_);
    Stmt s = conn_->prepare("DELETE FROM " + quote_identifier(table) + " WHERE _id = ?1");
    for (const std::string& id : ids) {
      s.bind_text_static(1, id);
      s.run();
      sqlite3_reset(s.raw());
    }
    tx.commit();
  }

  void scan_outputs(const std::string& table, std::int64_t after_seq,
                    const std::function<void(const OutputRow&)>& fn) override {
    validate_outputs_name(table);
    // Read in pages under the lock, and call fn without it, so fn may use the DB.
    std::int64_t last = after_seq;
    for (;;) {
      std::vector<OutputRow> page;
      {
        auto lock = conn_->lock();
        require_outputs(table);
        Stmt s =
            conn_->prepare("SELECT seq, _id, output, model_version FROM " +
                           quote_identifier(table) + " WHERE seq > ?1 ORDER BY seq LIMIT 4096");
        s.bind_int(1, last);
        while (s.step()) page.push_back(read_output_row(s));
      }
      if (page.empty()) return;
      last = page.back().seq;
      for (const OutputRow& r : page) fn(r);
    }
  }

  std::vector<OutputRow> get_outputs(const std::string& table,
                                     const std::vector<std::string>& ids) override {
    validate_outputs_name(table);
    std::vector<OutputRow> out;
    auto lock = conn_->lock();
    require_outputs(table);
    Stmt s = conn_->prepare("SELECT seq, _id, output, model_version FROM " +
                            quote_identifier(table) + " WHERE _id = ?1");
    for (const std::string& id : ids) {
      s.bind_text_static(1, id);
      if (s.step()) out.push_back(read_output_row(s));
      sqlite3_reset(s.raw());
    }
    return out;
  }

  std::vector<std::string> output_ids(const std::string& table) override {
    validate_outputs_name(table);
    std::vector<std::string> out;
    auto lock = conn_->lock();
    require_outputs(table);
    Stmt s = conn_->prepare("SELECT _id FROM " + quote_identifier(table));
    while (s.step()) out.push_back(s.column_text(0));
    return out;
  }

 private:
  void require_outputs(const std::string& table) {
    if (!table_exists(table)) {
      throw Error(ErrorCode::not_found, "no outputs table '" + table + "'");
    }
  }

  static OutputRow read_output_row(const Stmt& s) {
    OutputRow r;
    r.seq = s.column_int(0);
    r.id = s.column_text(1);
    const int bytes = sqlite3_column_bytes(s.raw(), 2);
    const void* blob = sqlite3_column_blob(s.raw(), 2);
    if (bytes % sizeof(float) != 0) {
      throw Error(ErrorCode::corruption, "output of '" + r.id + "' has " + std::to_string(bytes) +
                                             " bytes, not a whole number of float32");
    }
    r.vector.resize(static_cast<std::size_t>(bytes) / sizeof(float));
    if (bytes > 0) std::memcpy(r.vector.data(), blob, static_cast<std::size_t>(bytes));
    r.model_version = s.column_int(3);
    return r;
  }

 public:
};

}  // namespace

std::shared_ptr<DataBackend> make_sqlite_backend(std::shared_ptr<SqliteConnection> conn) {
  return std::make_shared<SqliteBackend>(std::move(conn));
}

}  // namespace sddb::detail
