// The TorchScript kind (src/models/torchscript_model.cc). The modules are made here with
// libtorch itself (TorchScript source compiled by torch::jit), saved to bytes or to a .pt file,
// and loaded back through sddb. C++17, like the kind: it includes libtorch headers.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "sddb/error.h"
#include "sddb/model.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

using testutil::code_of;

std::string bytes_of(const torch::jit::Module& m) {
  std::ostringstream out;
  m.save(out);
  return out.str();
}

// forward(x) = source, over a module with no parameters.
std::string module_bytes(const std::string& forward_body) {
  torch::jit::Module m("m");
  m.define("def forward(self, x):\n    return " + forward_body + "\n");
  return bytes_of(m);
}

// y = tanh(x W^T + b), W [3, 4] and b [3] registered as parameters, with W[i][j] = 0.1 (i+1)
// - 0.05 j and b[i] = 0.1 i.
float weight(int i, int j) {
  return 0.1f * static_cast<float>(i + 1) - 0.05f * static_cast<float>(j);
}
float bias(int i) { return 0.1f * static_cast<float>(i); }

std::string linear_tanh_bytes() {
  torch::jit::Module m("linear");
  auto w = torch::empty({3, 4});
  auto b = torch::empty({3});
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) w[i][j] = weight(i, j);
    b[i] = bias(i);
  }
  m.register_parameter("weight", w, /*is_buffer=*/false);
  m.register_parameter("bias", b, /*is_buffer=*/false);
  m.define(R"(
def forward(self, x):
    return torch.tanh(torch.matmul(x, self.weight.t()) + self.bias)
)");
  return bytes_of(m);
}

std::vector<float> linear_tanh_reference(const std::vector<double>& x) {
  std::vector<float> y(3);
  for (int i = 0; i < 3; ++i) {
    double s = bias(i);
    for (int j = 0; j < 4; ++j) s += static_cast<double>(weight(i, j)) * x[j];
    y[i] = static_cast<float>(std::tanh(s));
  }
  return y;
}

Value params(std::int64_t input_dim, std::int64_t dim = 0, std::int64_t batch_size = 64) {
  Value p = Value::object();
  p.set("file", Value("m.pt"));
  p.set("dim", Value(dim));
  p.set("input_dim", Value(input_dim));
  p.set("batch_size", Value(batch_size));
  return p;
}

Value row(const std::vector<double>& xs) {
  Array a;
  for (double x : xs) a.emplace_back(x);
  return Value(std::move(a));
}

std::unique_ptr<ModelRuntime> load(const Value& p, const std::string& bytes) {
  return model_kind("torchscript").load(p, bytes);
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TorchScriptModel, IsAKindOfThisBuild) {
  auto names = model_kind_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "torchscript"), names.end());
}

