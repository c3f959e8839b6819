#include "query/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "sddb/error.h"

namespace sddb::query {

namespace {

// Type classes of MongoDB's comparison order; numbers share one class, so do null and missing.
int type_rank(const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      return 1;
    case Value::Type::integer:
    case Value::Type::real:
      return 2;
    case Value::Type::string:
      return 3;
    case Value::Type::object:
      return 4;
    case Value::Type::array:
      return 5;
    case Value::Type::boolean:
      return 8;
  }
  return 0;
}

bool is_nan(const Value& v) { return v.is_double() && std::isnan(v.as_double()); }

int sign(int c) { return c < 0 ? -1 : (c > 0 ? 1 : 0); }

// Exact comparison of an int64 with a double: converting either side would round (2^53 + 1 has
// no double, 2^63 has no int64), so the double is split into its integral and fractional parts.
int compare_int_double(std::int64_t i, double d) {
  if (std::isnan(d)) return 1;  // NaN sorts below every number
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d >= kTwo63) return -1;
  if (d < -kTwo63) return 1;
  double whole = std::trunc(d);
  auto whole_i = static_cast<std::int64_t>(whole);
  if (i < whole_i) return -1;
  if (i > whole_i) return 1;
  double frac = d - whole;
  if (frac > 0) return -1;
  if (frac < 0) return 1;
  return 0;
}

int compare_numbers(const Value& a, const Value& b) {
  if (a.is_int() && b.is_int()) {
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_int()) return compare_int_double(a.as_int(), b.as_double());
  if (b.is_int()) return -compare_int_double(b.as_int(), a.as_double());
  double x = a.as_double();
  double y = b.as_double();
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) ? (std::isnan(y) ? 0 : -1) : 1;
  return x < y ? -1 : (x > y ? 1 : 0);
}

// Walks `path` from part `i` of `value` and calls `visit(candidate, is_element)` for every
// candidate value of reference §1 (nullptr for "missing"); stops at the first `true`.
// `via_index` says the value was reached through a numeric component, so a leaf array is not
// expanded into its elements.
template <class Visit>
bool walk(const Value& value, const Path& path, std::size_t i, bool via_index, Visit& visit) {
  if (i == path.parts.size()) {
    if (visit(&value, false)) return true;
    if (value.is_array() && !via_index && !path.empty()) {
      for (const Value& e : value.as_array()) {
        if (visit(&e, true)) return true;
      }
    }
    return false;
  }
  const std::string& part = path.parts[i];
  if (value.is_object()) {
    const Value* child = value.find(part);
    if (child == nullptr) return visit(nullptr, false);
    return walk(*child, path, i + 1, false, visit);
  }
  if (value.is_array()) {
    const Array& arr = value.as_array();
    if (path.is_index(i) && part.size() <= 18) {
      std::size_t k = std::stoull(part);
      if (k < arr.size() && walk(arr[k], path, i + 1, true, visit)) return true;
    }
    // Implicit traversal: object elements only, one array level.
    for (const Value& e : arr) {
      if (e.is_object() && walk(e, path, i, false, visit)) return true;
    }
    return false;
  }
  return visit(nullptr, false);
}

template <class Pred>
bool any_candidate(const Value& doc, const Path& path, Pred pred) {
  auto visit = [&](const Value* v, bool elem) { return pred(v, elem); };
  return walk(doc, path, 0, false, visit);
}

bool equal_values(const Value& a, const Value& b) {
  return type_rank(a) == type_rank(b) && compare_values(a, b) == 0;
}

bool compare_candidate(CompareOp op, const Value& operand, const Value* c) {
  if (c == nullptr) {
    return operand.is_null() &&
           (op == CompareOp::eq || op == CompareOp::gte || op == CompareOp::lte);
  }
  if (op == CompareOp::eq) return equal_values(*c, operand);
  if (type_rank(*c) != type_rank(operand)) return false;  // type bracketing
  if (is_nan(*c) || is_nan(operand)) {
    return (op == CompareOp::gte || op == CompareOp::lte) && is_nan(*c) && is_nan(operand);
  }
  int cmp = compare_values(*c, operand);
  switch (op) {
    case CompareOp::gt:
      return cmp > 0;
    case CompareOp::gte:
      return cmp >= 0;
    case CompareOp::lt:
      return cmp < 0;
    case CompareOp::lte:
      return cmp <= 0;
    case CompareOp::eq:
      break;
  }
  return cmp == 0;
}

bool has_type(const FilterNode& n, const Value& v, bool elem) {
  std::string_view name = Value::type_name(v.type());
  for (const std::string& t : n.types) {
    if (t == "array") {
      if (!elem && v.is_array()) return true;
    } else if (t == name) {
      return true;
    }
  }
  return false;
}

// $elemMatch's document form reads an array element that is itself an array as a document
// whose fields are "0", "1", ... (so {b: null} matches the element []).
Value array_as_document(const Value& arr) {
  Object obj;
  obj.reserve(arr.size());
  std::size_t k = 0;
  for (const Value& e : arr.as_array()) obj.emplace_back(std::to_string(k++), e);
  return Value(std::move(obj));
}

