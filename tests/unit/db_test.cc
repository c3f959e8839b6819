// The public API end to end on the embedded default: what a C++ user writes.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>

#include "sddb/sddb.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace fs = std::filesystem;

namespace sddb {
namespace {

class DBTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = superduper("sqlite://:memory:"); }

  std::vector<std::string> ids(Cursor c) {
    std::vector<std::string> out;
    for (Document& d : c) out.push_back(d.find("_id")->as_string());
    return out;
  }

  std::unique_ptr<DB> db_;
  Collection docs_{"docs"};
};

using testutil::code_of;

TEST_F(DBTest, InsertAssignsFreshIdsFirst) {
  auto r = db_->execute(docs_.insert_many({Value{{"a", 1}}, Value{{"a", 2}}, Value{{"_id", "x"}}}));
  ASSERT_EQ(r.inserted_ids.size(), 3u);
  EXPECT_EQ(r.inserted_ids[2], "x");
  EXPECT_EQ(r.inserted_ids[0].size(), 24u);
  EXPECT_NE(r.inserted_ids[0], r.inserted_ids[1]);
  auto first = db_->execute(docs_.find_one(Value{{"a", 1}}));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->as_object().front().first, "_id");
}

TEST_F(DBTest, GeneratedIdsDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(seen.insert(new_id()).second);
}

