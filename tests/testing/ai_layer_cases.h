#pragma once
// The AI-layer scenarios (testing/ai_layer_cases.cc), written once and run on every backend: a
// test target compiles ai_layer_cases.cc and instantiates them for its backends with
//
//   namespace sddb::testutil {
//   SDDB_INSTANTIATE_AI_LAYER_TESTS(sqlite_test_backend());
//   }
//
// so a test is named e.g. AiLayer.VersionsGrowOnlyWhenTheComponentChanges/sqlite.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sddb/db.h"
#include "testing/backends.h"
#include "testing/models.h"

namespace sddb::testutil {

// A new database of the backend for each test, with a DB open on it.
class AiLayer : public ::testing::TestWithParam<TestBackend> {
 protected:
  void SetUp() override {
    database_ = GetParam().make();
    if (database_) db_ = superduper(database_->uri());
  }
  void TearDown() override {
    db_.reset();
    database_.reset();
  }
  const std::string& uri() const { return database_->uri(); }
  void insert(std::vector<Document> docs) { db_->execute(docs_.insert_many(std::move(docs))); }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<DB> db_;
  Collection docs_{"docs"};
};

// Vector indexes over the identity model on field v.
class Vectors : public AiLayer {
 protected:
  void build(Measure measure) {
    db_->add(Model::callable("id3", 3, identity3));
    db_->add(Listener(docs_.find(), "v", "id3"));
    db_->add(VectorIndex("vi", "id3/v", measure));
  }
};

// Scenarios that open the database themselves, close and reopen it, or kill a writer in a child
// process: no DB is open when they start.
class AiLayerReopen : public AiLayer {
 protected:
  void SetUp() override { database_ = GetParam().make(); }
};

}  // namespace sddb::testutil

#define SDDB_INSTANTIATE_AI_LAYER_TESTS(backend)                                                   \
  INSTANTIATE_TEST_SUITE_P(, AiLayer, ::testing::Values(backend), ::sddb::testutil::backend_name); \
  INSTANTIATE_TEST_SUITE_P(, Vectors, ::testing::Values(backend), ::sddb::testutil::backend_name); \
  INSTANTIATE_TEST_SUITE_P(, AiLayerReopen, ::testing::Values(backend),                            \
                           ::sddb::testutil::backend_name)
