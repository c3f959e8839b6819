// Regression tests for bugs found in review of the SQLite backend: collection names (and index
// paths) that differ only in case, cursors killed by an unrelated failed insert, opening that
// writes, cursors that see their own loop's writes, deletes and updates that read the whole match
// into memory, and query options in the path.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/sqlite/sql_compiler.h"
#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

using testutil::error_of;
using testutil::TempDir;

struct Opened {
  std::shared_ptr<detail::SqliteConnection> conn;
  std::shared_ptr<DataBackend> data;
  std::shared_ptr<MetadataStore> meta;
};

// As the registry opens a database: one connection, data and metadata on it.
Opened open_db(const std::string& path, bool read_only = false) {
  Opened o;
  o.conn = detail::open_sqlite(path, "sqlite://" + path, read_only);
  o.data = detail::make_sqlite_backend(o.conn);
  o.meta = detail::make_sqlite_metadata(o.conn);
  return o;
}

std::vector<Document> numbered(int n, const std::string& prefix = "d") {
  std::vector<Document> docs;
  for (int i = 0; i < n; ++i) {
    docs.push_back(Value{{"_id", prefix + std::to_string(100000 + i)}, {"n", i}});
  }
  return docs;
}

// Both kinds of database: :memory: (cursors share the connection) and a WAL file (cursors read
// on handles of their own).
std::vector<std::string> both_paths(const TempDir& dir) {
  return {":memory:", (dir.path() / "db.sqlite").string()};
}

// --- 1. names that differ only in case ---------------------------------------------------------

TEST(SqliteRegression, CollectionNamesDifferingOnlyInCaseAreNotMerged) {
  auto db = open_db(":memory:");
  db.data->insert_many("people", {json(R"({"_id": "a"})"), json(R"({"_id": "b"})")});
  Error e = error_of([&] { db.data->insert_many("People", {json(R"({"_id": "c"})")}); });
  EXPECT_EQ(e.code(), ErrorCode::already_exists);
  EXPECT_NE(std::string(e.what()).find("'People'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("'people'"), std::string::npos) << e.what();
  // Upserts and indexes would create the table too.
  EXPECT_EQ(error_of([&] {
              db.data->update(UpdateMany{"People", json(R"({"k": 1})"),
                                         json(R"({"$set": {"v": 1}})"), true, true});
            }).code(),
            ErrorCode::already_exists);
  EXPECT_EQ(error_of([&] { db.data->create_index("People", "k"); }).code(),
            ErrorCode::already_exists);
  // Reads and writes on "People" see an empty collection, not the documents of "people".
  EXPECT_TRUE(db.data->find(Collection("People").find()).to_vector().empty());
  EXPECT_EQ(db.data->count(Count{"People", Value::object()}), 0);
  EXPECT_EQ(db.data->remove(DeleteMany{"People", Value::object(), true}).deleted, 0);
  EXPECT_EQ(db.data
                ->update(UpdateMany{"People", Value::object(), json(R"({"$set": {"x": 1}})"), false,
                                    true})
                .matched,
            0);
  db.data->drop_collection("People");
  EXPECT_EQ(db.data->count(Count{"people", Value::object()}), 2);
  EXPECT_EQ(db.data->find(Collection("people").find()).to_vector().size(), 2u);
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"people"}));
  // Once "people" is gone the name is free.
  db.data->drop_collection("people");
  db.data->insert_many("People", {json(R"({"_id": "c"})")});
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"People"}));
}

std::string query_plan(detail::SqliteConnection& conn, const std::string& sql) {
  auto lock = conn.lock();
  detail::Stmt s = conn.prepare_owned("EXPLAIN QUERY PLAN " + sql);
  std::string plan;
  while (s.step()) plan += s.column_text(3) + "\n";
  return plan;
}

TEST(SqliteRegression, IndexesOnPathsDifferingOnlyInCaseAreBothMade) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a", "Name": 1, "name": 2, "x^": 3})")});
  db.data->create_index("docs", "Name");
  db.data->create_index("docs", "name");
  db.data->create_index("docs", "x^");
  for (const char* path : {"Name", "name", "x^"}) {
    const std::string plan = query_plan(*db.conn, "SELECT doc FROM docs WHERE json_extract(doc, " +
                                                      detail::json_path_literal({path}) + ") = 1");
    EXPECT_NE(plan.find("USING INDEX"), std::string::npos) << path << "\n" << plan;
  }
  EXPECT_EQ(db.data->find(Collection("docs").find(json(R"({"name": 2})"))).to_vector().size(), 1u);
}

