// The AI layer through the public API, on every backend (testing/ai_layer_cases.h): components
// and versions, listeners, vector indexes and like(), fastText models trained in the database,
// reopening, and writers killed with SIGKILL. Models are C++ callables (deterministic, and no
// runtime to install). The behaviours are SuperDuperDB's (../shared/reference/superduperdb.md)
// where sddb keeps them.

#include "testing/ai_layer_cases.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/models.h"

namespace sddb::testutil {
namespace {

std::vector<std::vector<float>> doubled(const std::vector<Value>& in) {
  auto out = identity3(in);
  for (auto& v : out) {
    for (float& x : v) x *= 2;
  }
  return out;
}

std::vector<std::string> ids(Cursor c) {
  std::vector<std::string> out;
  for (const Document& d : c) out.push_back(d.find("_id")->as_string());
  return out;
}

std::vector<std::string> ids_of(const std::vector<Document>& docs) {
  std::vector<std::string> out;
  for (const Document& d : docs) out.push_back(d.find("_id")->as_string());
  return out;
}

std::vector<std::string> output_ids(DB& db, const std::string& listener, int version = 0) {
  auto v = db.databackend().output_ids("_outputs/" + listener + "/" + std::to_string(version));
  std::sort(v.begin(), v.end());
  return v;
}

// What one of several concurrent writers does to documents of its own ("<writer>-<i>"):
// inserts n, updates every third after inserting it, deletes every fifth; n - n / 5 remain.
void write_own_documents(DB& db, const std::string& writer, int number, int n) {
  Collection docs("docs");
  for (int i = 0; i < n; ++i) {
    const std::string id = writer + "-" + std::to_string(i);
    db.execute(docs.insert_one({{"_id", id}, {"v", Value::array({number, i, 1})}}));
    if (i % 3 == 1) {
      db.execute(docs.update_one({{"_id", id}}, {{"$set", {{"v", Value::array({number, i, 2})}}}}));
    }
    if (i % 5 == 4) db.execute(docs.delete_many({{"_id", id}}));
  }
}

// The documents of "docs", their outputs of listener id3/v and index vi (which like() loads)
// agree: the same ids, each with its document's vector, each its own nearest neighbour.
void expect_index_agrees_with_the_data(DB& db, std::size_t documents) {
  Collection docs("docs");
  std::vector<std::string> live = ids(db.execute(docs.find()));
  std::sort(live.begin(), live.end());
  EXPECT_EQ(live.size(), documents);
  EXPECT_EQ(output_ids(db, "id3/v"), live);
  for (const std::string& id : live) {
    const Document d = db.execute(docs.find({{"_id", id}})).to_vector().at(0);
    EXPECT_EQ(ids(db.execute(docs.like({{"_id", id}}, "vi", 1))), std::vector<std::string>{id});
    EXPECT_EQ(db.vector_database()->get("vi/0", id), identity3({*d.find("v")}).at(0)) << id;
  }
  auto indexed = db.vector_database()->ids("vi/0");
  std::sort(indexed.begin(), indexed.end());
  EXPECT_EQ(indexed, live);
}

TEST_P(AiLayer, VersionsGrowOnlyWhenTheComponentChanges) {
  auto ref = db_->add(Model::callable("m", 3, text_features));
  EXPECT_TRUE(ref.created);
  EXPECT_EQ(ref.version, 0);
  EXPECT_EQ(db_->show("model", "m"), (std::vector<std::int64_t>{0}));
  // The same component again adds nothing.
  EXPECT_FALSE(db_->add(Model::callable("m", 3, text_features)).created);
  EXPECT_EQ(db_->show("model", "m"), (std::vector<std::int64_t>{0}));
  // A changed one is version 1; adding it again keeps [0, 1].
  EXPECT_EQ(db_->add(Model::callable("m", 4,
                                     [](const std::vector<Value>& in) {
                                       return std::vector<std::vector<float>>(
                                           in.size(), std::vector<float>(4, 1));
                                     }))
                .version,
            1);
  EXPECT_FALSE(db_->add(Model::callable("m", 4, identity3)).created);
  EXPECT_EQ(db_->show("model", "m"), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(db_->show("model"), (std::vector<std::string>{"m"}));
  EXPECT_EQ(db_->show(), (std::vector<std::string>{"model"}));
  ComponentRecord r = db_->show("model", "m", 0);
  EXPECT_EQ(r.body.find("kind")->as_string(), "callable");
  EXPECT_EQ(r.body.find("dim")->as_int(), 3);
  EXPECT_FALSE(r.body.find("params")->find("reloadable")->as_bool());
}

TEST_P(AiLayer, AModelRegistersItsEncoderAsAChildAndInUseRemovalFails) {
  EXPECT_EQ(
      code_of([&] { db_->add(Model::callable("m", 3, identity3).with_encoder("float32[3]")); }),
      ErrorCode::not_found);
  EXPECT_TRUE(db_->show("model").empty());
  db_->add(Encoder::vector(3));
  db_->add(Model::callable("m", 3, identity3).with_encoder("float32[3]"));
  EXPECT_EQ(db_->metadata().parents_of("encoder/float32[3]/0"),
            (std::vector<std::string>{"model/m/0"}));
  EXPECT_EQ(code_of([&] { db_->remove("encoder", "float32[3]"); }), ErrorCode::failed_precondition);
  EXPECT_EQ(db_->show("encoder"), (std::vector<std::string>{"float32[3]"}));
  // Forced: hidden, not deleted; the parent still works.
  db_->remove("encoder", "float32[3]", std::nullopt, /*force=*/true);
  EXPECT_TRUE(db_->show("encoder").empty());
  EXPECT_TRUE(db_->metadata().get_component("encoder", "float32[3]", 0, true).hidden);
  EXPECT_EQ(db_->load_model("m").predict(Value::array({1, 2, 3})).size(), 3u);
  // An encoder whose shape differs from the model's output is refused, naming both.
  db_->add(Encoder::vector(5));
  try {
    db_->add(Model::callable("m2", 3, identity3).with_encoder("float32[5]"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("5"), std::string::npos);
  }
  // Removing the parent first, then the child works.
  db_->remove("model", "m");
  EXPECT_TRUE(db_->show("model").empty());
}

TEST_P(AiLayer, AListenerComputesOutputsForExistingAndNewDocuments) {
  insert(
      {{{"_id", "a"}, {"x", "banana"}}, {{"_id", "b"}, {"x", "kiwi"}}, {{"_id", "c"}, {"y", 1}}});
  db_->add(Model::callable("m", 3, text_features));
  auto ref = db_->add(Listener(docs_.find(), "x", "m"));
  EXPECT_EQ(ref.identifier, "m/x");
  ASSERT_EQ(ref.jobs.size(), 1u);
  JobRecord job = db_->metadata().get_job(ref.jobs[0]);
  EXPECT_EQ(job.status, JobStatus::success);
  EXPECT_EQ(job.progress, 1.0);
  // "c" has no x, so no output.
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "b"}));
  auto rows = db_->databackend().get_outputs("_outputs/m/x/0", {"a"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{6, 3, 1}));
  EXPECT_EQ(rows[0].model_version, 0);
  insert({{{"_id", "d"}, {"x", "papaya"}}});
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "b", "d"}));
  // The listener's selection decides: a filtered listener ignores other documents.
  db_->add(Listener(docs_.find({{"x", "kiwi"}}), "x", "m", std::nullopt, "kiwi-only"));
  EXPECT_EQ(output_ids(*db_, "kiwi-only"), (std::vector<std::string>{"b"}));
  insert({{{"_id", "e"}, {"x", "kiwi"}}, {{"_id", "f"}, {"x", "fig"}}});
  EXPECT_EQ(output_ids(*db_, "kiwi-only"), (std::vector<std::string>{"b", "e"}));
}

