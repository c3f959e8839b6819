// libFuzzer target for the saved form of the exact vector index (src/vector/flat_index.cc), the
// bytes the DB reads back from the ArtifactStore.
//
// The first input byte picks the mode: odd, the rest gets a valid trailing checksum before
// loading, so the fuzzer reaches the structural checks behind it; even, the rest is loaded as
// is. load may reject bytes only with Error(invalid_argument), and must then leave the index it
// would replace as it was; any other exception or code, or a sanitizer report, is a finding. Bytes
// it accepts must save back to exactly themselves and answer a search.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/error.h"
#include "vector/flat_index.h"
#include "vector/inmemory.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "flat_index_load_fuzz finding: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

std::string reseal(std::string bytes) {
  if (bytes.size() < 8) return bytes;
  const std::uint64_t h =
      sddb::detail::flat_index_checksum(std::string_view(bytes).substr(0, bytes.size() - 8));
  for (int b = 0; b < 8; ++b) {
    bytes[bytes.size() - 8 + b] = static_cast<char>((h >> (8 * b)) & 0xff);
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) bytes = reseal(std::move(bytes));

  auto vs = sddb::detail::make_inmemory_vector_search();
  vs->create_index("t", 2, sddb::Measure::l2);
  vs->add("t", {"a", "b"}, {{1, 2}, {3, 4}});
  const std::string before = vs->save("t");
  try {
    vs->load("t", bytes);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) finding("error code", e.what());
    if (vs->save("t") != before) finding("rejected load changed the index", e.what());
    return 0;
  } catch (const std::exception& e) {
    finding("exception", e.what());
  }
  try {
    if (vs->save("t") != bytes) finding("save(load(bytes)) != bytes", "");
    const std::vector<std::string> ids = vs->ids("t");
    if (ids.size() != vs->size("t")) finding("ids() and size() disagree", "");
    const std::vector<float>* probe = nullptr;
    std::optional<std::vector<float>> first;
    if (!ids.empty()) {
      first = vs->get("t", ids.front());
      if (!first) finding("listed id has no vector", ids.front());
      probe = &*first;
    }
    if (probe != nullptr) {
      const auto got = vs->search("t", *probe, 3);
      if (got.empty()) finding("search of a non-empty index found nothing", "");
      const auto within = vs->search("t", *probe, 3, &ids);
      if (within != got) finding("within every id differs from no within", "");
    }
  } catch (const std::exception& e) {
    finding("using a loaded index", e.what());
  }
  return 0;
}
