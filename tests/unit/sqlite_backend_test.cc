// The SQLite DataBackend: CRUD, errors, atomicity, persistence across reopening, index use
// (EXPLAIN QUERY PLAN), cursors interleaved with writes, and several threads at once.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends/sqlite/sql_compiler.h"
#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

using testutil::TempDir;

struct Opened {
  std::shared_ptr<detail::SqliteConnection> conn;
  std::shared_ptr<DataBackend> data;
};

Opened open_db(const std::string& path) {
  Opened o;
  o.conn = detail::open_sqlite(path, "sqlite://" + path);
  o.data = detail::make_sqlite_backend(o.conn);
  return o;
}

std::vector<std::string> ids_of(std::vector<Document> docs) {
  std::vector<std::string> out;
  for (const Document& d : docs) out.push_back(d.find("_id")->as_string());
  return out;
}

std::vector<std::string> find_ids(DataBackend& data, const Value& filter,
                                  const std::string& coll = "docs") {
  // Sorted: without sort keys the order is unspecified (index order when an index is used).
  std::vector<std::string> ids = ids_of(data.find(Collection(coll).find(filter)).to_vector());
  std::sort(ids.begin(), ids.end());
  return ids;
}

using testutil::code_of;

TEST(SqliteBackend, InsertFindCount) {
  auto db = open_db(":memory:");
  db.data->insert_many(
      "docs", {json(R"({"_id": "a", "n": 1, "tags": ["x", "y"]})"),
               json(R"({"_id": "b", "n": 2.5, "tags": "x"})"), json(R"({"_id": "c", "n": "3"})")});
  EXPECT_EQ(find_ids(*db.data, Value::object()), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"n": {"$gt": 1}})")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"tags": "x"})")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(db.data->count(Count{"docs", json(R"({"n": {"$type": "string"}})")}), 1);
  EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 3);
  // The stored text is the document as written, _id included.
  auto all = db.data->find(Collection("docs").find(json(R"({"_id": "a"})"))).to_vector();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], json(R"({"_id": "a", "n": 1, "tags": ["x", "y"]})"));
}

TEST(SqliteBackend, MissingCollectionIsEmptyNotAnError) {
  auto db = open_db(":memory:");
  EXPECT_TRUE(find_ids(*db.data, Value::object(), "nothing").empty());
  EXPECT_EQ(db.data->count(Count{"nothing", Value::object()}), 0);
  EXPECT_EQ(db.data->remove(DeleteMany{"nothing", Value::object(), true}).deleted, 0);
  EXPECT_EQ(db.data
                ->update(UpdateMany{"nothing", Value::object(), json(R"({"$set": {"a": 1}})"),
                                    false, true})
                .matched,
            0);
  EXPECT_TRUE(db.data->list_collections().empty());
}

TEST(SqliteBackend, InvalidCollectionNames) {
  auto db = open_db(":memory:");
  for (std::string name : {"", "_components", "a b", "x\"; DROP TABLE y; --", "9a"}) {
    EXPECT_EQ(code_of([&] { db.data->insert_many(name, {json(R"({"_id": "a"})")}); }),
              ErrorCode::invalid_argument)
        << name;
  }
}

TEST(SqliteBackend, DuplicateIdRollsBackTheWholeBatch) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a"})")});
  try {
    db.data->insert_many("docs", {json(R"({"_id": "b"})"), json(R"({"_id": "a"})")});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::already_exists);
    EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("docs"), std::string::npos) << e.what();
  }
  EXPECT_EQ(find_ids(*db.data, Value::object()), (std::vector<std::string>{"a"}));
  // A duplicate inside one batch, on a collection that did not exist: no table is left behind.
  EXPECT_EQ(code_of([&] {
              db.data->insert_many("fresh", {json(R"({"_id": "x"})"), json(R"({"_id": "x"})")});
            }),
            ErrorCode::already_exists);
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"docs"}));
}