TEST_P(AiLayer, UpdatesChangeOutputsAndDeletesRemoveOutputsAndVectors) {
  insert({{{"_id", "a"}, {"x", "aa"}}, {{"_id", "b"}, {"x", "bbb"}}, {{"_id", "c"}, {"x", "c"}}});
  db_->add(Model::callable("m", 3, text_features));
  db_->add(Listener(docs_.find(), "x", "m"));
  db_->add(VectorIndex("idx", "m/x", Measure::l2));
  VectorSearch* vs = db_->vector_database();
  ASSERT_NE(vs, nullptr);
  EXPECT_EQ(vs->size("idx/0"), 3u);
  // The model is in use by the listener.
  EXPECT_EQ(code_of([&] { db_->remove("model", "m"); }), ErrorCode::failed_precondition);
  db_->execute(docs_.update_many({{"x", "aa"}}, {{"$set", {{"x", "aaaa"}}}}));
  auto rows = db_->databackend().get_outputs("_outputs/m/x/0", {"a"});
  EXPECT_EQ(rows.at(0).vector, (std::vector<float>{4, 4, 1}));
  EXPECT_EQ(vs->get("idx/0", "a"), (std::vector<float>{4, 4, 1}));
  db_->execute(docs_.replace_one({{"_id", "b"}}, {{"x", "ba"}}));
  EXPECT_EQ(vs->get("idx/0", "b"), (std::vector<float>{2, 1, 1}));
  // An update that removes the input removes the output.
  db_->execute(docs_.update_one({{"_id", "c"}}, {{"$unset", {{"x", ""}}}}));
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(vs->get("idx/0", "c"));
  db_->execute(docs_.delete_many({{"_id", "a"}}));
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(vs->size("idx/0"), 1u);
  db_->drop_collection("docs");
  EXPECT_TRUE(output_ids(*db_, "m/x").empty());
  EXPECT_EQ(vs->size("idx/0"), 0u);
}

TEST_P(Vectors, TheFirstOfEqualVectorsWinsUnderEveryMeasure) {
  // SuperDuperDB's test: vectors e3, e2, e1 and the query [0, .5, .5].
  insert({{{"_id", "e3"}, {"v", Value::array({0, 0, 1})}},
          {{"_id", "e2"}, {"v", Value::array({0, 1, 0})}},
          {{"_id", "e1"}, {"v", Value::array({1, 0, 0})}}});
  db_->add(Model::callable("id3", 3, identity3));
  db_->add(Listener(docs_.find(), "v", "id3"));
  for (Measure m : {Measure::l2, Measure::dot, Measure::cosine}) {
    const std::string name = "vi-" + std::string(to_string(m));
    db_->add(VectorIndex(name, "id3/v", m));
    auto got = db_->execute(docs_.like({{"v", Value::array({0, .5, .5})}}, name, 3)).to_vector();
    ASSERT_EQ(got.size(), 3u) << name;
    EXPECT_EQ(got[0].find("_id")->as_string(), "e3") << name;
    EXPECT_EQ(got[2].find("_id")->as_string(), "e1") << name;
    // Sorted by score, best first.
    EXPECT_GE(got[0].find("_score")->as_double(), got[1].find("_score")->as_double());
    EXPECT_GT(got[1].find("_score")->as_double(), got[2].find("_score")->as_double());
  }
}

