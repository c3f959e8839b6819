// FlatIndex: one exact vector index, a contiguous row-major float matrix scanned with the batch
// distance kernels of distance.h. The "inmemory://" VectorSearch (inmemory.h) holds one per
// index name and does the locking; a FlatIndex itself is not thread-safe (const members may run
// concurrently with each other, nothing may run concurrently with a non-const one).
//
// Rows are kept in the order ids were first added; remove moves the last row into the hole, so
// that order (the tie-break of search) holds only while nothing was removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sddb/vector_search.h"

namespace sddb::detail {

// The checksum that ends the saved form, over the bytes before it (exposed so tests can build
// blobs that pass it and reach the structural checks).
std::uint64_t flat_index_checksum(std::string_view bytes);

class FlatIndex {
 public:
  // dim > 0 (checked by the caller).
  FlatIndex(std::size_t dim, Measure measure);

  std::size_t dim() const { return dim_; }
  Measure measure() const { return measure_; }
  std::size_t size() const { return ids_.size(); }

  // Adds or replaces (in place, keeping the row) each id's vector. Every vector must have dim()
  // finite floats and ids.size() == vectors.size(): Error(invalid_argument) naming the index
  // (`name`), the id and the dimensions otherwise, and then nothing is added.
  void add(std::string_view name, const std::vector<std::string>& ids,
           const std::vector<std::vector<float>>& vectors);
  // Ids not in the index are ignored.
  void remove(const std::vector<std::string>& ids);
  // The row of an id, or nullptr.
  const float* find(const std::string& id) const;
  const std::vector<std::string>& ids() const { return ids_; }

  // The n best (id, score) pairs, best first; scores as documented in sddb/vector_search.h. The
  // query must have dim() finite floats (the caller checks). When `within` is given only its
  // ids are candidates.
  std::vector<std::pair<std::string, double>> search(std::span<const float> query, std::size_t n,
                                                     const std::vector<std::string>* within) const;

  // The matrix, size() rows of dim() floats (for benchmarks and tests).
  std::span<const float> matrix() const { return data_; }

  // The saved form: little-endian, "SDDBFLAT" magic, format version, measure, dim, count, ids,
  // floats and a trailing 64-bit FNV-1a of everything before it.
  std::string save() const;
  // Parses a saved index. Error(invalid_argument) naming what is wrong for anything that is not
  // exactly a saved index (truncated, bad magic or version, checksum, sizes that do not fit,
  // duplicate ids, non-finite floats, trailing bytes).
  static FlatIndex load(std::string_view bytes);

 private:
  // Score of a row from the kernel's raw output (squared l2 or inner product).
  double score(float raw, std::size_t row, double query_norm) const;
  void append_row(const std::string& id, const float* v);

  std::size_t dim_;
  Measure measure_;
  std::vector<float> data_;                           // size() * dim_ floats
  std::vector<std::string> ids_;                      // id of each row
  std::vector<double> norms_;                         // |row| for cosine; empty otherwise
  std::unordered_map<std::string, std::size_t> row_;  // id -> row
};

}  // namespace sddb::detail
