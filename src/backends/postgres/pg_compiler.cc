#include "backends/postgres/pg_compiler.h"

#include <cmath>
#include <optional>
#include <utility>

#include "backends/postgres/pg_connection.h"

namespace sddb::detail {

namespace {

using query::CompareOp;
using query::FilterNode;

struct Part {
  std::string sql;  // "TRUE" when it selects everything
  bool exact = true;
};

const Part kAll{"TRUE", false};  // no pre-filter: every row is a candidate

// A JSON string literal, which jsonpath reads with the same escapes.
void append_json_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// The jsonpath of a dotted path, or nothing when a component may be an array index (MongoDB
// reads "a.0" as index and as field name) or holds a NUL, which PostgreSQL text cannot carry.
std::optional<std::string> json_path(const query::Path& path) {
  if (path.parts.empty()) return std::nullopt;
  std::string out = "$";
  for (std::size_t i = 0; i < path.parts.size(); ++i) {
    if (path.is_index(i) || path.parts[i].find('\0') != std::string::npos) return std::nullopt;
    out += '.';
    append_json_string(out, path.parts[i]);
  }
  return out;
}

// A scalar operand as a jsonpath literal, when jsonb compares it as the evaluator does (see the
// header): strings without NUL, booleans, and numbers of magnitude below 2^53, where the shortest
// decimal that a stored double is written as orders exactly as the double does.
std::optional<std::string> literal(const Value& v) {
  constexpr double kExact = 9007199254740992.0;  // 2^53
  std::string out;
  switch (v.type()) {
    case Value::Type::string:
      if (v.as_string().find('\0') != std::string::npos) return std::nullopt;
      append_json_string(out, v.as_string());
      return out;
    case Value::Type::boolean:
      return std::string(v.as_bool() ? "true" : "false");
    case Value::Type::integer: {
      const std::int64_t i = v.as_int();
      if (i >= 9007199254740992LL || i <= -9007199254740992LL) return std::nullopt;
      return std::to_string(i);
    }
    case Value::Type::real: {
      const double d = v.as_double();
      if (!std::isfinite(d) || std::fabs(d) >= kExact) return std::nullopt;
      return v.to_json();
    }
    default:
      return std::nullopt;
  }
}

bool is_id(const query::Path& p) { return p.parts.size() == 1 && p.parts[0] == "_id"; }

// A PostgreSQL text[] literal.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

class Compiler {
 public:
  Compiler(int first_param, const std::set<std::string>* range_indexed)
      : next_(first_param), range_indexed_(range_indexed) {}

  std::vector<std::string> params;

  Part node(const FilterNode& n) {
    switch (n.kind) {
      case FilterNode::Kind::always:
        return {"TRUE", true};
      case FilterNode::Kind::and_:
        return all_of(n.children);
      case FilterNode::Kind::or_:
        return any_of(n.children);
      case FilterNode::Kind::nor: {
        const std::size_t mark = params.size();
        Part any = any_of(n.children);
        if (!any.exact) return rollback(mark);
        return {"NOT " + any.sql, true};
      }
      case FilterNode::Kind::not_: {
        const std::size_t mark = params.size();
        Part p = node(n.children.at(0));
        if (!p.exact) return rollback(mark);
        return {"NOT (" + p.sql + ")", true};
      }
      case FilterNode::Kind::compare:
        return compare(n);
      case FilterNode::Kind::in:
        return in(n);
      case FilterNode::Kind::exists: {
        if (!n.operand.is_bool() || !n.operand.as_bool()) return kAll;
        std::optional<std::string> path = json_path(n.path);
        if (!path) return kAll;
        return {"body @? " + param(*path) + "::jsonpath", false};
      }
      case FilterNode::Kind::all: {
        if (n.children.empty()) return {"FALSE", true};
        Part p = all_of(n.children);
        p.exact = false;
        return p;
      }
      default:
        return kAll;
    }
  }

 private:
  // Drops the parameters added since `mark` (a placeholder left unused in the SQL would have no
  // type, which PostgreSQL refuses) and selects everything.
  Part rollback(std::size_t mark) {
    next_ -= static_cast<int>(params.size() - mark);
    params.resize(mark);
    return kAll;
  }

  // Or: TRUE as soon as one branch has no pre-filter; exact when every branch is.
  Part any_of(const std::vector<FilterNode>& children) {
    const std::size_t mark = params.size();
    std::string sql;
    bool exact = true;
    for (const FilterNode& c : children) {
      Part p = node(c);
      exact = exact && p.exact;
      if (p.sql == "TRUE") {
        if (!p.exact) return rollback(mark);
        // An exact TRUE branch: the Or is TRUE, exact when every other branch is too.
        for (const FilterNode& rest : children) {
          Compiler scratch(0, nullptr);
          if (!scratch.node(rest).exact) exact = false;
        }
        rollback(mark);
        return {"TRUE", exact};
      }
      sql += (sql.empty() ? "(" : " OR ") + p.sql;
    }
    if (sql.empty()) return {"FALSE", true};
    return {sql + ")", exact};
  }