TEST(SqliteBackend, ListAndDropCollectionsSkipsOwnTables) {
  auto db = open_db(":memory:");
  auto meta = detail::make_sqlite_metadata(db.conn);
  meta->set_meta("k", Value(1));
  db.data->insert_many("zeta", {json(R"({"_id": "a"})")});
  db.data->insert_many("alpha", {json(R"({"_id": "a"})")});
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"alpha", "zeta"}));
  db.data->drop_collection("zeta");
  db.data->drop_collection("never-existed");
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"alpha"}));
}

TEST(SqliteBackend, UpdateManyOneAndUpsert) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a", "n": 1})"), json(R"({"_id": "b", "n": 1})"),
                                json(R"({"_id": "c", "n": 2})")});
  UpdateResult r = db.data->update(
      UpdateMany{"docs", json(R"({"n": 1})"), json(R"({"$inc": {"n": 10}})"), false, true});
  EXPECT_EQ(r.matched, 2);
  EXPECT_EQ(r.modified, 2);
  EXPECT_EQ(r.modified_ids, (std::vector<std::string>{"a", "b"}));
  // An update that changes nothing matches but does not modify.
  r = db.data->update(
      UpdateMany{"docs", json(R"({"n": 2})"), json(R"({"$set": {"n": 2}})"), false, true});
  EXPECT_EQ(r.matched, 1);
  EXPECT_EQ(r.modified, 0);
  r = db.data->update(
      UpdateMany{"docs", json(R"({"n": 11})"), json(R"({"$set": {"m": true}})"), false, false});
  EXPECT_EQ(r.matched, 1);
  EXPECT_EQ(r.modified_ids, (std::vector<std::string>{"a"}));
  r = db.data->update(
      UpdateMany{"docs", json(R"({"k": "new"})"), json(R"({"$set": {"v": 1}})"), true, true});
  EXPECT_EQ(r.matched, 0);
  ASSERT_TRUE(r.upserted_id.has_value());
  auto up = db.data->find(Collection("docs").find(json(R"({"k": "new"})"))).to_vector();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].find("_id")->as_string(), *r.upserted_id);
  EXPECT_EQ(*up[0].find("v"), Value(1));
  // Upsert into a collection that does not exist yet creates it.
  r = db.data->update(
      UpdateMany{"other", json(R"({"k": 1})"), json(R"({"$set": {"v": 1}})"), true, true});
  EXPECT_TRUE(r.upserted_id.has_value());
  EXPECT_EQ(db.data->count(Count{"other", Value::object()}), 1);
}

TEST(SqliteBackend, FailedUpdateChangesNothing) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a", "n": 1})"), json(R"({"_id": "b", "n": "x"})"),
                                json(R"({"_id": "c", "n": 3})")});
  // $inc fails on the second document; the first must not stay incremented.
  EXPECT_EQ(code_of([&] {
              db.data->update(
                  UpdateMany{"docs", Value::object(), json(R"({"$inc": {"n": 1}})"), false, true});
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(find_ids(*db.data, json(R"({"n": 1})")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"n": 3})")), (std::vector<std::string>{"c"}));
}

TEST(SqliteBackend, ReplaceOneAndDelete) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a", "n": 1})"), json(R"({"_id": "b", "n": 1})")});
  UpdateResult r =
      db.data->replace_one(ReplaceOne{"docs", json(R"({"n": 1})"), json(R"({"m": 5})"), false});
  EXPECT_EQ(r.matched, 1);
  EXPECT_EQ(r.modified_ids, (std::vector<std::string>{"a"}));
  auto a = db.data->find(Collection("docs").find(json(R"({"_id": "a"})"))).to_vector();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], json(R"({"_id": "a", "m": 5})"));
  r = db.data->replace_one(ReplaceOne{"docs", json(R"({"n": 7})"), json(R"({"m": 7})"), true});
  ASSERT_TRUE(r.upserted_id.has_value());

  DeleteResult d = db.data->remove(DeleteMany{"docs", json(R"({"m": {"$exists": true}})"), false});
  EXPECT_EQ(d.deleted_ids, (std::vector<std::string>{"a"}));
  d = db.data->remove(DeleteMany{"docs", Value::object(), true});
  EXPECT_EQ(d.deleted, 2);
  EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 0);
}

