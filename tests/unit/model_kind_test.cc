// register_model_kind (sddb/model.h): a kind added at run time, as the Python bindings add
// "python", is found by name, stored with its artifact and loaded again by a new DB.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sddb/config.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

using testutil::code_of;

// Outputs {scale * size of the input string, 1}; its artifact is the scale as text.
class ScaleRuntime : public ModelRuntime {
 public:
  explicit ScaleRuntime(float scale) : scale_(scale) {}
  std::size_t dim() const override { return 2; }
  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    std::vector<std::vector<float>> out;
    for (const Value& v : inputs) {
      out.push_back({scale_ * static_cast<float>(v.as_string().size()), 1.0F});
    }
    return out;
  }
  std::string save() const override { return std::to_string(scale_); }

 private:
  float scale_;
};

ModelKind scale_kind(const std::string& name) {
  ModelKind k;
  k.name = name;
  k.load = [](const Value&, const std::string& artifact) -> std::unique_ptr<ModelRuntime> {
    return std::make_unique<ScaleRuntime>(std::stof(artifact));
  };
  return k;
}

TEST(ModelKind, RegisteredKindIsFoundAndListed) {
  register_model_kind(scale_kind("scale_listed"));
  EXPECT_EQ(model_kind("scale_listed").name, "scale_listed");
  auto names = model_kind_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "scale_listed"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "fasttext"), names.end());
}

TEST(ModelKind, BadRegistrationsAreErrors) {
  register_model_kind(scale_kind("scale_twice"));
  EXPECT_EQ(code_of([] { register_model_kind(scale_kind("scale_twice")); }),
            ErrorCode::already_exists);
  EXPECT_EQ(code_of([] { register_model_kind(scale_kind("fasttext")); }),
            ErrorCode::already_exists);
  EXPECT_EQ(code_of([] { register_model_kind(scale_kind("")); }), ErrorCode::invalid_argument);
  ModelKind no_load;
  no_load.name = "scale_no_load";
  EXPECT_EQ(code_of([&] { register_model_kind(no_load); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([] { (void)model_kind("scale_no_load"); }), ErrorCode::not_found);
}

TEST(ModelKind, ModelOfARegisteredKindIsStoredAndReloaded) {
  register_model_kind(scale_kind("scale_stored"));
  testutil::TempDir dir;
  const std::string uri = "sqlite://" + (dir.path() / "data.db").string();
  {
    auto db = superduper(uri);
    Model m("triple", "scale_stored", Value::object());
    m.set_runtime(std::make_shared<Model::Runtime>(std::make_unique<ScaleRuntime>(3.0F)));
    EXPECT_TRUE(db->add(m).created);
  }
  auto db = superduper(uri);
  Model loaded = db->load_model("triple");
  EXPECT_EQ(loaded.kind(), "scale_stored");
  EXPECT_EQ(loaded.predict(Value("abcd")), (std::vector<float>{12.0F, 1.0F}));
}

// A kind with load_file gets the verified artifact as a file (removed afterwards); one without
// it gets the bytes. A byte flipped in the stored file is corruption naming the model either way.
TEST(ModelKind, StreamedLoadAndCorruptArtifacts) {
  ModelKind by_file = scale_kind("scale_by_file");
  auto seen = std::make_shared<std::filesystem::path>();
  by_file.load_file = [seen](const Value&, const std::filesystem::path& path) {
    *seen = path;
    std::ifstream in(path);
    std::string text;
    in >> text;
    return std::unique_ptr<ModelRuntime>(std::make_unique<ScaleRuntime>(std::stof(text)));
  };
  register_model_kind(by_file);
  register_model_kind(scale_kind("scale_by_bytes"));
  for (const std::string kind : {"scale_by_file", "scale_by_bytes"}) {
    testutil::TempDir dir;
    Config c;
    c.data_backend = "sqlite://" + (dir.path() / "data.db").string();
    c.artifact_store = "file://" + (dir.path() / "artifacts").string();
    std::string id;
    {
      auto db = build_datalayer(c);
      Model m("triple", kind, Value::object());
      m.set_runtime(std::make_shared<Model::Runtime>(std::make_unique<ScaleRuntime>(3.0F)));
      EXPECT_TRUE(db->add(m).created);
      id = db->show("model", "triple", 0).body.find("artifact")->as_string();
    }
    {
      auto db = build_datalayer(c);
      EXPECT_EQ(db->load_model("triple").predict(Value("abcd")), (std::vector<float>{12.0F, 1.0F}));
    }
    if (kind == "scale_by_file") {
      EXPECT_FALSE(seen->empty());
      EXPECT_FALSE(std::filesystem::exists(*seen)) << *seen;
      EXPECT_FALSE(std::filesystem::exists(seen->parent_path())) << *seen;
    }
    {
      std::fstream f(dir.path() / "artifacts" / id.substr(0, 2) / id.substr(2),
                     std::ios::binary | std::ios::in | std::ios::out);
      f.seekp(0);
      f.put('9');
    }
    auto db = build_datalayer(c);
    try {
      db->load_model("triple");
      ADD_FAILURE() << kind << ": a corrupt model loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::corruption) << kind;
      EXPECT_NE(std::string(e.what()).find("model 'triple' version 0"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace sddb
