// The PostgreSQL DataBackend (layout in postgres.h). Filters select candidates in SQL
// (pg_compiler.h) and, unless the SQL is exact, each candidate is re-checked with the
// evaluator; updates are applied in C++ by the evaluator to rows locked FOR UPDATE inside one
// transaction, because MongoDB's update language has no faithful SQL form.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/postgres/pg_compiler.h"
#include "backends/postgres/pg_connection.h"
#include "backends/postgres/postgres.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/artifact_store.h"
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

constexpr int kFetchRows = 512;
constexpr std::size_t kMaxIdentifier = 63;  // PostgreSQL's NAMEDATALEN - 1
// The comment on a range index made by create_index, followed by the dotted path.
constexpr std::string_view kRangeComment = "sddb range index: ";

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

Cursor empty_cursor() { return Cursor(std::make_unique<VectorSource>(std::vector<Document>{})); }

// Documents from a server-side cursor, kFetchRows per round trip, re-checked and projected
// here. The next batch is asked for as soon as one arrives, so the server reads it while this
// side parses and re-checks the current one. Owns the lease (and its open transaction) until the
// result is exhausted or the cursor is destroyed; then the transaction ends and the connection
// goes back to the pool.
class PgCursorSource : public DocumentSource {
 public:
  PgCursorSource(std::shared_ptr<PgPool> pool, PgLease lease,
                 std::optional<query::FilterNode> residual, query::Projection projection,
                 std::int64_t skip, std::int64_t limit, std::string what)
      : pool_(std::move(pool)),
        lease_(std::make_unique<PgLease>(std::move(lease))),
        residual_(std::move(residual)),
        projection_(std::move(projection)),
        skip_(skip),
        limit_(limit),
        what_(std::move(what)) {
    try {
      fetch_next();
    } catch (...) {
      finish();
      throw;
    }
  }

  ~PgCursorSource() override { finish(); }

  std::optional<Document> next() override {
    while (lease_) {
      if (limit_ > 0 && returned_ >= limit_) break;
      if (row_ >= batch_.rows()) {
        if (!fetching_) break;  // the last batch was short
        try {
          fetching_ = false;
          batch_ = lease_->receive("reading " + what_);
          row_ = 0;
          // A full batch may have more behind it, unless it holds all the limit still wants.
          if (batch_.rows() == kFetchRows &&
              (limit_ == 0 || limit_ - returned_ + skip_ > batch_.rows())) {
            fetch_next();
          }
        } catch (...) {
          finish();
          throw;
        }
        if (batch_.rows() == 0) break;
      }
      Value doc = Value::parse(batch_.text(row_++, 0), "a document of " + what_);
      if (residual_ && !query::matches(*residual_, doc)) continue;
      if (skip_ > 0) {
        --skip_;
        continue;
      }
      ++returned_;
      if (projection_.active) return query::apply_projection(projection_, doc);
      return doc;
    }
    finish();
    return std::nullopt;
  }

 private:
  void fetch_next() {
    lease_->send("FETCH " + std::to_string(kFetchRows) + " FROM sddb_cursor", "reading " + what_);
    fetching_ = true;
  }

  void finish() {
    if (!lease_) return;
    batch_ = PgResult();
    if (PGconn* c = lease_->raw()) {
      // A batch asked for and not needed: read and dropped, so the connection is free.
      if (fetching_) {
        while (PGresult* r = PQgetResult(c)) PQclear(r);
      }
      // Ends the read-only transaction, which closes the cursor. A failure leaves the
      // connection outside a clean state and the pool closes it.
      PGresult* r = PQexec(c, "COMMIT");
      if (r) PQclear(r);
    }
    fetching_ = false;
    lease_.reset();
  }

  std::shared_ptr<PgPool> pool_;  // outlives the lease
  std::unique_ptr<PgLease> lease_;
  PgResult batch_;
  int row_ = 0;
  bool fetching_ = false;  // a FETCH was sent and its batch not yet received
  std::optional<query::FilterNode> residual_;
  query::Projection projection_;
  std::int64_t skip_;
  std::int64_t limit_;
  std::int64_t returned_ = 0;
  std::string what_;
};