TEST_P(Vectors, LikeByADocumentsOwnVectorReturnsItFirst) {
  std::vector<Document> many;
  for (int i = 0; i < 50; ++i) {
    many.push_back(
        {{"_id", "d" + std::to_string(i)}, {"v", Value::array({i % 7, i % 5 + 1, i % 3 - 1})}});
  }
  insert(many);
  build(Measure::cosine);
  for (int i : {0, 13, 49}) {
    const std::string id = "d" + std::to_string(i);
    auto got = ids(db_->execute(docs_.like({{"_id", id}}, "vi", 1)));
    ASSERT_EQ(got.size(), 1u);
    // Equal vectors may tie with it; its own score is the best possible.
    auto top = db_->execute(docs_.like({{"_id", id}}, "vi", 1)).to_vector();
    EXPECT_NEAR(top[0].find("_score")->as_double(), 1.0, 1e-6);
  }
  auto got = db_->execute(docs_.like({{"_id", "d1"}}, "vi", 5).find({{"_id", "d1"}})).to_vector();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].find("_id")->as_string(), "d1");
}

TEST_P(Vectors, SearchRestrictedToASetOfIdsAndFiltersNeverGiveFewer) {
  std::vector<Document> many;
  for (int i = 0; i < 400; ++i) {
    many.push_back({{"_id", "d" + std::to_string(i)},
                    {"v", Value::array({1.0 + i * 0.001, 1, 1})},
                    {"group", i % 100 == 7 ? "rare" : "common"}});
  }
  insert(many);
  build(Measure::l2);
  // The rare group is far from the query in the ranking, yet all 4 of them come back.
  auto rare =
      db_->execute(docs_.like({{"v", Value::array({1, 1, 1})}}, "vi", 10).find({{"group", "rare"}}))
          .to_vector();
  ASSERT_EQ(rare.size(), 4u);
  for (const Document& d : rare) EXPECT_EQ(d.find("group")->as_string(), "rare");
  EXPECT_EQ(rare[0].find("_id")->as_string(), "d7");
  // find(filter).like(...) is the same query.
  auto same =
      db_->execute(docs_.find({{"group", "rare"}}).like({{"v", Value::array({1, 1, 1})}}, "vi", 10))
          .to_vector();
  EXPECT_EQ(ids_of(same), ids_of(rare));
  // A set of ids.
  auto within =
      ids(db_->execute(docs_.like({{"v", Value::array({1, 1, 1})}}, "vi", 10)
                           .find({{"_id", {{"$in", Value::array({"d300", "d5", "d150"})}}}})));
  EXPECT_EQ(within, (std::vector<std::string>{"d5", "d150", "d300"}));
  // A broad filter: n results, all matching, in score order.
  auto common = db_->execute(docs_.like({{"v", Value::array({1, 1, 1})}}, "vi", 20)
                                 .find({{"group", "common"}}, {{"group", 1}}))
                    .to_vector();
  ASSERT_EQ(common.size(), 20u);
  EXPECT_EQ(common[0].find("_id")->as_string(), "d0");
  EXPECT_FALSE(common[0].contains("v"));  // the projection applies
  EXPECT_TRUE(common[0].contains("_score"));
}

TEST_P(Vectors, LikeWithAFilterGivesTheBestMatchingDocuments) {
  std::vector<Document> many;
  for (int i = 0; i < 400; ++i) {
    many.push_back(
        {{"_id", "d" + std::to_string(i)}, {"v", Value::array({i, 1, -i})}, {"even", i % 2 == 0}});
  }
  insert(many);
  build(Measure::l2);
  auto got = db_->execute(docs_.like({{"v", Value::array({10, 1, -10})}}, "vi", 3)).to_vector();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].find("_id")->as_string(), "d10");
  EXPECT_GE(got[0].find("_score")->as_double(), got[1].find("_score")->as_double());
  // The filter applies inside the search: n documents that match, never fewer.
  EXPECT_EQ(ids(db_->execute(
                docs_.like({{"v", Value::array({10, 1, -10})}}, "vi", 3).find({{"even", false}}))),
            (std::vector<std::string>{"d9", "d11", "d7"}));
}