TEST(TorchScriptModel, ScalesInputs) {
  const std::string bytes = module_bytes("x * 2.0");
  auto rt = load(params(3), bytes);
  EXPECT_EQ(rt->dim(), 3u);  // found by a run on zeros
  auto out = rt->predict({row({1, 2, 3}), Value::array({Value(-1), Value(0), Value(4)})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(out[1], (std::vector<float>{-2, 0, 8}));  // integers are numbers too
  EXPECT_EQ(rt->save(), bytes);
  EXPECT_TRUE(rt->predict({}).empty());
}

TEST(TorchScriptModel, LinearLayerWithParameters) {
  auto rt = load(params(4), linear_tanh_bytes());
  EXPECT_EQ(rt->dim(), 3u);
  const std::vector<std::vector<double>> xs = {{1, 0, 0, 0}, {0.5, -1, 2, 0.25}, {0, 0, 0, 0}};
  std::vector<Value> inputs;
  for (const auto& x : xs) inputs.push_back(row(x));
  auto out = rt->predict(inputs);
  ASSERT_EQ(out.size(), xs.size());
  for (std::size_t k = 0; k < xs.size(); ++k) {
    auto want = linear_tanh_reference(xs[k]);
    ASSERT_EQ(out[k].size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(out[k][i], want[i], 1e-6) << "input " << k;
  }
}

TEST(TorchScriptModel, BatchesGiveTheSameAsOneByOne) {
  const std::string bytes = linear_tanh_bytes();
  auto batched = load(params(4, 3, 3), bytes);
  auto single = load(params(4, 3, 1), bytes);
  std::vector<Value> inputs;
  for (int k = 0; k < 10; ++k) inputs.push_back(row({0.1 * k, -0.2 * k, 1.0 - 0.1 * k, 0.3}));
  auto together = batched->predict(inputs);  // batches of 3, 3, 3 and 1
  ASSERT_EQ(together.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    auto alone = single->predict({inputs[k]});
    ASSERT_EQ(alone.size(), 1u);
    ASSERT_EQ(together[k].size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(together[k][i], alone[0][i]) << "input " << k;
  }
}

TEST(TorchScriptModel, FindsDimFromTheOutput) {
  // [b, 2] -> [b, 4]: the output width differs from the input width.
  auto rt = load(params(2), module_bytes("torch.cat([x, x * x], 1)"));
  EXPECT_EQ(rt->dim(), 4u);
  EXPECT_EQ(rt->predict({row({3, -2})}).at(0), (std::vector<float>{3, -2, 9, 4}));
}

TEST(TorchScriptModel, GivenDimMustMatchTheModule) {
  const std::string bytes = module_bytes("x * 2.0");
  EXPECT_EQ(load(params(3, 3), bytes)->dim(), 3u);
  EXPECT_EQ(code_of([&] { load(params(3, 5), bytes); }), ErrorCode::invalid_argument);
  EXPECT_NE(error_message([&] { load(params(3, 5), bytes); }).find("'dim' is 5"),
            std::string::npos);
}

TEST(TorchScriptModel, WrongInputsNameTheirPosition) {
  auto rt = load(params(4), linear_tanh_bytes());
  std::vector<Value> inputs = {row({1, 2, 3, 4}), row({1, 2, 3, 4}), row({1, 2, 3})};
  EXPECT_EQ(code_of([&] { rt->predict(inputs); }), ErrorCode::invalid_argument);
  const std::string msg = error_message([&] { rt->predict(inputs); });
  EXPECT_NE(msg.find("input 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 numbers"), std::string::npos) << msg;

  EXPECT_EQ(code_of([&] { rt->predict({Value("text")}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { rt->predict({row({1, 2, 3, 4, 5})}); }), ErrorCode::invalid_argument);
  Value with_string = Value::array({Value(1), Value(2), Value("3"), Value(4)});
  const std::string msg2 = error_message([&] { rt->predict({row({1, 2, 3, 4}), with_string}); });
  EXPECT_NE(msg2.find("input 1, element 2"), std::string::npos) << msg2;
}

TEST(TorchScriptModel, GarbageBytesAreInvalidArgument) {
  EXPECT_EQ(code_of([] { load(params(3), "not a zip archive at all"); }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([] { load(params(3), ""); }), ErrorCode::invalid_argument);
  std::string truncated = module_bytes("x * 2.0");
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(code_of([&] { load(params(3), truncated); }), ErrorCode::invalid_argument);
  EXPECT_NE(error_message([] { load(params(3), "garbage"); }).find("TorchScript model: "),
            std::string::npos);
}

TEST(TorchScriptModel, ParametersAreChecked) {
  const std::string bytes = module_bytes("x * 2.0");
  EXPECT_EQ(code_of([&] { load(params(0), bytes); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { load(Value::object(), bytes); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { load(params(-1), bytes); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { load(params(3, 0, 0), bytes); }), ErrorCode::invalid_argument);
}

TEST(TorchScriptModel, OutputsOfTheWrongShapeAreErrors) {
  // [b, 1, d], [b * d], a scalar and a tuple: none is one vector per row.
  for (const char* body : {"x.unsqueeze(1)", "x.reshape([-1])", "x.sum()", "(x, x)"}) {
    const std::string msg = error_message([&] { load(params(3), module_bytes(body)); });
    EXPECT_NE(msg.find("TorchScript model: forward returned"), std::string::npos)
        << body << ": " << msg;
  }
  EXPECT_NE(error_message([] {
              load(params(3), module_bytes("x.unsqueeze(1)"));
            }).find("shape [1, 1, 3]"),
            std::string::npos);
}

TEST(TorchScriptModel, ModuleThatFailsOnTheInputWidth) {
  // The linear layer takes 4 numbers; input_dim 5 fails in forward when the model is loaded.
  const std::string msg = error_message([] { load(params(5), linear_tanh_bytes()); });
  EXPECT_NE(msg.find("forward failed"), std::string::npos) << msg;
  EXPECT_EQ(code_of([] { load(params(5), linear_tanh_bytes()); }), ErrorCode::invalid_argument);
}

TEST(TorchScriptModel, FromAFileThroughModel) {
  testutil::TempDir dir;
  const auto path = dir.path() / "linear.pt";
  {
    std::ofstream out(path, std::ios::binary);
    const std::string bytes = linear_tanh_bytes();
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  TorchScriptOptions o;
  o.input_dim = 4;
  o.batch_size = 2;
  Model m = Model::torchscript("enc", path, o);
  EXPECT_EQ(m.kind(), "torchscript");
  EXPECT_FALSE(m.loaded());
  EXPECT_EQ(code_of([&] { m.predict(row({1, 2, 3, 4})); }), ErrorCode::failed_precondition);
  ASSERT_TRUE(m.source_bytes());
  EXPECT_EQ(m.params().find("file")->as_string(), "linear.pt");

  // What the DB does when the model is added.
  auto rt = model_kind(m.kind()).load(m.params(), *m.source_bytes());
  EXPECT_EQ(rt->save(), *m.source_bytes());
  m.set_runtime(std::make_shared<Model::Runtime>(std::move(rt)));
  EXPECT_EQ(m.dim(), 3u);
  auto one = m.predict(row({0.5, -1, 2, 0.25}));
  auto want = linear_tanh_reference({0.5, -1, 2, 0.25});
  ASSERT_EQ(one.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(one[i], want[i], 1e-6);
  std::vector<Value> five;
  for (int k = 0; k < 5; ++k) five.push_back(row({1.0 * k, 0, 0, 1}));
  auto many = m.predict(five);
  ASSERT_EQ(many.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    auto w = linear_tanh_reference({1.0 * k, 0, 0, 1});
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(many[k][i], w[i], 1e-6) << "input " << k;
  }
  EXPECT_EQ(code_of([&] { m.predict(row({1, 2})); }), ErrorCode::invalid_argument);

  EXPECT_EQ(code_of([&] { Model::torchscript("enc", dir.path() / "missing.pt", o); }),
            ErrorCode::not_found);
}

}  // namespace
}  // namespace sddb
