// The AI layer on PostgreSQL: scenarios of tests/unit/ai_layer_test.cc (which runs them on
// SQLite) on a schema of their own: listeners follow inserts, updates and deletes; vector
// indexes answer like() with and without filters; components, indexes (their snapshots in the
// PostgreSQL artifact store) and outputs come back in a second DB on the same database, which
// catches up with writes made after the snapshot.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/models.h"
#include "testing/postgres.h"

namespace sddb {
namespace {

using testutil::identity3;
using testutil::text_features;

std::vector<std::string> ids(Cursor c) {
  std::vector<std::string> out;
  for (const Document& d : c) out.push_back(d.find("_id")->as_string());
  return out;
}

std::vector<std::string> output_ids(DB& db, const std::string& listener) {
  auto v = db.databackend().output_ids("_outputs/" + listener + "/0");
  std::sort(v.begin(), v.end());
  return v;
}

class PostgresAiLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    SDDB_REQUIRE_POSTGRES();
    schema_ = std::make_unique<testutil::PgTestSchema>();
    db_ = superduper(schema_->uri());
  }
  void TearDown() override { db_.reset(); }
  void insert(std::vector<Document> docs) { db_->execute(docs_.insert_many(std::move(docs))); }

  std::unique_ptr<testutil::PgTestSchema> schema_;
  std::unique_ptr<DB> db_;
  Collection docs_{"docs"};
};

TEST_F(PostgresAiLayer, ListenersFollowInsertsUpdatesAndDeletes) {
  insert({{{"_id", "a"}, {"x", "aa"}}, {{"_id", "b"}, {"x", "bbb"}}, {{"_id", "c"}, {"y", 1}}});
  db_->add(Model::callable("m", 3, text_features));
  auto ref = db_->add(Listener(docs_.find(), "x", "m"));
  ASSERT_EQ(ref.jobs.size(), 1u);
  EXPECT_EQ(db_->metadata().get_job(ref.jobs[0]).status, JobStatus::success);
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "b"}));
  db_->add(VectorIndex("idx", "m/x", Measure::l2));
  VectorSearch* vs = db_->vector_database();
  ASSERT_NE(vs, nullptr);
  EXPECT_EQ(vs->size("idx/0"), 2u);
  insert({{{"_id", "d"}, {"x", "papaya"}}});
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "b", "d"}));
  db_->execute(docs_.update_many({{"x", "aa"}}, {{"$set", {{"x", "aaaa"}}}}));
  EXPECT_EQ(vs->get("idx/0", "a"), (std::vector<float>{4, 4, 1}));
  db_->execute(docs_.update_one({{"_id", "b"}}, {{"$unset", {{"x", ""}}}}));
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"a", "d"}));
  EXPECT_FALSE(vs->get("idx/0", "b"));
  db_->execute(docs_.delete_many({{"_id", "a"}}));
  EXPECT_EQ(output_ids(*db_, "m/x"), (std::vector<std::string>{"d"}));
  EXPECT_EQ(vs->size("idx/0"), 1u);
  // Versions: adding the same component again adds nothing; a model in use cannot be removed.
  EXPECT_EQ(db_->add(Model::callable("m", 3, text_features)).version, 0);
  EXPECT_EQ(db_->show("model"), std::vector<std::string>{"m"});
  try {
    db_->remove("model", "m");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::failed_precondition);
  }
}

TEST_F(PostgresAiLayer, LikeWithAFilterGivesTheBestMatchingDocuments) {
  std::vector<Document> many;
  for (int i = 0; i < 400; ++i) {
    many.push_back(
        {{"_id", "d" + std::to_string(i)}, {"v", Value::array({i, 1, -i})}, {"even", i % 2 == 0}});
  }
  insert(many);
  db_->add(Model::callable("id3", 3, identity3));
  db_->add(Listener(docs_.find(), "v", "id3"));
  db_->add(VectorIndex("vi", "id3/v", Measure::l2));
  auto got = db_->execute(docs_.like({{"v", Value::array({10, 1, -10})}}, "vi", 3)).to_vector();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].find("_id")->as_string(), "d10");
  EXPECT_GE(got[0].find("_score")->as_double(), got[1].find("_score")->as_double());
  // The filter applies inside the search: n documents that match, never fewer.
  EXPECT_EQ(ids(db_->execute(
                docs_.like({{"v", Value::array({10, 1, -10})}}, "vi", 3).find({{"even", false}}))),
            (std::vector<std::string>{"d9", "d11", "d7"}));
}

TEST_F(PostgresAiLayer, ComponentsIndexesAndOutputsComeBackInAnotherDB) {
  std::vector<Document> many;
  for (int i = 0; i < 300; ++i) {
    many.push_back({{"_id", "d" + std::to_string(i)}, {"v", Value::array({i, 1, -i})}});
  }
  insert(many);
  db_->add(Model::callable("id3", 3, identity3));
  db_->add(Listener(docs_.find(), "v", "id3"));
  db_->add(VectorIndex("vi", "id3/v", Measure::l2));
  db_.reset();
  {
    auto db = superduper(schema_->uri());
    EXPECT_EQ(db->show("vector_index"), (std::vector<std::string>{"vi"}));
    // The snapshot is in PostgreSQL's artifact store.
    auto snap = db->metadata().get_meta("vector_index/vi/0");
    ASSERT_TRUE(snap && snap->is_object());
    EXPECT_EQ(db->artifact_store().uri(), db->databackend().uri());
    EXPECT_TRUE(db->artifact_store().exists(snap->find("artifact")->as_string()));
    EXPECT_EQ(ids(db->execute(docs_.like({{"v", Value::array({5, 1, -5})}}, "vi", 2))),
              (std::vector<std::string>{"d5", "d4"}));
    db->execute(docs_.insert_one({{"_id", "new"}, {"v", Value::array({1000, 1, -1000})}}));
    db->execute(docs_.delete_many({{"_id", "d5"}}));
  }
  auto db = superduper(schema_->uri());
  EXPECT_EQ(ids(db->execute(docs_.like({{"v", Value::array({5, 1, -5})}}, "vi", 2))),
            (std::vector<std::string>{"d4", "d6"}));
  EXPECT_EQ(ids(db->execute(docs_.like({{"_id", "new"}}, "vi", 1))),
            std::vector<std::string>{"new"});
}

}  // namespace
}  // namespace sddb
