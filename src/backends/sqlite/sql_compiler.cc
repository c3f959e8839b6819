#include "backends/sqlite/sql_compiler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "backends/sqlite/sqlite_connection.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

using query::CompareOp;
using query::FilterNode;

// Beyond this many ways to walk one path (each array level doubles them) the SQL would be larger
// than a residual check is slow, so the node is left to query::matches.
constexpr std::size_t kMaxBranches = 64;
// Limits on the SQL of one filter; past them the filter is checked by the evaluator alone.
// SQLite's parser stack holds 100 nested levels.
constexpr std::size_t kMaxSqlBytes = 256 * 1024;
constexpr int kMaxParenDepth = 60;
// SQLite's default limit on numbered parameters is 32766.
constexpr std::size_t kMaxParams = 30000;

// SQLite's JSON path syntax has no escapes inside a quoted key: the key is compared with the
// stored JSON text as written, so it is the JSON-escaped key without its quotes, and it cannot
// contain '"'. Returns false when the key cannot be named.
bool append_key(std::string& path, const std::string& key) {
  std::string escaped = Value(key).to_json();
  escaped = escaped.substr(1, escaped.size() - 2);
  if (escaped.find('"') != std::string::npos) return false;
  path += ".\"" + escaped + "\"";
  return true;
}

// A JSON path as SQL: a dynamic prefix (an SQL expression, empty when the path is static) and a
// static tail. Static paths stay literals so that they match the text of expression indexes.
struct PathSql {
  std::string dyn;
  std::string tail = "$";

  // Paths are only ever function arguments and || is left-associative, so no parentheses:
  // deep paths would otherwise nest deeper than SQLite's parser stack.
  std::string sql() const {
    if (dyn.empty()) return quote_literal(tail);
    if (tail.empty()) return dyn;
    return dyn + " || " + quote_literal(tail);
  }
  bool is_static() const { return dyn.empty(); }
  void append_element(const std::string& alias) {
    // The cast keeps the path well-formed when SQLite evaluates this before the guard that the
    // value is an array (terms of a WHERE may run in any order): json_each over an object has
    // text keys, which would make a JSON path syntax error, and the row is rejected anyway.
    dyn = sql() + " || '[' || CAST(" + alias + ".key AS INTEGER) || ']'";
    tail.clear();
  }
};

// One way of walking a path: the location reached, the json_each joins it needed, and the
// conditions on them. `guard` holds conditions on static paths only, which stay outside EXISTS so
// that each OR term can use an expression index on json_type(doc, path).
struct Branch {
  PathSql path;
  std::string guard;  // AND-joined, or empty
  std::string from;   // comma-joined json_each(...) AS jN, or empty
  std::string cond;   // AND-joined conditions on the joins, or empty
  bool by_name = false;
  // The location is an object whenever it exists (the document root, an element already checked
  // to be one), so walking it as an array would add SQL that can never match.
  bool object = false;
  // The location is an array that $elemMatch's document form reads as the document
  // {"0": e0, "1": e1, ...}: its first component names an element, in canonical decimal only.
  bool array_as_doc = false;
  // The dotted path from the document root when this location was reached by field names only
  // (no array element on the way); nullopt otherwise. Used to look it up in the array-free set.
  std::optional<std::string> dotted;

  void add_cond(const std::string& c) {
    std::string& target = from.empty() ? guard : cond;
    target = target.empty() ? c : target + " AND " + c;
  }
  void add_join(const std::string& table) { from = from.empty() ? table : from + ", " + table; }
};

// A candidate value as SQL: its value (json_extract semantics: strings as text, true/false as
// 1/0, arrays and objects as JSON text) and its json_type name.
struct Cand {
  std::string v;
  std::string t;
  // t again, but usable by an index on json_type (t itself carries a unary '+', which SQLite
  // reads as "do not use an index for this term": a type guard next to a value comparison must
  // leave the planner to the index on the value, or `json_type IN ('integer','real')` would
  // win over the range and read every number).
  std::string t_indexable;
};

using Pred = std::function<std::string(const Cand&)>;

// Joins terms with AND or OR as a balanced tree of parentheses: SQLite limits the depth of an
// expression tree (1000), and a flat chain of n terms is n deep, while a balanced one is log n.
std::string join_balanced(const std::vector<std::string>& terms, std::size_t begin, std::size_t end,
                          const char* op) {
  if (end - begin == 1) return terms[begin];
  const std::size_t mid = begin + (end - begin) / 2;
  return "(" + join_balanced(terms, begin, mid, op) + op + join_balanced(terms, mid, end, op) + ")";
}
std::string join_balanced(const std::vector<std::string>& terms, const char* op,
                          const char* empty) {
  if (terms.empty()) return empty;
  return join_balanced(terms, 0, terms.size(), op);
}