// The _id named in a unique violation's detail, "Key (_id)=(x) already exists.", or nothing when
// the violation is about something else (a catalog race when two sessions create one table).
// The message holds the detail twice: in the server's text ("DETAIL:  Key ...", then CONTEXT
// lines) and, last, as PgLease::fail appends it, " (Key ...)". The _id starts after the first
// "Key (_id)=(" and ends at the first ") already exists." for which the copy at the end names
// the same _id, so an _id that itself holds that text comes back whole.
std::optional<std::string> duplicate_id(const Error& e) {
  const std::string msg = e.what();
  const std::string key = "Key (_id)=(";
  const std::string tail = ") already exists.";
  auto start = msg.find(key);
  if (start == std::string::npos) return std::nullopt;
  start += key.size();
  for (auto end = msg.find(tail, start); end != std::string::npos; end = msg.find(tail, end + 1)) {
    const std::string copy = "(" + key + msg.substr(start, end - start) + tail + ")";
    if (msg.size() >= copy.size() &&
        msg.compare(msg.size() - copy.size(), copy.size(), copy) == 0) {
      return msg.substr(start, end - start);
    }
  }
  return std::nullopt;
}

// COPY's text format: backslash, newline, carriage return and tab escaped.
void append_copy_field(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
}

std::string join_params_sql(const std::string& a, const std::string& b) {
  return a == "TRUE" ? b : "(" + a + ") AND " + b;
}

class PgBackend : public DataBackend {
 public:
  explicit PgBackend(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  std::string uri() const override { return pool_->uri(); }

  std::vector<std::string> list_collections() override {
    PgLease l = pool_->lease();
    PgResult r = l.exec(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
        "AND left(tablename, 1) <> '_' ORDER BY tablename COLLATE \"C\"",
        {}, "listing collections");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

  void drop_collection(const std::string& collection) override {
    validate_collection_name(collection);
    if (collection.size() > kMaxIdentifier) return;
    const std::string what = "dropping collection '" + collection + "'";
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    // DROP waits for every open cursor on the table; one held by the caller's own thread would
    // make it wait forever, so it gives up after a while with Error(conflict).
    l.run("SET LOCAL lock_timeout = '3s'", what);
    l.run("DROP TABLE IF EXISTS " + pg_quote_identifier(collection), what);
    tx.commit();
  }

  void insert_many(const std::string& collection, const std::vector<Document>& docs) override {
    validate_collection_name(collection);
    if (docs.empty()) return;
    check_length(collection);
    std::string data;
    std::string json;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      const Value* id = docs[i].find("_id");
      if (!id || !id->is_string()) {
        throw Error(ErrorCode::invalid_argument, "document " + std::to_string(i) +
                                                     " of the insert into '" + collection +
                                                     "' has no string _id");
      }
      append_copy_field(data, id->as_string());
      data += '\t';
      json.clear();
      docs[i].append_json(json);
      append_copy_field(data, json);
      data += '\n';
    }
    const std::string what = "inserting into '" + collection + "'";
    PgLease l = pool_->lease();
    for (int attempt = 0;; ++attempt) {
      try {
        PgTransaction tx(l);
        ensure_table(l, collection);
        l.copy_in("COPY " + pg_quote_identifier(collection) + " (_id, doc) FROM STDIN", data, what);
        tx.commit();
        return;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::already_exists) throw;
        if (auto id = duplicate_id(e)) {
          throw Error(ErrorCode::already_exists,
                      "duplicate _id '" + *id + "' in collection '" + collection + "'");
        }
        // Another session created the table at the same moment: the second try sees it.
        if (attempt > 0) throw;
      }
    }
  }

