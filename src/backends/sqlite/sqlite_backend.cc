// The SQLite DataBackend: one table per collection, `_id TEXT PRIMARY KEY, doc TEXT NOT NULL`,
// the document stored as the JSON text Value::to_json writes. Filters are compiled to SQL over
// the JSON1 functions (sql_compiler.h); updates are applied in C++ by the evaluator inside one
// transaction, because MongoDB's update language has no faithful SQL form.

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
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
// from the cache) and the connection is locked only for one step, so calls made between two
// next() calls, even on this thread, are never blocked by the cursor.
class StatementSource : public DocumentSource {
 public:
  // `compiled` holds the regexes bound to `stmt` as pointers, so it lives as long as it.
  StatementSource(std::shared_ptr<SqliteConnection> conn, Stmt stmt, CompiledFilter compiled,
                  std::optional<query::FilterNode> residual, query::Projection projection,
                  std::int64_t skip, std::int64_t limit)
      : conn_(std::move(conn)),
        stmt_(std::make_unique<Stmt>(std::move(stmt))),
        compiled_(std::move(compiled)),
        residual_(std::move(residual)),
        projection_(std::move(projection)),
        skip_(skip),
        limit_(limit) {}

  ~StatementSource() override {
    auto lock = conn_->lock();
    stmt_.reset();
  }

  std::optional<Document> next() override {
    if (!stmt_ || (limit_ > 0 && returned_ >= limit_)) {
      finish();
      return std::nullopt;
    }
    while (true) {
      std::string text;
      {
        auto lock = conn_->lock();
        if (!stmt_->step()) {
          stmt_.reset();
          return std::nullopt;
        }
        text = stmt_->column_text(0);
      }
      Value doc = Value::parse(text, "a document stored in " + conn_->uri());
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
    auto lock = conn_->lock();
    stmt_.reset();
  }

  std::shared_ptr<SqliteConnection> conn_;
  std::unique_ptr<Stmt> stmt_;
  CompiledFilter compiled_;
  std::optional<query::FilterNode> residual_;
  query::Projection projection_;
  std::int64_t skip_;
  std::int64_t limit_;
  std::int64_t returned_ = 0;
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
    conn_->exec("DROP TABLE IF EXISTS " + quote_identifier(collection));
  }

  void insert_many(const std::string& collection, const std::vector<Document>& docs) override {
    validate_collection_name(collection);
    if (docs.empty()) return;
    auto lock = conn_->lock();
    Transaction tx(*conn_);
    // Created inside the transaction: a failed first batch leaves no empty table behind.
    ensure_table(collection);
    Stmt s = conn_->prepare("INSERT INTO " + quote_identifier(collection) +
                            " (_id, doc) VALUES (?1, ?2)");
    for (std::size_t i = 0; i < docs.size(); ++i) insert_one(s, collection, docs[i], i);
    tx.commit();
  }

