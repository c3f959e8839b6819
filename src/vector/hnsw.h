// HnswIndex: an approximate nearest-neighbour index, the hierarchical navigable small world graph
// of Malkov & Yashunin (arXiv 1603.09320), written here.
//
// Layout (docs in ../shared/reference/ann-techniques.md §1): level-0 links, vectors and per-node
// data live in separate 64-byte-aligned arrays indexed by an internal slot id; upper-level links
// are kept per node. Vectors are stored as f32 (cosine: normalized at add, then searched as dot)
// or, when every component is an integer in [0, 255], as exact u8 codes searched with integer
// kernels (AVX-512 VNNI, AVX2, portable; chosen once per process by CPUID), so u8 distances equal
// the f32 ones exactly. Forced sq8 or f16 storage keeps lossy codes that searches walk the graph
// on (a quarter or half of the f32 traffic) plus the f32 rows, read only while building and to
// re-rank the final candidates, so the distances returned are the exact f32 ones.
//
// Threads: one writer at a time (add, add_batch, remove); any number of concurrent const calls
// (search, save, contains, size, memory_bytes), also while a writer runs: a shared_mutex lets
// them wait while one write is applied (add_batch holds it for the whole batch). Internal to
// the library (not in include/sddb/).
//
// Removal relinks the removed node's neighbours at once and leaves it as a pending slot that
// searches may pass through but never return. Once pending slots reach 10 % of all slots (or 1 %
// when an add finds no free slot) a consolidation relinks every node that still points at one,
// and the slots become free for reuse (FreshDiskANN's scheme, ann-techniques.md §7).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sddb/vector_search.h"

namespace sddb::detail {

// How vectors are held. u8: exact 8-bit codes, only when every component of every vector is an
// integer in [0, 255]. sq8 (8-bit scalar quantization, per dimension: x ~ min + step * code,
// learned from the vectors added) and f16 (IEEE half floats) are lossy: the graph is built and
// searched on them, and the final candidates are re-ranked with exact f32 distances from a copy
// of the vectors as given, kept beside them (also the one get() returns).
enum class HnswStorage { f32, u8, sq8, f16 };
// "f32", "u8", "sq8" or "f16".
std::string_view hnsw_storage_name(HnswStorage s);

struct HnswOptions {
  std::size_t m = 16;                  // links per node above level 0 (2*m at level 0)
  std::size_t ef_construction = 200;   // candidate list size while inserting
  std::size_t ef_search = 64;          // ef used by search() when its ef is 0
  std::optional<HnswStorage> storage;  // empty: u8 while every vector added allows it, else f32
  std::uint64_t seed = 42;             // level generator seed (builds are reproducible)
};

// An allowed set for search. `allowed` is called with labels (possibly from several threads at
// once when searches run concurrently); it must be pure.
// Either `allowed` or `labels`: with the allowed labels themselves (repeats and labels not in
// the index are ignored), a search marks their nodes once and tests a bit per node it meets, and
// an exact search measures only them (no call per node of the index).
struct HnswFilter {
  std::function<bool(std::uint64_t label)> allowed;
  std::size_t allowed_count = 0;  // how many labels are allowed, 0 when unknown
  const std::vector<std::uint64_t>* labels = nullptr;
};

class HnswIndex {
 public:
  // dim > 0 and options.m >= 2: Error(invalid_argument) otherwise. A forced u8 storage rejects
  // (invalid_argument) vectors that are not integers in [0, 255].
  HnswIndex(std::size_t dim, Measure measure, HnswOptions options = {});
  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  std::size_t dim() const;
  Measure measure() const;
  const HnswOptions& options() const;
  // The storage in use now (with an unset options().storage: u8 until a vector that is not an
  // integer in [0, 255] arrives, when every stored vector is converted to f32).
  HnswStorage storage() const;

  // Adds, or replaces the vector of an existing label (updated in place and relinked). `vector`
  // holds dim() floats, all finite (Error(invalid_argument) otherwise, and nothing changes).
  // One writer at a time; searches may run concurrently.
  void add(std::uint64_t label, const float* vector);
  // Many at once with `threads` threads (0: hardware concurrency); the result is as good as
  // adding one by one. vectors holds labels.size() rows of dim() floats. Duplicate labels: the
  // last row wins. Every vector is checked before any is added.
  void add_batch(const std::vector<std::uint64_t>& labels, const float* vectors,
                 std::size_t threads = 0);
  // Removes a label: it stops appearing at once; its neighbours are repaired and its slot is
  // reused. False when absent.
  bool remove(std::uint64_t label);
  bool contains(std::uint64_t label) const;
  // Copies the stored vector of a label into out (dim() floats); false when absent. Exactly as
  // added for u8, sq8 and f16 storage and for f32 l2/dot; f32 cosine keeps it normalized.
  bool get(std::uint64_t label, float* out) const;
  // Number of live labels.
  std::size_t size() const;

  // The k nearest (label, distance) pairs, nearest first (ties by label). Distances, exact f32
  // ones whatever the storage: l2 = squared Euclidean, dot = -a.b, cosine = 1 - cos. ef 0 means
  // options().ef_search; ef is raised to k. With a filter, only allowed labels, and exactly min(k,
  // allowed points) of them; small allowed sets are searched exactly. query holds dim() floats.
  std::vector<std::pair<std::uint64_t, float>> search(const float* query, std::size_t k,
                                                      std::size_t ef = 0,
                                                      const HnswFilter* filter = nullptr) const;

  // Bytes held for vectors, links and bookkeeping (capacity, not just size).
  std::size_t memory_bytes() const;
  // Versioned little-endian binary format ("SDDBHNSW" magic, version, options, nodes, links,
  // vectors) ending in a 64-bit checksum of everything before it.
  std::string save() const;
  // Error(invalid_argument) naming what is wrong for truncated, corrupt or other-version bytes;
  // never a crash.
  static std::unique_ptr<HnswIndex> load(std::string_view bytes);

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sddb::detail