// --- 2. a failed insert into a new collection and open cursors ---------------------------------

TEST(SqliteRegression, FailedInsertIntoNewCollectionDoesNotKillOpenCursors) {
  TempDir dir;
  for (const std::string& path : both_paths(dir)) {
    SCOPED_TRACE(path);
    auto db = open_db(path);
    db.data->insert_many("c", numbered(5));
    Cursor cursor = db.data->find(Collection("c").find());
    ASSERT_TRUE(cursor.next().has_value());
    EXPECT_EQ(error_of([&] {
                db.data->insert_many("n", {json(R"({"_id": "x"})"), json(R"({"_id": "x"})")});
              }).code(),
              ErrorCode::already_exists);
    int rest = 0;
    while (cursor.next()) ++rest;
    EXPECT_EQ(rest, 4);
    EXPECT_EQ(db.data->count(Count{"n", Value::object()}), 0);
    // The failed first insert leaves no collection behind, except on :memory: while a cursor
    // is open: it shares the connection, and SQLite cannot drop a table while a statement runs
    // on it, so the empty table stays.
    if (path == ":memory:") {
      EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"c", "n"}));
      db.data->drop_collection("n");
    }
    EXPECT_EQ(db.data->list_collections(), std::vector<std::string>{"c"});
    EXPECT_EQ(error_of([&] {
                db.data->update(UpdateMany{"m", json(R"({"_id": "x"})"),
                                           json(R"({"$inc": {"_id": 1}})"), true, true});
              }).code(),
              ErrorCode::invalid_argument);
    EXPECT_EQ(db.data->list_collections(), std::vector<std::string>{"c"});
  }
}

// --- 3. opening writes nothing ------------------------------------------------------------------

TEST(SqliteRegression, OpenAndReadWhileAnotherConnectionHoldsTheWriteLock) {
  TempDir dir;
  const std::string path = (dir.path() / "locked.db").string();
  {
    auto db = open_db(path);
    db.data->insert_many("docs", numbered(3));
    db.meta->set_meta("k", Value(1));
  }
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO docs VALUES ('zz', '{\"_id\":\"zz\"}')",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  try {
    auto db = open_db(path);
    EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 3);
    EXPECT_EQ(db.data->find(Collection("docs").find()).to_vector().size(), 3u);
    EXPECT_EQ(db.meta->get_meta("k"), Value(1));
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
}

void expect_read_only_works(const std::string& path, bool writable_file) {
  auto db = open_db(path, /*read_only=*/true);
  EXPECT_TRUE(db.conn->read_only());
  EXPECT_EQ(db.data->count(Count{"docs", json(R"({"n": {"$gte": 1}})")}), 2);
  EXPECT_EQ(db.data->find(Collection("docs").find()).to_vector().size(), 3u);
  EXPECT_EQ(db.meta->get_meta("k"), Value(1));
  for (const Error& e :
       {error_of([&] { db.data->insert_many("docs", {json(R"({"_id": "new"})")}); }),
        error_of([&] { db.data->insert_many("fresh", {json(R"({"_id": "new"})")}); }),
        error_of([&] {
          db.data->remove(DeleteMany{"docs", Value::object(), true});
        }),
        error_of([&] { db.data->drop_collection("docs"); }),
        error_of([&] { db.meta->set_meta("k", Value(2)); })}) {
    EXPECT_EQ(e.code(), ErrorCode::failed_precondition) << e.what();
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 3);
  (void)writable_file;
}

TEST(SqliteRegression, ReadOnlyOpenReadsAndRefusesWrites) {
  TempDir dir;
  const std::string path = (dir.path() / "ro.db").string();
  {
    auto db = open_db(path);
    db.data->insert_many("docs", numbered(3));
    db.meta->set_meta("k", Value(1));
  }
  expect_read_only_works(path, true);
}

TEST(SqliteRegression, FileWithoutWritePermissionOpensReadOnly) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root may write a file whatever its permissions, so a 0444 file is "
                    "writable; ReadOnlyOpenReadsAndRefusesWrites covers the read-only open";
  }
  TempDir dir;
  const std::string path = (dir.path() / "perm.db").string();
  {
    auto db = open_db(path);
    db.data->insert_many("docs", numbered(3));
    db.meta->set_meta("k", Value(1));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  expect_read_only_works(path, false);
}