  Part all_of(const std::vector<FilterNode>& children) {
    std::string sql;
    bool exact = true;
    for (const FilterNode& c : children) {
      Part p = node(c);
      exact = exact && p.exact;
      if (p.sql == "TRUE") continue;
      sql += (sql.empty() ? "(" : " AND ") + p.sql;
    }
    if (sql.empty()) return {"TRUE", exact};
    return {sql + ")", exact};
  }

  std::string param(std::string value) {
    params.push_back(std::move(value));
    return "$" + std::to_string(next_++);
  }

  static const char* sql_op(CompareOp op) {
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

  static const char* path_op(CompareOp op) { return op == CompareOp::eq ? "==" : sql_op(op); }

  Part compare(const FilterNode& n) {
    if (is_id(n.path) && n.operand.is_string()) {
      // _id is a string in every stored document (the DB assigns it, updates cannot change
      // it), and MongoDB orders strings by their bytes, as COLLATE "C" does.
      return {"_id COLLATE \"C\" " + std::string(sql_op(n.op)) + " " + param(n.operand.as_string()),
              true};
    }
    std::optional<std::string> path = json_path(n.path);
    std::optional<std::string> lit = literal(n.operand);
    if (!path || !lit) return kAll;
    if (n.op != CompareOp::eq && n.operand.is_bool()) return kAll;
    const std::string jsonpath =
        param(*path + " ? (@ " + path_op(n.op) + " " + *lit + ")") + "::jsonpath";
    if (n.op != CompareOp::eq && n.operand.is_number() && range_indexed_ &&
        range_indexed_->count(dotted(n.path)) > 0) {
      return {indexed_range(n, *lit, jsonpath), false};
    }
    return {"body @? " + jsonpath, false};
  }

  static std::string dotted(const query::Path& path) {
    std::string out;
    for (const std::string& p : path.parts) out += (out.empty() ? "" : ".") + p;
    return out;
  }

  // The number at the path compared as numeric (jsonpath compares numbers as numeric too, so
  // this term selects what `jsonpath` selects from a number there), or, where a prefix is an
  // array, `jsonpath` itself: together what `body @? jsonpath` selects, each term searchable.
  std::string indexed_range(const FilterNode& n, const std::string& lit,
                            const std::string& jsonpath) {
    std::string sql = "(" + pg_number_sql(*pg_value_sql(n.path.parts)) + " " + sql_op(n.op) + " " +
                      param(lit) + "::numeric";
    for (std::size_t k = 1; k <= n.path.parts.size(); ++k) {
      const std::vector<std::string> prefix(n.path.parts.begin(),
                                            n.path.parts.begin() + static_cast<long>(k));
      sql += " OR (" + pg_is_array_sql(*pg_value_sql(prefix)) + " AND body @? " + jsonpath + ")";
    }
    return sql + ")";
  }

  Part in(const FilterNode& n) {
    const Array& values = n.operand.as_array();
    if (values.empty() && n.regexes.empty()) return {"FALSE", true};
    if (!n.regexes.empty()) return kAll;
    if (is_id(n.path)) {
      std::vector<std::string> ids;
      for (const Value& v : values) {
        if (!v.is_string()) {
          ids.clear();
          break;
        }
        ids.push_back(v.as_string());
      }
      if (ids.size() == values.size()) {
        return {"_id = ANY(" + param(text_array(ids)) + "::text[])", true};
      }
    }
    std::optional<std::string> path = json_path(n.path);
    if (!path) return kAll;
    std::string cond;
    for (const Value& v : values) {
      std::optional<std::string> lit = literal(v);
      if (!lit) return kAll;
      cond += (cond.empty() ? "" : " || ") + std::string("@ == ") + *lit;
    }
    return {"body @? " + param(*path + " ? (" + cond + ")") + "::jsonpath", false};
  }

  int next_;
  const std::set<std::string>* range_indexed_;
};

}  // namespace

std::optional<std::string> pg_value_sql(const std::vector<std::string>& parts) {
  query::Path path;
  path.parts = parts;
  if (parts.empty()) return std::nullopt;
  std::string out = "body";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (path.is_index(i) || parts[i].find('\0') != std::string::npos) return std::nullopt;
    out += "->" + pg_quote_literal(parts[i]);
  }
  return out;
}

std::string pg_number_sql(const std::string& value_sql) {
  return "CASE WHEN jsonb_typeof(" + value_sql + ") = 'number' THEN (" + value_sql +
         ")::numeric END";
}

std::string pg_is_array_sql(const std::string& value_sql) {
  return "jsonb_typeof(" + value_sql + ") = 'array'";
}

CompiledPgFilter compile_pg_filter(const query::FilterNode& filter, int first_param,
                                   const std::set<std::string>* range_indexed) {
  Compiler c(first_param, range_indexed);
  Part p = c.node(filter);
  CompiledPgFilter out;
  out.sql = std::move(p.sql);
  out.exact = p.exact;
  out.params = std::move(c.params);
  return out;
}

}  // namespace sddb::detail
