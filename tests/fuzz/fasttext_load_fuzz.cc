// libFuzzer target for fastText model files (.bin and .ftz), the bytes a user brings with
// Model::fasttext_file and the DB reads back from the ArtifactStore. libfasttext trusts its
// input (it loops, allocates and indexes by what the file says), so fasttext_model.cc checks
// the whole file first; this target holds it to that.
//
// load may reject bytes only with Error(invalid_argument); any other exception or code, or a
// sanitizer report, is a finding. A model it accepts must predict a vector of its dimension.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/error.h"
#include "sddb/model.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fasttext_load_fuzz finding: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<sddb::ModelRuntime> model;
  try {
    model = sddb::model_kind("fasttext").load(sddb::Value::object(), bytes);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) finding("error code", e.what());
    return 0;
  } catch (const std::exception& e) {
    finding("exception", e.what());
  }
  try {
    const auto out = model->predict({sddb::Value("resize images"), sddb::Value("")});
    if (out.size() != 2 || out[0].size() != model->dim() || out[1].size() != model->dim()) {
      finding("predict", "wrong shape");
    }
  } catch (const std::exception& e) {
    finding("predict threw", e.what());
  }
  return 0;
}
