// libFuzzer target for sddb::Value's JSON parser and serializer.
//
// Any byte string must either parse or be rejected with Error(invalid_argument); any other
// exception, error code or sanitizer report is a finding. What parses must serialize, and the
// text must parse back to an equal Value that serializes to the same text (a fixed point).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "sddb/error.h"
#include "sddb/value.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "json_fuzz finding: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sddb::Value value;
  try {
    value = sddb::Value::parse(text);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) {
      finding("parse raised a code other than invalid_argument", e.what());
    }
    return 0;
  } catch (const std::exception& e) {
    finding("parse raised a non-sddb exception", e.what());
  }

  std::string out;
  try {
    out = value.to_json();
  } catch (const std::exception& e) {
    finding("a parsed value does not serialize", e.what());
  }
  sddb::Value again;
  try {
    again = sddb::Value::parse(out);
  } catch (const std::exception& e) {
    finding("serialized text does not parse back", e.what());
  }
  if (!(again == value)) finding("round trip changed the value", out);
  if (again.to_json() != out) finding("serialization is not a fixed point", out);
  return 0;
}
