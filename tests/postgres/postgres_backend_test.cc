// The PostgreSQL backend through the public API and its SPI: documents, cursors, names, model
// outputs, metadata, artifacts, URIs, connection loss and several threads at once. Each test
// has a schema of its own on the server of SDDB_TEST_POSTGRES_URI (tests/testing/postgres.h);
// the query language itself is covered by the conformance suite's "postgres" target and by
// postgres_differential_test.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends/postgres/pg_compiler.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/postgres.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

using testutil::code_of;
using testutil::PgTestSchema;
using testutil::postgres_exec;

std::vector<std::string> ids(Cursor c) {
  std::vector<std::string> out;
  for (const Document& d : c) out.push_back(d.find("_id")->as_string());
  return out;
}

std::string sha_of(const std::string& s) { return sha256_hex(s); }

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SDDB_REQUIRE_POSTGRES();
    schema_ = std::make_unique<PgTestSchema>();
    db_ = superduper(schema_->uri());
  }
  void TearDown() override { db_.reset(); }

  void insert_n(int n, const std::string& collection = "docs") {
    std::vector<Document> batch;
    for (int i = 0; i < n; ++i) {
      batch.push_back(
          Value{{"_id", "d" + std::to_string(10000 + i)}, {"n", i}, {"odd", i % 2 == 1}});
    }
    db_->execute(Collection(collection).insert_many(batch));
  }

  std::unique_ptr<PgTestSchema> schema_;
  std::unique_ptr<DB> db_;
  Collection docs_{"docs"};
};

TEST_F(PostgresTest, DocumentsComeBackExactlyAsWritten) {
  // Member order, int against double, escapes, non-ASCII text and nesting survive the round
  // trip (the JSON text is stored as written; JSONB alone would lose the first two).
  const std::string text = "quote ' \" back \\ tab \t nl \n cr \r \xc3\xa9 \xf0\x9f\x98\x80";
  Document d{{"_id", "x"},
             {"z", 1},
             {"a", 1.0},
             {"s", text},
             {"n", json(R"({"b": [1, 2.5, null, true, {"q": []}], "a": {}})")},
             {"big", 9007199254740993LL},
             {"tiny", 5e-324},
             {"neg", -0.0}};
  db_->execute(docs_.insert_one(d));
  std::vector<Document> got = db_->execute(docs_.find()).to_vector();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], d) << got[0].to_json();
  EXPECT_EQ(db_->execute(docs_.count(Value{{"s", text}})), 1);
  EXPECT_EQ(db_->execute(docs_.count(Value{{"big", 9007199254740993LL}})), 1);
  EXPECT_EQ(db_->execute(docs_.count(Value{{"big", 9007199254740992LL}})), 0);
  // Values that look like SQL are values.
  EXPECT_EQ(db_->execute(docs_.count(Value{{"s", "'; DROP TABLE docs; --"}})), 0);
  EXPECT_EQ(db_->execute(docs_.count()), 1);
}

TEST_F(PostgresTest, FindsCountsSkipsAndLimitsOverManyBatches) {
  insert_n(1500);
  EXPECT_EQ(db_->execute(docs_.count()), 1500);
  EXPECT_EQ(db_->execute(docs_.count(json(R"({"odd": true, "n": {"$lt": 100}})"))), 50);
  // Past the first fetch batch, in insertion order, with and without a re-checked filter.
  EXPECT_EQ(ids(db_->execute(docs_.find().skip(700).limit(3))),
            (std::vector<std::string>{"d10700", "d10701", "d10702"}));
  EXPECT_EQ(ids(db_->execute(docs_.find(json(R"({"odd": false})")).skip(600).limit(2))),
            (std::vector<std::string>{"d11200", "d11202"}));
  EXPECT_EQ(ids(db_->execute(docs_.find(json(R"({"_id": {"$gte": "d11498"}})")))),
            (std::vector<std::string>{"d11498", "d11499"}));
  EXPECT_EQ(ids(db_->execute(docs_.find(json(R"({"n": {"$gte": 3}})")).sort("n", -1).limit(2))),
            (std::vector<std::string>{"d11499", "d11498"}));
  EXPECT_EQ(db_->execute(docs_.find().limit(-5)).to_vector().size(), 5u);
}

