#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/document.h"
#include "query/evaluator.h"
#include "query/operands.h"
#include "sddb/error.h"

namespace sddb::query {

namespace {

// MongoDB refuses to pad an array past this index with $set (it would be a denial of service).
constexpr std::size_t kMaxPadIndex = 1500000;

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_argument, message);
}

std::string short_json(const Value& v) {
  try {
    std::string text = v.to_json();
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    return text;
  } catch (const Error&) {
    return std::string(Value::type_name(v.type()));
  }
}

std::string doc_name(const Value& doc) {
  const Value* id = doc.is_object() ? doc.find("_id") : nullptr;
  if (id == nullptr) return "update of a document without _id";
  return "update of document _id " + short_json(*id);
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// MongoDB 5.0+ applies update fields in this order: by component, numeric components by value
// ("a.2" before "a.10"), others byte by byte.
bool path_less(const Path& a, const Path& b) {
  for (std::size_t i = 0; i < a.parts.size() && i < b.parts.size(); ++i) {
    const std::string& x = a.parts[i];
    const std::string& y = b.parts[i];
    if (x == y) continue;
    if (all_digits(x) && all_digits(y)) {
      std::string_view xs(x);
      std::string_view ys(y);
      while (xs.size() > 1 && xs.front() == '0') xs.remove_prefix(1);
      while (ys.size() > 1 && ys.front() == '0') ys.remove_prefix(1);
      if (xs.size() != ys.size()) return xs.size() < ys.size();
      if (xs != ys) return xs < ys;
      return x < y;
    }
    return x < y;
  }
  return a.parts.size() < b.parts.size();
}

bool is_prefix(const Path& a, const Path& b) {
  if (a.parts.size() > b.parts.size()) return false;
  return std::equal(a.parts.begin(), a.parts.end(), b.parts.begin());
}

Path update_path(const std::string& key, const std::string& op) {
  Path p = make_path(key, "update path");
  for (const std::string& part : p.parts) {
    if (part.front() == '$') {
      fail("update path '" + key + "': " + op + " through '" + part +
           "' is not supported (positional and $[] operators are not implemented)");
    }
  }
  return p;
}

void check_push_arg(const Value& arg, const std::string& where) {
  if (!is_operator_object(arg)) return;
  if (arg.find("$each") == nullptr) {
    fail(where + ": $push modifiers need $each, got " + describe(arg));
  }
  for (const auto& [name, v] : arg.as_object()) {
    std::int64_t n = 0;
    if (name == "$each") {
      if (!v.is_array()) fail(where + ": $each needs an array, got " + describe(v));
    } else if (name == "$position" || name == "$slice") {
      if (!whole_number(v, n))
        fail(where + ": " + name + " needs a whole number, got " + describe(v));
    } else if (name == "$sort") {
      if (v.is_object()) {
        if (v.as_object().empty()) fail(where + ": $sort needs at least one field");
        for (const auto& [field, dir] : v.as_object()) {
          (void)make_path(field, "$push $sort path");
          if (!whole_number(dir, n) || (n != 1 && n != -1)) {
            fail(where + ": $sort direction for '" + field + "' must be 1 or -1, got " +
                 describe(dir));
          }
        }
      } else if (!whole_number(v, n) || (n != 1 && n != -1)) {
        fail(where + ": $sort needs 1, -1 or an object of fields, got " + describe(v));
      }
    } else {
      fail(where + ": unknown $push modifier " + name);
    }
  }
}

// A value $set or $push stores must be storable, as an inserted document must.
void check_stored_value(const Path& path, const Value& arg, const std::string& where, bool push) {
  if (const Value* each = push && is_operator_object(arg) ? arg.find("$each") : nullptr) {
    if (each->is_array()) {
      for (const Value& item : each->as_array()) check_stored_value(path, item, where, false);
    }
    return;
  }
  Object wrapper;
  wrapper.emplace_back(path.parts.back(), arg);
  detail::check_document(Value(std::move(wrapper)), where);
}

struct Slot {
  Value* value = nullptr;
  bool created = false;
};

// The place an operator writes at `path`, creating missing documents on the way and padding
// arrays with null. A named component on an array, or any component under a scalar, is
// MongoDB's PathNotViable.
Slot slot_for_write(Value& root, const Path& path, const std::string& doc) {
  Value* cur = &root;
  std::string parent_name = "the document";
  Slot slot;
  for (std::size_t i = 0; i < path.parts.size(); ++i) {
    const std::string& part = path.parts[i];
    bool last = i + 1 == path.parts.size();
    if (cur->is_object()) {
      Value* child = cur->find(part);
      if (child == nullptr) {
        child = &cur->set(part, last ? Value() : Value::object());
        slot.created = true;
      }
      cur = child;
    } else if (cur->is_array()) {
      if (!path.is_index(i)) {
        fail(doc + ": Cannot create field '" + part + "' in element {" + parent_name + ": " +
             short_json(*cur) + "} (path '" + path.dotted + "')");
      }
      std::size_t k = part.size() <= 9 ? std::stoul(part) : kMaxPadIndex + 1;
      if (k > kMaxPadIndex)
        fail(doc + ": array index " + part + " in '" + path.dotted + "' is too large");
      Array& arr = cur->as_array();
      if (k >= arr.size()) {
        arr.resize(k + 1);  // pads with null
        if (!last) arr[k] = Value::object();
        slot.created = true;
      }
      cur = &arr[k];
    } else {
      fail(doc + ": Cannot create field '" + part + "' in element {" + parent_name + ": " +
           short_json(*cur) + "} (path '" + path.dotted + "')");
    }
    parent_name = part;
  }
  slot.value = cur;
  return slot;
}

// The value at `path` when every component exists (no array traversal), or nullptr.
Value* find_exact(Value& root, const Path& path, std::size_t upto) {
  Value* cur = &root;
  for (std::size_t i = 0; i < upto; ++i) {
    const std::string& part = path.parts[i];
    if (cur->is_object()) {
      cur = cur->find(part);
      if (cur == nullptr) return nullptr;
    } else if (cur->is_array() && path.is_index(i) && part.size() <= 9) {
      std::size_t k = std::stoul(part);
      if (k >= cur->size()) return nullptr;
      cur = &cur->as_array()[k];
    } else {
      return nullptr;
    }
  }
  return cur;
}

void apply_unset(Value& root, const Path& path) {
  Value* parent = find_exact(root, path, path.parts.size() - 1);
  if (parent == nullptr) return;
  const std::string& last = path.parts.back();
  if (parent->is_object()) {
    parent->erase(last);
  } else if (parent->is_array() && path.is_index(path.parts.size() - 1) && last.size() <= 9) {
    std::size_t k = std::stoul(last);
    // An array keeps its length: the element becomes null.
    if (k < parent->size()) parent->as_array()[k] = Value();
  }
}

void apply_inc(Value& root, const Update::Op& op, const std::string& doc) {
  Slot slot = slot_for_write(root, op.path, doc);
  Value& target = *slot.value;
  if (slot.created) {
    target = op.arg;
    return;
  }
  if (!target.is_number()) {
    fail(doc + ": Cannot apply $inc to a value of non-numeric type: the field '" + op.path.dotted +
         "' is of type " + std::string(Value::type_name(target.type())));
  }
  if (target.is_int() && op.arg.is_int()) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(target.as_int(), op.arg.as_int(), &sum)) {
      fail(doc + ": $inc on '" + op.path.dotted + "' overflows a 64-bit integer (" +
           std::to_string(target.as_int()) + " + " + std::to_string(op.arg.as_int()) + ")");
    }
    target = sum;
  } else {
    double sum = target.as_double() + op.arg.as_double();
    if (!std::isfinite(sum)) {
      fail(doc + ": $inc on '" + op.path.dotted + "' gives a result beyond the range of a double");
    }
    target = sum;
  }
}