// --- 4. cursors read a stable result ------------------------------------------------------------

TEST(SqliteRegression, CursorDoesNotSeeRowsInsertedByItsOwnLoop) {
  TempDir dir;
  for (const std::string& path : both_paths(dir)) {
    SCOPED_TRACE(path);
    auto db = open_db(path);
    db.data->insert_many("docs", numbered(10));
    for (const Value& filter : {Value::object(), json(R"({"n": {"$gte": 0}})")}) {
      int seen = 0;
      for (const Document& d : db.data->find(Collection("docs").find(filter))) {
        db.data->insert_many("docs", {Value{{"_id", d.find("_id")->as_string() + "+"},
                                            {"n", d.find("n")->as_int() + 1000}}});
        if (++seen > 1000) break;  // the bug: the loop feeds itself forever
      }
      EXPECT_EQ(seen, 10);
      db.data->remove(DeleteMany{"docs", json(R"({"n": {"$gte": 1000}})"), true});
    }
  }
}

TEST(SqliteRegression, FileCursorReadsTheSnapshotOfItsStart) {
  TempDir dir;
  auto db = open_db((dir.path() / "snap.db").string());
  db.data->insert_many("docs", numbered(10));
  db.data->create_index("docs", "n");
  // An update that moves each document further along the index the cursor walks.
  int seen = 0;
  for (const Document& d : db.data->find(Collection("docs").find(json(R"({"n": {"$gte": 0}})")))) {
    EXPECT_LT(d.find("n")->as_int(), 10);
    db.data->update(UpdateMany{"docs", Value{{"_id", d.find("_id")->as_string()}},
                               json(R"({"$inc": {"n": 100}})"), false, true});
    if (++seen > 1000) break;
  }
  EXPECT_EQ(seen, 10);
  // Writes made after find() and before the first next() are not seen either.
  Cursor c = db.data->find(Collection("docs").find());
  db.data->remove(DeleteMany{"docs", Value::object(), true});
  db.data->drop_collection("docs");
  EXPECT_EQ(c.to_vector().size(), 10u);
  EXPECT_TRUE(db.data->find(Collection("docs").find()).to_vector().empty());
}

TEST(SqliteRegression, ManyOpenFileCursorsEachReadTheirOwnSnapshot) {
  // More cursors at once than the pool keeps idle handles, each opened after one more insert.
  TempDir dir;
  auto db = open_db((dir.path() / "many.db").string());
  std::vector<Cursor> cursors;
  for (int i = 0; i < 7; ++i) {
    db.data->insert_many("docs", numbered(1, "a" + std::to_string(i)));
    cursors.push_back(db.data->find(Collection("docs").find()));
  }
  for (int i = 6; i >= 0; --i) {
    EXPECT_EQ(cursors[i].to_vector().size(), static_cast<std::size_t>(i + 1)) << i;
  }
  cursors.clear();
  // Handles come back to the pool without the snapshot of their last cursor, also from
  // cursors abandoned half-way.
  for (int i = 0; i < 7; ++i) {
    cursors.push_back(db.data->find(Collection("docs").find()));
    ASSERT_TRUE(cursors.back().next().has_value());
  }
  cursors.clear();
  db.data->insert_many("docs", numbered(1, "b"));
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(db.data->find(Collection("docs").find()).to_vector().size(), 8u);
  }
}

// --- 5. deletes and updates read bounded chunks ---------------------------------------------

// Every statement the connection runs, as SQLite expands it.
struct Trace {
  explicit Trace(sqlite3* db) : db_(db) {
    sqlite3_trace_v2(
        db, SQLITE_TRACE_STMT,
        [](unsigned, void* ctx, void* p, void*) {
          auto* self = static_cast<Trace*>(ctx);
          self->sql.push_back(sqlite3_sql(static_cast<sqlite3_stmt*>(p)));
          return 0;
        },
        this);
  }
  ~Trace() { sqlite3_trace_v2(db_, 0, nullptr, nullptr); }
  // Statements that read documents into C++ without a LIMIT.
  std::vector<std::string> unbounded_document_reads() const {
    std::vector<std::string> out;
    for (const std::string& s : sql) {
      if (s.find("SELECT") != std::string::npos && s.find(", doc FROM") != std::string::npos &&
          s.find("LIMIT") == std::string::npos) {
        out.push_back(s);
      }
    }
    return out;
  }
  sqlite3* db_;
  std::vector<std::string> sql;
};

