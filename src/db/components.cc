// The component values of sddb/component.h, Measure names, and the Like builders.

#include "sddb/component.h"
#include "sddb/error.h"
#include "sddb/query.h"

namespace sddb {

std::string_view to_string(Measure m) {
  switch (m) {
    case Measure::cosine:
      return "cosine";
    case Measure::dot:
      return "dot";
    case Measure::l2:
      return "l2";
  }
  return "?";
}

Measure parse_measure(std::string_view text) {
  if (text == "cosine") return Measure::cosine;
  if (text == "dot") return Measure::dot;
  if (text == "l2") return Measure::l2;
  throw Error(ErrorCode::invalid_argument,
              "unknown measure '" + std::string(text) + "'; use cosine, dot or l2");
}

std::string ComponentRef::key() const {
  return type_id + "/" + identifier + "/" + std::to_string(version);
}

Listener::Listener(Find select, std::string key, std::string model,
                   std::optional<std::int64_t> model_version, std::string identifier)
    : select_(std::move(select)),
      key_(std::move(key)),
      model_(std::move(model)),
      model_version_(model_version),
      identifier_(std::move(identifier)) {
  if (identifier_.empty()) identifier_ = model_ + "/" + key_;
}

std::string Listener::upstream() const {
  static constexpr std::string_view kPrefix = "_outputs.";
  if (key_.rfind(kPrefix, 0) == 0) return key_.substr(kPrefix.size());
  return {};
}

VectorIndex::VectorIndex(std::string identifier, std::string indexing_listener, Measure measure,
                         std::string compatible_listener, VectorIndexOptions options)
    : identifier_(std::move(identifier)),
      indexing_listener_(std::move(indexing_listener)),
      compatible_listener_(std::move(compatible_listener)),
      measure_(measure),
      options_(std::move(options)) {}

double Metric::operator()(const std::vector<Value>& p, const std::vector<Value>& t) const {
  if (!fn_) {
    throw Error(ErrorCode::failed_precondition,
                "metric '" + identifier_ + "' has no function in this process");
  }
  return fn_(p, t);
}

Like Find::like(Value example, std::string index, std::int64_t n) const {
  if (!sort_keys.empty() || skip_n != 0 || limit_n != 0) {
    throw Error(ErrorCode::invalid_argument,
                "find(...).like(...) on '" + collection +
                    "': sort, skip and limit do not apply to a vector search; the results are "
                    "sorted by score and n limits them");
  }
  Like l;
  l.collection = collection;
  l.example = std::move(example);
  l.index = std::move(index);
  l.n = n;
  l.filter = filter.is_null() ? Value::object() : filter;
  l.projection = projection;
  return l;
}

Like Like::find(Value f, Value p) const {
  Like l = *this;
  l.filter = f.is_null() ? Value::object() : std::move(f);
  l.projection = std::move(p);
  return l;
}

Like Collection::like(Value example, std::string index, std::int64_t n) const {
  Like l;
  l.collection = name();
  l.example = std::move(example);
  l.index = std::move(index);
  l.n = n;
  return l;
}

}  // namespace sddb