void sort_for_push(Array& items, const Value& spec) {
  if (spec.is_object()) {
    std::vector<SortKey> keys;
    for (const auto& [field, dir] : spec.as_object()) {
      keys.push_back({field, dir.as_double() < 0 ? -1 : 1});
    }
    SortPlan plan = parse_sort(keys);
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return compare_for_sort(plan, a, b) < 0;
    });
  } else {
    bool desc = spec.as_double() < 0;
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      int c = compare_values(a, b);
      return desc ? c > 0 : c < 0;
    });
  }
}

void apply_push(Value& root, const Update::Op& op, const std::string& doc) {
  Slot slot = slot_for_write(root, op.path, doc);
  Value& target = *slot.value;
  if (slot.created) target = Value::array();
  if (!target.is_array()) {
    fail(doc + ": The field '" + op.path.dotted + "' must be an array but is of type " +
         std::string(Value::type_name(target.type())));
  }
  Array& arr = target.as_array();
  if (!is_operator_object(op.arg)) {
    arr.push_back(op.arg);
    return;
  }
  const Array& each = op.arg.find("$each")->as_array();
  std::size_t at = arr.size();
  std::int64_t n = 0;
  if (const Value* pos = op.arg.find("$position"); pos != nullptr && whole_number(*pos, n)) {
    auto size = static_cast<std::int64_t>(arr.size());
    if (n < 0) n = std::max<std::int64_t>(0, size + n);
    at = static_cast<std::size_t>(std::min(n, size));
  }
  arr.insert(arr.begin() + static_cast<std::ptrdiff_t>(at), each.begin(), each.end());
  if (const Value* sort = op.arg.find("$sort")) sort_for_push(arr, *sort);
  if (const Value* slice = op.arg.find("$slice"); slice != nullptr && whole_number(*slice, n)) {
    auto size = static_cast<std::int64_t>(arr.size());
    if (n >= 0) {
      if (n < size) arr.resize(static_cast<std::size_t>(n));
    } else if (n > -size) {  // not -n: it overflows for the smallest int64
      arr.erase(arr.begin(), arr.begin() + static_cast<std::ptrdiff_t>(size + n));
    }
  }
}