TEST_F(PostgresTest, UpdatesReplacesUpsertsAndDeletes) {
  insert_n(20);
  UpdateResult u =
      db_->execute(docs_.update_many(json(R"({"odd": true})"), json(R"({"$inc": {"n": 100}})")));
  EXPECT_EQ(u.matched, 10);
  EXPECT_EQ(u.modified, 10);
  EXPECT_EQ(db_->execute(docs_.count(json(R"({"n": {"$gte": 100}})"))), 10);
  u = db_->execute(docs_.update_one(json(R"({"odd": false})"), json(R"({"$set": {"x": 1}})")));
  EXPECT_EQ(u.modified_ids, std::vector<std::string>{"d10000"});
  u = db_->execute(docs_.replace_one(json(R"({"_id": "d10002"})"), json(R"({"only": true})")));
  EXPECT_EQ(u.matched, 1);
  EXPECT_EQ(*db_->execute(docs_.find_one(json(R"({"_id": "d10002"})"))),
            json(R"({"_id": "d10002", "only": true})"));
  u = db_->execute(docs_.update_one(json(R"({"_id": "new"})"), json(R"({"$set": {"v": 1}})"),
                                    /*upsert=*/true));
  EXPECT_EQ(u.upserted_id, std::optional<std::string>("new"));
  DeleteResult d = db_->execute(docs_.delete_many(json(R"({"n": {"$gte": 100}})")));
  EXPECT_EQ(d.deleted, 10);
  d = db_->execute(docs_.delete_one(json(R"({"odd": false})")));
  EXPECT_EQ(d.deleted_ids, std::vector<std::string>{"d10000"});
  EXPECT_EQ(db_->execute(docs_.count()), 10);
  // An update that fails half-way (a string where $inc needs a number) changes nothing.
  db_->execute(docs_.insert_one(json(R"({"_id": "s", "n": "text"})")));
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.update_many(json(R"({})"), json(R"({"$inc": {"n": 1}})")));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(db_->execute(docs_.count(json(R"({"n": 3})"))), 0);
  EXPECT_EQ(db_->execute(docs_.count(json(R"({"n": 2})"))), 0);  // d10002 was replaced
  EXPECT_EQ(db_->execute(docs_.count(json(R"({"n": 4})"))), 1);
}