// Predicates built once for a probe candidate ("\x01V", "\x01T") and then written for each
// candidate; parameters are numbered (?N), so one predicate text may appear many times.
const Cand kProbe{"\x01V", "\x01T", "\x01T"};

std::string substitute(std::string s, const Cand& c) {
  for (const auto& [from, to] :
       {std::pair{std::string("\x01V"), c.v}, {std::string("\x01T"), c.t}}) {
    for (std::size_t pos = s.find(from); pos != std::string::npos;
         pos = s.find(from, pos + to.size())) {
      s.replace(pos, from.size(), to);
    }
  }
  return s;
}

struct Out {
  std::string sql;
  bool unknown = false;  // NULL means "unknown" (see sql_compiler.h)
};

bool has_numbers(const Value& v) {
  if (v.is_number()) return true;
  if (v.is_array()) {
    for (const Value& x : v.as_array()) {
      if (has_numbers(x)) return true;
    }
  }
  if (v.is_object()) {
    for (const auto& [k, x] : v.as_object()) {
      if (has_numbers(x)) return true;
    }
  }
  return false;
}

const char* sql_op(CompareOp op) {
  switch (op) {
    case CompareOp::eq:
      return "=";
    case CompareOp::gt:
      return ">";
    case CompareOp::gte:
      return ">=";
    case CompareOp::lt:
      return "<";
    case CompareOp::lte:
      return "<=";
  }
  return "=";
}

std::string json_type_name(const std::string& t) {
  if (t == "null") return "'null'";
  if (t == "bool") return "'true','false'";
  if (t == "int") return "'integer'";
  if (t == "double") return "'real'";
  if (t == "number") return "'integer','real'";
  if (t == "string") return "'text'";
  if (t == "array") return "'array'";
  if (t == "object") return "'object'";
  return {};
}

class Compiler {
 public:
  explicit Compiler(const std::set<std::string>* array_free) : array_free_(array_free) {}
  std::vector<Value> params;
  std::vector<std::pair<int, std::shared_ptr<const query::Regex>>> regex_params;

  Out node(const FilterNode& n, const Branch& base);

 private:
  int aliases_ = 0;
  const std::set<std::string>* array_free_ = nullptr;

  // The location of b is known never to be an array in this collection.
  bool never_array(const Branch& b) const {
    return array_free_ && b.dotted && array_free_->count(*b.dotted) > 0;
  }

  std::string param(Value v) {
    params.push_back(std::move(v));
    return "?" + std::to_string(params.size());
  }
  std::string alias() { return "j" + std::to_string(++aliases_); }

  std::string param_regex(const query::Regex& r) {
    params.emplace_back();
    regex_params.emplace_back(static_cast<int>(params.size()),
                              std::make_shared<const query::Regex>(r));
    return "?" + std::to_string(params.size());
  }

  static std::string emit(const Branch& b, const std::string& pred) {
    std::string inner = pred;
    if (!b.from.empty()) {
      inner = "EXISTS (SELECT 1 FROM " + b.from + " WHERE " +
              (b.cond.empty() ? std::string() : b.cond + " AND ") + pred + ")";
    }
    if (b.guard.empty()) return "(" + inner + ")";
    return "(" + b.guard + " AND " + inner + ")";
  }

  // The walks of `path` from `base`: finals are the locations reached; `missing` (when given)
  // gets one branch per way the path can end up missing, its conditions saying so.
  bool expand(const Branch& base, const query::Path& path, std::vector<Branch>& finals,
              std::vector<Branch>* missing);

  // Any candidate of the path satisfies pred. `elements`: also the elements of terminal arrays
  // reached by name.
  std::string any(const std::vector<Branch>& finals, bool elements, const Pred& pred) {
    std::vector<std::string> terms;
    auto add = [&](std::string term) { terms.push_back(std::move(term)); };
    for (const Branch& f : finals) {
      const std::string p = f.path.sql();
      add(emit(f, pred({"json_extract(doc, " + p + ")", "+json_type(doc, " + p + ")",
                        "json_type(doc, " + p + ")"})));
      if (elements && f.by_name && !never_array(f)) {
        Branch e = f;
        const std::string a = alias();
        e.add_cond("json_type(doc, " + p + ") = 'array'");
        e.add_join("json_each(doc, " + p + ") AS " + a);
        add(emit(e, pred({a + ".value", a + ".type", a + ".type"})));
      }
    }
    return join_balanced(terms, " OR ", "0");
  }