TEST_P(Vectors, BadRequestsAreClearErrors) {
  insert({{{"_id", "a"}, {"v", Value::array({1, 2, 3})}}});
  build(Measure::dot);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.like({{"v", Value::array({1, 2, 3})}}, "nope", 3));
            }),
            ErrorCode::not_found);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.like({{"w", 1}}, "vi", 3));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.like({{"_id", "zz"}}, "vi", 3));
            }),
            ErrorCode::not_found);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.like({{"v", Value::array({1, 2, 3})}}, "vi", 0));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(Collection("other").like({{"v", Value::array({1, 2, 3})}}, "vi", 3));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(
      code_of([&] {
        db_->execute(docs_.like({{"v", Value::array({1, 2, 3})}}, "vi", 3).find({{"$bad", 1}}));
      }),
      ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              (void)docs_.find().limit(3).like({{"v", 1}}, "vi", 3);
            }),
            ErrorCode::invalid_argument);
  // A model that returns a vector of the wrong length for the index: named, nothing changes.
  EXPECT_EQ(code_of([&] { db_->add(Listener(docs_.find(), "v", "missing")); }),
            ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { db_->add(VectorIndex("v2", "missing/v")); }), ErrorCode::not_found);
  db_->add(Model::callable("four", 4, [](const std::vector<Value>& in) {
    return std::vector<std::vector<float>>(in.size(), std::vector<float>(4, 1));
  }));
  db_->add(Listener(docs_.find(), "w", "four"));
  try {
    db_->add(VectorIndex("v3", "id3/v", Measure::dot, "four/w"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("outputs 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("outputs 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(code_of([&] { db_->add(Model::callable("bad id!", 3, identity3)); }),
            ErrorCode::invalid_argument);
  // A listener whose model fails on existing documents is not added.
  db_->add(Model::callable("throws", 3,
                           [](const std::vector<Value>&) -> std::vector<std::vector<float>> {
                             throw Error(ErrorCode::invalid_argument, "boom");
                           }));
  EXPECT_EQ(code_of([&] { db_->add(Listener(docs_.find(), "v", "throws")); }),
            ErrorCode::invalid_argument);
  EXPECT_TRUE(db_->show("listener", "throws/v").empty());
  // ...and a listener that fails on a new insert does not fail the insert: a failed job says why.
}

// A DB may be used from several threads at once (sddb/db.h): writers that insert, update and
// delete at the same time leave outputs and an index that agree with the documents.
TEST_P(Vectors, WritersOnSeveralThreadsLeaveTheIndexAgreeingWithTheData) {
  build(Measure::l2);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 30;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        write_own_documents(*db_, "t" + std::to_string(t), t, kPerThread);
      } catch (const Error& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(failures, 0);
  expect_index_agrees_with_the_data(*db_, kThreads * (kPerThread - kPerThread / 5));
}

TEST_P(AiLayer, ModelChainsComputeFromUpstreamOutputs) {
  insert({{{"_id", "a"}, {"v", Value::array({1, 2, 3})}}});
  db_->add(Model::callable("id3", 3, identity3));
  db_->add(Model::callable("double", 3, doubled));
  db_->add(Listener(docs_.find(), "v", "id3"));
  db_->add(Listener(docs_.find(), "_outputs.id3/v", "double", std::nullopt, "chain"));
  auto rows = db_->databackend().get_outputs("_outputs/chain/0", {"a"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{2, 4, 6}));
  insert({{{"_id", "b"}, {"v", Value::array({0, 1, 0})}}});
  rows = db_->databackend().get_outputs("_outputs/chain/0", {"b"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{0, 2, 0}));
  db_->execute(docs_.delete_many({{"_id", "a"}}));
  EXPECT_EQ(output_ids(*db_, "chain"), (std::vector<std::string>{"b"}));
  // The upstream listener is in use by the chain.
  EXPECT_EQ(code_of([&] { db_->remove("listener", "id3/v"); }), ErrorCode::failed_precondition);
}

TEST_P(AiLayer, DatasetsFreezeDocumentsAndMetricsAreProcessLocal) {
  insert({{{"_id", "a"}, {"n", 1}}, {{"_id", "b"}, {"n", 2}}});
  db_->add(Dataset("ds", docs_.find({{"n", {{"$gt", 1}}}})));
  insert({{{"_id", "c"}, {"n", 3}}});
  auto frozen = db_->load_dataset("ds");
  ASSERT_EQ(frozen.size(), 1u);
  EXPECT_EQ(frozen[0].find("_id")->as_string(), "b");
  // The collection changed, so the same selection is a new version.
  EXPECT_TRUE(db_->add(Dataset("ds", docs_.find({{"n", {{"$gt", 1}}}}))).created);
  EXPECT_EQ(db_->load_dataset("ds").size(), 2u);
  EXPECT_EQ(db_->show("dataset", "ds"), (std::vector<std::int64_t>{0, 1}));
  Metric acc("acc", [](const std::vector<Value>& p, const std::vector<Value>& t) {
    return p == t ? 1.0 : 0.0;
  });
  db_->add(acc);
  EXPECT_FALSE(db_->add(acc).created);
  EXPECT_EQ(acc({1}, {1}), 1.0);
  db_->remove("dataset", "ds");
  EXPECT_TRUE(db_->show("dataset").empty());
}

// --- across restarts -------------------------------------------------------------------------

TEST_P(AiLayerReopen, ComponentsIndexesAndOutputsComeBackAfterARestart) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    std::vector<Document> many;
    for (int i = 0; i < 300; ++i) {
      many.push_back({{"_id", "d" + std::to_string(i)}, {"v", Value::array({i, 1, -i})}});
    }
    db->execute(docs.insert_many(many));
    db->add(Model::callable("id3", 3, identity3));
    db->add(Listener(docs.find(), "v", "id3"));
    db->add(VectorIndex("vi", "id3/v", Measure::l2));
  }
  {
    auto db = superduper(uri());
    EXPECT_EQ(db->show("vector_index"), (std::vector<std::string>{"vi"}));
    // The snapshot is in the artifact store: the database itself on a server backend.
    auto snap = db->metadata().get_meta("vector_index/vi/0");
    ASSERT_TRUE(snap && snap->is_object());
    EXPECT_EQ(db->artifact_store().uri() == db->databackend().uri(),
              GetParam().artifacts_in_database)
        << db->artifact_store().uri();
    EXPECT_TRUE(db->artifact_store().exists(snap->find("artifact")->as_string()));
    auto got = ids(db->execute(docs.like({{"v", Value::array({5, 1, -5})}}, "vi", 2)));
    EXPECT_EQ(got, (std::vector<std::string>{"d5", "d4"}));
    // Writes after the snapshot are caught up on the next open.
    db->execute(docs.insert_one({{"_id", "new"}, {"v", Value::array({1000, 1, -1000})}}));
    db->execute(docs.delete_many({{"_id", "d5"}}));
  }
  {
    auto db = superduper(uri());
    auto got = ids(db->execute(docs.like({{"v", Value::array({5, 1, -5})}}, "vi", 2)));
    EXPECT_EQ(got, (std::vector<std::string>{"d4", "d6"}));
    got = ids(db->execute(docs.like({{"_id", "new"}}, "vi", 1)));
    EXPECT_EQ(got, (std::vector<std::string>{"new"}));
  }
}

TEST_P(AiLayerReopen, ACallableCannotBeReloadedInAProcessThatDidNotRegisterIt) {
  {
    auto db = superduper(uri());
    db->add(Model::callable("local-only", 3, identity3));
  }
  auto db = superduper(uri());
  // This process did register it (Model::callable registers), so it loads here...
  EXPECT_EQ(db->load_model("local-only").dim(), 3u);
  // ...and a name nobody registered cannot load.
  db->metadata().create_component(ComponentRecord{
      "model", "elsewhere", 0, false,
      Value{{"kind", "callable"},
            {"params", Value{{"identifier", "elsewhere"}, {"dim", 3}, {"reloadable", false}}},
            {"dim", 3}},
      0});
  EXPECT_EQ(code_of([&] { db->load_model("elsewhere"); }), ErrorCode::failed_precondition);
}

TEST_P(AiLayerReopen, AKilledBackfillIsFinishedOnTheNextOpen) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    std::vector<Document> many;
    for (int i = 0; i < 3000; ++i) {
      many.push_back({{"_id", "d" + std::to_string(i)}, {"v", Value::array({i, 1, 2})}});
    }
    db->execute(docs.insert_many(many));
    db->add(Model::callable("slow", 3, identity3));
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child dies by SIGKILL in the middle of the backfill, after some batches committed.
    auto calls = std::make_shared<std::atomic<int>>(0);
    register_callable("slow", 3, [calls](const std::vector<Value>& in) {
      if (++*calls == 6) raise(SIGKILL);
      return identity3(in);
    });
    try {
      auto db = superduper(uri());
      db->add(Listener(docs.find(), "v", "slow"));
    } catch (...) {
    }
    _exit(3);  // not reached: the kill comes first
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  {
    // The listener record and part of the outputs survived the kill.
    auto db = superduper(uri());  // registers nothing new: "slow" is identity3 in this process
    EXPECT_EQ(db->databackend().output_ids("_outputs/slow/v/0").size(), 3000u);
    bool saw_running = false;
    for (const JobRecord& j : db->jobs()) {
      if (j.kind == "listener_backfill") saw_running = j.status == JobStatus::running;
    }
    EXPECT_TRUE(saw_running);  // the killed job shows as it was left
  }
}