TEST_F(PostgresTest, ADuplicateIdStoresNothingOfTheBatchAndNamesTheId) {
  insert_n(3);
  std::vector<Document> batch = {json(R"({"_id": "fresh"})"), json(R"({"_id": "d10001"})")};
  try {
    db_->execute(docs_.insert_many(batch));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::already_exists);
    EXPECT_NE(std::string(e.what()).find("d10001"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db_->execute(docs_.count()), 3);
  // Within one batch too, and a failed first write leaves no collection behind.
  Collection other("other");
  EXPECT_EQ(code_of([&] {
              db_->execute(other.insert_many({json(R"({"_id": "a"})"), json(R"({"_id": "a"})")}));
            }),
            ErrorCode::already_exists);
  EXPECT_EQ(db_->collections(), std::vector<std::string>{"docs"});
}

TEST_F(PostgresTest, ACursorReadsTheDataAsOfItsFind) {
  insert_n(1200);
  // A cursor dropped while it has asked for the next batch reads that batch off the connection
  // and gives it back clean: the next finds (on the same connection) answer right.
  for (int i = 0; i < 3; ++i) {
    Cursor partial = db_->execute(docs_.find());
    ASSERT_TRUE(partial.next());
    EXPECT_EQ(db_->execute(docs_.count(json(R"({"odd": true})"))), 600);
  }
  EXPECT_EQ(db_->execute(docs_.find().skip(1190)).to_vector().size(), 10u);
  Cursor c = db_->execute(docs_.find());
  ASSERT_TRUE(c.next());
  db_->execute(docs_.delete_many(json(R"({})")));
  db_->execute(docs_.insert_one(json(R"({"_id": "later"})")));
  std::int64_t n = 1;
  while (auto d = c.next()) {
    EXPECT_NE(d->find("_id")->as_string(), "later");
    ++n;
  }
  EXPECT_EQ(n, 1200);
  EXPECT_EQ(db_->execute(docs_.count()), 1);
  // Dropping the collection while this thread holds an open cursor on it cannot wait for the
  // cursor to end: it gives up with conflict, and works once the cursor is gone.
  {
    Cursor open = db_->execute(docs_.find());
    ASSERT_TRUE(open.next());
    EXPECT_EQ(code_of([&] { db_->drop_collection("docs"); }), ErrorCode::conflict);
  }
  EXPECT_EQ(db_->execute(docs_.count()), 1);
  // A cursor dropped half-way gives its connection back in a clean state.
  for (int i = 0; i < 20; ++i) {
    Cursor partial = db_->execute(docs_.find());
    ASSERT_TRUE(partial.next());
  }
  EXPECT_EQ(db_->execute(docs_.count()), 1);
}

TEST_F(PostgresTest, CollectionNamesAreExactAndChecked) {
  db_->execute(Collection("People").insert_one(json(R"({"_id": "1"})")));
  db_->execute(Collection("people").insert_one(json(R"({"_id": "2"})")));
  EXPECT_EQ(db_->collections(), (std::vector<std::string>{"People", "people"}));
  EXPECT_EQ(ids(db_->execute(Collection("People").find())), std::vector<std::string>{"1"});
  EXPECT_EQ(code_of([&] { db_->execute(Collection("a\"b").find()); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { db_->execute(Collection("_components").find()); }),
            ErrorCode::invalid_argument);
  const std::string long_name(64, 'x');
  EXPECT_EQ(code_of([&] { db_->execute(Collection(long_name).insert_one(json("{}"))); }),
            ErrorCode::not_supported);
  EXPECT_EQ(db_->execute(Collection(long_name).count()), 0);
  db_->drop_collection("People");
  EXPECT_EQ(db_->collections(), std::vector<std::string>{"people"});
  db_->drop_collection("missing");
}

TEST_F(PostgresTest, IndexedFiltersGiveTheSameAnswers) {
  insert_n(300);
  db_->execute(docs_.insert_one(json(R"({"_id": "arr", "odd": [true, false], "t": {"g": "x"}})")));
  const std::vector<Value> filters = {json(R"({"odd": true})"), json(R"({"t.g": "x"})"),
                                      json(R"({"n": {"$in": [1, 2, 3]}})"),
                                      json(R"({"odd": {"$ne": true}})")};
  std::vector<std::int64_t> before;
  for (const Value& f : filters) before.push_back(db_->execute(docs_.count(f)));
  db_->create_index("docs", "odd");
  db_->create_index("docs", "t.g");
  db_->create_index("docs", "t.g");  // idempotent
  for (std::size_t i = 0; i < filters.size(); ++i) {
    EXPECT_EQ(db_->execute(docs_.count(filters[i])), before[i]) << filters[i].to_json();
  }
  EXPECT_EQ(before[0], 151);
  EXPECT_EQ(before[1], 1);
  EXPECT_EQ(code_of([&] { db_->create_index("docs", "a..b"); }), ErrorCode::invalid_argument);
}

TEST_F(PostgresTest, FiltersCompileToParametersAndClaimExactnessOnlyOnIds) {
  using detail::compile_pg_filter;
  auto c = [](const char* f) { return compile_pg_filter(query::parse_filter(json(f))); };
  detail::CompiledPgFilter id = c(R"({"_id": {"$in": ["a", "b\"c"]}})");
  EXPECT_TRUE(id.exact);
  EXPECT_EQ(id.sql, "_id = ANY($1::text[])");
  EXPECT_EQ(id.params, std::vector<std::string>{R"({"a","b\"c"})"});
  detail::CompiledPgFilter eq = c(R"({"a.b": "x'y", "n": {"$gt": 2}})");
  EXPECT_FALSE(eq.exact);
  EXPECT_EQ(eq.sql, "(body @? $1::jsonpath AND body @? $2::jsonpath)");
  EXPECT_EQ(eq.params,
            (std::vector<std::string>{R"($."a"."b" ? (@ == "x'y"))", R"($."n" ? (@ > 2))"}));
  // A negation of an inexact part, a numeric path component or a null selects everything; no
  // placeholder is left without its parameter.
  for (const char* f : {R"({"a": {"$ne": 1}})", R"({"a.0": 1})", R"({"a": null})",
                        R"({"$or": [{"a": 1}, {"b": {"$exists": false}}]})"}) {
    detail::CompiledPgFilter p = c(f);
    EXPECT_EQ(p.sql, "TRUE") << f;
    EXPECT_TRUE(p.params.empty()) << f;
  }
  EXPECT_EQ(c(R"({"_id": {"$ne": "a"}})").sql, "NOT (_id COLLATE \"C\" = $1)");
  // On range-indexed paths, a number range is the typed term and one array term per prefix;
  // equality stays the GIN's jsonpath.
  const std::set<std::string> indexed = {"a.b", "n"};
  detail::CompiledPgFilter range = compile_pg_filter(
      query::parse_filter(json(R"({"a.b": {"$lte": 2.5}, "n": 1})")), 3, &indexed);
  EXPECT_FALSE(range.exact);
  EXPECT_EQ(
      range.sql,
      "((CASE WHEN jsonb_typeof(body->'a'->'b') = 'number' THEN (body->'a'->'b')::numeric END "
      "<= $4::numeric OR (jsonb_typeof(body->'a') = 'array' AND body @? $3::jsonpath) OR "
      "(jsonb_typeof(body->'a'->'b') = 'array' AND body @? $3::jsonpath)) AND "
      "body @? $5::jsonpath)");
  EXPECT_EQ(range.params,
            (std::vector<std::string>{R"($."a"."b" ? (@ <= 2.5))", "2.5", R"($."n" ? (@ == 1))"}));
}

// The plan PostgreSQL picks for the compiled filter with `range_indexed`, as create_index's
// indexes let the backend compile it (the SQL the backend runs, with its parameters).
std::string plan_of(const PgTestSchema& schema, const Value& filter,
                    const std::set<std::string>& range_indexed) {
  detail::CompiledPgFilter cf =
      detail::compile_pg_filter(query::parse_filter(filter), 1, &range_indexed);
  PGconn* c = PQconnectdb(schema.base().c_str());
  std::vector<const char*> values;
  for (const std::string& p : cf.params) values.push_back(p.c_str());
  const std::string sql = "EXPLAIN SELECT doc FROM \"" + schema.name() + "\".docs WHERE " + cf.sql;
  PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  std::string plan = PQresultStatus(r) == PGRES_TUPLES_OK ? "" : PQerrorMessage(c);
  for (int i = 0; i < PQntuples(r); ++i) plan += std::string(PQgetvalue(r, i, 0)) + "\n";
  PQclear(r);
  PQfinish(c);
  return plan;
}

TEST_F(PostgresTest, RangesOnAnIndexedPathSearchTheIndexAndMatchTheEvaluator) {
  // Mostly numbers, and beside them every shape MongoDB's range semantics must get right: the
  // field missing, null, a string, a boolean, an object, arrays (of numbers, mixed, nested,
  // empty), and the parent an array of documents or a scalar.
  std::vector<Document> docs;
  for (int i = 0; i < 3000; ++i) {
    docs.push_back(Value{{"_id", "n" + std::to_string(i)},
                         {"size", i % 7 == 0 ? Value(i + 0.5) : Value(i)},
                         {"t", Value{{"w", i}}}});
  }
  for (const char* d :
       {R"({"_id": "missing"})", R"({"_id": "null", "size": null, "t": null})",
        R"({"_id": "str", "size": "2999", "t": {"w": "2999"}})",
        R"({"_id": "bool", "size": true, "t": {"w": false}})",
        R"({"_id": "obj", "size": {"v": 2999}, "t": {"w": {"v": 1}}})",
        R"({"_id": "arr", "size": [1, 2995], "t": [{"w": 2995}, {"w": 1}]})",
        R"({"_id": "mixed", "size": ["x", 2996.5, null], "t": {"w": [true, 2996]}})",
        R"({"_id": "nested", "size": [[2997]], "t": [[{"w": 2997}]]})",
        R"({"_id": "empty", "size": [], "t": []})", R"({"_id": "scalar_parent", "t": 2998})",
        R"({"_id": "big", "size": 9007199254740993, "t": {"w": 1e300}})"}) {
    docs.push_back(json(d));
  }
  db_->execute(docs_.insert_many(docs));
  db_->create_index("docs", "size");
  db_->create_index("docs", "t.w");
  db_->create_index("docs", "t.w");  // idempotent
  postgres_exec(schema_->base(), "ANALYZE \"" + schema_->name() + "\".docs");

  const std::vector<Value> filters = {
      json(R"({"size": {"$gt": 2990}})"),
      json(R"({"size": {"$gte": 2994.5}})"),
      json(R"({"size": {"$lt": 3}})"),
      json(R"({"size": {"$lte": -1}})"),
      json(R"({"size": {"$gt": 2, "$lt": 5}})"),
      json(R"({"t.w": {"$gt": 2990}})"),
      json(R"({"t.w": {"$lt": 2}})"),
      json(R"({"size": {"$gt": 1e18}})"),
      json(R"({"$or": [{"size": {"$lt": 1}}, {"t.w": {"$gte": 2999}}]})")};
  for (const Value& f : filters) {
    const query::FilterNode node = query::parse_filter(f);
    std::vector<std::string> want;
    for (const Document& d : docs) {
      if (query::matches(node, d)) want.push_back(d.find("_id")->as_string());
    }
    std::vector<std::string> got = ids(db_->execute(docs_.find(f)));
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want) << f.to_json();
    EXPECT_EQ(db_->execute(docs_.count(f)), static_cast<std::int64_t>(want.size())) << f.to_json();
  }
  // A selective range is a BitmapOr of the btree over the number and the partial indexes of
  // the rows where a prefix is an array, never a scan of the table.
  const std::set<std::string> indexed = {"size", "t.w"};
  for (const Value& f : {json(R"({"size": {"$gt": 2990}})"), json(R"({"t.w": {"$lt": 2}})")}) {
    const std::string plan = plan_of(*schema_, f, indexed);
    EXPECT_NE(plan.find("Bitmap Index Scan on _rng_"), std::string::npos) << plan;
    EXPECT_NE(plan.find("Bitmap Index Scan on _arr_"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
  }
  // Updates and deletes select through the same SQL.
  auto matching = [&](const char* f) {
    const query::FilterNode node = query::parse_filter(json(f));
    return std::count_if(docs.begin(), docs.end(),
                         [&](const Document& d) { return query::matches(node, d); });
  };
  const char* over = R"({"size": {"$gt": 2995}})";
  EXPECT_EQ(db_->execute(docs_.update_many(json(over), json(R"({"$set": {"hit": true}})"))).matched,
            matching(over));
  const char* under = R"({"t.w": {"$gte": 2995}})";
  EXPECT_EQ(db_->execute(docs_.delete_many(json(under))).deleted, matching(under));
}

TEST_F(PostgresTest, ModelOutputsKeepASequenceThatGrowsWithEachWrite) {
  DataBackend& data = db_->databackend();
  const std::string t = "_outputs/l/0";
  EXPECT_EQ(code_of([&] { data.output_ids(t); }), ErrorCode::not_found);
  data.create_outputs(t);
  data.create_outputs(t);
  data.write_outputs(t, {{"a", {1.f, 2.f}, 0, 0}, {"b", {3.f}, 0, 0}});
  std::vector<OutputRow> rows;
  data.scan_outputs(t, 0, [&](const OutputRow& r) { rows.push_back(r); });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, "a");
  EXPECT_EQ(rows[0].vector, (std::vector<float>{1.f, 2.f}));
  const std::int64_t seen = rows[1].seq;
  data.write_outputs(t, {{"a", {5.f}, 1, 0}});
  rows.clear();
  data.scan_outputs(t, seen, [&](const OutputRow& r) { rows.push_back(r); });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].model_version, 1);
  EXPECT_EQ(rows[0].vector, std::vector<float>{5.f});
  EXPECT_EQ(data.get_outputs(t, {"b", "zz"}).size(), 1u);
  data.delete_outputs(t, {"a", "zz"});
  EXPECT_EQ(data.output_ids(t), std::vector<std::string>{"b"});
  data.drop_outputs(t);
  EXPECT_EQ(code_of([&] { data.write_outputs(t, {{"a", {1.f}, 0, 0}}); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { data.create_outputs("_outputs/bad name"); }),
            ErrorCode::invalid_argument);
}

TEST_F(PostgresTest, MetadataRecordsVersionsLinksJobsAndSettings) {
  MetadataStore& m = db_->metadata();
  ComponentRecord r{"model", "m", 0, false, json(R"({"k": 1})"), 0};
  m.create_component(r);
  EXPECT_EQ(code_of([&] { m.create_component(r); }), ErrorCode::already_exists);
  r.version = 1;
  r.body = json(R"({"k": 2})");
  m.create_component(r);
  EXPECT_EQ(m.get_component("model", "m").body, json(R"({"k": 2})"));
  EXPECT_EQ(m.latest_version("model", "m"), std::optional<std::int64_t>(1));
  m.hide_component("model", "m", 1);
  EXPECT_EQ(m.get_component("model", "m").version, 0);
  EXPECT_EQ(m.get_component("model", "m", 1, true).hidden, true);
  EXPECT_EQ(m.show_versions("model", "m"), std::vector<std::int64_t>{0});
  EXPECT_EQ(m.show_types(), std::vector<std::string>{"model"});
  m.create_parent_child("listener/l/0", "model/m/0");
  m.create_parent_child("listener/l/0", "model/m/0");
  EXPECT_EQ(m.parents_of("model/m/0"), std::vector<std::string>{"listener/l/0"});
  m.delete_component("model", "m", 0);
  EXPECT_TRUE(m.parents_of("model/m/0").empty());
  EXPECT_EQ(code_of([&] { m.get_component("model", "m"); }), ErrorCode::not_found);

  JobRecord j;
  j.kind = "listener_backfill";
  j.args = json(R"({"x": [1]})");
  const std::string id = m.create_job(j);
  j.id = id;
  j.status = JobStatus::failed;
  j.progress = 0.25;
  j.error = "boom";
  m.update_job(j);
  JobRecord back = m.get_job(id);
  EXPECT_EQ(back.status, JobStatus::failed);
  EXPECT_EQ(back.progress, 0.25);
  EXPECT_EQ(back.args, j.args);
  EXPECT_EQ(m.list_jobs(JobStatus::failed).size(), 1u);
  EXPECT_TRUE(m.list_jobs(JobStatus::pending).empty());
  EXPECT_EQ(code_of([&] { m.get_job("nope"); }), ErrorCode::not_found);

  EXPECT_FALSE(m.get_meta("k"));
  m.set_meta("k", json(R"({"v": 1.5})"));
  m.set_meta("k", json(R"([2])"));
  EXPECT_EQ(*m.get_meta("k"), json("[2]"));
}

TEST_F(PostgresTest, ArtifactsAreContentAddressedChunkedAndVerified) {
  ArtifactStore& a = db_->artifact_store();
  EXPECT_EQ(a.uri(), db_->databackend().uri());
  std::string big(2 * 1024 * 1024 + 12345, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) % 251);
  const std::string id = a.put(big);
  EXPECT_EQ(id, sha_of(big));
  EXPECT_EQ(a.put(big), id);
  const std::string small_id = a.put("");
  EXPECT_EQ(a.get(small_id), "");
  EXPECT_EQ(a.get(id), big);
  EXPECT_TRUE(a.exists(id));
  std::vector<std::string> want = {id, small_id};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(a.list(), want);
  // Three chunks of at most 1 MiB: one rotten chunk is corruption, not wrong bytes.
  postgres_exec(schema_->base(), "UPDATE \"" + schema_->name() +
                                     "\"._artifact_chunks SET bytes = 'x' WHERE chunk = 1");
  EXPECT_EQ(code_of([&] { a.get(id); }), ErrorCode::corruption);
  a.remove(id);
  a.remove(id);
  EXPECT_FALSE(a.exists(id));
  EXPECT_EQ(code_of([&] { a.get(id); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { a.get("../etc"); }), ErrorCode::invalid_argument);
}

TEST_F(PostgresTest, ALostConnectionIsReplacedAndAStatementCutShortIsUnavailable) {
  insert_n(2000);
  // Every session of this DB's pool, ended by the server (as a restart or an administrator
  // would), waiting until they are gone.
  const std::string app = "sddb_test_" + schema_->name();
  const std::string kill =
      "DO $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "application_name = '" +
      app +
      "'; WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE "
      "application_name = '" +
      app +
      "') LOOP PERFORM pg_sleep(0.01); "
      "PERFORM pg_stat_clear_snapshot(); END LOOP; END $$";
  db_ = superduper(schema_->uri() + "&application_name=" + app);
  EXPECT_EQ(db_->execute(docs_.count()), 2000);
  postgres_exec(schema_->base(), kill);
  // Idle connections the server ended are noticed and replaced: the next statement works.
  EXPECT_EQ(db_->execute(docs_.count()), 2000);
  // A cursor whose session ends between two fetches reports unavailable, never a short result.
  Cursor c = db_->execute(docs_.find());
  ASSERT_TRUE(c.next());
  postgres_exec(schema_->base(), kill);
  ErrorCode code = code_of([&] {
    while (c.next()) {
    }
  });
  EXPECT_EQ(code, ErrorCode::unavailable);
  EXPECT_EQ(db_->execute(docs_.count()), 2000);
}

TEST_F(PostgresTest, SeveralThreadsShareOneDatabase) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < 25; ++i) {
          const std::string id = "t" + std::to_string(t) + "_" + std::to_string(i);
          db_->execute(docs_.insert_one(Value{{"_id", id}, {"t", t}}));
          if (db_->execute(docs_.count(Value{{"_id", id}})) != 1) ++failures;
          Cursor c = db_->execute(docs_.find(Value{{"t", t}}));
          if (!c.next()) ++failures;
        }
      } catch (const Error& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(db_->execute(docs_.count()), 100);
}