TEST(SqliteBackend, SortSkipLimitProjection) {
  auto db = open_db(":memory:");
  db.data->insert_many(
      "docs", {json(R"({"_id": "a", "n": 3, "x": 1})"), json(R"({"_id": "b", "n": [0, 9]})"),
               json(R"({"_id": "c"})"), json(R"({"_id": "d", "n": "s"})"),
               json(R"({"_id": "e", "n": true})"), json(R"({"_id": "f", "n": 1.5})")});
  Find f = Collection("docs").find();
  // MongoDB's order: missing (as null), numbers (an array by its smallest element ascending),
  // strings, booleans.
  EXPECT_EQ(ids_of(db.data->find(f.sort("n", 1)).to_vector()),
            (std::vector<std::string>{"c", "b", "f", "a", "d", "e"}));
  EXPECT_EQ(ids_of(db.data->find(f.sort("n", -1)).to_vector()),
            (std::vector<std::string>{"e", "d", "b", "a", "f", "c"}));
  EXPECT_EQ(ids_of(db.data->find(f.sort("n", 1).skip(1).limit(2)).to_vector()),
            (std::vector<std::string>{"b", "f"}));
  EXPECT_EQ(ids_of(db.data->find(f.skip(4)).to_vector()), (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ(ids_of(db.data->find(f.limit(2)).to_vector()), (std::vector<std::string>{"a", "b"}));
  auto projected =
      db.data->find(Collection("docs").find(json(R"({"_id": "a"})"), json(R"({"x": 1})")))
          .to_vector();
  ASSERT_EQ(projected.size(), 1u);
  EXPECT_EQ(projected[0], json(R"({"_id": "a", "x": 1})"));
}

TEST(SqliteBackend, PersistsAcrossReopenAndCreatesFolders) {
  TempDir dir;
  const std::string path = (dir.path() / "sub" / "deeper" / "data.db").string();
  {
    auto db = open_db(path);
    db.data->insert_many("docs", {json(R"({"_id": "a", "v": [1, {"b": "x"}]})")});
    db.data->create_index("docs", "v.b");
    db.data->update(
        UpdateMany{"docs", json(R"({"_id": "a"})"), json(R"({"$set": {"w": 2}})"), false, true});
  }
  auto db = open_db(path);
  auto docs = db.data->find(Collection("docs").find(json(R"({"v.b": "x"})"))).to_vector();
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0], json(R"({"_id": "a", "v": [1, {"b": "x"}], "w": 2})"));
  EXPECT_EQ(db.data->list_collections(), (std::vector<std::string>{"docs"}));
}