TEST_P(AiLayerReopen, AnUpdateCutShortIsRecomputedOnTheNextOpen) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    db->execute(docs.insert_one({{"_id", "a"}, {"v", Value::array({1, 1, 1})}}));
    db->add(Model::callable("id3", 3, identity3));
    db->add(Listener(docs.find(), "v", "id3"));
    // What a crash between the update and its outputs leaves: the job, and a changed document.
    JobRecord job;
    job.kind = "listener_update";
    job.args = Value{{"collection", "docs"}};
    job.status = JobStatus::running;
    db->metadata().create_job(job);
    db->databackend().update(
        docs.update_one({{"_id", "a"}}, {{"$set", {{"v", Value::array({7, 7, 7})}}}}));
  }
  auto db = superduper(uri());
  auto rows = db->databackend().get_outputs("_outputs/id3/v/0", {"a"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{7, 7, 7}));
}

TEST_P(AiLayerReopen, FastTextModelTrainedInTheDatabaseAndReloadedAfterARestart) {
  Collection docs("docs");
  const std::vector<std::string> topics[] = {
      {"image", "photo", "picture", "pixel", "resize", "crop", "colour", "camera"},
      {"network", "packet", "socket", "router", "traffic", "firewall", "tcp", "dns"},
      {"audio", "music", "sound", "song", "volume", "speaker", "mp3", "playlist"}};
  std::vector<Document> many;
  for (int i = 0; i < 300; ++i) {
    const auto& words = topics[i % 3];
    std::string text;
    for (int j = 0; j < 8; ++j) text += words[(i * 7 + j * 3) % words.size()] + " ";
    many.push_back({{"_id", "d" + std::to_string(i)}, {"text", text}, {"topic", i % 3}});
  }
  std::vector<float> before;
  {
    auto db = superduper(uri());
    db->execute(docs.insert_many(many));
    FastTextOptions o;
    o.dim = 16;
    o.epochs = 10;
    o.threads = 1;
    o.seed = 1;
    o.min_count = 1;
    std::size_t last_done = 0, last_total = 1;
    auto ref = db->add(Model::fasttext("ft", o).fit(docs.find(), "text"),
                       [&](std::size_t d, std::size_t t) {
                         last_done = d;
                         last_total = t;
                       });
    EXPECT_EQ(last_done, last_total);
    EXPECT_TRUE(ref.created);
    // The same fit again is the same component: nothing is trained or added.
    EXPECT_FALSE(db->add(Model::fasttext("ft", o).fit(docs.find(), "text")).created);
    ComponentRecord r = db->show("model", "ft", 0);
    EXPECT_EQ(r.body.find("train")->find("key")->as_string(), "text");
    EXPECT_TRUE(db->artifact_store().exists(r.body.find("artifact")->as_string()));
    before = db->load_model("ft").predict(Value("crop the photo"));
    db->add(Listener(docs.find(), "text", "ft"));
    db->add(VectorIndex("by-text", "ft/text"));
  }
  auto db = superduper(uri());
  EXPECT_EQ(db->load_model("ft").predict(Value("crop the photo")), before);
  auto hits = db->execute(docs.like({{"text", "resize a picture from the camera"}}, "by-text", 5))
                  .to_vector();
  ASSERT_EQ(hits.size(), 5u);
  for (const Document& d : hits) EXPECT_EQ(d.find("topic")->as_int(), 0) << d.to_json();
  hits = db->execute(docs.like({{"text", "firewall for tcp packets"}}, "by-text", 5)).to_vector();
  for (const Document& d : hits) EXPECT_EQ(d.find("topic")->as_int(), 1) << d.to_json();
}

