// register_model_kind (sddb/model.h): a kind added at run time, as the Python bindings add
// "python", is found by name, stored with its artifact and loaded again by a new DB.

#include <gtest/gtest.h>

#include <algorithm>

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

}  // namespace
}  // namespace sddb