  std::string any_missing(const std::vector<Branch>& missing) {
    std::string out;
    for (const Branch& m : missing) out += (out.empty() ? "" : " OR ") + emit(m, "1");
    return out.empty() ? "0" : "(" + out + ")";
  }

  // The predicate of equality with `operand` on one candidate; empty when it cannot be exact
  // (then *unknown_type names the json_type of the candidates that might match).
  std::string eq_pred(const Value& operand, const Cand& c, std::string* unknown_type);

  // SQL that is 1 when the JSON at `path` inside the JSON text `v` equals `x` by MongoDB's
  // equality (numbers by value, members in order). Empty when over `budget` terms or a key cannot
  // be named in a JSON path.
  std::string structural_eq(const Value& x, const std::string& v, const std::string& path,
                            std::size_t& budget);

  Out leaf(const FilterNode& n, const Branch& base);
  Out compare(const FilterNode& n, const std::vector<Branch>& finals,
              const std::vector<Branch>& missing);
  Out elem_match(const FilterNode& n, const std::vector<Branch>& finals);
  Out combine(const std::vector<Out>& parts, const char* op, const char* empty);
};

bool Compiler::expand(const Branch& base, const query::Path& path, std::vector<Branch>& finals,
                      std::vector<Branch>* missing) {
  std::vector<Branch> cur{base};
  for (std::size_t i = 0; i < path.parts.size(); ++i) {
    const std::string& part = path.parts[i];
    std::string key;
    if (!append_key(key, part)) return false;
    std::vector<Branch> next;
    for (const Branch& b : cur) {
      const std::string p = b.path.sql();
      if (b.array_as_doc) {
        const bool canonical = !part.empty() && part.size() <= 9 &&
                               part.find_first_not_of("0123456789") == std::string::npos &&
                               (part == "0" || part[0] != '0');
        if (!canonical) {
          if (missing) missing->push_back(b);  // no such field, ever
          continue;
        }
        Branch named = b;
        named.array_as_doc = false;
        named.object = false;
        named.by_name = true;  // a field of a document: a terminal array is expanded
        named.path.tail += "[" + part + "]";
        named.dotted.reset();
        if (missing) {
          Branch m = b;
          m.add_cond("json_type(doc, " + named.path.sql() + ") IS NULL");
          missing->push_back(std::move(m));
        }
        next.push_back(std::move(named));
        continue;
      }
      // b as an object: its field. Arrays and scalars have no field, so json_type is NULL there.
      Branch named = b;
      named.path.tail += key;
      named.by_name = true;
      if (b.dotted) named.dotted = b.dotted->empty() ? part : *b.dotted + "." + part;
      if (missing) {
        // A scalar, null or object without the field: missing. Arrays are walked below instead.
        Branch m = b;
        m.add_cond("json_type(doc, " + p + ") IS NOT NULL AND json_type(doc, " + p +
                   ") <> 'array' AND json_type(doc, " + named.path.sql() + ") IS NULL");
        missing->push_back(std::move(m));
      }
      named.object = false;
      next.push_back(std::move(named));
      if (b.object || never_array(b)) continue;
      // b as an array: the field of each element that is an object (not of nested arrays).
      Branch elem = b;
      const std::string a = alias();
      elem.add_cond("json_type(doc, " + p + ") = 'array'");
      elem.add_join("json_each(doc, " + p + ") AS " + a);
      elem.add_cond(a + ".type = 'object'");
      elem.path.append_element(a);
      elem.object = true;
      elem.dotted.reset();
      Branch elem_named = elem;
      elem_named.path.tail += key;
      elem_named.by_name = true;
      elem_named.object = false;
      if (missing) {
        Branch m = elem;
        m.add_cond("json_type(doc, " + elem_named.path.sql() + ") IS NULL");
        missing->push_back(std::move(m));
      }
      next.push_back(std::move(elem_named));
      // b as an array and the component a number: also the element at that index.
      if (path.is_index(i) && part.size() <= 9) {
        Branch indexed = b;
        indexed.path.tail += "[" + std::to_string(std::stol(part)) + "]";
        indexed.by_name = false;
        indexed.dotted.reset();
        next.push_back(std::move(indexed));
      }
    }
    cur = std::move(next);
    if (cur.size() > kMaxBranches) return false;
  }
  finals = std::move(cur);
  return true;
}

