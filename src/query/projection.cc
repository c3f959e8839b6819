#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "query/evaluator.h"
#include "sddb/error.h"

namespace sddb::query {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_argument, message);
}

// The projected paths as a tree, so one pass over a document serves every path. (A vector of
// the incomplete Node itself is allowed; a vector of pairs holding it is not.)
struct Node {
  std::string name;
  bool leaf = false;
  std::vector<Node> kids;

  const Node* find(const std::string& n) const {
    for (const Node& kid : kids) {
      if (kid.name == n) return &kid;
    }
    return nullptr;
  }
  Node& child(const std::string& n) {
    for (Node& kid : kids) {
      if (kid.name == n) return kid;
    }
    kids.push_back(Node{n, false, {}});
    return kids.back();
  }
};

Node build_tree(const Projection& p) {
  Node root;
  for (const Path& path : p.paths) {
    Node* cur = &root;
    for (const std::string& part : path.parts) cur = &cur->child(part);
    cur->leaf = true;
  }
  return root;
}

std::optional<Value> include_value(const Value& v, const Node& node);

Object include_object(const Object& src, const Node& node) {
  Object out;
  for (const auto& [name, v] : src) {
    const Node* kid = node.find(name);
    if (kid == nullptr) continue;
    if (kid->leaf) {
      out.emplace_back(name, v);
    } else if (auto sub = include_value(v, *kid)) {
      out.emplace_back(name, std::move(*sub));
    }
  }
  return out;
}

// A dotted inclusion keeps the nesting: documents keep the selected fields (and stay, even
// empty), arrays keep their document and array elements, scalars below the path disappear.
std::optional<Value> include_value(const Value& v, const Node& node) {
  if (v.is_object()) return Value(include_object(v.as_object(), node));
  if (v.is_array()) {
    Array out;
    for (const Value& e : v.as_array()) {
      if (e.is_object() || e.is_array()) {
        if (auto sub = include_value(e, node)) out.push_back(std::move(*sub));
      }
    }
    return Value(std::move(out));
  }
  return std::nullopt;
}

void exclude_value(Value& v, const Node& node);

void exclude_object(Value& obj, const Node& node) {
  for (const Node& kid : node.kids) {
    if (kid.leaf) {
      obj.erase(kid.name);
    } else if (Value* child = obj.find(kid.name)) {
      exclude_value(*child, kid);
    }
  }
}

void exclude_value(Value& v, const Node& node) {
  if (v.is_object()) {
    exclude_object(v, node);
  } else if (v.is_array()) {
    for (Value& e : v.as_array()) exclude_value(e, node);
  }
}

bool is_prefix(const Path& a, const Path& b) {
  if (a.parts.size() > b.parts.size()) return false;
  for (std::size_t i = 0; i < a.parts.size(); ++i) {
    if (a.parts[i] != b.parts[i]) return false;
  }
  return true;
}

}  // namespace

Projection parse_projection(const Value& projection) {
  Projection p;
  if (projection.is_null()) return p;
  if (!projection.is_object()) {
    fail("a projection must be an object, got " + std::string(Value::type_name(projection.type())));
  }
  if (projection.as_object().empty()) return p;
  bool mode_set = false;
  for (const auto& [key, v] : projection.as_object()) {
    bool include = false;
    if (v.is_bool()) {
      include = v.as_bool();
    } else if (v.is_number()) {
      include = v.as_double() != 0.0;
    } else {
      fail("projection field '" + key + "' needs 1, 0, true or false; got " +
           std::string(Value::type_name(v.type())) +
           " (projection operators such as $slice and $elemMatch are not supported)");
    }
    Path path = make_path(key, "projection path");
    for (const std::string& part : path.parts) {
      if (part.front() == '$') {
        fail("projection path '" + key + "': positional and $ operators are not supported");
      }
    }
    if (key == "_id") {
      p.include_id = include;
      continue;
    }
    if (!mode_set) {
      p.inclusion = include;
      mode_set = true;
    } else if (p.inclusion != include) {
      fail(p.inclusion
               ? "Cannot do exclusion on field '" + key + "' in inclusion projection (code 31254)"
               : "Cannot do inclusion on field '" + key + "' in exclusion projection (code 31253)");
    }
    for (const Path& other : p.paths) {
      if (is_prefix(other, path) || is_prefix(path, other)) {
        const Path& longer = other.parts.size() > path.parts.size() ? other : path;
        const Path& shorter = other.parts.size() > path.parts.size() ? path : other;
        fail("projection path collision at '" + longer.dotted + "': '" + shorter.dotted +
             "' is projected too");
      }
    }
    p.paths.push_back(std::move(path));
  }
  // {_id: 1} alone keeps only _id; {_id: 0} alone removes only _id.
  if (!mode_set) p.inclusion = p.include_id;
  p.active = true;
  return p;
}

Value apply_projection(const Projection& projection, const Value& doc) {
  if (!projection.active || !doc.is_object()) return doc;
  Node tree = build_tree(projection);
  if (projection.inclusion) {
    if (projection.include_id && tree.find("_id") == nullptr) tree.child("_id").leaf = true;
    return Value(include_object(doc.as_object(), tree));
  }
  Value out = doc;
  exclude_object(out, tree);
  if (!projection.include_id) out.erase("_id");
  return out;
}

}  // namespace sddb::query
