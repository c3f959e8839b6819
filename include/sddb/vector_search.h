#pragma once
// VectorSearch: the SPI of vector indexes over model outputs, one index per VectorIndex
// component. The embedded implementation ("inmemory://") and the component that feeds it arrive
// with the AI layer; the DB accepts a null VectorSearch until then, and like() queries on a DB
// without one are Error(not_supported).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sddb {

enum class Measure { cosine, dot, l2 };

class VectorSearch {
 public:
  virtual ~VectorSearch() = default;

  virtual std::string uri() const = 0;

  // Creates an empty index, or checks that an existing one has the same dimension and measure.
  virtual void create_index(const std::string& index, std::size_t dim, Measure measure) = 0;
  virtual void drop_index(const std::string& index) = 0;
  // Adds or replaces vectors by document id; every vector must have the index's dimension.
  virtual void add(const std::string& index, const std::vector<std::string>& ids,
                   const std::vector<std::vector<float>>& vectors) = 0;
  virtual void remove(const std::string& index, const std::vector<std::string>& ids) = 0;
  // The n nearest ids with their scores, best first; only `within` when it is not empty.
  virtual std::vector<std::pair<std::string, double>> search(
      const std::string& index, const std::vector<float>& query, std::size_t n,
      const std::vector<std::string>& within = {}) = 0;
};

}  // namespace sddb
