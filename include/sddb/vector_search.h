#pragma once
// VectorSearch: the SPI of vector indexes over model outputs, one index per VectorIndex
// component. The embedded implementation is "inmemory://" (src/vector/: an exact flat index over
// the SIMD distance kernels, or an approximate HNSW graph, chosen per index by IndexOptions). The
// DB feeds it from the outputs tables of listeners and persists each index through the
// ArtifactStore (save/load).
//
// Scores: higher is better for every measure, so results sort the same way whatever the measure:
//   cosine: the cosine similarity a·b/(|a||b|) (a zero vector scores 0 against anything)
//   dot:    the inner product a·b
//   l2:     minus the Euclidean distance, -|a-b|
// Ties are broken by the order the vectors were added (earlier first) while nothing was removed.
// A flat index returns the exact nearest vectors; an hnsw one approximately the nearest.
// Implementations must be safe to call from several threads at once. The embedded one runs the
// changes of one index one at a time and its searches concurrently; a search waits neither for a
// change to another index nor for all of a long change to its own (a large add takes the index
// in pieces of about 20 ms, and a search between them sees the vectors added so far).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sddb {

enum class Measure { cosine, dot, l2 };
std::string_view to_string(Measure m);
// "cosine", "dot" or "l2"; Error(invalid_argument) naming the text otherwise.
Measure parse_measure(std::string_view text);

// How an hnsw graph holds its vectors. automatic: exact 8-bit codes (u8) while every component
// of every vector is an integer in [0, 255], float32 from the first vector that is not. f32:
// float32. u8: exact 8-bit codes, only for integers in [0, 255] (others are Error(
// invalid_argument)). sq8: 8-bit scalar quantization learned from the vectors per dimension; f16:
// float16. sq8 and f16 are lossy: searches walk the graph on them (a quarter or half of the float32
// memory traffic) and re-rank the final candidates on a float32 copy, so results carry exact
// distances; they hold that copy besides, so they take more memory than f32, not less.
enum class IndexStorage { automatic, f32, u8, sq8, f16 };

// "auto", "f32", "u8", "sq8" or "f16".
inline std::string_view to_string(IndexStorage s) {
  switch (s) {
    case IndexStorage::automatic:
      return "auto";
    case IndexStorage::f32:
      return "f32";
    case IndexStorage::u8:
      return "u8";
    case IndexStorage::sq8:
      return "sq8";
    case IndexStorage::f16:
      return "f16";
  }
  return "?";
}

// The storage named `text` (as to_string gives it), or nothing: callers raise the error, naming
// the option or key it came from.
inline std::optional<IndexStorage> parse_index_storage(std::string_view text) {
  for (IndexStorage s : {IndexStorage::automatic, IndexStorage::f32, IndexStorage::u8,
                         IndexStorage::sq8, IndexStorage::f16}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

// How an index is built. flat: exact scan. hnsw: approximate graph search (Malkov & Yashunin),
// with m links per node, ef_construction candidates while inserting and at least ef_search
// candidates while searching (raised to n). automatic: flat while the index holds fewer than
// auto_hnsw_size(dim) vectors; the add that reaches it builds the hnsw graph (with these numbers)
// from the vectors held, and the index stays hnsw from then on. The numbers only matter for hnsw.
struct IndexOptions {
  enum class Type { flat, hnsw, automatic } type = Type::flat;
  // Where an exact scan stops paying: once it reads 16 MiB of vectors per query, the graph
  // answers at least 5 times faster at recall >= 0.98 on both datasets of bench/RESULTS.md
  // ("flat or hnsw"): 5,350 vectors of 784 floats, 41,943 of 100.
  static constexpr std::size_t kAutoHnswScanBytes = std::size_t{16} << 20;
  static constexpr std::size_t auto_hnsw_size(std::size_t dim) {
    return dim == 0 ? 1 : std::max<std::size_t>(1, kAutoHnswScanBytes / (dim * sizeof(float)));
  }
  std::size_t m = 16;
  std::size_t ef_construction = 200;
  std::size_t ef_search = 64;
  IndexStorage storage = IndexStorage::automatic;  // hnsw only
};

class VectorSearch {
 public:
  virtual ~VectorSearch() = default;

  virtual std::string uri() const = 0;

  // Creates an empty index, or checks that an existing one has the same dimension, measure and
  // options (Error(invalid_argument) naming both dimensions, measures or options when not). An
  // index that came from load() and was not created since takes the options when its engine
  // serves them (a saved flat or hnsw index serves automatic).
  // dim must be > 0; for hnsw m must be >= 2 and both efs >= 1 (Error(invalid_argument)
  // otherwise).
  virtual void create_index(const std::string& index, std::size_t dim, Measure measure,
                            const IndexOptions& options = {}) = 0;
  // Removes an index and its vectors; a missing index is not an error.
  virtual void drop_index(const std::string& index) = 0;
  virtual bool has_index(const std::string& index) = 0;
  // Number of vectors in an index. Error(not_found) for a missing index (as for every call
  // below that names an index).
  virtual std::size_t size(const std::string& index) = 0;

  // Adds or replaces vectors by document id. Every vector must have the index's dimension and
  // finite values: Error(invalid_argument) naming the id and the dimensions otherwise, and then
  // nothing of the call is added.
  virtual void add(const std::string& index, const std::vector<std::string>& ids,
                   const std::vector<std::vector<float>>& vectors) = 0;
  // Removes vectors by id; ids not in the index are ignored.
  virtual void remove(const std::string& index, const std::vector<std::string>& ids) = 0;
  // The stored vector of an id, or nothing.
  virtual std::optional<std::vector<float>> get(const std::string& index,
                                                const std::string& id) = 0;
  // Every id in the index, in no particular order.
  virtual std::vector<std::string> ids(const std::string& index) = 0;

  // The n nearest ids with their scores, best first. When `within` is given, only those ids are
  // candidates (ids not in the index are ignored; an empty `within` gives no results).
  // query must have the index's dimension (Error(invalid_argument) naming both otherwise).
  virtual std::vector<std::pair<std::string, double>> search(
      const std::string& index, const std::vector<float>& query, std::size_t n,
      const std::vector<std::string>* within = nullptr) = 0;

  // The whole index as bytes (for the ArtifactStore), and back. load replaces the index of that
  // name (creating it); Error(invalid_argument) for bytes that are not a saved index, naming
  // what is wrong; nothing changes then.
  virtual std::string save(const std::string& index) = 0;
  virtual void load(const std::string& index, const std::string& bytes) = 0;
};

}  // namespace sddb
