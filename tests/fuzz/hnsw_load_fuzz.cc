// libFuzzer target for the saved form of the HNSW index (src/vector/hnsw.cc).
//
// The first input byte picks the mode: odd, the rest gets a valid trailing checksum before
// loading, so the fuzzer reaches the structural checks behind it; even, the rest is loaded as
// is. load may reject bytes only with Error(invalid_argument); any other exception or code, or a
// sanitizer report, is a finding. Bytes it accepts must save back to exactly themselves (older
// versions: to the current version, which round-trips), answer searches (plain and filtered)
// with valid results, and take an add and a remove.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/error.h"
#include "vector/flat_index.h"
#include "vector/hnsw.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "hnsw_load_fuzz finding: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
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

void check_results(const sddb::detail::HnswIndex& index,
                   const std::vector<std::pair<std::uint64_t, float>>& got, std::size_t k,
                   bool all_allowed = true) {
  if (got.size() > k) finding("more results than k", "");
  if (all_allowed && got.size() < std::min(k, index.size())) {
    finding("fewer results than min(k, size)", "");
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!index.contains(got[i].first)) finding("a result that is not in the index", "");
    if (i > 0 && got[i - 1].second > got[i].second) finding("results out of order", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) bytes = reseal(std::move(bytes));

  std::unique_ptr<sddb::detail::HnswIndex> index;
  try {
    index = sddb::detail::HnswIndex::load(bytes);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) finding("error code", e.what());
    return 0;
  } catch (const std::exception& e) {
    finding("exception", e.what());
  }
  try {
    // The current version saves back to exactly itself; an older one saves as the current
    // version, which must then load and save back to itself.
    const std::string saved = index->save();
    if (saved.compare(8, 4, bytes, 8, 4) == 0) {
      if (saved != bytes) finding("save(load(bytes)) != bytes", "");
    } else if (sddb::detail::HnswIndex::load(saved)->save() != saved) {
      finding("an older version saved as the current one does not round-trip", "");
    }
    if (index->dim() > 4096) return 0;  // keeps each run fast
    const std::vector<float> q(index->dim(), 1.0f);
    check_results(*index, index->search(q.data(), 5), 5);
    sddb::detail::HnswFilter odd{[](std::uint64_t l) { return l % 2 == 1; }, 0};
    const auto filtered = index->search(q.data(), 5, 0, &odd);
    check_results(*index, filtered, 5, false);
    sddb::detail::HnswFilter all{[](std::uint64_t) { return true; }, index->size()};
    check_results(*index, index->search(q.data(), 5, 0, &all), 5);
    for (const auto& [label, dist] : filtered) {
      if (label % 2 != 1) finding("filtered search returned a disallowed label", "");
    }
    index->add(0xfeedface, q.data());
    if (!index->contains(0xfeedface)) finding("added label missing", "");
    const auto again = index->search(q.data(), 1);
    if (again.empty()) finding("search after add found nothing", "");
    if (!index->remove(0xfeedface)) finding("remove of an added label failed", "");
    check_results(*index, index->search(q.data(), 3), 3);
  } catch (const std::exception& e) {
    finding("using a loaded index", e.what());
  }
  return 0;
}