  Cursor find(const Find& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    query::Projection projection = query::parse_projection(q.projection);
    if (!q.sort_keys.empty()) (void)query::parse_sort(q.sort_keys);
    CompiledPgFilter cf = compile_pg_filter(filter);
    if (q.collection.size() > kMaxIdentifier) return empty_cursor();
    const std::string table = pg_quote_identifier(q.collection);
    const std::string what = "collection '" + q.collection + "'";

    PgLease l = pool_->lease();
    PgTransaction tx(l, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    std::optional<std::set<std::string>> ranges = range_indexes(l, q.collection);
    if (!ranges) return empty_cursor();
    if (!ranges->empty()) cf = compile_pg_filter(filter, 1, &*ranges);

    if (!q.sort_keys.empty()) {
      // The candidates in insertion order, then the reference does filter, sort (stable, so
      // ties keep insertion order), skip, limit and projection.
      PgResult r = l.exec("SELECT doc FROM " + table + " WHERE " + cf.sql + " ORDER BY n",
                          params(cf), "reading " + what);
      std::vector<Document> candidates;
      candidates.reserve(static_cast<std::size_t>(r.rows()));
      for (int i = 0; i < r.rows(); ++i) {
        candidates.push_back(Value::parse(r.text(i, 0), "a document of " + what));
      }
      tx.commit();
      return Cursor(std::make_unique<VectorSource>(query::find_in_memory(candidates, q)));
    }

    std::int64_t skip = std::max<std::int64_t>(q.skip_n, 0);
    std::int64_t limit = q.limit_n < 0 ? -q.limit_n : q.limit_n;
    std::string sql = "SELECT doc FROM " + table + " WHERE " + cf.sql;
    // Natural order is unspecified, but skip and limit need one order to mean anything.
    if (skip > 0 || limit > 0) sql += " ORDER BY n";
    if (cf.exact) {
      if (limit > 0) sql += " LIMIT " + std::to_string(limit);
      if (skip > 0) sql += " OFFSET " + std::to_string(skip);
      skip = 0;
      limit = 0;
    }
    l.exec("DECLARE sddb_cursor NO SCROLL CURSOR FOR " + sql, params(cf), "reading " + what);
    std::optional<query::FilterNode> residual;
    if (!cf.exact) residual = std::move(filter);
    // The cursor's source ends the transaction.
    tx.release();
    return Cursor(std::make_unique<PgCursorSource>(pool_, std::move(l), std::move(residual),
                                                   std::move(projection), skip, limit, what));
  }

  std::int64_t count(const Count& q) override {
    validate_collection_name(q.collection);
    query::FilterNode filter = query::parse_filter(q.filter);
    CompiledPgFilter cf = compile_pg_filter(filter);
    if (q.collection.size() > kMaxIdentifier) return 0;
    if (cf.exact) {
      PgLease l = pool_->lease();
      if (!table_exists(l, q.collection)) return 0;
      PgResult r =
          l.exec("SELECT count(*) FROM " + pg_quote_identifier(q.collection) + " WHERE " + cf.sql,
                 params(cf), "counting in '" + q.collection + "'");
      return r.integer(0, 0);
    }
    Find f;
    f.collection = q.collection;
    f.filter = q.filter;
    f.projection = Value(Object{{"_id", Value(1)}});
    Cursor c = find(f);
    std::int64_t n = 0;
    while (c.next()) ++n;
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
    CompiledPgFilter cf = compile_pg_filter(filter);
    DeleteResult result;
    if (q.collection.size() > kMaxIdentifier) return result;
    const std::string table = pg_quote_identifier(q.collection);
    const std::string what = "deleting from '" + q.collection + "'";
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    std::optional<std::set<std::string>> ranges = range_indexes(l, q.collection);
    if (!ranges) return result;
    if (!ranges->empty()) cf = compile_pg_filter(filter, 1, &*ranges);
    if (cf.exact) {
      std::string sql = "DELETE FROM " + table + " WHERE ";
      sql += q.many ? cf.sql
                    : "n = (SELECT n FROM " + table + " WHERE " + cf.sql +
                          " ORDER BY n LIMIT 1 FOR UPDATE)";
      PgResult r = l.exec(sql + " RETURNING _id", params(cf), what);
      for (int i = 0; i < r.rows(); ++i) result.deleted_ids.push_back(r.str(i, 0));
    } else {
      std::vector<std::string> ns;
      for_each_match(l, q.collection, filter, cf, q.many,
                     [&](std::int64_t n, const std::string& id, const Value&) {
                       ns.push_back(std::to_string(n));
                       result.deleted_ids.push_back(id);
                     });
      if (!ns.empty()) {
        std::string arr = "{";
        for (std::size_t i = 0; i < ns.size(); ++i) arr += (i ? "," : "") + ns[i];
        arr += "}";
        l.exec("DELETE FROM " + table + " WHERE n = ANY($1::bigint[])", {arr}, what);
      }
    }
    tx.commit();
    result.deleted = static_cast<std::int64_t>(result.deleted_ids.size());
    return result;
  }

  void create_index(const std::string& collection, const std::string& path) override {
    validate_collection_name(collection);
    const query::Path parsed = query::make_path(path, "index path");
    check_length(collection);
    // One GIN index (jsonb_path_ops) over the whole document serves the equality pre-filters of
    // every path (`body @? jsonpath`). For ranges, a btree over the path's number (pg_number_sql)
    // and, for each prefix, a partial index of the rows where it is an array: the terms of the
    // compiled range (pg_compiler.h), which the range index's comment turns on.
    const std::string what = "indexing '" + path + "' on '" + collection + "'";
    const std::optional<std::string> value = pg_value_sql(parsed.parts);
    PgLease l = pool_->lease();
    for (int attempt = 0;; ++attempt) {
      try {
        PgTransaction tx(l);
        ensure_table(l, collection);
        lock_collection(l, collection);
        // Indexes are named after the table's oid (and a hash of the path), so no name grows
        // past 63 bytes.
        PgResult r = l.exec("SELECT $1::regclass::oid", {pg_quote_identifier(collection)}, what);
        const std::string oid = r.str(0, 0);
        const std::string table = pg_quote_identifier(collection);
        l.run("CREATE INDEX IF NOT EXISTS " + pg_quote_identifier("_gin_" + oid) + " ON " + table +
                  " USING gin (body jsonb_path_ops)",
              what);
        if (value) {
          std::string dotted;
          for (std::size_t k = 0; k < parsed.parts.size(); ++k) {
            dotted += (k ? "." : "") + parsed.parts[k];
            const std::vector<std::string> prefix(parsed.parts.begin(),
                                                  parsed.parts.begin() + static_cast<long>(k + 1));
            l.run("CREATE INDEX IF NOT EXISTS " + index_name("_arr_", oid, dotted) + " ON " +
                      table + " (n) WHERE " + pg_is_array_sql(*pg_value_sql(prefix)),
                  what);
          }
          const std::string range = index_name("_rng_", oid, dotted);
          l.run("CREATE INDEX IF NOT EXISTS " + range + " ON " + table + " ((" +
                    pg_number_sql(*value) + "))",
                what);
          // COMMENT takes no parameters: the text is a quoted literal of a checked path.
          l.run("COMMENT ON INDEX " + range + " IS " +
                    pg_quote_literal(std::string(kRangeComment) + dotted),
                what);
        }
        tx.commit();
        return;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::already_exists || attempt > 0) throw;
      }
    }
  }