std::string Compiler::eq_pred(const Value& operand, const Cand& c, std::string* unknown_type) {
  switch (operand.type()) {
    case Value::Type::null:
      return "(" + c.t + " = 'null')";
    case Value::Type::boolean:
      return "(" + c.t + (operand.as_bool() ? " = 'true')" : " = 'false')");
    case Value::Type::integer:
    case Value::Type::real: {
      if (operand.is_double() && std::isnan(operand.as_double())) return "0";  // cannot be stored
      // Only true and false (read as 1 and 0) can equal a number without being one, so other
      // numbers need no type guard, and each row found through the value index is decided there.
      const double d = operand.as_double();
      if (d != 0 && d != 1) return "(" + c.v + " = " + param(operand) + ")";
      return "(" + c.v + " = " + param(operand) + " AND " + c.t + " IN ('integer','real'))";
    }
    case Value::Type::string: {
      // A text value equal to the operand is a string, unless the operand could be the JSON text
      // of an array or object, which json_extract also returns as text.
      const std::string& str = operand.as_string();
      if (str.empty() || (str[0] != '[' && str[0] != '{')) {
        return "(" + c.v + " = " + param(operand) + ")";
      }
      return "(" + c.v + " = " + param(operand) + " AND " + c.t + " = 'text')";
    }
    case Value::Type::array:
    case Value::Type::object: {
      const char* type = operand.is_array() ? "'array'" : "'object'";
      if (has_numbers(operand)) {
        // Numbers compare by value (1 == 1.0) inside arrays and objects, so the text cannot be
        // compared: the structure is, member by member. CASE makes sure the JSON functions only
        // ever see JSON text (an array or object candidate), whatever order SQLite picks.
        std::size_t budget = 200;
        std::string structural = structural_eq(operand, c.v, "$", budget);
        if (structural.empty()) {
          *unknown_type = type;
          return {};
        }
        return "(CASE WHEN " + c.t + " = " + type + " THEN " + structural + " ELSE 0 END)";
      }
      // Without numbers, MongoDB's equality is equality of the compact JSON text: same order,
      // same members, and the stored text is Value::to_json's, as is the operand's.
      return "(" + c.v + " = " + param(Value(operand.to_json())) + " AND " + c.t + " = " + type +
             ")";
    }
  }
  return "0";
}

std::string Compiler::structural_eq(const Value& x, const std::string& v, const std::string& path,
                                    std::size_t& budget) {
  if (budget == 0) return {};
  --budget;
  const std::string p = quote_literal(path);
  const std::string t = "json_type(" + v + ", " + p + ")";
  switch (x.type()) {
    case Value::Type::null:
      return "(" + t + " = 'null')";
    case Value::Type::boolean:
      return "(" + t + (x.as_bool() ? " = 'true')" : " = 'false')");
    case Value::Type::integer:
    case Value::Type::real:
      if (x.is_double() && std::isnan(x.as_double())) return "0";
      return "(" + t + " IN ('integer','real') AND json_extract(" + v + ", " + p +
             ") = " + param(x) + ")";
    case Value::Type::string:
      return "(" + t + " = 'text' AND json_extract(" + v + ", " + p + ") = " + param(x) + ")";
    case Value::Type::array: {
      std::string out = "(" + t + " = 'array' AND json_array_length(" + v + ", " + p +
                        ") = " + std::to_string(x.size());
      std::size_t i = 0;
      for (const Value& item : x.as_array()) {
        std::string sub = structural_eq(item, v, path + "[" + std::to_string(i++) + "]", budget);
        if (sub.empty()) return {};
        out += " AND " + sub;
      }
      return out + ")";
    }
    case Value::Type::object: {
      std::string out = "(" + t + " = 'object' AND (SELECT count(*) FROM json_each(" + v + ", " +
                        p + ")) = " + std::to_string(x.size());
      std::size_t i = 0;
      for (const auto& [key, item] : x.as_object()) {
        std::string member = path;
        if (!append_key(member, key)) return {};
        // Same member at the same position: MongoDB compares embedded documents in order.
        out += " AND (SELECT key FROM json_each(" + v + ", " + p + ") LIMIT 1 OFFSET " +
               std::to_string(i++) + ") = " + param(Value(key));
        std::string sub = structural_eq(item, v, member, budget);
        if (sub.empty()) return {};
        out += " AND " + sub;
      }
      return out + ")";
    }
  }
  return {};
}