TEST(SqliteBackend, NotADatabaseIsCorruption) {
  TempDir dir;
  const fs::path path = dir.path() / "junk.db";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string junk(4096, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  try {
    open_db(path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::corruption);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(SqliteBackend, LiveCursorDoesNotBlockTheSameThread) {
  TempDir dir;
  for (const std::string& path : {std::string(":memory:"), (dir.path() / "c.db").string()}) {
    SCOPED_TRACE(path);
    auto db = open_db(path);
    std::vector<Document> docs;
    for (int i = 0; i < 50; ++i) {
      docs.push_back(Value{{"_id", "d" + std::to_string(100 + i)}, {"n", i}});
    }
    db.data->insert_many("docs", docs);
    {
      Cursor c = db.data->find(Collection("docs").find(json(R"({"n": {"$gte": 0}})")));
      int seen = 0;
      while (auto d = c.next()) {
        ++seen;
        // Reads and writes between two steps of a live cursor, on the same thread.
        EXPECT_EQ(db.data->count(Count{"docs", json(R"({"n": {"$lt": 1000}})")}), 50);
        db.data->insert_many("docs", {Value{{"_id", "x" + std::to_string(seen)}, {"n", 5000}}});
        if (seen == 10) break;
      }
      EXPECT_EQ(seen, 10);
      // Dropping a table that a live cursor reads on the same connection (only :memory:; on a
      // file the cursor reads a snapshot on a handle of its own) is a conflict, not a hang or a
      // crash.
      if (path == ":memory:") {
        EXPECT_EQ(code_of([&] { db.data->drop_collection("docs"); }), ErrorCode::conflict);
      }
      // A write that fails and rolls back between two steps does not break the cursor.
      EXPECT_EQ(
          code_of([&] {
            db.data->insert_many("docs", {json(R"({"_id": "new"})"), json(R"({"_id": "new"})")});
          }),
          ErrorCode::already_exists);
      while (auto d = c.next()) ++seen;
      EXPECT_EQ(seen, 50);  // rows inserted after find() are not seen
    }
    // A cursor abandoned half-way releases its statement: the table can be dropped.
    {
      Cursor half = db.data->find(Collection("docs").find());
      half.next();
    }
    db.data->drop_collection("docs");
    EXPECT_TRUE(db.data->list_collections().empty());
  }
}

TEST(SqliteBackend, SeveralThreadsInsertAndRead) {
  TempDir dir;
  auto db = open_db((dir.path() / "t.db").string());
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int b = 0; b < kBatches; ++b) {
          std::vector<Document> batch;
          for (int i = 0; i < 4; ++i) {
            batch.push_back(Value{{"_id", "t" + std::to_string(t) + "-" + std::to_string(b) + "-" +
                                              std::to_string(i)},
                                  {"t", t}});
          }
          db.data->insert_many("docs", batch);
          auto mine = db.data->find(Collection("docs").find(Value{{"t", t}})).to_vector();
          if (mine.size() != static_cast<std::size_t>((b + 1) * 4)) ++failures;
          db.data->count(Count{"docs", Value::object()});
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), kThreads * kBatches * 4);
}

TEST(SqliteBackend, TwoConnectionsToOneFileWaitForEachOther) {
  // As two processes would: separate connections, each with its own lock; SQLite's file locks
  // and the busy timeout serialize their writes.
  TempDir dir;
  const std::string path = (dir.path() / "shared.db").string();
  auto first = open_db(path);
  auto second = open_db(path);
  std::atomic<int> failures{0};
  auto writer = [&](DataBackend& data, const std::string& prefix) {
    try {
      for (int b = 0; b < 30; ++b) {
        data.insert_many("docs", {Value{{"_id", prefix + std::to_string(b)}, {"b", b}}});
        data.update(
            UpdateMany{"docs", Value{{"b", b}}, json(R"({"$inc": {"n": 1}})"), false, true});
        (void)data.count(Count{"docs", Value::object()});
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      ++failures;
    }
  };
  std::thread t1([&] { writer(*first.data, "p"); });
  std::thread t2([&] { writer(*second.data, "q"); });
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(first.data->count(Count{"docs", Value::object()}), 60);
  EXPECT_EQ(second.data->count(Count{"docs", json(R"({"n": {"$gte": 1}})")}), 60);
}

// --- index use ---------------------------------------------------------------------------------

std::string query_plan(detail::SqliteConnection& conn, const std::string& collection,
                       const Value& filter) {
  detail::CompiledFilter cf = detail::compile_filter(query::parse_filter(filter));
  auto lock = conn.lock();
  detail::Stmt s = conn.prepare_owned("EXPLAIN QUERY PLAN SELECT doc FROM " +
                                      detail::quote_identifier(collection) + " WHERE " + cf.sql);
  detail::bind_filter(s.raw(), cf);
  std::string plan;
  while (s.step()) plan += s.column_text(3) + "\n";
  return plan;
}

TEST(SqliteBackend, IdEqualityAndInSearchThePrimaryKey) {
  auto db = open_db(":memory:");
  std::vector<Document> docs;
  for (int i = 0; i < 100; ++i) docs.push_back({{"_id", "d" + std::to_string(i)}, {"n", i}});
  db.data->insert_many("docs", docs);
  for (const char* f : {R"({"_id": "d7"})", R"({"_id": {"$in": ["d7", "d9", "zz"]}})",
                        R"({"$and": [{"n": {"$gt": 3}}, {"_id": {"$in": ["d1", "d7"]}}]})"}) {
    const std::string plan = query_plan(*db.conn, "docs", json(f));
    EXPECT_NE(plan.find("sqlite_autoindex_docs_1"), std::string::npos) << f << "\n" << plan;
  }
  EXPECT_EQ(find_ids(*db.data, json(R"({"_id": {"$in": ["d9", "d7", "zz"]}})")),
            (std::vector<std::string>{"d7", "d9"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"_id": "d3"})")), (std::vector<std::string>{"d3"}));
  // Operands of other types take the general path and match nothing (every _id is a string).
  EXPECT_TRUE(find_ids(*db.data, json(R"({"_id": 3})")).empty());
  EXPECT_TRUE(find_ids(*db.data, json(R"({"_id": {"$in": [3, null]}})")).empty());
  // Not at the root: the general path.
  EXPECT_TRUE(find_ids(*db.data, json(R"({"a": {"$elemMatch": {"_id": "d3"}}})")).empty());
}

// A find for given ids beside an indexed field searches the key: without statistics SQLite's
// planner took the field's index (a guess of 10 rows per value) and read every document with
// that value. searches_key says when the backend names the key's index (INDEXED BY), which
// SQLite refuses with an error when the statement cannot search it: every find below runs that
// way, on a file (a reader connection) and in memory, and agrees with the evaluator.
TEST(SqliteBackend, FindsOfGivenIdsBesideAnIndexedFieldSearchTheKey) {
  using detail::searches_key;
  auto key = [](const char* f) { return searches_key(query::parse_filter(json(f))); };
  EXPECT_TRUE(key(R"({"_id": "d1"})"));
  EXPECT_TRUE(key(R"({"_id": {"$in": ["d1", "d2"]}, "n": 3})"));
  EXPECT_TRUE(key(R"({"$and": [{"n": 3}, {"$and": [{"m": 1}, {"_id": "d1"}]}]})"));
  EXPECT_FALSE(key(R"({"n": 3})"));
  EXPECT_FALSE(key(R"({"_id": {"$in": ["d1", 2]}, "n": 3})"));  // not all strings: general path
  EXPECT_FALSE(key(R"({"_id": {"$in": []}})"));
  EXPECT_FALSE(key(R"({"_id": {"$gt": "d1"}, "n": 3})"));
  EXPECT_FALSE(key(R"({"$or": [{"_id": "d1"}, {"n": 3}]})"));
  EXPECT_FALSE(key(R"({"a": {"$elemMatch": {"_id": "d1"}}})"));

  TempDir dir;
  for (const std::string& path : {(dir.path() / "key.db").string(), std::string(":memory:")}) {
    auto db = open_db(path);
    std::vector<Document> docs;
    for (int i = 0; i < 400; ++i) {
      docs.push_back({{"_id", "d" + std::to_string(i)}, {"n", i % 4}, {"m", i % 3}});
    }
    db.data->insert_many("docs", docs);
    db.data->create_index("docs", "n");
    for (const char* f : {R"({"n": 1, "_id": {"$in": ["d1", "d2", "d5", "d9", "zz"]}})",
                          R"({"$and": [{"n": {"$gte": 1}}, {"_id": "d7"}]})",
                          R"({"$and": [{"n": 1}, {"$and": [{"m": 0}, {"_id": {"$in": ["d9",
                              "d21", "d33"]}}]}]})",
                          R"({"_id": {"$in": ["d1", "d2"]}, "n": {"$exists": true}})"}) {
      std::vector<std::string> want;
      const query::FilterNode parsed = query::parse_filter(json(f));
      for (const Document& d : docs) {
        if (query::matches(parsed, d)) want.push_back(d.find("_id")->as_string());
      }
      std::sort(want.begin(), want.end());
      EXPECT_EQ(find_ids(*db.data, json(f)), want) << path << " " << f;
      EXPECT_EQ(db.data->count(Count{"docs", json(f)}), static_cast<std::int64_t>(want.size()))
          << path << " " << f;
      UpdateResult r =
          db.data->update(UpdateMany{"docs", json(f), json(R"({"$inc": {"u": 1}})"), false, true});
      std::sort(r.modified_ids.begin(), r.modified_ids.end());
      EXPECT_EQ(r.modified_ids, want) << path << " " << f;
    }
    // Deletes: one, then all that match.
    const Value f = json(R"({"n": 1, "_id": {"$in": ["d1", "d5", "d9", "d2"]}})");
    DeleteResult one = db.data->remove(DeleteMany{"docs", f, false});
    ASSERT_EQ(one.deleted_ids.size(), 1u) << path;
    EXPECT_EQ(one.deleted_ids[0], "d1") << path;  // insertion order: the first match
    DeleteResult rest = db.data->remove(DeleteMany{"docs", f, true});
    std::sort(rest.deleted_ids.begin(), rest.deleted_ids.end());
    EXPECT_EQ(rest.deleted_ids, (std::vector<std::string>{"d5", "d9"})) << path;
    EXPECT_EQ(db.data->count(Count{"docs", Value::object()}), 397) << path;
  }
}