  // --- model outputs (design §5; see postgres.h) ---
  void create_outputs(const std::string& table) override {
    validate_outputs_name(table);
    PgLease l = pool_->lease();
    l.exec("INSERT INTO _outputs_names (name) VALUES ($1) ON CONFLICT DO NOTHING", {table},
           "creating outputs '" + table + "'");
  }

  void drop_outputs(const std::string& table) override {
    validate_outputs_name(table);
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    const std::string what = "dropping outputs '" + table + "'";
    l.exec("DELETE FROM _outputs WHERE name = $1", {table}, what);
    l.exec("DELETE FROM _outputs_names WHERE name = $1", {table}, what);
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
    const std::string what = "writing outputs '" + table + "'";
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    // Writers of one table take turns until commit, so sequence numbers are handed out in
    // commit order and a reader that saw seq S never misses a later commit below S.
    PgResult lock =
        l.exec("SELECT 1 FROM _outputs_names WHERE name = $1 FOR UPDATE", {table}, what);
    if (lock.rows() == 0) {
      throw Error(ErrorCode::not_found, "no outputs table '" + table + "'");
    }
    const char* sql =
        replace ? "INSERT INTO _outputs (name, _id, seq, output, model_version) "
                  "VALUES ($1, $2, nextval('_outputs_seq'), $3, $4) ON CONFLICT (name, _id) DO "
                  "UPDATE SET seq = excluded.seq, output = excluded.output, "
                  "model_version = excluded.model_version"
                : "INSERT INTO _outputs (name, _id, seq, output, model_version) "
                  "VALUES ($1, $2, nextval('_outputs_seq'), $3, $4) ON CONFLICT (name, _id) DO "
                  "NOTHING";
    std::size_t written = 0;
    for (const OutputRow& r : rows) {
      PgResult done =
          l.exec(sql,
                 {table, r.id,
                  PgParam::bytes(std::string_view(reinterpret_cast<const char*>(r.vector.data()),
                                                  r.vector.size() * sizeof(float))),
                  r.model_version},
                 what);
      written += static_cast<std::size_t>(done.affected());
    }
    tx.commit();
    return written;
  }

