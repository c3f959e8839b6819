// The one interface sddb-bench-ann drives every index through (sddb's HNSW and flat index,
// hnswlib, FAISS), so that each is timed by the same loop. Benchmark code only: the references
// live in their own translation units (hnswlib_ref.cc, faiss_ref.cc) and never reach the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sddb::bench {

// Marks an empty result slot.
inline constexpr std::uint64_t kNoLabel = ~std::uint64_t{0};

// The allowed set of one query: allowed[label] != 0; allowed_count of them are set.
struct QueryFilter {
  const std::uint8_t* allowed = nullptr;  // per base label: 1 when allowed
  std::size_t allowed_count = 0;
  const std::vector<std::uint64_t>* labels = nullptr;  // the same set as a list of labels
};

class AnnIndex {
 public:
  virtual ~AnnIndex() = default;

  virtual std::string name() const = 0;     // "sddb-hnsw", "hnswlib", "faiss-hnsw", "sddb-flat"
  virtual std::string storage() const = 0;  // "f32", "u8", ...
  // How a filter is applied ("in-graph", "post"), empty when filters are not supported.
  virtual std::string filter_mode() const { return {}; }

  // Adds rows 0..n-1 of base (labels = row numbers) with `threads` threads.
  virtual void build(const float* base, std::size_t n, std::size_t threads) = 0;
  // Bytes held by the index (vectors, links, bookkeeping), by its own accounting.
  virtual double memory_bytes() const = 0;
  // Extra JSON keys of its points (", \"key\": value" ...), empty by default.
  virtual std::string extra_json() const { return {}; }

  // Answers nq queries with `threads` threads; out gets nq * k labels, nearest first, kNoLabel
  // where fewer than k came back. filters: nullptr, or one per query (only when filter_mode()
  // is not empty). Not called concurrently with itself.
  virtual void search(const float* queries, std::size_t nq, std::size_t k, std::size_t ef,
                      std::size_t threads, const std::vector<QueryFilter>* filters,
                      std::uint64_t* out) = 0;

  // Churn: removes labels, then adds them back with their rows of base. False when unsupported.
  virtual bool supports_churn() const { return false; }
  virtual void remove(const std::vector<std::uint64_t>& /*labels*/) {}
  virtual void reinsert(const float* /*base*/, const std::vector<std::uint64_t>& /*labels*/,
                        std::size_t /*threads*/) {}
};

// Runs fn(i) for i in [0, n) on `threads` threads (the caller's thread counts as one), handing out
// indices in small chunks. Defined in ann_bench.cc, compiled without -march=native.
void parallel_for(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn);

std::unique_ptr<AnnIndex> make_hnswlib_index(std::size_t dim, std::size_t m,
                                             std::size_t ef_construction);
std::unique_ptr<AnnIndex> make_faiss_index(std::size_t dim, std::size_t m,
                                           std::size_t ef_construction);

}  // namespace sddb::bench