TEST_F(DBTest, DuplicateIdStoresNothingOfTheBatch) {
  db_->execute(docs_.insert_one(Value{{"_id", "a"}}));
  try {
    db_->execute(docs_.insert_many({Value{{"_id", "b"}}, Value{{"_id", "a"}}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::already_exists);
    EXPECT_NE(std::string(e.what()).find("a"), std::string::npos);
  }
  EXPECT_EQ(db_->execute(docs_.count()), 1);
}

TEST_F(DBTest, MalformedDocumentNamesThePathAndStoresNothing) {
  try {
    db_->execute(docs_.insert_many({Value{{"ok", 1}}, Value{{"a", Value{{"$bad", 1}}}}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("a.$bad"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("document 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db_->execute(docs_.count()), 0);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.insert_one(Value{{"_id", 5}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { db_->execute(Collection("_meta").count()); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { db_->execute(Collection("a b").count()); }), ErrorCode::invalid_argument);
}

TEST_F(DBTest, FindSortSkipLimitProject) {
  std::vector<Document> in;
  for (int i = 0; i < 10; ++i) {
    in.push_back(Value{{"_id", "d" + std::to_string(i)}, {"n", i}, {"odd", i % 2 == 1}});
  }
  db_->execute(docs_.insert_many(in));
  EXPECT_EQ(ids(db_->execute(docs_.find(Value{{"odd", true}}).sort("n", -1).skip(1).limit(2))),
            (std::vector<std::string>{"d7", "d5"}));
  auto projected =
      db_->execute(docs_.find(Value{{"n", Value{{"$lt", 1}}}}, Value{{"n", 1}})).to_vector();
  ASSERT_EQ(projected.size(), 1u);
  EXPECT_EQ(projected[0].to_json(), R"({"_id":"d0","n":0})");
  EXPECT_EQ(db_->execute(docs_.count(Value{{"n", Value{{"$in", Value::array({1, 2, 99})}}}})), 2);
  EXPECT_FALSE(db_->execute(docs_.find_one(Value{{"n", 99}})));
}

TEST_F(DBTest, UpdatesReplacesUpsertsAndDeletes) {
  db_->execute(docs_.insert_many({Value{{"_id", "a"}, {"n", 1}, {"tags", Value::array({"x"})}},
                                  Value{{"_id", "b"}, {"n", 2}}}));
  auto u = db_->execute(docs_.update_many(Value::object(), Value{{"$inc", Value{{"n", 10}}}}));
  EXPECT_EQ(u.matched, 2);
  EXPECT_EQ(u.modified, 2);
  u = db_->execute(docs_.update_one(Value{{"_id", "a"}}, Value{{"$push", Value{{"tags", "y"}}}}));
  EXPECT_EQ(u.modified_ids, std::vector<std::string>{"a"});
  EXPECT_EQ(db_->execute(docs_.find_one(Value{{"_id", "a"}}))->to_json(),
            R"({"_id":"a","n":11,"tags":["x","y"]})");

  u = db_->execute(docs_.update_one(Value{{"name", "new"}}, Value{{"$set", Value{{"n", 7}}}},
                                    /*upsert=*/true));
  ASSERT_TRUE(u.upserted_id);
  EXPECT_EQ(db_->execute(docs_.find_one(Value{{"_id", *u.upserted_id}}))->find("name")->as_string(),
            "new");

  u = db_->execute(docs_.replace_one(Value{{"_id", "b"}}, Value{{"fresh", true}}));
  EXPECT_EQ(u.modified, 1);
  EXPECT_EQ(db_->execute(docs_.find_one(Value{{"_id", "b"}}))->to_json(),
            R"({"_id":"b","fresh":true})");
  EXPECT_EQ(
      code_of([&] {
        db_->execute(docs_.replace_one(Value{{"_id", "b"}}, Value{{"$set", Value{{"x", 1}}}}));
      }),
      ErrorCode::invalid_argument);

  auto d = db_->execute(docs_.delete_one(Value::object()));
  EXPECT_EQ(d.deleted, 1);
  d = db_->execute(docs_.delete_many(Value::object()));
  EXPECT_EQ(d.deleted, 2);
  EXPECT_EQ(db_->execute(docs_.count()), 0);
}

TEST_F(DBTest, BadQueriesChangeNothing) {
  db_->execute(docs_.insert_one(Value{{"_id", "a"}, {"n", 1}}));
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.find(Value{{"n", Value{{"$foo", 1}}}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.update_many(Value::object(), Value{{"$inc", Value{{"n", "x"}}}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.delete_many(Value{{"$or", 1}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { db_->execute(docs_.find().sort("n", 2)); }), ErrorCode::invalid_argument);
  EXPECT_EQ(db_->execute(docs_.find_one())->to_json(), R"({"_id":"a","n":1})");
}

TEST(DBParts, BuiltFromItsFourPartsExplicitly) {
  const testutil::TempDir tmp;
  const fs::path& dir = tmp.path();
  Config cfg;
  cfg.data_backend = "sqlite://" + (dir / "data.db").string();
  cfg.artifact_store = "file://" + (dir / "blobs").string();
  {
    auto built = build_datalayer(cfg);
    DB db(std::shared_ptr<DataBackend>(&built->databackend(), [](DataBackend*) {}),
          std::shared_ptr<MetadataStore>(&built->metadata(), [](MetadataStore*) {}),
          std::shared_ptr<ArtifactStore>(&built->artifact_store(), [](ArtifactStore*) {}));
    db.execute(Collection("c").insert_one(Value{{"_id", "1"}}));
    EXPECT_EQ(db.collections(), std::vector<std::string>{"c"});
    EXPECT_TRUE(fs::exists(dir / "blobs"));
  }
  EXPECT_THROW(DB(nullptr, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

TEST_F(DBTest, UpdatesNeedOperators) {
  db_->execute(docs_.insert_many({Value{{"_id", "a"}, {"n", 1}}, Value{{"_id", "b"}, {"n", 1}}}));
  for (bool many : {true, false}) {
    UpdateMany q = many ? docs_.update_many(Value::object(), Value{{"n", 2}})
                        : docs_.update_one(Value::object(), Value{{"n", 2}});
    try {
      db_->execute(q);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("replace_one"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(db_->execute(docs_.count(Value{{"n", 1}})), 2);
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

TEST_F(DBTest, WritesRefuseANullFilterAndTakeBracesAsAll) {
  db_->execute(docs_.insert_many({Value{{"_id", "a"}}, Value{{"_id", "b"}}}));
  EXPECT_EQ(code_of([&] { db_->execute(docs_.delete_many(Value())); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.update_many(Value(), Value{{"$set", Value{{"x", 1}}}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              db_->execute(docs_.replace_one(Value(), Value{{"x", 1}}));
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(db_->execute(docs_.count({})), 2);
  EXPECT_EQ(db_->execute(docs_.update_many({}, {{"$set", {{"x", 1}}}})).modified, 2);
  EXPECT_EQ(db_->execute(docs_.delete_many({{"_id", "a"}})).deleted, 1);
  EXPECT_EQ(db_->execute(docs_.delete_many({})).deleted, 1);
}

TEST_F(DBTest, IndexAndSortPathsAreFieldPaths) {
  for (const char* bad : {"", "a..b", ".a", "a.", "a.$", "$a"}) {
    try {
      db_->create_index("docs", bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("index path"), std::string::npos) << e.what();
    }
    EXPECT_EQ(code_of([&] { db_->execute(docs_.find().sort(bad)); }), ErrorCode::invalid_argument);
  }
  db_->create_index("docs", "a.b");
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

TEST_F(DBTest, BinaryValuesUseTheContentForm) {
  const std::string sha(64, 'a');
  db_->execute(docs_.insert_many(
      {Value{{"_id", "img"},
             {"img", Value{{"_content", Value{{"bytes", "aGVsbG8="}, {"encoder", "image/png"}}}}}},
       Value{{"_id", "big"}, {"blob", Value{{"_content", Value{{"artifact", sha}}}}}}}));
  EXPECT_EQ(db_->execute(docs_.count(Value{{"img._content.encoder", "image/png"}})), 1);
  for (const Value& bad :
       {Value{{"_content", "x"}}, Value{{"_content", Value{{"bytes", "not base64!"}}}},
        Value{{"_content", Value{{"bytes", "aGk="}, {"artifact", sha}}}},
        Value{{"_content", Value{{"artifact", "ABC"}}}},
        Value{{"_content", Value{{"bytes", "aGk="}, {"encoder", 3}}}},
        Value{{"_content", Value{{"bytes", "aGk="}, {"extra", 1}}}}}) {
    try {
      db_->execute(docs_.insert_one(Value{{"x", bad}}));
      ADD_FAILURE() << bad.to_json();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("x._content"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(db_->execute(docs_.count()), 2);
}

}  // namespace
}  // namespace sddb