bool pull_matches(const Update::Op& op, const Value& e) {
  if (!op.pull_by_condition) return compare_values(e, op.arg) == 0;
  if (op.pull_value_form) return matches(op.cond, e);
  return e.is_object() && matches(op.cond, e);
}

void apply_pull(Value& root, const Update::Op& op, const std::string& doc) {
  Value* target = find_exact(root, op.path, op.path.parts.size());
  if (target == nullptr) return;
  if (!target->is_array()) {
    fail(doc + ": Cannot apply $pull to a non-array value: the field '" + op.path.dotted +
         "' is of type " + std::string(Value::type_name(target->type())));
  }
  Array& arr = target->as_array();
  arr.erase(
      std::remove_if(arr.begin(), arr.end(), [&](const Value& e) { return pull_matches(op, e); }),
      arr.end());
}

Value with_id_first(Value doc) {
  Object& obj = doc.as_object();
  auto it = std::find_if(obj.begin(), obj.end(), [](const Member& m) { return m.first == "_id"; });
  if (it != obj.end() && it != obj.begin()) std::rotate(obj.begin(), it, it + 1);
  return doc;
}

void collect_equalities(const FilterNode& n, std::vector<std::pair<Path, Value>>& out) {
  if (n.kind == FilterNode::Kind::and_) {
    for (const FilterNode& c : n.children) collect_equalities(c, out);
  } else if (n.kind == FilterNode::Kind::compare && n.op == CompareOp::eq && !n.path.empty()) {
    out.emplace_back(n.path, n.operand);
  }
}

}  // namespace

Update parse_update(const Value& update, bool replacement_only) {
  if (!update.is_object()) fail("an update must be an object, got " + describe(update));
  Update u;
  const Object& obj = update.as_object();
  if (replacement_only || !is_operator_object(update)) {
    for (const auto& [key, value] : obj) {
      if (!key.empty() && key.front() == '$') {
        fail(replacement_only ? "a replacement document may not contain the operator " + key
                              : "an update document cannot mix fields and operators (" + key + ")");
      }
    }
    // What a replacement stores must be storable: no '$' or '.' in names, no NaN.
    detail::check_document(update, "replacement document");
    u.is_replacement = true;
    u.replacement = update;
    return u;
  }
  for (const auto& [name, fields] : obj) {
    if (name.empty() || name.front() != '$') {
      fail("an update document cannot mix operators and fields ('" + name + "')");
    }
    if (name != "$set" && name != "$unset" && name != "$inc" && name != "$push" &&
        name != "$pull") {
      fail("unknown update operator " + name);
    }
    if (!fields.is_object()) fail(name + " needs an object of fields, got " + describe(fields));
    for (const auto& [key, arg] : fields.as_object()) {
      Update::Op op;
      op.op = name;
      op.path = update_path(key, name);
      op.arg = arg;
      const std::string where = "update path '" + key + "': " + name;
      if (name == "$inc" && !arg.is_number()) {
        fail(where + " needs a number, got " + describe(arg));
      }
      if (name == "$inc" && arg.is_double() && !std::isfinite(arg.as_double())) {
        fail(where + " needs a finite number");
      }
      if (name == "$push") check_push_arg(arg, where);
      if (name == "$set" || name == "$push") {
        check_stored_value(op.path, arg, where, name == "$push");
      }
      if (name == "$pull" && arg.is_object()) {
        op.pull_by_condition = true;
        if (is_operator_object(arg) && arg.as_object().front().first != "$and" &&
            arg.as_object().front().first != "$or" && arg.as_object().front().first != "$nor") {
          op.pull_value_form = true;
          op.cond = parse_value_condition(arg, where);
        } else {
          op.cond = parse_filter(arg);
        }
      }
      u.ops.push_back(std::move(op));
    }
  }
  // Two operators on one path, or on a path and its prefix: MongoDB's code 40.
  for (std::size_t i = 0; i < u.ops.size(); ++i) {
    for (std::size_t j = i + 1; j < u.ops.size(); ++j) {
      const Path& a = u.ops[i].path;
      const Path& b = u.ops[j].path;
      if (is_prefix(a, b) || is_prefix(b, a)) {
        const Path& longer = a.parts.size() >= b.parts.size() ? a : b;
        const Path& shorter = a.parts.size() >= b.parts.size() ? b : a;
        fail("Updating the path '" + longer.dotted + "' would create a conflict at '" +
             shorter.dotted + "' (ConflictingUpdateOperators)");
      }
    }
  }
  std::stable_sort(u.ops.begin(), u.ops.end(), [](const Update::Op& a, const Update::Op& b) {
    return path_less(a.path, b.path);
  });
  return u;
}