  void delete_outputs(const std::string& table, const std::vector<std::string>& ids) override {
    validate_outputs_name(table);
    if (ids.empty()) return;
    PgLease l = pool_->lease();
    l.exec("DELETE FROM _outputs WHERE name = $1 AND _id = ANY($2::text[])",
           {table, text_array(ids)}, "deleting outputs of '" + table + "'");
  }

  void scan_outputs(const std::string& table, std::int64_t after_seq,
                    const std::function<void(const OutputRow&)>& fn) override {
    validate_outputs_name(table);
    // Read in pages, and call fn with no connection held, so fn may use the DB.
    std::int64_t last = after_seq;
    for (;;) {
      std::vector<OutputRow> page;
      {
        PgLease l = pool_->lease();
        require_outputs(l, table);
        PgResult r = l.exec(
            "SELECT seq, _id, output, model_version FROM _outputs WHERE name = $1 AND seq > $2 "
            "ORDER BY seq LIMIT 4096",
            {table, last}, "reading outputs '" + table + "'", /*binary_results=*/true);
        for (int i = 0; i < r.rows(); ++i) page.push_back(read_output_row(r, i));
      }
      if (page.empty()) return;
      last = page.back().seq;
      for (const OutputRow& r : page) fn(r);
    }
  }

  std::vector<OutputRow> get_outputs(const std::string& table,
                                     const std::vector<std::string>& ids) override {
    validate_outputs_name(table);
    PgLease l = pool_->lease();
    require_outputs(l, table);
    std::vector<OutputRow> out;
    if (ids.empty()) return out;
    PgResult r = l.exec(
        "SELECT seq, _id, output, model_version FROM _outputs WHERE name = $1 AND "
        "_id = ANY($2::text[])",
        {table, text_array(ids)}, "reading outputs '" + table + "'", /*binary_results=*/true);
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_output_row(r, i));
    return out;
  }

  std::vector<std::string> output_ids(const std::string& table) override {
    validate_outputs_name(table);
    PgLease l = pool_->lease();
    require_outputs(l, table);
    PgResult r = l.exec("SELECT _id FROM _outputs WHERE name = $1", {table},
                        "reading outputs '" + table + "'");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

 private:
  static std::vector<PgParam> params(const CompiledPgFilter& cf) {
    return std::vector<PgParam>(cf.params.begin(), cf.params.end());
  }

  static std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      out += '"';
      for (char c : items[i]) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    return out + "}";
  }

  static void check_length(const std::string& collection) {
    if (collection.size() > kMaxIdentifier) {
      throw Error(ErrorCode::not_supported,
                  "collection name '" + collection + "' is longer than PostgreSQL's 63-byte limit");
    }
  }

  // The dotted paths that create_index gave range indexes (named in their comments), or nothing
  // when the collection has no table. One catalog read, in the caller's transaction.
  static std::optional<std::set<std::string>> range_indexes(PgLease& l,
                                                            const std::string& collection) {
    PgResult r = l.exec_prepared(
        "sddb_range_indexes",
        "SELECT d.description FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_index x ON x.indrelid = c.oid "
        "LEFT JOIN pg_catalog.pg_description d ON d.objoid = x.indexrelid AND "
        "d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0 "
        "WHERE s.nspname = current_schema() AND c.relname = $1 AND c.relkind IN ('r', 'p')",
        {collection}, "looking up collection '" + collection + "'");
    if (r.rows() == 0) return std::nullopt;
    std::set<std::string> out;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string comment = r.str(i, 0);
      if (comment.rfind(kRangeComment, 0) == 0) out.insert(comment.substr(kRangeComment.size()));
    }
    return out;
  }

  static std::string index_name(const char* kind, const std::string& oid,
                                const std::string& dotted) {
    return pg_quote_identifier(kind + oid + "_" + sha256_hex(dotted).substr(0, 16));
  }

  static bool table_exists(PgLease& l, const std::string& collection) {
    PgResult r = l.exec_prepared(
        "sddb_table_exists",
        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND "
        "tablename = $1",
        {collection}, "looking up collection '" + collection + "'");
    return r.rows() > 0;
  }

  // Serializes the sessions that change the catalog for one collection until their transactions
  // end: two sessions creating one table (or index) at once would otherwise fail on the
  // catalog's unique keys instead of finding the other's.
  static void lock_collection(PgLease& l, const std::string& collection) {
    l.exec("SELECT pg_advisory_xact_lock(7312003, hashtext(current_schema() || '.' || $1))",
           {collection}, "locking collection '" + collection + "'");
  }

  // Inside the caller's transaction, so a failed first write leaves no table behind.
  static void ensure_table(PgLease& l, const std::string& collection) {
    if (table_exists(l, collection)) return;
    lock_collection(l, collection);
    // Read committed: this sees a table that a session holding the lock committed meanwhile.
    if (table_exists(l, collection)) return;
    l.run("CREATE TABLE IF NOT EXISTS " + pg_quote_identifier(collection) +
              " (n bigint GENERATED ALWAYS AS IDENTITY, _id text COLLATE \"C\" PRIMARY KEY, "
              "doc text NOT NULL, body jsonb GENERATED ALWAYS AS (doc::jsonb) STORED)",
          "creating collection '" + collection + "'");
  }

  static void require_outputs(PgLease& l, const std::string& table) {
    PgResult r = l.exec("SELECT 1 FROM _outputs_names WHERE name = $1", {table},
                        "looking up outputs '" + table + "'");
    if (r.rows() == 0) throw Error(ErrorCode::not_found, "no outputs table '" + table + "'");
  }

  static OutputRow read_output_row(const PgResult& r, int i) {
    // Binary results: int8 big-endian, text as is, bytea raw.
    auto be64 = [&](int col) {
      std::string_view b = r.bytes(i, col);
      if (b.size() != 8) {
        throw Error(ErrorCode::corruption,
                    "PostgreSQL returned a " + std::to_string(b.size()) + "-byte bigint");
      }
      std::uint64_t v = 0;
      for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
      return static_cast<std::int64_t>(v);
    };
    OutputRow row;
    row.seq = be64(0);
    row.id = r.str(i, 1);
    std::string_view blob = r.bytes(i, 2);
    if (blob.size() % sizeof(float) != 0) {
      throw Error(ErrorCode::corruption, "output of '" + row.id + "' has " +
                                             std::to_string(blob.size()) +
                                             " bytes, not a whole number of float32");
    }
    row.vector.resize(blob.size() / sizeof(float));
    if (!blob.empty()) std::memcpy(row.vector.data(), blob.data(), blob.size());
    row.model_version = be64(3);
    return row;
  }

  // Calls f(n, _id, doc) for each row matching the filter (only the first with !many), in
  // insertion order, each locked FOR UPDATE. Rows are read kFetchRows at a time past the last
  // one read, so memory stays bounded and writes by f never move rows under the scan.
  template <typename F>
  void for_each_match(PgLease& l, const std::string& collection, const query::FilterNode& filter,
                      const CompiledPgFilter& cf, bool many, F&& f) {
    const int after_param = static_cast<int>(cf.params.size()) + 1;
    const std::string sql =
        "SELECT n, _id, doc FROM " + pg_quote_identifier(collection) + " WHERE " +
        join_params_sql(cf.sql, "n > $" + std::to_string(after_param)) + " ORDER BY n LIMIT " +
        std::to_string(!many && cf.exact ? 1 : kFetchRows) + " FOR UPDATE";
    std::int64_t after = -1;
    const std::string what = "reading '" + collection + "'";
    while (true) {
      std::vector<PgParam> p = params(cf);
      p.emplace_back(after);
      PgResult r = l.exec(sql, p, what);
      bool found = false;
      for (int i = 0; i < r.rows(); ++i) {
        after = r.integer(i, 0);
        Value doc = Value::parse(r.text(i, 2), "a document of '" + collection + "'");
        if (!cf.exact && !query::matches(filter, doc)) continue;
        f(after, r.str(i, 1), doc);
        found = true;
        if (!many) return;
      }
      if (r.rows() < kFetchRows || (!many && found)) return;
    }
  }

  UpdateResult write_matching(const std::string& collection, const query::FilterNode& filter,
                              const query::Update& upd, bool many, bool upsert) {
    CompiledPgFilter cf = compile_pg_filter(filter);
    UpdateResult result;
    if (collection.size() > kMaxIdentifier) {
      if (!upsert) return result;
      check_length(collection);
    }
    const std::string table = pg_quote_identifier(collection);
    const std::string what = "updating '" + collection + "'";
    PgLease l = pool_->lease();
    for (int attempt = 0;; ++attempt) {
      result = UpdateResult();
      try {
        PgTransaction tx(l);
        std::optional<std::set<std::string>> ranges = range_indexes(l, collection);
        if (!ranges) {
          if (!upsert) return result;
          ensure_table(l, collection);
        } else if (!ranges->empty()) {
          cf = compile_pg_filter(filter, 1, &*ranges);
        }
        std::string buffer;
        for_each_match(
            l, collection, filter, cf, many,
            [&](std::int64_t n, const std::string& id, const Value& doc) {
              ++result.matched;
              Value updated = query::apply_update(upd, doc);
              if (updated == doc) return;
              buffer.clear();
              updated.append_json(buffer);
              l.exec("UPDATE " + table + " SET doc = $1 WHERE n = $2", {buffer, n}, what);
              ++result.modified;
              result.modified_ids.push_back(id);
            });
        if (result.matched == 0 && upsert) {
          Value doc = query::upsert_document(filter, upd);
          if (!doc.contains("_id")) {
            // _id first, as inserts store it.
            Object obj;
            obj.emplace_back("_id", Value(new_id()));
            for (auto& m : doc.as_object()) obj.push_back(std::move(m));
            doc = Value(std::move(obj));
          }
          const std::string id = doc.find("_id")->as_string();
          buffer.clear();
          doc.append_json(buffer);
          try {
            l.exec("INSERT INTO " + table + " (_id, doc) VALUES ($1, $2)", {id, buffer}, what);
          } catch (const Error& e) {
            if (e.code() == ErrorCode::already_exists && duplicate_id(e)) {
              throw Error(ErrorCode::already_exists,
                          "duplicate _id '" + id + "' in collection '" + collection + "'");
            }
            throw;
          }
          result.upserted_id = id;
          result.modified_ids.push_back(id);
        }
        tx.commit();
        return result;
      } catch (const Error& e) {
        // A catalog race creating the table for an upsert: the second try sees it.
        if (e.code() != ErrorCode::already_exists || attempt > 0 ||
            std::string(e.what()).rfind("duplicate _id", 0) == 0) {
          throw;
        }
      }
    }
  }

  std::shared_ptr<PgPool> pool_;
};

}  // namespace