TEST(SqliteRegression, DeletesAndUpdatesDoNotReadTheWholeMatch) {
  auto db = open_db(":memory:");
  std::vector<Document> docs = numbered(1300);
  for (int i = 0; i < 1300; ++i) docs[i].set("a", i % 2 ? Value::array({i, "x"}) : Value(i));
  db.data->insert_many("docs", docs);
  {
    // Exact filter: the delete runs in SQL and only _ids come back.
    Trace t(db.conn->handle());
    DeleteResult d = db.data->remove(DeleteMany{"docs", json(R"({"n": {"$lt": 600}})"), true});
    EXPECT_EQ(d.deleted, 600);
    EXPECT_EQ(d.deleted_ids.size(), 600u);
    EXPECT_TRUE(t.unbounded_document_reads().empty()) << t.unbounded_document_reads()[0];
    for (const std::string& s : t.sql) {
      EXPECT_EQ(s.find(", doc FROM"), std::string::npos) << s;
    }
    d = db.data->remove(DeleteMany{"docs", json(R"({"n": {"$gte": 600}})"), false});
    EXPECT_EQ(d.deleted_ids, std::vector<std::string>{"d100600"});
  }
  {
    // Residual filter ($gt with an array operand): documents are read in chunks.
    Trace t(db.conn->handle());
    UpdateResult u = db.data->update(UpdateMany{"docs", json(R"({"a": {"$gt": [0]}})"),
                                                json(R"({"$set": {"odd": true}})"), false, true});
    EXPECT_EQ(u.matched, 350);
    EXPECT_EQ(u.modified, 350);
    u = db.data->update(UpdateMany{"docs", json(R"({"n": {"$gte": 0}})"),
                                   json(R"({"$inc": {"n": 1}})"), false, true});
    EXPECT_EQ(u.modified, 699);
    DeleteResult d = db.data->remove(DeleteMany{"docs", json(R"({"a": {"$gt": [1200]}})"), false});
    EXPECT_EQ(d.deleted_ids, std::vector<std::string>{"d101201"});
    d = db.data->remove(DeleteMany{"docs", json(R"({"a": {"$gt": [0]}})"), true});
    EXPECT_EQ(d.deleted, 349);
    EXPECT_TRUE(t.unbounded_document_reads().empty()) << t.unbounded_document_reads()[0];
  }
  EXPECT_EQ(db.data->count(Count{"docs", json(R"({"odd": true})")}), 0);
  EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 349);
  EXPECT_EQ(db.data->count(Count{"docs", json(R"({"n": 603})")}), 1);
}

// --- 6. array-free indexed paths ----------------------------------------------------------------