Value apply_update(const Update& update, const Value& doc) {
  if (!doc.is_object()) fail("apply_update needs a document (an object), got " + describe(doc));
  const std::string name = doc_name(doc);
  const Value* old_id = doc.find("_id");
  if (update.is_replacement) {
    const Value* new_id = update.replacement.find("_id");
    if (old_id != nullptr && new_id != nullptr && !(*new_id == *old_id)) {
      fail(name +
           ": After applying the update, the (immutable) field '_id' was found to have "
           "been altered to _id: " +
           short_json(*new_id));
    }
    Object out;
    if (old_id != nullptr) {
      out.emplace_back("_id", *old_id);
    } else if (new_id != nullptr) {
      out.emplace_back("_id", *new_id);
    }
    for (const auto& m : update.replacement.as_object()) {
      if (m.first != "_id") out.push_back(m);
    }
    Value result(std::move(out));
    detail::check_document(result, name);
    return result;
  }
  Value out = doc;
  for (const Update::Op& op : update.ops) {
    if (op.op == "$set") {
      *slot_for_write(out, op.path, name).value = op.arg;
    } else if (op.op == "$unset") {
      apply_unset(out, op.path);
    } else if (op.op == "$inc") {
      apply_inc(out, op, name);
    } else if (op.op == "$push") {
      apply_push(out, op, name);
    } else if (op.op == "$pull") {
      apply_pull(out, op, name);
    } else {
      throw Error(ErrorCode::internal, "apply_update: unknown operator " + op.op);
    }
  }
  if (old_id != nullptr) {
    const Value* new_id = out.find("_id");
    if (new_id == nullptr || !(*new_id == *old_id)) {
      fail(name +
           ": Performing an update on the path '_id' would modify the immutable field "
           "'_id'");
    }
  }
  // Each value was checked on its own at parse time, but only the whole result shows the
  // nesting depth (a deep value $set deep into a document) and a new _id's type.
  detail::check_document(out, name);
  return out;
}

Value upsert_document(const FilterNode& filter, const Update& update) {
  std::vector<std::pair<Path, Value>> equalities;
  collect_equalities(filter, equalities);
  // A regex or operator object is no value to insert; MongoDB skips those too.
  std::erase_if(equalities, [](const auto& e) { return is_operator_object(e.second); });
  // Two equalities on one path, or on a path and its prefix, leave the document to insert
  // ambiguous (MongoDB's NotSingleValueField, code 54), even when they agree.
  for (std::size_t i = 0; i < equalities.size(); ++i) {
    for (std::size_t j = i + 1; j < equalities.size(); ++j) {
      const Path& a = equalities[i].first;
      const Path& b = equalities[j].first;
      if (a.parts == b.parts) {
        fail("upsert: cannot infer query fields to set, path '" + a.dotted +
             "' is matched twice (NotSingleValueField)");
      }
      if (is_prefix(a, b) || is_prefix(b, a)) {
        fail("upsert: cannot infer query fields to set, both paths '" + a.dotted + "' and '" +
             b.dotted + "' are matched (NotSingleValueField)");
      }
    }
  }
  Value base = Value::object();
  for (const auto& [path, value] : equalities) {
    *slot_for_write(base, path, "upsert").value = value;
  }
  if (update.is_replacement) {
    Object out;
    const Value* id = update.replacement.find("_id");
    if (id == nullptr) id = base.find("_id");
    if (id != nullptr) out.emplace_back("_id", *id);
    for (const auto& m : update.replacement.as_object()) {
      if (m.first != "_id") out.push_back(m);
    }
    Value result(std::move(out));
    detail::check_document(result, "upserted document");
    return result;
  }
  Value out = with_id_first(apply_update(update, base));
  detail::check_document(out, "upserted document");
  return out;
}

}  // namespace sddb::query