  Cursor find(const Find& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    query::Projection projection = query::parse_projection(q.projection);
    CompiledFilter cf = compile_filter(filter);
    auto lock = conn_->lock();
    if (!table_exists(q.collection)) {
      return Cursor(std::make_unique<VectorSource>(std::vector<Document>{}));
    }

    std::string sql =
        "SELECT doc FROM " + quote_identifier(q.collection) + " WHERE " + where_clause(cf);
    std::optional<query::FilterNode> residual;
    if (!cf.exact) residual = std::move(filter);

    if (!q.sort_keys.empty()) {
      return Cursor(std::make_unique<VectorSource>(
          sorted_find(q, cf, residual ? &*residual : nullptr, projection)));
    }

    std::int64_t skip = q.skip_n, limit = std::abs(q.limit_n);
    // Without sort keys the order is MongoDB's natural order, which is unspecified. A full scan
    // gives insertion order; an index search gives index order, and asking for rowid order there
    // would make SQLite pick the scan (it avoids the sort) instead of the index. Skip and limit
    // need one order to mean anything, so they get insertion order.
    if (skip > 0 || limit > 0) sql += " ORDER BY rowid";
    if (cf.exact) {
      // Without a residual check SQLite can skip and limit by itself.
      if (limit > 0 || skip > 0) {
        sql += " LIMIT " + std::to_string(limit > 0 ? limit : -1) + " OFFSET " +
               std::to_string(std::max<std::int64_t>(skip, 0));
      }
      skip = 0;
      limit = 0;
    }
    Stmt s = conn_->prepare_owned(sql);
    bind_filter(s.raw(), cf);
    return Cursor(std::make_unique<StatementSource>(conn_, std::move(s), std::move(cf),
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
      Stmt s = conn_->prepare("SELECT count(*) FROM " + table + " WHERE " + cf.sql);
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
    std::vector<Row> rows = matching_rows(q.collection, filter, cf, q.many);
    Stmt del =
        conn_->prepare("DELETE FROM " + quote_identifier(q.collection) + " WHERE rowid = ?1");
    for (const Row& r : rows) {
      del.bind_int(1, r.rowid);
      del.run();
      sqlite3_reset(del.raw());
      result.deleted_ids.push_back(r.id);
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
    Transaction tx(*conn_);
    ensure_table(collection);
    const std::string table = quote_identifier(collection);
    // The values at the path, for equality and ranges on non-array values...
    conn_->exec("CREATE INDEX IF NOT EXISTS " + quote_identifier(collection + "$v$" + path) +
                " ON " + table + " (json_extract(doc, " + literal + "))");
    // ...and the type at the path and at each prefix, so that the compiled filter's array
    // branches ("json_type(doc, p) = 'array' AND EXISTS (... json_each ...)") are index
    // searches too and the whole OR becomes a multi-index OR instead of a scan.
    for (std::size_t n = 1; n <= parts.size(); ++n) {
      std::vector<std::string> prefix(parts.begin(), parts.begin() + static_cast<long>(n));
      std::string dotted;
      for (const std::string& p : prefix) dotted += (dotted.empty() ? "" : ".") + p;
      conn_->exec("CREATE INDEX IF NOT EXISTS " + quote_identifier(collection + "$t$" + dotted) +
                  " ON " + table + " (json_type(doc, " + json_path_literal(prefix) + "))");
    }
    tx.commit();
  }

 private:
  static std::string where_clause(const CompiledFilter& cf) {
    return cf.exact ? cf.sql : "(" + cf.sql + ") IS NOT 0";
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

  bool table_exists(const std::string& collection) {
    Stmt s = conn_->prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
    s.bind_text(1, collection);
    return s.step();
  }

  void ensure_table(const std::string& collection) {
    conn_->exec("CREATE TABLE IF NOT EXISTS " + quote_identifier(collection) +
                " (_id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
  }

  void insert_one(Stmt& s, const std::string& collection, const Document& doc, std::size_t i) {
    const Value* id = doc.find("_id");
    if (!id || !id->is_string()) {
      throw Error(ErrorCode::invalid_argument, "document " + std::to_string(i) +
                                                   " of the insert into '" + collection +
                                                   "' has no string _id");
    }
    s.bind_text(1, id->as_string());
    s.bind_text(2, doc.to_json());
    int rc = sqlite3_step(s.raw());
    sqlite3_reset(s.raw());
    if (rc == SQLITE_DONE) return;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
      throw Error(ErrorCode::already_exists,
                  "duplicate _id '" + id->as_string() + "' in collection '" + collection + "'");
    }
    conn_->fail(rc, "inserting into '" + collection + "'");
  }

  // Rows matching the filter, in storage order, read completely before any write so that
  // writes cannot move rows under a running scan. Caller holds the lock and a transaction.
  std::vector<Row> matching_rows(const std::string& collection, const query::FilterNode& filter,
                                 const CompiledFilter& cf, bool many) {
    std::string sql = "SELECT rowid, _id, doc FROM " + quote_identifier(collection) + " WHERE " +
                      where_clause(cf) + " ORDER BY rowid";
    if (!many && cf.exact) sql += " LIMIT 1";
    Stmt s = conn_->prepare(sql);
    bind_filter(s.raw(), cf);
    std::vector<Row> rows;
    while (s.step()) {
      Row r{s.column_int(0), s.column_text(1), Value::parse(s.column_text(2))};
      if (!cf.exact && !query::matches(filter, r.doc)) continue;
      rows.push_back(std::move(r));
      if (!many) break;
    }
    return rows;
  }

  UpdateResult write_matching(const std::string& collection, const query::FilterNode& filter,
                              const query::Update& upd, bool many, bool upsert) {
    CompiledFilter cf = compile_filter(filter);
    auto lock = conn_->lock();
    UpdateResult result;
    if (!upsert && !table_exists(collection)) return result;
    // Checked again inside the transaction: another process may drop the table in between.
    Transaction tx(*conn_);
    const bool exists = table_exists(collection);
    std::vector<Row> rows;
    if (exists) rows = matching_rows(collection, filter, cf, many);
    const std::string table = quote_identifier(collection);
    if (!rows.empty()) {
      Stmt write = conn_->prepare("UPDATE " + table + " SET doc = ?1 WHERE rowid = ?2");
      for (const Row& r : rows) {
        ++result.matched;
        Value updated = query::apply_update(upd, r.doc);
        if (updated == r.doc) continue;
        write.bind_text(1, updated.to_json());
        write.bind_int(2, r.rowid);
        write.run();
        sqlite3_reset(write.raw());
        ++result.modified;
        result.modified_ids.push_back(r.id);
      }
    } else if (upsert) {
      Value doc = query::upsert_document(filter, upd);
      if (!doc.contains("_id")) {
        // _id first, as inserts store it.
        Object obj;
        obj.emplace_back("_id", Value(new_id()));
        for (auto& m : doc.as_object()) obj.push_back(std::move(m));
        doc = Value(std::move(obj));
      }
      ensure_table(collection);
      Stmt s = conn_->prepare("INSERT INTO " + table + " (_id, doc) VALUES (?1, ?2)");
      insert_one(s, collection, doc, 0);
      result.upserted_id = doc.find("_id")->as_string();
      result.modified_ids.push_back(*result.upserted_id);
    }
    tx.commit();
    return result;
  }

  std::shared_ptr<SqliteConnection> conn_;
};

}  // namespace

std::shared_ptr<DataBackend> make_sqlite_backend(std::shared_ptr<SqliteConnection> conn) {
  return std::make_shared<SqliteBackend>(std::move(conn));
}

}  // namespace sddb::detail
