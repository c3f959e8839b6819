// What the DB keeps in memory about its AI components (listeners, indexes, loaded models), and
// the internal functions that src/db/ai.cc, src/db/like.cc and src/jobs/listeners.cc share.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "query/filter.h"
#include "sddb/db.h"

namespace sddb {

// One stored listener version that is computing outputs.
struct ListenerState {
  std::string identifier;
  std::int64_t version = 0;
  std::string collection;
  Value filter = Value::object();
  query::FilterNode filter_node;  // parsed once, to match inserted documents
  std::string key;                // dotted path, or "_outputs.<listener>"
  std::string upstream;           // the upstream listener's identifier for a chain
  std::string model;
  std::int64_t model_version = 0;
  std::string table;  // "_outputs/<identifier>/<version>"
  std::string record_key() const {
    return "listener/" + identifier + "/" + std::to_string(version);
  }
};

// One stored vector index version.
struct IndexState {
  std::string identifier;
  std::int64_t version = 0;
  std::string listener;  // identifier of the indexing listener
  std::int64_t listener_version = 0;
  std::string compatible;  // identifier of the compatible listener, or empty
  std::int64_t compatible_version = 0;
  Measure measure = Measure::cosine;
  std::size_t dim = 0;
  IndexOptions options;  // flat for records written before index types existed
  bool loaded = false;   // the VectorSearch holds it and it has caught up to `seq`
  std::int64_t seq = 0;  // the outputs it has seen: every row with seq <= this
  bool dirty = false;    // changed since it was last persisted
  std::string name() const { return identifier + "/" + std::to_string(version); }
  std::string meta_key() const { return "vector_index/" + name(); }
};

// The inputs of one batch of documents for a listener's model.
struct PreparedInputs {
  std::vector<std::string> ids;  // documents that have an input, in the order of `inputs`
  std::vector<Value> inputs;     // moved to the model before store_outputs, which needs only ids
};

struct DB::AiState {
  // Guards everything below, and serializes the work of listeners and index upkeep. Model
  // predictions and vector searches have their own locks.
  std::recursive_mutex mutex;
  std::vector<ListenerState> listeners;
  std::vector<IndexState> indexes;
  std::map<std::string, Model> models;  // by "identifier/version"
  std::map<std::string, MetricFn> metrics;
};

namespace detail {

// The value at a dotted path of a document (objects only), or null.
const Value* value_at(const Value& doc, const std::string& dotted);
// "_outputs/<identifier>/<version>"
std::string outputs_table(const std::string& listener, std::int64_t version);
// float32 vector <-> Value array of doubles
Value vector_to_value(const std::vector<float>& v);

}  // namespace detail

}  // namespace sddb