TEST_P(AiLayerReopen, AHiddenListenerKeepsServingItsIndexAfterARestart) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    db->execute(docs.insert_many({{{"_id", "a"}, {"v", Value::array({1, 0, 0})}},
                                  {{"_id", "b"}, {"v", Value::array({0, 1, 0})}}}));
    db->add(Model::callable("id3", 3, identity3));
    db->add(Listener(docs.find(), "v", "id3"));
    db->add(VectorIndex("vi", "id3/v"));
    db->remove("listener", "id3/v", std::nullopt, /*force=*/true);
    EXPECT_TRUE(db->show("listener").empty());
  }
  auto db = superduper(uri());
  db->execute(docs.insert_one({{"_id", "c"}, {"v", Value::array({0, 0, 1})}}));
  EXPECT_EQ(ids(db->execute(docs.like({{"v", Value::array({0, 0, 1})}}, "vi", 1))),
            (std::vector<std::string>{"c"}));
}

// The input array itself, any length.
std::vector<std::vector<float>> identity_any(const std::vector<Value>& in) { return identity3(in); }

TEST_P(AiLayerReopen, AnHnswIndexAgreesWithAFlatOneAndComesBackAfterARestart) {
  Collection docs("docs");
  constexpr int kDocs = 2000;
  constexpr int kDim = 16;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  auto random_vector = [&] {
    Array a;
    for (int k = 0; k < kDim; ++k) a.emplace_back(u(rng));
    return Value(a);
  };
  {
    auto db = superduper(uri());
    std::vector<Document> many;
    for (int i = 0; i < kDocs; ++i) {
      many.push_back({{"_id", "d" + std::to_string(i)}, {"v", random_vector()}, {"group", i % 10}});
    }
    db->execute(docs.insert_many(many));
    db->add(Model::callable("id16", kDim, identity_any));
    db->add(Listener(docs.find(), "v", "id16"));
    EXPECT_EQ(code_of([&] {
                db->add(VectorIndex("bad", "id16/v", Measure::cosine, {}, {.type = "ivf"}));
              }),
              ErrorCode::invalid_argument);
    EXPECT_EQ(
        code_of([&] {
          db->add(VectorIndex("bad", "id16/v", Measure::cosine, {}, {.type = "hnsw", .m = 1}));
        }),
        ErrorCode::invalid_argument);
    db->add(VectorIndex("flat", "id16/v", Measure::cosine, {}, {.type = "flat"}));
    EXPECT_EQ(db->load_vector_index("flat").options().type, "flat");
    db->add(VectorIndex("auto", "id16/v", Measure::cosine));
    EXPECT_EQ(db->load_vector_index("auto").options().type, "auto") << "the default";
    auto ref = db->add(VectorIndex("hnsw", "id16/v", Measure::cosine, {}, {.type = "hnsw"}));
    EXPECT_TRUE(ref.created);
    EXPECT_FALSE(
        db->add(VectorIndex("hnsw", "id16/v", Measure::cosine, {}, {.type = "hnsw"})).created);
    EXPECT_EQ(
        db->metadata().get_component("vector_index", "hnsw", 0).body.find("type")->as_string(),
        "hnsw");
    EXPECT_EQ(db->load_vector_index("hnsw").options().type, "hnsw");
    EXPECT_EQ(db->load_vector_index("flat").options().type, "flat");

    for (int i : {0, 777, 1999}) {
      const std::string id = "d" + std::to_string(i);
      auto got = ids(db->execute(docs.like({{"_id", id}}, "hnsw", 5)));
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got[0], id);
    }
    auto filtered =
        db->execute(docs.like({{"v", random_vector()}}, "hnsw", 10).find({{"group", 3}}))
            .to_vector();
    ASSERT_EQ(filtered.size(), 10u);
    for (const Document& d : filtered) EXPECT_EQ(d.find("group")->as_int(), 3);

    constexpr int kQueries = 20;
    int agreed = 0;
    for (int q = 0; q < kQueries; ++q) {
      const Value query = random_vector();
      auto exact = ids(db->execute(docs.like({{"v", query}}, "flat", 10)));
      auto approx = ids(db->execute(docs.like({{"v", query}}, "hnsw", 10)));
      ASSERT_EQ(exact.size(), 10u);
      ASSERT_EQ(approx.size(), 10u);
      for (const std::string& id : approx) {
        agreed += static_cast<int>(std::count(exact.begin(), exact.end(), id));
      }
    }
    EXPECT_GE(agreed, kQueries * 9) << "recall@10 " << agreed / (10.0 * kQueries);
  }
  auto db = superduper(uri());
  auto snap = db->metadata().get_meta("vector_index/hnsw/0");
  ASSERT_TRUE(snap && snap->is_object());
  EXPECT_EQ(db->artifact_store().get(snap->find("artifact")->as_string()).substr(0, 8), "SDDBVIX1");
  for (int i : {5, 1234}) {
    const std::string id = "d" + std::to_string(i);
    auto got = ids(db->execute(docs.like({{"_id", id}}, "hnsw", 3)));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], id);
  }
  EXPECT_EQ(
      db->execute(docs.like({{"_id", "d9"}}, "hnsw", 10).find({{"group", 9}})).to_vector().size(),
      10u);
}