Out Compiler::compare(const FilterNode& n, const std::vector<Branch>& finals,
                      const std::vector<Branch>& missing) {
  const Value& x = n.operand;
  // Equality (and $gte/$lte null) with null also matches where the path is missing.
  const bool null_like =
      x.is_null() && (n.op == CompareOp::eq || n.op == CompareOp::gte || n.op == CompareOp::lte);
  if (null_like) {
    return {"(" + any(finals, true, [](const Cand& c) { return "(" + c.t + " = 'null')"; }) +
            " OR " + any_missing(missing) + ")"};
  }
  if (n.op == CompareOp::eq) {
    std::string unknown_type;
    // Parameters are numbered, so one predicate text may be used by several branches.
    std::string pred_text;
    pred_text = eq_pred(x, kProbe, &unknown_type);
    if (!unknown_type.empty()) {
      return {"CASE WHEN " +
                  any(finals, true,
                      [&](const Cand& c) { return "(" + c.t + " = " + unknown_type + ")"; }) +
                  " THEN NULL ELSE 0 END",
              true};
    }
    auto pred = [&pred_text](const Cand& c) { return substitute(pred_text, c); };
    return {any(finals, true, pred)};
  }
  // Ranges: type bracketing, so each operand type compares only with its own class.
  const char* op = sql_op(n.op);
  switch (x.type()) {
    case Value::Type::null:
      return {"0"};  // $gt/$lt null: nothing is above or below null in its class
    case Value::Type::boolean: {
      // false < true; the two booleans are their own class.
      const bool b = x.as_bool();
      std::string types;
      switch (n.op) {
        case CompareOp::gt:
          types = b ? "" : "'true'";
          break;
        case CompareOp::gte:
          types = b ? "'true'" : "'true','false'";
          break;
        case CompareOp::lt:
          types = b ? "'false'" : "";
          break;
        case CompareOp::lte:
          types = b ? "'true','false'" : "'false'";
          break;
        case CompareOp::eq:
          break;
      }
      if (types.empty()) return {"0"};
      return {any(finals, true, [&](const Cand& c) { return "(" + c.t + " IN (" + types + "))"; })};
    }
    case Value::Type::integer:
    case Value::Type::real: {
      if (x.is_double() && std::isnan(x.as_double())) return {"0"};
      const std::string p = param(x);
      // Every number sorts below every text in SQLite, so "< ''" bounds an index range scan
      // above without changing the result.
      const bool lower = n.op == CompareOp::gt || n.op == CompareOp::gte;
      // Text and JSON text sort above every number and null is no number, so the only values in
      // range that are not numbers are true and false (read as 1 and 0): without those in the
      // range, the type guard is not needed.
      const double d = x.as_double();
      const bool holds_bool =
          (n.op == CompareOp::gt && d < 1) || (n.op == CompareOp::gte && d <= 1) ||
          (n.op == CompareOp::lt && d > 0) || (n.op == CompareOp::lte && d >= 0);
      return {any(finals, true, [&](const Cand& c) {
        return "(" + c.v + " " + op + " " + p + (lower ? " AND " + c.v + " < ''" : "") +
               (holds_bool ? " AND " + c.t + " IN ('integer','real'))" : ")");
      })};
    }
    case Value::Type::string: {
      const std::string p = param(x);
      return {any(finals, true, [&](const Cand& c) {
        return "(" + c.v + " " + op + " " + p + " AND " + c.t + " = 'text')";
      })};
    }
    case Value::Type::array:
    case Value::Type::object: {
      // MongoDB compares these in full BSON order, element by element; left to the evaluator.
      const std::string type = x.is_array() ? "'array'" : "'object'";
      return {"CASE WHEN " +
                  any(finals, true, [&](const Cand& c) { return "(" + c.t + " = " + type + ")"; }) +
                  " THEN NULL ELSE 0 END",
              true};
    }
  }
  return {"0"};
}

Out Compiler::elem_match(const FilterNode& n, const std::vector<Branch>& finals) {
  // Only the arrays on the path themselves, never the elements of a terminal array.
  std::string matched, unknown;
  bool any_unknown = false;
  for (const Branch& f : finals) {
    const std::string p = f.path.sql();
    Branch e = f;
    const std::string a = alias();
    e.add_cond("json_type(doc, " + p + ") = 'array'");
    e.add_join("json_each(doc, " + p + ") AS " + a);
    auto add = [&](const Branch& on, const Branch& base) {
      std::vector<Out> kids;
      for (const FilterNode& c : n.children) kids.push_back(node(c, base));
      Out all = combine(kids, " AND ", "1");
      if (all.unknown) {
        matched += (matched.empty() ? "" : " OR ") + emit(on, "(" + all.sql + ") IS 1");
        unknown += (unknown.empty() ? "" : " OR ") + emit(on, "(" + all.sql + ") IS NULL");
        any_unknown = true;
      } else {
        matched += (matched.empty() ? "" : " OR ") + emit(on, all.sql);
      }
    };
    Branch elem;  // dotted stays nullopt: an element is not reached by field names
    elem.path = f.path;
    elem.path.append_element(a);
    elem.by_name = false;
    if (n.elem_value_form) {
      add(e, elem);
      continue;
    }
    // Document form: object elements are documents; array elements are read by MongoDB as the
    // documents {"0": e0, ...}; scalars never match.
    Branch on_object = e, on_array = e;
    on_object.add_cond(a + ".type = 'object'");
    on_array.add_cond(a + ".type = 'array'");
    Branch object_base = elem, array_base = elem;
    object_base.object = true;
    array_base.array_as_doc = true;
    add(on_object, object_base);
    add(on_array, array_base);
  }
  if (matched.empty()) return {"0"};
  if (!any_unknown) return {"(" + matched + ")"};
  return {"CASE WHEN " + matched + " THEN 1 WHEN " + unknown + " THEN NULL ELSE 0 END", true};
}

