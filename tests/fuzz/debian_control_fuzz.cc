// libFuzzer target for the Debian control-file reader of the demo (examples/debian_control.h).
//
// Any byte string must either give documents or be rejected with Error(invalid_argument) whose
// message names "fuzz:LINE:"; any other exception or code, or a sanitizer report, is a finding.
// Every document must be an object with a string name and must survive a JSON round trip.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

// The reader is example code outside the sddb library; compiling it in here instruments it like
// the target itself and keeps the link line tests/fuzz/CMakeLists.txt gives every target.
#include "../../examples/debian_control.cc"
#include "sddb/error.h"
#include "sddb/value.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "debian_control_fuzz finding: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const sddb::debian::Stanza& s : sddb::debian::parse_control(text, "fuzz")) {
      if (s.fields.empty() || s.line == 0) finding("empty stanza or no line number", text);
      const sddb::Value doc = sddb::debian::package_document(s, "fuzz");
      const sddb::Value* name = doc.find("name");
      if (name == nullptr || !name->is_string() || name->as_string().empty()) {
        finding("document without a name", doc.to_json());
      }
      const std::string json = doc.to_json();
      if (!(sddb::Value::parse(json) == doc)) finding("document does not round-trip", json);
    }
  } catch (const sddb::Error& e) {
    const std::string_view msg = e.what();
    if (e.code() != sddb::ErrorCode::invalid_argument) {
      finding("raised a code other than invalid_argument", msg);
    }
    if (msg.rfind("fuzz:", 0) != 0 || msg.size() < 6 || msg[5] < '1' || msg[5] > '9') {
      finding("error does not name fuzz:LINE", msg);
    }
  } catch (const std::exception& e) {
    finding("raised a non-sddb exception", e.what());
  }
  return 0;
}