TEST(SqliteBackend, IndexesServeEqualityAndRangesIncludingArrays) {
  auto db = open_db(":memory:");
  std::vector<Document> docs;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    Value d{{"_id", "d" + std::to_string(i)}};
    switch (i % 5) {
      case 0:
        d.set("n", static_cast<int>(rng() % 50));
        break;
      case 1:
        d.set("n", Value::array({static_cast<int>(rng() % 50), "s"}));
        break;
      case 2:
        d.set("n", std::to_string(rng() % 50));
        break;
      case 3:
        d.set("a", Value::array({Value{{"b", static_cast<int>(rng() % 50)}}}));
        break;
      default:
        d.set("a", Value{{"b", static_cast<double>(rng() % 50) + 0.5}});
        break;
    }
    docs.push_back(d);
  }
  db.data->insert_many("docs", docs);
  const std::vector<Value> filters = {json(R"({"n": 7})"),
                                      json(R"({"n": {"$gt": 40}})"),
                                      json(R"({"n": "7"})"),
                                      json(R"({"n": {"$lte": 3}})"),
                                      json(R"({"a.b": 7})"),
                                      json(R"({"a.b": {"$gte": 45}})"),
                                      json(R"({"n": {"$in": [1, 2, "3"]}})")};
  std::vector<std::vector<std::string>> before;
  for (const Value& f : filters) before.push_back(find_ids(*db.data, f));

  db.data->create_index("docs", "n");
  db.data->create_index("docs", "a.b");
  db.data->create_index("docs", "n");  // idempotent

  for (std::size_t i = 0; i < filters.size(); ++i) {
    const std::string plan = query_plan(*db.conn, "docs", filters[i]);
    EXPECT_NE(plan.find("USING INDEX"), std::string::npos) << filters[i].to_json() << "\n" << plan;
    EXPECT_EQ(plan.find("SCAN docs"), std::string::npos) << filters[i].to_json() << "\n" << plan;
    EXPECT_EQ(find_ids(*db.data, filters[i]), before[i]) << filters[i].to_json();
    // And the same results as the evaluator.
    query::FilterNode node = query::parse_filter(filters[i]);
    std::vector<std::string> expected;
    for (const Document& d : docs) {
      if (query::matches(node, d)) expected.push_back(d.find("_id")->as_string());
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(before[i], expected) << filters[i].to_json();
  }
}

