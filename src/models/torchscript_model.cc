// The TorchScript kind (design §4): a torch::jit module the user brings, run on CPU.
//
// The only file that includes libtorch headers. It is built into its own shared module,
// libsddb_torchscript.so, which torchscript_loader.cc opens the first time a TorchScript model
// is loaded, so that programs that never load one do not pay libtorch's start-up (see
// src/CMakeLists.txt). libtorch 1.13 supports C++17, so this file is compiled as C++17; the sddb
// headers it includes are C++17-clean.
//
// Parameters (Model::torchscript in model.cc): input_dim (required, > 0), dim (0: found by
// running the module once on zeros [1, input_dim]), batch_size (rows per forward call). The
// artifact is the .pt file's bytes; save() returns them unchanged.

#include <torch/script.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "models/torchscript_module.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

const char kWhat[] = "TorchScript model";

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_argument, std::string(kWhat) + ": " + message);
}

// c10::Error's what() carries a C++ backtrace; the message alone names the fault.
std::string message_of(const c10::Error& e) { return e.what_without_backtrace(); }

std::size_t size_param(const Value& params, const char* key, std::int64_t fallback) {
  const Value* v = params.is_object() ? params.find(key) : nullptr;
  if (v == nullptr || v->is_null()) return static_cast<std::size_t>(fallback);
  if (!v->is_int() || v->as_int() < 0) {
    fail(std::string("parameter '") + key + "' must be a non-negative integer");
  }
  return static_cast<std::size_t>(v->as_int());
}

std::string shape_of(const at::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s << (i ? ", " : "") << t.size(i);
  s << "]";
  return s.str();
}

class TorchScriptRuntime : public ModelRuntime {
 public:
  TorchScriptRuntime(const Value& params, const std::string& bytes) : bytes_(bytes) {
    input_dim_ = size_param(params, "input_dim", 0);
    dim_ = size_param(params, "dim", 0);
    batch_size_ = size_param(params, "batch_size", 64);
    if (input_dim_ == 0) fail("parameter 'input_dim' is required and must be > 0");
    if (batch_size_ == 0) fail("parameter 'batch_size' must be > 0");
    if (bytes_.empty()) fail("no module bytes (the .pt file is empty)");
    try {
      std::istringstream in(bytes_);
      module_ = torch::jit::load(in, torch::kCPU);
    } catch (const c10::Error& e) {
      fail("cannot load the module: " + message_of(e));
    } catch (const std::exception& e) {
      fail(std::string("cannot load the module: ") + e.what());
    }
    module_.eval();
    if (!module_.find_method("forward")) fail("the module has no forward method");
    // One run on zeros finds dim when it is not given and otherwise checks it, so a module that
    // does not fit its parameters fails when it is added, not at the first insert.
    const std::size_t given = dim_;
    dim_ = 0;  // run() checks the width against dim_ once it is known
    std::vector<std::vector<float>> probe;
    {
      c10::InferenceMode guard;
      probe = run(torch::zeros({1, static_cast<std::int64_t>(input_dim_)}), 1);
    }
    const std::size_t found = probe.at(0).size();
    if (found == 0) fail("the module returns rows of 0 numbers");
    if (given != 0 && given != found) {
      fail("parameter 'dim' is " + std::to_string(given) + " but the module returns rows of " +
           std::to_string(found) + " numbers");
    }
    dim_ = found;
  }

  std::size_t dim() const override { return dim_; }

  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    for (std::size_t i = 0; i < inputs.size(); ++i) check_input(inputs[i], i);
    std::vector<std::vector<float>> out;
    out.reserve(inputs.size());
    c10::InferenceMode guard;
    const auto width = static_cast<std::int64_t>(input_dim_);
    for (std::size_t start = 0; start < inputs.size(); start += batch_size_) {
      const std::size_t rows = std::min(batch_size_, inputs.size() - start);
      at::Tensor batch = torch::empty({static_cast<std::int64_t>(rows), width}, torch::kFloat32);
      float* data = batch.data_ptr<float>();
      for (std::size_t r = 0; r < rows; ++r) {
        const auto& items = inputs[start + r].as_array();
        for (std::size_t c = 0; c < input_dim_; ++c) {
          data[r * input_dim_ + c] = static_cast<float>(items[c].as_double());
        }
      }
      auto rows_out = run(batch, rows);
      for (auto& row : rows_out) out.push_back(std::move(row));
    }
    return out;
  }

  std::string save() const override { return bytes_; }

 private:
  void check_input(const Value& input, std::size_t position) const {
    const std::string where = "input " + std::to_string(position);
    const std::string expected = "an array of " + std::to_string(input_dim_) + " numbers";
    if (!input.is_array()) {
      fail(where + " is " + std::string(Value::type_name(input.type())) + "; expected " + expected +
           " (input_dim)");
    }
    const auto& items = input.as_array();
    if (items.size() != input_dim_) {
      fail(where + " has " + std::to_string(items.size()) + " elements; expected " + expected +
           " (input_dim)");
    }
    for (std::size_t c = 0; c < items.size(); ++c) {
      if (!items[c].is_number()) {
        fail(where + ", element " + std::to_string(c) + " is " +
             std::string(Value::type_name(items[c].type())) + "; expected " + expected);
      }
    }
  }

  // forward() on a [rows, input_dim] batch; the output must be a tensor [rows, d].
  std::vector<std::vector<float>> run(const at::Tensor& batch, std::size_t rows) {
    c10::IValue result;
    try {
      result = module_.forward({batch});
    } catch (const c10::Error& e) {
      fail("forward failed on a batch of shape " + shape_of(batch) + ": " + message_of(e));
    } catch (const std::exception& e) {
      fail("forward failed on a batch of shape " + shape_of(batch) + ": " + e.what());
    }
    if (!result.isTensor()) {
      fail("forward returned a " + result.tagKind() + ", not a tensor [batch, dim]");
    }
    at::Tensor t = result.toTensor();
    if (t.dim() != 2 || t.size(0) != static_cast<std::int64_t>(rows)) {
      fail("forward returned a tensor of shape " + shape_of(t) + " for an input of shape " +
           shape_of(batch) + "; expected [" + std::to_string(rows) + ", dim]");
    }
    if (dim_ != 0 && t.size(1) != static_cast<std::int64_t>(dim_)) {
      fail("forward returned a tensor of shape " + shape_of(t) + "; expected [" +
           std::to_string(rows) + ", " + std::to_string(dim_) + "] (dim)");
    }
    if (t.is_complex()) fail("forward returned a complex tensor; expected real numbers");
    t = t.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* data = t.data_ptr<float>();
    const auto width = static_cast<std::size_t>(t.size(1));
    std::vector<std::vector<float>> out(rows);
    for (std::size_t r = 0; r < rows; ++r) out[r].assign(data + r * width, data + (r + 1) * width);
    return out;
  }

  std::string bytes_;
  std::size_t input_dim_ = 0;
  std::size_t dim_ = 0;
  std::size_t batch_size_ = 64;
  torch::jit::Module module_;
};

}  // namespace

}  // namespace sddb::detail

void sddb_torchscript_fill_kind(sddb::ModelKind* kind) {
  kind->name = "torchscript";
  kind->load = [](const sddb::Value& params,
                  const std::string& artifact) -> std::unique_ptr<sddb::ModelRuntime> {
    return std::make_unique<sddb::detail::TorchScriptRuntime>(params, artifact);
  };
}