// Outputs written "only where missing" leave the rows that exist, on every backend, and take
// new sequence numbers only for what they insert.
TEST_P(AiLayer, InsertMissingOutputsKeepsTheRowsThatExist) {
  DataBackend& data = db_->databackend();
  const std::string t = "_outputs/probe/v/0";
  data.create_outputs(t);
  data.write_outputs(t, {{"a", {1.f}, 0, 0}});
  std::int64_t seq_a = 0;
  data.scan_outputs(t, 0, [&](const OutputRow& r) { seq_a = r.seq; });
  EXPECT_EQ(data.insert_missing_outputs(t, {{"a", {9.f}, 1, 0}, {"b", {2.f}, 1, 0}}), 1u);
  EXPECT_EQ(data.insert_missing_outputs(t, {{"a", {9.f}, 1, 0}}), 0u);
  EXPECT_EQ(data.insert_missing_outputs(t, {}), 0u);
  std::map<std::string, OutputRow> rows;
  data.scan_outputs(t, 0, [&](const OutputRow& r) { rows[r.id] = r; });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows["a"].vector, std::vector<float>{1.f});
  EXPECT_EQ(rows["a"].seq, seq_a);
  EXPECT_EQ(rows["b"].vector, std::vector<float>{2.f});
  EXPECT_GT(rows["b"].seq, seq_a);
  EXPECT_EQ(code_of([&] {
              data.insert_missing_outputs("_outputs/none/v/0", {{"a", {1.f}, 0, 0}});
            }),
            ErrorCode::not_found);
}

// A second process whose model "gated3" (identity3 on field v) stops inside its first call
// until this process lets it go: "another process is inside a model call now", made exact.
class GatedChild {
 public:
  // Forks; the child registers gated3, runs `body` and exits 0, or 1 if `body` throws.
  explicit GatedChild(const std::function<void()>& body) {
    if (pipe(entered_) != 0 || pipe(release_) != 0) return;
    pid_ = fork();
    if (pid_ != 0) return;
    close(entered_[0]);
    close(release_[1]);
    register_callable("gated3", 3, [this](const std::vector<Value>& in) {
      char c = 'e';
      if (entered_[1] >= 0) {
        if (write(entered_[1], &c, 1) != 1 || read(release_[0], &c, 1) < 0) _exit(2);
        close(entered_[1]);
        entered_[1] = -1;
      }
      return identity3(in);
    });
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gated child: %s\n", e.what());
      _exit(1);
    }
    _exit(0);
  }
  // Waits until the child is inside its first model call.
  bool entered() {
    if (pid_ <= 0) return false;
    close(entered_[1]);
    close(release_[0]);
    char c = 0;
    return read(entered_[0], &c, 1) == 1;
  }
  // Lets the child go on and waits for it: true when it exited 0.
  bool release_and_wait() {
    close(release_[1]);
    close(entered_[0]);
    int status = 0;
    return pid_ > 0 && waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
  }

 private:
  int entered_[2] = {-1, -1};
  int release_[2] = {-1, -1};
  pid_t pid_ = -1;
};

// A process that catches up on open computes from documents it read before its model ran; a
// live writer that updated one of them meanwhile stored a newer output, and that one stays.
TEST_P(AiLayerReopen, ACatchUpKeepsTheNewerOutputALiveWriterStoredMeanwhile) {
  Collection docs("docs");
  auto writer = superduper(uri());
  writer->add(Model::callable("gated3", 3, identity3));
  writer->add(Listener(docs.find(), "v", "gated3"));
  // A document without its output, as a writer killed between the two leaves it.
  writer->databackend().insert_many("docs", {{{"_id", "x"}, {"v", Value::array({1, 1, 1})}}});
  GatedChild child([&] { superduper(uri()); });  // its open catches up on "x"
  ASSERT_TRUE(child.entered());                  // it has read "x" and runs its model
  writer->execute(docs.update_one({{"_id", "x"}}, {{"$set", {{"v", Value::array({7, 7, 7})}}}}));
  ASSERT_TRUE(child.release_and_wait()) << "the catching-up process failed";
  auto rows = writer->databackend().get_outputs("_outputs/gated3/v/0", {"x"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{7, 7, 7}));
}

// An update job of a writer that still runs is that writer's to finish: a DB opened meanwhile
// does not take it for a crash (which would recompute every output of the collection from
// whatever it reads then), and the writer ends it as a success.
TEST_P(AiLayerReopen, AnOpenLeavesTheUpdateJobOfALiveWriterAlone) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    db->execute(docs.insert_one({{"_id", "a"}, {"v", Value::array({1, 1, 1})}}));
    db->add(Model::callable("gated3", 3, identity3));
    db->add(Listener(docs.find(), "v", "gated3"));
  }
  GatedChild writer([&] {
    superduper(uri())->execute(
        docs.update_one({{"_id", "a"}}, {{"$set", {{"v", Value::array({7, 7, 7})}}}}));
  });
  ASSERT_TRUE(writer.entered());  // the writer's update job runs its model now
  auto update_jobs = [](DB& db) {
    std::vector<JobStatus> out;
    for (const JobRecord& j : db.jobs()) {
      if (j.kind == "listener_update") out.push_back(j.status);
    }
    return out;
  };
  EXPECT_EQ(update_jobs(*superduper(uri())), std::vector<JobStatus>{JobStatus::running});
  ASSERT_TRUE(writer.release_and_wait()) << "the writer failed";
  auto db = superduper(uri());
  EXPECT_EQ(update_jobs(*db), std::vector<JobStatus>{JobStatus::success});
  auto rows = db->databackend().get_outputs("_outputs/gated3/v/0", {"a"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, (std::vector<float>{7, 7, 7}));
}