std::shared_ptr<PgPool> open_postgres(const std::string& uri) {
  auto pool = std::make_shared<PgPool>(uri);
  PgLease l = pool->lease();
  PgResult have = l.exec(
      "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND "
      "tablename IN ('_outputs', '_outputs_names', '_components', '_parent_child', '_jobs', "
      "'_meta', '_artifacts', '_artifact_chunks')",
      {}, "reading sddb's tables");
  if (have.integer(0, 0) == 8) return pool;
  PgTransaction tx(l);
  // Concurrent first opens would race on the catalog; they take turns.
  l.run("SELECT pg_advisory_xact_lock(7312002)", "locking the schema setup");
  const char* ddl[] = {
      "CREATE SEQUENCE IF NOT EXISTS _outputs_seq",
      "CREATE TABLE IF NOT EXISTS _outputs_names (name text COLLATE \"C\" PRIMARY KEY)",
      "CREATE TABLE IF NOT EXISTS _outputs (name text COLLATE \"C\" NOT NULL, "
      "_id text COLLATE \"C\" NOT NULL, seq bigint NOT NULL, output bytea NOT NULL, "
      "model_version bigint NOT NULL, PRIMARY KEY (name, _id))",
      "CREATE INDEX IF NOT EXISTS _outputs_by_seq ON _outputs (name, seq)",
      "CREATE TABLE IF NOT EXISTS _components (type_id text COLLATE \"C\" NOT NULL, "
      "identifier text COLLATE \"C\" NOT NULL, version bigint NOT NULL, "
      "hidden boolean NOT NULL DEFAULT false, body text NOT NULL, created_at bigint NOT NULL, "
      "PRIMARY KEY (type_id, identifier, version))",
      "CREATE TABLE IF NOT EXISTS _parent_child (parent text COLLATE \"C\" NOT NULL, "
      "child text COLLATE \"C\" NOT NULL, PRIMARY KEY (parent, child))",
      "CREATE INDEX IF NOT EXISTS _parent_child_by_child ON _parent_child (child)",
      "CREATE TABLE IF NOT EXISTS _jobs (n bigint GENERATED ALWAYS AS IDENTITY, "
      "id text COLLATE \"C\" PRIMARY KEY, kind text NOT NULL, args text NOT NULL, "
      "status text NOT NULL, progress double precision NOT NULL, error text NOT NULL, "
      "created_at bigint NOT NULL, updated_at bigint NOT NULL)",
      "CREATE INDEX IF NOT EXISTS _jobs_by_status ON _jobs (status, created_at)",
      "CREATE TABLE IF NOT EXISTS _meta (key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL)",
      "CREATE TABLE IF NOT EXISTS _artifacts (id text COLLATE \"C\" PRIMARY KEY, "
      "size bigint NOT NULL, chunks integer NOT NULL)",
      "CREATE TABLE IF NOT EXISTS _artifact_chunks (id text COLLATE \"C\" NOT NULL, "
      "chunk integer NOT NULL, bytes bytea NOT NULL, PRIMARY KEY (id, chunk))",
  };
  for (const char* sql : ddl) l.run(sql, "creating sddb's tables");
  tx.commit();
  return pool;
}

std::shared_ptr<DataBackend> make_postgres_backend(std::shared_ptr<PgPool> pool) {
  return std::make_shared<PgBackend>(std::move(pool));
}

}  // namespace sddb::detail