// An _id equality or $in whose operands are all strings: at the document root, a search of the
// primary key (every stored _id is a string, equal to the key column).
bool is_key_term(const FilterNode& n) {
  if (n.path.parts.size() != 1 || n.path.parts[0] != "_id" || !n.regexes.empty()) return false;
  if (n.kind == FilterNode::Kind::compare) {
    return n.op == query::CompareOp::eq && n.operand.is_string();
  }
  return n.kind == FilterNode::Kind::in && !n.operand.as_array().empty() &&
         std::all_of(n.operand.as_array().begin(), n.operand.as_array().end(),
                     [](const Value& v) { return v.is_string(); });
}

Out Compiler::combine(const std::vector<Out>& parts, const char* op, const char* empty) {
  if (parts.empty()) return {empty};
  bool unknown = false;
  for (const Out& p : parts) unknown = unknown || p.unknown;
  std::vector<std::string> terms;
  for (const Out& p : parts) {
    // In an exact expression NULL means false; next to an unknown one it must say so.
    terms.push_back(unknown && !p.unknown ? "coalesce(" + p.sql + ", 0)" : "(" + p.sql + ")");
  }
  return {join_balanced(terms, op, empty), unknown};
}

Out Compiler::leaf(const FilterNode& n, const Branch& base) {
  using Kind = FilterNode::Kind;
  // _id at the document root is the table's primary key (every stored _id is a string, equal
  // to the column), so equality and $in with strings search the key instead of reading every
  // document. Other operands take the general path below.
  if (base.dotted && base.dotted->empty() && base.from.empty() && base.path.is_static() &&
      base.path.tail == "$" && is_key_term(n)) {
    if (n.kind == Kind::compare) return {"_id = " + param(n.operand)};
    std::string list;
    for (const Value& v : n.operand.as_array()) list += (list.empty() ? "" : ", ") + param(v);
    return {"_id IN (" + list + ")"};
  }
  std::vector<Branch> finals, missing;
  const bool wants_missing = n.kind == Kind::compare || n.kind == Kind::in;
  if (!expand(base, n.path, finals, wants_missing ? &missing : nullptr)) {
    return {"NULL", true};
  }
  switch (n.kind) {
    case Kind::compare:
      return compare(n, finals, missing);
    case Kind::in: {
      bool has_null = false;
      std::string unknown_types;
      std::vector<std::string> preds;
      // Numbers and strings go into one IN list each: one indexable term, however long the list.
      std::vector<std::string> numbers, strings;
      for (const Value& v : n.operand.as_array()) {
        if (v.is_null()) has_null = true;
        if (v.is_number() && !(v.is_double() && std::isnan(v.as_double()))) {
          numbers.push_back(param(v));
          continue;
        }
        if (v.is_string()) {
          strings.push_back(param(v));
          continue;
        }
        std::string unknown_type;
        std::string p = eq_pred(v, kProbe, &unknown_type);
        if (!unknown_type.empty()) {
          if (unknown_types.find(unknown_type) == std::string::npos) {
            unknown_types += (unknown_types.empty() ? "" : ",") + unknown_type;
          }
        } else {
          preds.push_back(p);
        }
      }
      auto list = [](const std::vector<std::string>& items) {
        std::string out;
        for (const std::string& i : items) out += (out.empty() ? "" : ", ") + i;
        return out;
      };
      if (!numbers.empty()) {
        preds.push_back("(\x01V IN (" + list(numbers) + ") AND \x01T IN ('integer','real'))");
      }
      if (!strings.empty()) {
        preds.push_back("(\x01V IN (" + list(strings) + ") AND \x01T = 'text')");
      }
      for (const query::Regex& r : n.regexes) {
        preds.push_back("(\x01T = 'text' AND \x01V REGEXP " + param_regex(r) + ")");
      }
      std::string exact;
      if (!preds.empty()) {
        exact = any(finals, true, [&](const Cand& c) {
          std::vector<std::string> terms;
          for (const std::string& p : preds) terms.push_back(substitute(p, c));
          return "(" + join_balanced(terms, " OR ", "0") + ")";
        });
      }
      if (has_null) exact = (exact.empty() ? "" : exact + " OR ") + any_missing(missing);
      if (exact.empty()) exact = "0";
      if (unknown_types.empty()) return {exact};
      return {"CASE WHEN " + exact + " THEN 1 WHEN " +
                  any(finals, true,
                      [&](const Cand& c) { return "(" + c.t + " IN (" + unknown_types + "))"; }) +
                  " THEN NULL ELSE 0 END",
              true};
    }
    case Kind::exists: {
      std::string present = any(finals, false, [](const Cand& c) { return c.t + " IS NOT NULL"; });
      if (n.operand.is_bool() && !n.operand.as_bool()) return {"NOT coalesce(" + present + ", 0)"};
      return {present};
    }
    case Kind::regex: {
      if (n.regexes.empty()) return {"0"};
      const std::string pat = param_regex(n.regexes.front());
      return {any(finals, true, [&](const Cand& c) {
        return "(" + c.t + " = 'text' AND " + c.v + " REGEXP " + pat + ")";
      })};
    }
    case Kind::size: {
      const std::string p = param(n.operand);
      std::string out;
      for (const Branch& f : finals) {
        const std::string path = f.path.sql();
        out += (out.empty() ? "" : " OR ") +
               emit(f, "(json_array_length(doc, " + path + ") = " + p + " AND json_type(doc, " +
                           path + ") = 'array')");
      }
      return {out.empty() ? "0" : "(" + out + ")"};
    }
    case Kind::type: {
      std::string scalar_types;
      bool array = false;
      for (const std::string& t : n.types) {
        if (t == "array") {
          array = true;
          continue;
        }
        std::string j = json_type_name(t);
        if (!j.empty()) scalar_types += (scalar_types.empty() ? "" : ",") + j;
      }
      std::string out;
      if (!scalar_types.empty()) {
        out = any(finals, true, [&](const Cand& c) {
          return "(" + c.t_indexable + " IN (" + scalar_types + "))";
        });
      }
      if (array) {
        // $type: "array" asks about the field itself, not about its elements.
        out += (out.empty() ? "" : " OR ") + any(finals, false, [](const Cand& c) {
                 return "(" + c.t_indexable + " = 'array')";
               });
      }
      return {out.empty() ? "0" : "(" + out + ")"};
    }
    case Kind::elem_match:
      return elem_match(n, finals);
    default:
      break;
  }
  return {"NULL", true};
}