// Several processes write to one database at once, each through a DB of its own (what
// `sddb worker` and `sddb serve` processes do): the next DB opened sees outputs and an index
// that agree with the documents. The writers are forked after this process made ids, so each
// must make ids of its own (they once made the same job ids). They start together, so one's
// open (which catches up on outputs that look missing) overlaps the others' inserts and updates:
// a catch-up once overwrote a newer output with one computed from the older document.
TEST_P(AiLayerReopen, WritersInSeveralProcessesLeaveOutputsThatAgreeWithTheData) {
  Collection docs("docs");
  {
    auto db = superduper(uri());
    db->execute(docs.insert_one({{"_id", "seed"}, {"v", Value::array({0, 0, 0})}}));
    db->add(Model::callable("id3", 3, identity3));
    db->add(Listener(docs.find(), "v", "id3"));
    db->add(VectorIndex("vi", "id3/v", Measure::l2, {}, {.type = "hnsw"}));
  }
  constexpr int kProcesses = 3;
  constexpr int kPerProcess = 30;
  int opened[2];  // each writer writes a byte once it runs
  int go[2];      // closed by this process when all run
  ASSERT_EQ(pipe(opened), 0);
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    if (pid < 0) break;
    if (pid == 0) {
      close(go[1]);
      char c = 'o';
      if (write(opened[1], &c, 1) != 1 || read(go[0], &c, 1) != 0) _exit(2);
      std::unique_ptr<DB> db;
      try {
        db = superduper(uri());
        write_own_documents(*db, "p" + std::to_string(p), p, kPerProcess);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "process %d: %s\n", p, e.what());
        _exit(1);
      }
      db.reset();
      _exit(0);
    }
    children.push_back(pid);
  }
  close(opened[1]);
  int answered = 0;
  int ready = 0;
  for (char c = 0; answered < static_cast<int>(children.size()) && read(opened[0], &c, 1) == 1;) {
    ++answered;
    ready += c == 'o' ? 1 : 0;
  }
  close(go[1]);
  close(go[0]);
  close(opened[0]);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed (stderr)";
  }
  ASSERT_EQ(children.size(), static_cast<std::size_t>(kProcesses)) << "fork failed";
  ASSERT_EQ(ready, kProcesses);
  auto db = superduper(uri());
  expect_index_agrees_with_the_data(*db, 1 + kProcesses * (kPerProcess - kPerProcess / 5));
}

// kill -9 at several moments of a writer's life (inside a model call that follows a committed
// insert or update, before or after a mid-run snapshot of the index): after reopening, the HNSW
// index holds exactly the documents there are, each with its current vector.
TEST_P(AiLayerReopen, AKilledWriterLeavesAnHnswIndexThatAgreesWithTheData) {
  constexpr int kDim = 16;
  auto vector_of = [](int seed) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::uniform_real_distribution<double> u(-1, 1);
    Array a;
    for (int k = 0; k < kDim; ++k) a.emplace_back(u(rng));
    return Value(a);
  };
  for (int kill_at : {2, 9, 17, 24}) {
    SCOPED_TRACE("killed in model call " + std::to_string(kill_at));
    auto database = GetParam().make();
    ASSERT_TRUE(database);
    const std::string& db_uri = database->uri();
    Collection docs("docs");
    {
      auto db = superduper(db_uri);
      std::vector<Document> many;
      for (int i = 0; i < 400; ++i) {
        many.push_back({{"_id", "d" + std::to_string(i)}, {"v", vector_of(i)}});
      }
      db->execute(docs.insert_many(many));
      db->add(Model::callable("id16k", kDim, identity_any));
      db->add(Listener(docs.find(), "v", "id16k"));
      db->add(VectorIndex("vi", "id16k/v", Measure::l2, {}, {.type = "hnsw"}));
    }
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto calls = std::make_shared<std::atomic<int>>(0);
      register_callable("id16k", kDim, [calls, kill_at](const std::vector<Value>& in) {
        if (++*calls == kill_at) raise(SIGKILL);
        return identity_any(in);
      });
      try {
        auto db = superduper(db_uri);
        for (int step = 0; step < 40; ++step) {
          const std::string id = "d" + std::to_string(step);
          switch (step % 3) {
            case 0:
              db->execute(docs.insert_one(
                  {{"_id", "n" + std::to_string(step)}, {"v", vector_of(1000 + step)}}));
              break;
            case 1:
              db->execute(
                  docs.update_one({{"_id", id}}, {{"$set", {{"v", vector_of(2000 + step)}}}}));
              break;
            default:
              db->execute(docs.delete_many({{"_id", id}}));
          }
          if (step == 12) db->persist_vector_indexes();
        }
      } catch (...) {
      }
      _exit(3);  // not reached: the kill comes first
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
    ASSERT_EQ(WTERMSIG(status), SIGKILL);

    auto db = superduper(db_uri);
    std::set<std::string> live;
    for (const Document& d : db->execute(docs.find()).to_vector()) {
      live.insert(d.find("_id")->as_string());
    }
    ASSERT_GT(live.size(), 380u);
    for (const std::string& id : live) {
      // Each document's own vector is its nearest neighbour (the vectors are distinct).
      auto got = ids(db->execute(docs.like({{"_id", id}}, "vi", 1)));
      ASSERT_EQ(got, std::vector<std::string>{id});
    }
    const auto indexed = db->vector_database()->ids("vi/0");
    EXPECT_EQ(std::set<std::string>(indexed.begin(), indexed.end()), live);
  }
}

}  // namespace
}  // namespace sddb::testutil