bool element_matches(const FilterNode& n, const Value& e) {
  if (n.elem_value_form) {
    for (const FilterNode& c : n.children) {
      if (!matches(c, e)) return false;
    }
    return true;
  }
  if (e.is_object()) {
    for (const FilterNode& c : n.children) {
      if (!matches(c, e)) return false;
    }
    return true;
  }
  if (e.is_array()) {
    Value doc = array_as_document(e);
    for (const FilterNode& c : n.children) {
      if (!matches(c, doc)) return false;
    }
    return true;
  }
  return false;
}

// Sort keys (reference §3): the values a path gives for sorting, where a missing value counts
// as null and an empty array at the end of the path as a key below null (nullptr here).
struct SortKeys {
  std::vector<const Value*> keys;
  bool saw_array = false;
};

const Value& null_value() {
  static const Value kNull;
  return kNull;
}

void sort_keys(const Value& value, const Path& path, std::size_t i, SortKeys& out) {
  if (i == path.parts.size()) {
    if (value.is_array()) {
      out.saw_array = true;
      if (value.as_array().empty()) out.keys.push_back(nullptr);
      for (const Value& e : value.as_array()) out.keys.push_back(&e);
    } else {
      out.keys.push_back(&value);
    }
    return;
  }
  const std::string& part = path.parts[i];
  if (value.is_object()) {
    const Value* child = value.find(part);
    if (child == nullptr) {
      out.keys.push_back(&null_value());
    } else {
      sort_keys(*child, path, i + 1, out);
    }
    return;
  }
  if (value.is_array()) {
    out.saw_array = true;
    const Array& arr = value.as_array();
    if (path.is_index(i) && part.size() <= 18) {
      std::size_t k = std::stoull(part);
      if (k < arr.size()) {
        sort_keys(arr[k], path, i + 1, out);
      } else {
        out.keys.push_back(&null_value());
      }
      return;
    }
    if (arr.empty()) out.keys.push_back(&null_value());
    for (const Value& e : arr) {
      if (e.is_object()) {
        sort_keys(e, path, i, out);
      } else {
        out.keys.push_back(&null_value());
      }
    }
    return;
  }
  out.keys.push_back(&null_value());
}

int compare_keys(const Value* a, const Value* b) {
  if (a == nullptr || b == nullptr) return (a == nullptr ? 0 : 1) - (b == nullptr ? 0 : 1);
  return compare_values(*a, *b);
}

const Value* pick_key(const SortKeys& k, int direction) {
  const Value* best = k.keys.front();
  for (std::size_t i = 1; i < k.keys.size(); ++i) {
    int c = compare_keys(k.keys[i], best);
    if (direction > 0 ? c < 0 : c > 0) best = k.keys[i];
  }
  return best;
}

std::string id_text(const Value& doc) {
  const Value* id = doc.is_object() ? doc.find("_id") : nullptr;
  if (id == nullptr) return "(no _id)";
  return id->is_string() ? "'" + id->as_string() + "'" : id->to_json();
}

}  // namespace

int compare_values(const Value& a, const Value& b) {
  int ra = type_rank(a);
  int rb = type_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type()) {
    case Value::Type::null:
      return 0;
    case Value::Type::integer:
    case Value::Type::real:
      return compare_numbers(a, b);
    case Value::Type::string:
      return sign(a.as_string().compare(b.as_string()));
    case Value::Type::boolean:
      return static_cast<int>(a.as_bool()) - static_cast<int>(b.as_bool());
    case Value::Type::array: {
      const Array& x = a.as_array();
      const Array& y = b.as_array();
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        int c = compare_values(x[i], y[i]);
        if (c != 0) return c;
      }
      return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    case Value::Type::object: {
      // BSON compares member by member: the value's type class, then the name, then the value.
      const Object& x = a.as_object();
      const Object& y = b.as_object();
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        int tx = type_rank(x[i].second);
        int ty = type_rank(y[i].second);
        if (tx != ty) return tx < ty ? -1 : 1;
        int c = sign(x[i].first.compare(y[i].first));
        if (c != 0) return c;
        c = compare_values(x[i].second, y[i].second);
        if (c != 0) return c;
      }
      return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
  }
  return 0;
}