Out Compiler::node(const FilterNode& n, const Branch& base) {
  using Kind = FilterNode::Kind;
  switch (n.kind) {
    case Kind::always:
      return {"1"};
    case Kind::and_:
    case Kind::all: {
      // $all: [] matches nothing; an empty $and is not accepted by the parser.
      std::vector<Out> kids;
      for (const FilterNode& c : n.children) kids.push_back(node(c, base));
      return combine(kids, " AND ", n.kind == Kind::all ? "0" : "1");
    }
    case Kind::or_: {
      std::vector<Out> kids;
      for (const FilterNode& c : n.children) kids.push_back(node(c, base));
      return combine(kids, " OR ", "0");
    }
    case Kind::nor:
    case Kind::not_: {
      std::vector<Out> kids;
      for (const FilterNode& c : n.children) kids.push_back(node(c, base));
      Out inner = combine(kids, " OR ", "0");
      // Negation is the complement over the whole document, so NULL ("false" when exact) must
      // become 0 first; an unknown stays unknown.
      if (inner.unknown) return {"(NOT " + inner.sql + ")", true};
      return {"(NOT coalesce(" + inner.sql + ", 0))"};
    }
    default:
      return leaf(n, base);
  }
}

// ---------------------------------------------------------------------------------------------
// regexp(pattern, value)

