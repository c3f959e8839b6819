// HnswSearchIndex: one HNSW-backed index of the "inmemory://" VectorSearch. It maps the string
// document ids of the SPI to the uint64 labels of HnswIndex (labels handed out in order, never
// reused), keeps a copy of each vector for get() (unless the engine keeps one: sq8, f16), turns
// distances into the SPI's higher-better scores and saves the whole of it in an envelope around the
// engine's own saved form.
//
// Threads: like HnswIndex, one writer at a time and any number of concurrent const calls; the
// VectorSearch's locks provide that. Internal to the library.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sddb/vector_search.h"
#include "vector/hnsw.h"

namespace sddb::detail {

// The first bytes of every saved HnswSearchIndex ("SDDBVIX1"); a saved FlatIndex starts with
// "SDDBFLAT" instead.
bool is_saved_vector_index_envelope(std::string_view bytes);

class HnswSearchIndex {
 public:
  // options.m >= 2 and ef_construction, ef_search >= 1, dim > 0: Error(invalid_argument)
  // otherwise.
  HnswSearchIndex(std::size_t dim, Measure measure, const IndexOptions& options);

  std::size_t dim() const { return hnsw_->dim(); }
  Measure measure() const { return hnsw_->measure(); }
  // type hnsw and the engine's numbers.
  IndexOptions options() const;
  std::size_t size() const { return vectors_.size(); }

  // The checks of add(): counts, dimensions and finite values, naming the index `name` and the
  // id (Error(invalid_argument)).
  void check(std::string_view name, const std::vector<std::string>& ids,
             const std::vector<std::vector<float>>& vectors) const;
  // As FlatIndex::add: every vector is checked first, and then nothing is added on error.
  // Existing ids are replaced. `parallel`: link the new nodes on every core (pays off for
  // thousands of vectors; the usual sync is small and stays on this thread).
  void add(std::string_view name, const std::vector<std::string>& ids,
           const std::vector<std::vector<float>>& vectors, bool parallel = false);
  // Ids not in the index are ignored.
  void remove(const std::vector<std::string>& ids);
  // The stored vector of an id (as added), or nothing.
  std::optional<std::vector<float>> find(const std::string& id) const;
  std::vector<std::string> ids() const;

  // The (approximately) n best ids with their scores, best first; `within` restricts the
  // candidates (exactly min(n, allowed ids in the index) results). query has dim() floats.
  std::vector<std::pair<std::string, double>> search(std::span<const float> query, std::size_t n,
                                                     const std::vector<std::string>* within) const;

  // "SDDBVIX1", type byte, next label, the ids with labels and vectors, the engine's bytes, then
  // a checksum. load: Error(invalid_argument) naming what is wrong.
  std::string save() const;
  static std::unique_ptr<HnswSearchIndex> load(std::string_view bytes);

 private:
  struct Entry {
    std::uint64_t label;
    std::vector<float> vector;
  };
  HnswSearchIndex() = default;
  // sq8 and f16 engines keep the f32 vectors for their re-ranking; then this class keeps none
  // (entries have empty vectors) and asks the engine.
  bool engine_keeps_vectors() const;

  std::unique_ptr<HnswIndex> hnsw_;
  std::unordered_map<std::string, Entry> vectors_;
  std::unordered_map<std::uint64_t, std::string> id_of_;
  std::uint64_t next_label_ = 0;
};

}  // namespace sddb::detail