std::vector<std::string> ids_of(DataBackend& data, const Value& filter) {
  std::vector<std::string> ids;
  for (const Document& d : data.find(Collection("docs").find(filter)).to_vector()) {
    ids.push_back(d.find("_id")->as_string());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// The SELECT that find ran for the last traced call.
std::string last_find(const Trace& t) {
  std::string out;
  for (const std::string& s : t.sql) {
    if (s.rfind("SELECT doc FROM", 0) == 0) out = s;
  }
  return out;
}

TEST(SqliteRegression, ArrayFreeIndexedPathsAreOnePlainIndexSearch) {
  auto db = open_db(":memory:");
  std::vector<Document> docs;
  static const char* kSections[] = {"graphics", "audio", "net", "io"};
  for (int i = 0; i < 400; ++i) {
    docs.push_back(Value{{"_id", "d" + std::to_string(1000 + i)},
                         {"section", kSections[i % 4]},
                         {"a", Value{{"b", i % 10}, {"0", i % 7}}}});
  }
  db.data->insert_many("docs", docs);
  db.data->create_index("docs", "section");
  db.data->create_index("docs", "a.b");
  db.data->create_index("docs", "a.0");
  const Value by_section = json(R"({"section": "graphics"})");
  const Value by_ab = json(R"({"a.b": 3})");
  const Value by_a0 = json(R"({"a.0": 5})");
  for (const Value& f : {by_section, by_ab, by_a0}) {
    Trace t(db.conn->handle());
    const std::size_t n = ids_of(*db.data, f).size();
    EXPECT_EQ(n, f == by_section ? 100u : f == by_ab ? 40u : 57u) << f.to_json();
    const std::string sql = last_find(t);
    EXPECT_EQ(sql.find("json_each"), std::string::npos) << sql;
    EXPECT_EQ(sql.find("'array'"), std::string::npos) << sql;
    const std::string plan = query_plan(*db.conn, sql);
    EXPECT_NE(plan.find("SEARCH docs USING INDEX"), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("MULTI-INDEX OR"), std::string::npos) << sql << "\n" << plan;
  }
  // A path without a type index is not probed (the probe would scan): its branches stay.
  {
    Trace t(db.conn->handle());
    ids_of(*db.data, json(R"({"a.c": 1})"));
    EXPECT_NE(last_find(t).find("json_each"), std::string::npos) << last_find(t);
  }
  // Arrays arrive at those paths: the same queries return them, through the array branches.
  db.data->insert_many("docs", {json(R"({"_id": "s", "section": ["x", "graphics"]})"),
                                json(R"({"_id": "ab", "a": [{"b": 3}], "section": "none"})"),
                                json(R"({"_id": "a0", "a": [5], "section": "none"})")});
  for (const auto& [f, id] :
       {std::pair{by_section, "s"}, std::pair{by_ab, "ab"}, std::pair{by_a0, "a0"}}) {
    Trace t(db.conn->handle());
    const std::vector<std::string> ids = ids_of(*db.data, f);
    EXPECT_TRUE(std::binary_search(ids.begin(), ids.end(), id)) << f.to_json();
    EXPECT_NE(last_find(t).find("json_each"), std::string::npos) << last_find(t);
    // (a.0 then also reads element 0 of "a", which no index holds.)
    if (std::string(id) != "a0") {
      EXPECT_NE(query_plan(*db.conn, last_find(t)).find("MULTI-INDEX OR"), std::string::npos)
          << f.to_json();
    }
  }
  EXPECT_EQ(ids_of(*db.data, by_section).size(), 101u);
  EXPECT_EQ(ids_of(*db.data, by_ab).size(), 41u);
  EXPECT_EQ(ids_of(*db.data, by_a0).size(), 58u);
}

// On a file, find decides on a reader handle inside its read transaction: a cursor opened before
// an array arrives keeps its snapshot; one opened after sees the array.
TEST(SqliteRegression, ArrayFreeProofsHoldForTheirSnapshot) {
  TempDir dir;
  auto db = open_db((dir.path() / "db.sqlite").string());
  std::vector<Document> docs;
  for (int i = 0; i < 100; ++i) {
    docs.push_back(Value{{"_id", "d" + std::to_string(1000 + i)}, {"k", i % 5}});
  }
  db.data->insert_many("docs", docs);
  db.data->create_index("docs", "k");
  const Value f = json(R"({"k": 2})");
  Cursor before = db.data->find(Collection("docs").find(f));
  db.data->insert_many("docs", {json(R"({"_id": "arr", "k": [7, 2]})")});
  EXPECT_EQ(before.to_vector().size(), 20u);
  std::vector<std::string> ids = ids_of(*db.data, f);
  EXPECT_EQ(ids.size(), 21u);
  EXPECT_TRUE(std::binary_search(ids.begin(), ids.end(), "arr"));
  EXPECT_EQ(db.data->count(Count{"docs", f}), 21);
  // Updates and deletes prove it in their write transaction.
  db.data->remove(DeleteMany{"docs", json(R"({"_id": "arr"})"), true});
  UpdateResult u =
      db.data->update(UpdateMany{"docs", f, json(R"({"$set": {"k": [2, 9]}})"), false, true});
  EXPECT_EQ(u.modified, 20);
  EXPECT_EQ(db.data->count(Count{"docs", f}), 20);
  DeleteResult d = db.data->remove(DeleteMany{"docs", f, true});
  EXPECT_EQ(d.deleted, 20);
}

// --- 7. query options in the path ---------------------------------------------------------------

TEST(SqliteRegression, QuestionMarkInPathIsRefused) {
  TempDir dir;
  const std::string path = (dir.path() / "x.db").string() + "?mode=ro";
  Error e = error_of([&] { open_db(path); });
  EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
  EXPECT_NE(std::string(e.what()).find("sqlite://" + path), std::string::npos) << e.what();
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace sddb