bool matches(const FilterNode& n, const Value& doc) {
  using Kind = FilterNode::Kind;
  switch (n.kind) {
    case Kind::always:
      return true;
    case Kind::and_:
      for (const FilterNode& c : n.children) {
        if (!matches(c, doc)) return false;
      }
      return true;
    case Kind::or_:
      for (const FilterNode& c : n.children) {
        if (matches(c, doc)) return true;
      }
      return false;
    case Kind::nor:
      for (const FilterNode& c : n.children) {
        if (matches(c, doc)) return false;
      }
      return true;
    case Kind::not_:
      return n.children.empty() || !matches(n.children.front(), doc);
    case Kind::compare:
      return any_candidate(
          doc, n.path, [&](const Value* v, bool) { return compare_candidate(n.op, n.operand, v); });
    case Kind::in:
      return any_candidate(doc, n.path, [&](const Value* v, bool) {
        if (v == nullptr) {
          for (const Value& item : n.operand.as_array()) {
            if (item.is_null()) return true;
          }
          return false;
        }
        for (const Value& item : n.operand.as_array()) {
          if (equal_values(*v, item)) return true;
        }
        if (v->is_string()) {
          for (const Regex& re : n.regexes) {
            if (regex_search(re, v->as_string())) return true;
          }
        }
        return false;
      });
    case Kind::exists: {
      bool present = any_candidate(doc, n.path, [](const Value* v, bool) { return v != nullptr; });
      return n.operand.is_bool() && !n.operand.as_bool() ? !present : present;
    }
    case Kind::regex:
      return any_candidate(doc, n.path, [&](const Value* v, bool) {
        return v != nullptr && v->is_string() && !n.regexes.empty() &&
               regex_search(n.regexes.front(), v->as_string());
      });
    case Kind::size:
      return any_candidate(doc, n.path, [&](const Value* v, bool elem) {
        return v != nullptr && !elem && v->is_array() &&
               static_cast<std::int64_t>(v->size()) == n.operand.as_int();
      });
    case Kind::all:
      if (n.children.empty()) return false;
      for (const FilterNode& c : n.children) {
        if (!matches(c, doc)) return false;
      }
      return true;
    case Kind::elem_match:
      return any_candidate(doc, n.path, [&](const Value* v, bool elem) {
        if (v == nullptr || elem || !v->is_array()) return false;
        for (const Value& e : v->as_array()) {
          if (element_matches(n, e)) return true;
        }
        return false;
      });
    case Kind::type:
      return any_candidate(doc, n.path, [&](const Value* v, bool elem) {
        return v != nullptr && has_type(n, *v, elem);
      });
  }
  return false;
}

SortPlan parse_sort(const std::vector<SortKey>& keys) {
  SortPlan plan;
  for (const SortKey& k : keys) {
    if (k.direction != 1 && k.direction != -1) {
      throw Error(ErrorCode::invalid_argument, "sort direction for '" + k.path +
                                                   "' must be 1 or -1, got " +
                                                   std::to_string(k.direction));
    }
    plan.paths.push_back(make_path(k.path, "sort path"));
    plan.directions.push_back(k.direction);
  }
  return plan;
}

int compare_for_sort(const SortPlan& plan, const Value& a, const Value& b) {
  int arrays_a = 0;
  int arrays_b = 0;
  for (std::size_t i = 0; i < plan.paths.size(); ++i) {
    SortKeys ka;
    SortKeys kb;
    sort_keys(a, plan.paths[i], 0, ka);
    sort_keys(b, plan.paths[i], 0, kb);
    arrays_a += ka.saw_array ? 1 : 0;
    arrays_b += kb.saw_array ? 1 : 0;
    if (arrays_a > 1 || arrays_b > 1) {
      throw Error(ErrorCode::invalid_argument, "cannot sort on parallel arrays: document _id " +
                                                   id_text(arrays_a > 1 ? a : b) +
                                                   " has arrays at two sort paths");
    }
    int direction = plan.directions[i];
    int c = compare_keys(pick_key(ka, direction), pick_key(kb, direction));
    if (c != 0) return direction < 0 ? -c : c;
  }
  return 0;
}

int compare_for_sort(const std::vector<SortKey>& keys, const Value& a, const Value& b) {
  return compare_for_sort(parse_sort(keys), a, b);
}

std::vector<Document> find_in_memory(const std::vector<Document>& docs, const Find& q) {
  FilterNode filter = parse_filter(q.filter);
  Projection projection = parse_projection(q.projection);
  SortPlan plan = parse_sort(q.sort_keys);
  if (q.skip_n < 0) {
    throw Error(ErrorCode::invalid_argument,
                "skip must not be negative, got " + std::to_string(q.skip_n));
  }
  std::vector<Document> out;
  for (const Document& d : docs) {
    if (matches(filter, d)) out.push_back(d);
  }
  if (!q.sort_keys.empty()) {
    // compare_for_sort throws on parallel arrays, which a comparison might never reach for a
    // single document; check each once so the error does not depend on the data's order.
    for (const Document& d : out) (void)compare_for_sort(plan, d, d);
    std::stable_sort(out.begin(), out.end(), [&](const Document& x, const Document& y) {
      return compare_for_sort(plan, x, y) < 0;
    });
  }
  std::size_t skip = q.skip_n > 0 ? static_cast<std::size_t>(q.skip_n) : 0;
  if (skip >= out.size()) {
    out.clear();
  } else {
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(skip));
  }
  std::int64_t limit = q.limit_n < 0 ? -q.limit_n : q.limit_n;
  if (limit > 0 && static_cast<std::size_t>(limit) < out.size()) {
    out.resize(static_cast<std::size_t>(limit));
  }
  if (projection.active) {
    for (Document& d : out) d = apply_projection(projection, d);
  }
  return out;
}

}  // namespace sddb::query