TEST(SqliteBackend, CommonFiltersCompileToExactSql) {
  for (const char* f :
       {R"({"a": 1})", R"({"a.b": {"$gt": 1, "$lt": 5}})", R"({"a": {"$in": [1, "x", null]}})",
        R"({"a": {"$exists": false}})", R"({"a": {"$regex": "^x", "$options": "i"}})",
        R"({"a": {"$ne": null}})", R"({"a": {"$nin": [1, 2]}})", R"({"a": ["x", "y"]})",
        R"({"a": {"$size": 2}})", R"({"a": {"$all": ["x", "y"]}})",
        R"({"a": {"$elemMatch": {"$gt": 1, "$lt": 5}}})", R"({"$or": [{"a": 1}, {"b.0": null}]})",
        R"({"a": {"$type": ["string", "array"]}})", R"({"a": {"$not": {"$gt": 1}}})"}) {
    detail::CompiledFilter cf = detail::compile_filter(query::parse_filter(json(f)));
    EXPECT_TRUE(cf.exact) << f << "\n" << cf.sql;
  }
  // Numbers inside arrays compare by value (1 == 1.0): compared member by member in SQL.
  EXPECT_TRUE(detail::compile_filter(query::parse_filter(json(R"({"a": [1, {"b": 2.5}]})"))).exact);
  // MongoDB's full order of arrays ($gt: [1]) is left to the evaluator.
  EXPECT_FALSE(detail::compile_filter(query::parse_filter(json(R"({"a": {"$gt": [1]}})"))).exact);
}