TEST(PostgresUri, BadAndUnreachableServersAreClearErrors) {
  SDDB_REQUIRE_POSTGRES();
  PgTestSchema schema;
  EXPECT_EQ(code_of([&] { superduper(schema.base() + "&schema=1bad"); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { superduper("postgresql://u@/db?nonsense=1"); }),
            ErrorCode::invalid_argument);
  try {
    superduper("postgresql://someone:secret@/db?host=/nonexistent-sddb-dir&port=1");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::unavailable);
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("postgresql://someone:***@"), std::string::npos)
        << e.what();
  }
  // Metadata stays with the data's kind of database; artifacts may go to a folder.
  ConfigOverrides o;
  o.data_backend = schema.uri();
  o.metadata_store = "sqlite://:memory:";
  EXPECT_EQ(code_of([&] { build_datalayer(load_config(o)); }), ErrorCode::invalid_argument);
  o.metadata_store.reset();
  testutil::TempDir dir;
  o.artifact_store = "file://" + (dir.path() / "artifacts").string();
  auto db = build_datalayer(load_config(o));
  EXPECT_EQ(db->artifact_store().uri(), *o.artifact_store);
  const std::string id = db->artifact_store().put("bytes");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "artifacts"));
  EXPECT_EQ(db->artifact_store().get(id), "bytes");
  db->execute(Collection("c").insert_one(json(R"({"_id": "1"})")));
  EXPECT_EQ(db->execute(Collection("c").count()), 1);
}

TEST(PostgresUri, TwoDatabasesOnOneServerAreSeparateAndReopenKeepsEverything) {
  SDDB_REQUIRE_POSTGRES();
  PgTestSchema a, b;
  {
    auto db = superduper(a.uri());
    db->execute(Collection("c").insert_one(json(R"({"_id": "1"})")));
  }
  auto da = superduper(a.uri());
  auto db = superduper(b.uri());
  EXPECT_EQ(da->execute(Collection("c").count()), 1);
  EXPECT_EQ(db->execute(Collection("c").count()), 0);
  EXPECT_EQ(db->collections(), std::vector<std::string>{});
}

}  // namespace
}  // namespace sddb