void regexp_function(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  // Only strings can match; json_extract gives numbers for numbers and booleans.
  if (sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  const char* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  const std::string_view value(text, static_cast<std::size_t>(sqlite3_value_bytes(argv[1])));
  // No exception may cross into SQLite: a bad pattern or a match past PCRE2's limits becomes an
  // SQL error that the connection turns back into Error(invalid_argument).
  try {
    if (auto* re =
            static_cast<const query::Regex*>(sqlite3_value_pointer(argv[0], kRegexPointerType))) {
      sqlite3_result_int(ctx, query::regex_search(*re, value) ? 1 : 0);
      return;
    }
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
      sqlite3_result_int(ctx, 0);
      return;
    }
    // A pattern given as text (hand-written SQL): compiled once per statement.
    auto* cached = static_cast<const query::Regex*>(sqlite3_get_auxdata(ctx, 0));
    if (!cached) {
      const std::string_view pattern(reinterpret_cast<const char*>(sqlite3_value_text(argv[0])),
                                     static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
      auto fresh = std::make_unique<query::Regex>(query::make_regex(pattern, "", "SQL regexp()"));
      // SQLite owns the regex from here and may free it at once, so it is read back.
      sqlite3_set_auxdata(ctx, 0, fresh.release(),
                          [](void* p) { delete static_cast<query::Regex*>(p); });
      cached = static_cast<const query::Regex*>(sqlite3_get_auxdata(ctx, 0));
      if (!cached) {
        sqlite3_result_error_nomem(ctx);
        return;
      }
    }
    sqlite3_result_int(ctx, query::regex_search(*cached, value) ? 1 : 0);
  } catch (const Error& e) {
    const std::string msg = std::string(kInvalidArgumentPrefix) + e.what();
    sqlite3_result_error(ctx, msg.c_str(), -1);
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(ctx);
  }
}

int paren_depth(const std::string& sql) {
  int depth = 0, max_depth = 0;
  bool in_literal = false;
  for (char c : sql) {
    if (c == '\'') in_literal = !in_literal;
    if (in_literal) continue;
    if (c == '(') max_depth = std::max(max_depth, ++depth);
    if (c == ')') --depth;
  }
  return max_depth;
}

}  // namespace

std::string json_path_literal(const std::vector<std::string>& parts) {
  std::string path = "$";
  for (const std::string& p : parts) {
    if (!append_key(path, p)) return {};
  }
  return quote_literal(path);
}

bool searches_key(const query::FilterNode& filter) {
  if (filter.kind == FilterNode::Kind::and_) {
    return std::any_of(filter.children.begin(), filter.children.end(),
                       [](const FilterNode& c) { return searches_key(c); });
  }
  return is_key_term(filter);
}

CompiledFilter compile_filter(const query::FilterNode& filter,
                              const std::set<std::string>* array_free) {
  Compiler c(array_free);
  Branch root;
  root.object = true;
  root.dotted = std::string();
  Out out = c.node(filter, root);
  CompiledFilter result;
  if (out.sql.size() > kMaxSqlBytes || paren_depth(out.sql) > kMaxParenDepth ||
      c.params.size() > kMaxParams) {
    // Deeply nested $elemMatch over paths with many array levels: SQL this large would parse
    // slower than the evaluator runs, or overflow SQLite's parser stack. The whole filter is
    // left to the residual check.
    result.sql = "NULL";
    result.exact = false;
    result.inexact_reason = "the filter is too deeply nested for SQL";
    return result;
  }
  result.sql = std::move(out.sql);
  result.params = std::move(c.params);
  result.regex_params = std::move(c.regex_params);
  result.exact = !out.unknown;
  if (!result.exact) result.inexact_reason = "part of the filter is checked by the evaluator";
  return result;
}

void bind_filter(sqlite3_stmt* stmt, const CompiledFilter& filter) {
  for (std::size_t i = 0; i < filter.params.size(); ++i) {
    const Value& v = filter.params[i];
    const int index = static_cast<int>(i + 1);
    switch (v.type()) {
      case Value::Type::null:
        sqlite3_bind_null(stmt, index);
        break;
      case Value::Type::boolean:
        sqlite3_bind_int(stmt, index, v.as_bool() ? 1 : 0);
        break;
      case Value::Type::integer:
        sqlite3_bind_int64(stmt, index, v.as_int());
        break;
      case Value::Type::real:
        sqlite3_bind_double(stmt, index, v.as_double());
        break;
      default: {
        const std::string text = v.is_string() ? v.as_string() : v.to_json();
        sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
      }
    }
  }
  for (const auto& [index, re] : filter.regex_params) {
    sqlite3_bind_pointer(stmt, index, const_cast<query::Regex*>(re.get()), kRegexPointerType,
                         nullptr);
  }
}

void register_sql_functions(sqlite3* db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function_v2(db, "regexp", 2, flags, nullptr, regexp_function, nullptr,
                                      nullptr, nullptr);
  if (rc != SQLITE_OK) {
    throw Error(ErrorCode::internal, "cannot register the SQLite function regexp");
  }
}

}  // namespace sddb::detail