TEST(SqliteBackend, CornerCasesAndResidualChecksGiveEvaluatorResults) {
  auto db = open_db(":memory:");
  std::vector<Document> docs = {
      json(R"({"_id": "a", "v": [1, 2]})"),          json(R"({"_id": "b", "v": [1.0, 2.0]})"),
      json(R"({"_id": "c", "v": [[1, 2], 3]})"),     json(R"({"_id": "d", "v": [2, 1]})"),
      json(R"({"_id": "e", "v": [{"b": null}]})"),   json(R"({"_id": "f", "v": [[]]})"),
      json(R"({"_id": "g", "v": {"x": 1}})"),        json(R"({"_id": "h"})"),
      json(R"({"_id": "i", "v": [[1, [2]], [3]]})"), json(R"({"_id": "j", "v": [[{"0": 1}]]})")};
  db.data->insert_many("docs", docs);
  for (const char* f : {R"({"v": [1, 2]})", R"({"v": {"$ne": [1, 2]}})", R"({"v": {"$gt": [1]}})",
                        R"({"v": {"$elemMatch": {"b": null}}})", R"({"v": {"x": 1.0}})",
                        R"({"v": {"$in": [[1, 2], 3]}})", R"({"v": {"$nin": [[1, 2], 3]}})",
                        // $elemMatch reads an array element as the document {"0": ..., "1": ...}.
                        R"({"v": {"$elemMatch": {"0": 1}}})", R"({"v": {"$elemMatch": {"1": 2}}})",
                        R"({"v": {"$elemMatch": {"00": null}}})",
                        R"({"v": {"$elemMatch": {"1": {"$exists": false}}}})",
                        R"({"v": {"$elemMatch": {"0.0": 1}}})"}) {
    query::FilterNode node = query::parse_filter(json(f));
    std::vector<std::string> expected;
    for (const Document& d : docs) {
      if (query::matches(node, d)) expected.push_back(d.find("_id")->as_string());
    }
    EXPECT_EQ(find_ids(*db.data, json(f)), expected) << f;
    EXPECT_EQ(db.data->count(Count{"docs", json(f)}), static_cast<std::int64_t>(expected.size()))
        << f;
    // Skip and limit apply after the residual check.
    auto limited =
        ids_of(db.data->find(Collection("docs").find(json(f)).skip(1).limit(1)).to_vector());
    std::vector<std::string> want;
    if (expected.size() > 1) want.push_back(expected[1]);
    EXPECT_EQ(limited, want) << f;
  }
}

TEST(SqliteBackend, LongInListsAndOrChains) {
  // SQLite limits expression trees to 1000 levels; long lists must not reach it.
  auto db = open_db(":memory:");
  std::vector<Document> docs;
  for (int i = 0; i < 100; ++i) {
    docs.push_back(
        Value{{"_id", "d" + std::to_string(1000 + i)}, {"n", i}, {"s", std::to_string(i)}});
  }
  db.data->insert_many("docs", docs);
  std::string in_text = "[", or_text = "[";
  for (int i = 0; i < 3000; i += 3) {
    in_text += (i ? "," : "") + std::to_string(i) + ",\"" + std::to_string(i + 1) + "\"";
    or_text += (i ? "," : "") + std::string("{\"n\":") + std::to_string(i) + "}";
  }
  const Value in_items = json(in_text + "]"), or_items = json(or_text + "]");
  const Value in_filter{{"n", Value{{"$in", in_items}}}};
  const Value nin_filter{{"s", Value{{"$nin", in_items}}}};
  const Value or_filter{{"$or", or_items}};
  for (const Value* filter : {&in_filter, &nin_filter, &or_filter}) {
    const Value& f = *filter;
    detail::CompiledFilter cf = detail::compile_filter(query::parse_filter(f));
    EXPECT_TRUE(cf.exact);
    query::FilterNode node = query::parse_filter(f);
    std::vector<std::string> expected;
    for (const Document& d : docs) {
      if (query::matches(node, d)) expected.push_back(d.find("_id")->as_string());
    }
    EXPECT_EQ(find_ids(*db.data, f), expected);
    EXPECT_EQ(db.data->count(Count{"docs", f}), static_cast<std::int64_t>(expected.size()));
  }
}

