// like(): vector search over a VectorIndex, returning documents sorted by score (design §3).
//
// The example is encoded by the model of the indexing listener (or of the compatible listener)
// whose key it has, or, given only an _id, the stored vector of that document is the query.
// Without a filter the n nearest ids are fetched and returned in score order. With a filter the
// search asks for more candidates (4n, then 16n, ...) until n of them match; when matches are
// rare, it searches only among the ids that match (exact, since the index is asked for those
// ids alone), so the result never has fewer than n documents while n match.

#include <algorithm>
#include <unordered_map>

#include "db/ai_state.h"
#include "query/evaluator.h"
#include "sddb/error.h"

namespace sddb {

namespace {

class VectorCursorSource : public DocumentSource {
 public:
  explicit VectorCursorSource(std::vector<Document> docs) : docs_(std::move(docs)) {}
  std::optional<Document> next() override {
    if (i_ >= docs_.size()) return std::nullopt;
    return std::move(docs_[i_++]);
  }

 private:
  std::vector<Document> docs_;
  std::size_t i_ = 0;
};

Value in_ids(const std::vector<std::pair<std::string, double>>& hits) {
  Array a;
  a.reserve(hits.size());
  for (const auto& h : hits) a.emplace_back(h.first);
  return Value{{"_id", Value{{"$in", Value(std::move(a))}}}};
}

}  // namespace

Cursor DB::execute(const Like& q) {
  validate_collection_name(q.collection);
  const std::string what = "like() on '" + q.collection + "' with index '" + q.index + "'";
  if (q.n <= 0) {
    throw Error(ErrorCode::invalid_argument,
                what + ": n must be positive, got " + std::to_string(q.n));
  }
  if (!q.example.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                what + ": the example must be a document, got " + q.example.to_json());
  }
  const Value filter = q.filter.is_null() ? Value::object() : q.filter;
  (void)query::parse_filter(filter);
  const query::Projection projection = query::parse_projection(q.projection);

  std::vector<float> vector;
  std::string index_name;
  std::size_t index_size = 0;
  {
    std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
    // The latest visible version of the index.
    ComponentRecord record;
    try {
      record = metadata_->get_component("vector_index", q.index);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
      throw Error(ErrorCode::not_found, what + ": no vector index '" + q.index + "'");
    }
    IndexState* index = nullptr;
    for (IndexState& s : ai_->indexes) {
      if (s.identifier == record.identifier && s.version == record.version) index = &s;
    }
    if (!index) throw Error(ErrorCode::internal, what + ": index state missing");
    load_index(*index);
    sync_index(*index);
    index_name = index->name();
    index_size = vector_database_->size(index_name);

    // Which listener's key does the example have?
    const ListenerState* chosen = nullptr;
    const Value* input = nullptr;
    std::string keys;
    for (const ListenerState& l : ai_->listeners) {
      const bool indexing = l.identifier == index->listener && l.version == index->listener_version;
      const bool compatible =
          l.identifier == index->compatible && l.version == index->compatible_version;
      if (!indexing && !compatible) continue;
      if (l.collection != q.collection) {
        throw Error(ErrorCode::invalid_argument, what + ": the index is over '" + l.collection +
                                                     "', not '" + q.collection + "'");
      }
      keys += (keys.empty() ? "'" : ", '") + l.key + "'";
      if (const Value* v = detail::value_at(q.example, l.key); v && !v->is_null()) {
        if (!chosen || indexing) {
          chosen = &l;
          input = v;
        }
      }
    }
    if (chosen) {
      vector = model_for(chosen->model, chosen->model_version).predict(*input);
    } else if (const Value* id = q.example.find("_id")) {
      if (!id->is_string()) {
        throw Error(ErrorCode::invalid_argument, what + ": _id must be a string");
      }
      auto stored = vector_database_->get(index_name, id->as_string());
      if (!stored) {
        throw Error(ErrorCode::not_found,
                    what + ": document '" + id->as_string() + "' has no vector in the index");
      }
      vector = std::move(*stored);
    } else {
      throw Error(ErrorCode::invalid_argument, what + ": the example has none of the keys " + keys +
                                                   " and no _id; give one of them");
    }
    if (vector.size() != index->dim) {
      throw Error(ErrorCode::invalid_argument,
                  what + ": the model gave a vector of " + std::to_string(vector.size()) +
                      " numbers but the index has dimension " + std::to_string(index->dim));
    }
  }

  const auto n = static_cast<std::size_t>(q.n);
  const bool filtered = !filter.as_object().empty();
  std::vector<std::pair<std::string, double>> hits;
  std::vector<Document> docs;
  auto fetch = [&](const std::vector<std::pair<std::string, double>>& candidates) {
    Value f =
        filtered ? Value{{"$and", Value::array({filter, in_ids(candidates)})}} : in_ids(candidates);
    return databackend_->find(Collection(q.collection).find(std::move(f))).to_vector();
  };
  if (!filtered) {
    hits = vector_database_->search(index_name, vector, n);
    docs = fetch(hits);
  } else {
    // Widen the search while too few candidates match; then search among the matches only.
    std::size_t k = std::max<std::size_t>(4 * n, 64);
    bool done = false;
    for (int round = 0; round < 3 && !done; ++round) {
      hits = vector_database_->search(index_name, vector, k);
      docs = fetch(hits);
      done = docs.size() >= n || hits.size() < k || k >= index_size;
      k *= 4;
    }
    if (!done) {
      std::vector<std::string> within;
      for (const Document& d :
           databackend_->find(Collection(q.collection).find(filter, {{"_id", 1}}))) {
        within.push_back(d.find("_id")->as_string());
      }
      hits = vector_database_->search(index_name, vector, n, &within);
      docs = fetch(hits);
    }
  }

  // Score order, at most n, each with _score, then the projection.
  std::unordered_map<std::string, Document*> by_id;
  for (Document& d : docs) by_id.emplace(d.find("_id")->as_string(), &d);
  std::vector<Document> out;
  for (const auto& [id, score] : hits) {
    if (out.size() == n) break;
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;  // filtered out, or deleted since the index saw it
    Document d = std::move(*it->second);
    if (!q.projection.is_null()) d = query::apply_projection(projection, d);
    d.set("_score", Value(score));
    out.push_back(std::move(d));
  }
  return Cursor(std::make_unique<VectorCursorSource>(std::move(out)));
}

}  // namespace sddb
