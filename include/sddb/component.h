#pragma once
// The components other than models (design §4): what db->add() takes besides a Model.
//
//   db->add(sddb::Listener(docs.find(), "description", "ft"));  // backfills, then follows
//   db->add(sddb::VectorIndex("pkg-desc", "ft/description", sddb::Measure::cosine));
//
// Every component has a type id, an identifier and, once added, a version (0, 1, 2 ... per type
// and identifier). Adding a component equal to the latest version of its identifier adds
// nothing and returns that version.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sddb/query.h"
#include "sddb/value.h"
#include "sddb/vector_search.h"

namespace sddb {

// What db->add() returns: the version the component has in the database.
struct ComponentRef {
  std::string type_id;
  std::string identifier;
  std::int64_t version = 0;
  bool created = false;           // false: an equal version existed and nothing was added
  std::vector<std::string> jobs;  // jobs the add ran or queued (a listener's backfill)

  std::string key() const;  // "type_id/identifier/version"
};

// Computes `model`'s output for field `key` of every document of `select`, then of every later
// insert and update of that collection; a delete removes the outputs and their vectors.
// The identifier defaults to "<model>/<key>". A key of "_outputs.<listener>" takes another
// listener's outputs as input (a model chain).
class Listener {
 public:
  Listener() = default;
  Listener(Find select, std::string key, std::string model,
           std::optional<std::int64_t> model_version = std::nullopt, std::string identifier = {});

  const std::string& identifier() const { return identifier_; }
  const Find& select() const { return select_; }
  const std::string& key() const { return key_; }
  const std::string& model() const { return model_; }
  const std::optional<std::int64_t>& model_version() const { return model_version_; }
  // The upstream listener when key is "_outputs.<listener>", else empty.
  std::string upstream() const;

 private:
  Find select_;
  std::string key_;
  std::string model_;
  std::optional<std::int64_t> model_version_;
  std::string identifier_;
};

// How a VectorIndex is built: type "flat" (exact scan), "hnsw" (approximate graph search with
// m links per node, ef_construction candidates while inserting, at least ef_search while
// searching) or "auto", the default: exact while the index holds fewer than
// IndexOptions::auto_hnsw_size(dim) vectors (an exact scan of 16 MiB), hnsw from then on. The
// numbers and the storage only matter for hnsw; storage is "auto", "f32", "u8", "sq8" or "f16"
// (see IndexStorage in sddb/vector_search.h).
// DB::add raises Error(invalid_argument) for another type or storage, m < 2 or a zero ef.
struct VectorIndexOptions {
  std::string type = "auto";
  std::size_t m = 16, ef_construction = 200, ef_search = 64;
  std::string storage = "auto";
};

// A vector index over the outputs of `indexing_listener`. like() queries encode their example
// with that listener's model, or with the compatible listener's model when the example has the
// compatible listener's key instead (both models must have the same output dimension).
class VectorIndex {
 public:
  VectorIndex() = default;
  VectorIndex(std::string identifier, std::string indexing_listener,
              Measure measure = Measure::cosine, std::string compatible_listener = {},
              VectorIndexOptions options = {});

  const std::string& identifier() const { return identifier_; }
  const std::string& indexing_listener() const { return indexing_listener_; }
  const std::string& compatible_listener() const { return compatible_listener_; }
  Measure measure() const { return measure_; }
  const VectorIndexOptions& options() const { return options_; }

 private:
  std::string identifier_;
  std::string indexing_listener_;
  std::string compatible_listener_;
  Measure measure_ = Measure::cosine;
  VectorIndexOptions options_;
};

// Describes a model's outputs: a vector of `shape` numbers of `dtype` ("float32").
class Encoder {
 public:
  Encoder() = default;
  Encoder(std::string identifier, std::size_t shape, std::string dtype = "float32")
      : identifier_(std::move(identifier)), dtype_(std::move(dtype)), shape_(shape) {}
  // "float32[shape]" as identifier.
  static Encoder vector(std::size_t shape) {
    return Encoder("float32[" + std::to_string(shape) + "]", shape);
  }
  const std::string& identifier() const { return identifier_; }
  const std::string& dtype() const { return dtype_; }
  std::size_t shape() const { return shape_; }

 private:
  std::string identifier_;
  std::string dtype_ = "float32";
  std::size_t shape_ = 0;
};

// A frozen selection of documents: when added, the documents of `select` are copied into an
// artifact, so the dataset stays the same while the collection changes.
class Dataset {
 public:
  Dataset() = default;
  Dataset(std::string identifier, Find select)
      : identifier_(std::move(identifier)), select_(std::move(select)) {}
  const std::string& identifier() const { return identifier_; }
  const Find& select() const { return select_; }

 private:
  std::string identifier_;
  Find select_;
};

// A metric: a C++ function of predictions and targets, registered in this process (like a
// callable model, its record says it cannot be reloaded elsewhere).
using MetricFn =
    std::function<double(const std::vector<Value>& predictions, const std::vector<Value>& targets)>;
class Metric {
 public:
  Metric() = default;
  Metric(std::string identifier, MetricFn fn)
      : identifier_(std::move(identifier)), fn_(std::move(fn)) {}
  const std::string& identifier() const { return identifier_; }
  const MetricFn& fn() const { return fn_; }
  double operator()(const std::vector<Value>& p, const std::vector<Value>& t) const;

 private:
  std::string identifier_;
  MetricFn fn_;
};

}  // namespace sddb