TEST(SqliteBackend, FieldNamesThatNeedQuoting) {
  auto db = open_db(":memory:");
  db.data->insert_many("docs", {json(R"({"_id": "a", "we'ird key": 1, "q\"uote": 2, "b\\s": 3})")});
  EXPECT_EQ(find_ids(*db.data, json(R"({"we'ird key": 1})")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"q\"uote": 2})")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"b\\s": 3})")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(find_ids(*db.data, json(R"({"b\\s": 4})")), (std::vector<std::string>{}));
  db.data->create_index("docs", "we'ird key");
  EXPECT_EQ(find_ids(*db.data, json(R"({"we'ird key": {"$gte": 1}})")),
            (std::vector<std::string>{"a"}));
}

TEST(SqliteBackend, ThroughTheDbFacade) {
  auto db = superduper("sqlite://:memory:");
  InsertResult ins = db->execute(Collection("docs").insert_many(
      {json(R"({"x": 1})"), json(R"({"x": 2})"), json(R"({"x": 3})")}));
  ASSERT_EQ(ins.inserted_ids.size(), 3u);
  EXPECT_EQ(db->execute(Collection("docs").count(json(R"({"x": {"$gte": 2}})"))), 2);
  auto one = db->execute(Collection("docs").find_one(json(R"({"x": 3})")));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->find("_id")->as_string(), ins.inserted_ids[2]);
  EXPECT_EQ(db->collections(), (std::vector<std::string>{"docs"}));
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

// --- model outputs tables ---------------------------------------------------------------------

std::vector<OutputRow> scan(DataBackend& data, const std::string& table, std::int64_t after) {
  std::vector<OutputRow> rows;
  data.scan_outputs(table, after, [&](const OutputRow& r) { rows.push_back(r); });
  return rows;
}

TEST(SqliteOutputs, SequenceNumbersOnlyGrowAndRowsRoundTrip) {
  auto db = open_db(":memory:");
  const std::string t = "_outputs/m/x/0";
  db.data->create_outputs(t);
  db.data->create_outputs(t);  // idempotent
  db.data->write_outputs(t, {{"a", {1.5f, -2.0f}, 3, 0}, {"b", {0.0f, 1e-30f}, 3, 0}});
  auto rows = scan(*db.data, t, 0);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, "a");
  EXPECT_EQ(rows[0].vector, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(rows[0].model_version, 3);
  EXPECT_EQ(rows[1].vector, (std::vector<float>{0.0f, 1e-30f}));
  const std::int64_t seen = rows[1].seq;
  // A rewritten row gets a new, higher seq; so does a row written after the top one is deleted.
  db.data->write_outputs(t, {{"a", {9.0f, 9.0f}, 4, 0}});
  db.data->delete_outputs(t, {"a", "nothing"});
  db.data->write_outputs(t, {{"c", {7.0f, 7.0f}, 4, 0}});
  rows = scan(*db.data, t, seen);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, "c");
  EXPECT_GT(rows[0].seq, seen + 1);
  auto ids = db.data->output_ids(t);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(db.data->get_outputs(t, {"c", "zz"}).size(), 1u);
  // Outputs tables are not collections.
  EXPECT_TRUE(db.data->list_collections().empty());
  db.data->drop_outputs(t);
  db.data->drop_outputs(t);  // a missing one is not an error
  EXPECT_EQ(code_of([&] { db.data->output_ids(t); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { db.data->create_outputs("_outputs/bad name"); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { db.data->create_outputs("people"); }), ErrorCode::invalid_argument);
  // A table name with a quote cannot reach SQL.
  EXPECT_EQ(code_of([&] { db.data->create_outputs("_outputs/a\"b"); }),
            ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace sddb
