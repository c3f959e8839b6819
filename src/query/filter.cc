#include "query/filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "query/operands.h"
#include "sddb/error.h"

namespace sddb::query {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_argument, message);
}

std::string where_of(const Path& path) { return "filter path '" + path.dotted + "'"; }

// {"$regularExpression": {"pattern": "...", "options": "..."}}: Extended JSON's regex literal.
bool is_regex_literal(const Value& v) {
  return v.is_object() && v.size() == 1 && v.as_object().front().first == "$regularExpression";
}

Regex regex_from_literal(const Value& v, const std::string& where) {
  const Value& body = v.as_object().front().second;
  const Value* pattern = body.find("pattern");
  const Value* options = body.find("options");
  if (!body.is_object() || pattern == nullptr || !pattern->is_string() ||
      (options != nullptr && !options->is_string()) ||
      body.size() != (options != nullptr ? 2u : 1u)) {
    fail(where + ": $regularExpression needs {\"pattern\": string, \"options\": string}");
  }
  return make_regex(pattern->as_string(), options != nullptr ? options->as_string() : "", where);
}

FilterNode leaf(FilterNode::Kind kind, const Path& path) {
  FilterNode n;
  n.kind = kind;
  n.path = path;
  return n;
}

FilterNode negate(FilterNode child) {
  FilterNode n;
  n.kind = FilterNode::Kind::not_;
  n.path = child.path;
  n.children.push_back(std::move(child));
  return n;
}

FilterNode compare(const Path& path, CompareOp op, Value operand) {
  FilterNode n = leaf(FilterNode::Kind::compare, path);
  n.op = op;
  n.operand = std::move(operand);
  return n;
}

FilterNode regex_node(const Path& path, Regex re) {
  FilterNode n = leaf(FilterNode::Kind::regex, path);
  n.regexes.push_back(std::move(re));
  return n;
}

FilterNode and_of(std::vector<FilterNode> children, const Path& path) {
  if (children.size() == 1) return std::move(children.front());
  FilterNode n;
  n.kind = FilterNode::Kind::and_;
  n.path = path;
  n.children = std::move(children);
  return n;
}

FilterNode parse_document(const Value& filter, const std::string& context);
FilterNode parse_condition(const Path& path, const Value& cond, const std::string& where);
std::vector<FilterNode> parse_operators(const Path& path, const Value& ops,
                                        const std::string& where);

FilterNode parse_in(const Path& path, const Value& arg, const std::string& where,
                    std::string_view op) {
  if (!arg.is_array())
    fail(where + ": " + std::string(op) + " needs an array, got " + describe(arg));
  FilterNode n = leaf(FilterNode::Kind::in, path);
  n.operand = Value::array();
  for (const Value& item : arg.as_array()) {
    if (is_regex_literal(item)) {
      n.regexes.push_back(regex_from_literal(item, where));
    } else if (is_operator_object(item)) {
      fail(where + ": " + std::string(op) + " cannot hold an operator object (" +
           item.as_object().front().first + ")");
    } else {
      n.operand.push_back(item);
    }
  }
  return n;
}

const std::vector<std::pair<std::string_view, std::vector<std::string>>>& type_aliases() {
  static const std::vector<std::pair<std::string_view, std::vector<std::string>>> kAliases = {
      {"double", {"double"}},
      {"string", {"string"}},
      {"object", {"object"}},
      {"array", {"array"}},
      {"bool", {"bool"}},
      {"null", {"null"}},
      {"int", {"int"}},
      {"long", {"int"}},
      {"number", {"int", "double"}},
      {"decimal", {}},
      {"binData", {}},
      {"undefined", {}},
      {"objectId", {}},
      {"date", {}},
      {"regex", {}},
      {"dbPointer", {}},
      {"javascript", {}},
      {"symbol", {}},
      {"javascriptWithScope", {}},
      {"timestamp", {}},
      {"minKey", {}},
      {"maxKey", {}},
  };
  return kAliases;
}

void add_type(FilterNode& n, const Value& t, const std::string& where) {
  std::vector<std::string> names;
  std::int64_t code = 0;
  if (t.is_string()) {
    bool found = false;
    for (const auto& [alias, canon] : type_aliases()) {
      if (alias == t.as_string()) {
        names = canon;
        found = true;
      }
    }
    if (!found) fail(where + ": $type has unknown type name '" + t.as_string() + "'");
  } else if (whole_number(t, code)) {
    switch (code) {
      case 1:
        names = {"double"};
        break;
      case 2:
        names = {"string"};
        break;
      case 3:
        names = {"object"};
        break;
      case 4:
        names = {"array"};
        break;
      case 8:
        names = {"bool"};
        break;
      case 10:
        names = {"null"};
        break;
      case 16:
      case 18:
        names = {"int"};
        break;
      case -1:
      case 5:
      case 6:
      case 7:
      case 9:
      case 11:
      case 12:
      case 13:
      case 14:
      case 15:
      case 17:
      case 19:
      case 127:
        break;
      default:
        fail(where + ": $type has unknown type code " + std::to_string(code));
    }
  } else {
    fail(where + ": $type needs a type name or number, got " + describe(t));
  }
  for (std::string& name : names) {
    bool dup = false;
    for (const std::string& have : n.types) dup = dup || have == name;
    if (!dup) n.types.push_back(std::move(name));
  }
}

FilterNode parse_elem_match(const Path& path, const Value& arg, const std::string& where) {
  if (!arg.is_object()) fail(where + ": $elemMatch needs an object, got " + describe(arg));
  FilterNode n = leaf(FilterNode::Kind::elem_match, path);
  const Object& obj = arg.as_object();
  // As MongoDB decides: a first key that is an operator, other than a logical one, makes the
  // value form, whose conditions apply to each element itself.
  bool value_form = false;
  if (!obj.empty()) {
    const std::string& first = obj.front().first;
    value_form = !first.empty() && first.front() == '$' && first != "$and" && first != "$or" &&
                 first != "$nor";
  }
  n.elem_value_form = value_form;
  if (value_form) {
    n.children = parse_operators(Path{}, arg, where + " in $elemMatch");
  } else {
    FilterNode inner = parse_document(arg, where + " in $elemMatch");
    if (inner.kind == FilterNode::Kind::and_ && inner.path.empty() && obj.size() > 1) {
      n.children = std::move(inner.children);
    } else if (inner.kind != FilterNode::Kind::always) {
      n.children.push_back(std::move(inner));
    }
  }
  return n;
}

FilterNode parse_all(const Path& path, const Value& arg, const std::string& where) {
  if (!arg.is_array()) fail(where + ": $all needs an array, got " + describe(arg));
  FilterNode n = leaf(FilterNode::Kind::all, path);
  std::size_t elem_matches = 0;
  for (const Value& item : arg.as_array()) {
    if (is_regex_literal(item)) {
      n.children.push_back(regex_node(path, regex_from_literal(item, where)));
    } else if (is_operator_object(item)) {
      if (item.as_object().front().first != "$elemMatch" || item.size() != 1) {
        fail(where + ": $all can hold values and {$elemMatch: ...} objects, not " +
             item.as_object().front().first);
      }
      n.children.push_back(parse_elem_match(path, item.as_object().front().second, where));
      ++elem_matches;
    } else {
      n.children.push_back(compare(path, CompareOp::eq, item));
    }
  }
  if (elem_matches != 0 && elem_matches != n.children.size()) {
    fail(where + ": $all cannot mix {$elemMatch: ...} objects and values");
  }
  return n;
}

// One operator object's members, e.g. {$gt: 1, $lt: 5}, as one node each.
std::vector<FilterNode> parse_operators(const Path& path, const Value& ops,
                                        const std::string& where) {
  std::vector<FilterNode> out;
  const Object& obj = ops.as_object();
  const Value* regex_options = nullptr;
  bool has_regex = false;
  for (const auto& [name, arg] : obj) {
    if (name == "$options") {
      if (!arg.is_string()) fail(where + ": $options needs a string, got " + describe(arg));
      regex_options = &arg;
    }
    has_regex = has_regex || name == "$regex";
  }
  if (regex_options != nullptr && !has_regex) fail(where + ": $options needs a $regex beside it");

  for (const auto& [name, arg] : obj) {
    const std::string at = where + ": " + name;
    if (name == "$eq" || name == "$ne") {
      // MongoDB refuses a regex under $ne (use $not); under $eq it compares stored regexes.
      if (name == "$ne" && is_regex_literal(arg)) fail(at + " cannot take a regex; use $not");
      FilterNode eq = compare(path, CompareOp::eq, arg);
      out.push_back(name == "$eq" ? std::move(eq) : negate(std::move(eq)));
    } else if (name == "$gt" || name == "$gte" || name == "$lt" || name == "$lte") {
      if (is_regex_literal(arg)) fail(at + " cannot take a regex");
      CompareOp op = name == "$gt"    ? CompareOp::gt
                     : name == "$gte" ? CompareOp::gte
                     : name == "$lt"  ? CompareOp::lt
                                      : CompareOp::lte;
      out.push_back(compare(path, op, arg));
    } else if (name == "$in") {
      out.push_back(parse_in(path, arg, where, name));
    } else if (name == "$nin") {
      out.push_back(negate(parse_in(path, arg, where, name)));
    } else if (name == "$exists") {
      FilterNode n = leaf(FilterNode::Kind::exists, path);
      // MongoDB reads the operand for its truth: 1 and 0 work, null is false.
      bool truth = true;
      if (arg.is_null()) truth = false;
      if (arg.is_bool()) truth = arg.as_bool();
      if (arg.is_number()) truth = arg.as_double() != 0.0;
      n.operand = truth;
      out.push_back(std::move(n));
    } else if (name == "$type") {
      FilterNode n = leaf(FilterNode::Kind::type, path);
      if (arg.is_array()) {
        if (arg.as_array().empty()) fail(at + " needs at least one type");
        for (const Value& t : arg.as_array()) add_type(n, t, where);
      } else {
        add_type(n, arg, where);
      }
      out.push_back(std::move(n));
    } else if (name == "$size") {
      std::int64_t n_items = 0;
      if (!arg.is_number()) fail(at + " needs a number, got " + describe(arg));
      if (!whole_number(arg, n_items)) fail(at + " needs a whole number, got " + describe(arg));
      if (n_items < 0) fail(at + " needs a whole number, got " + std::to_string(n_items));
      FilterNode n = leaf(FilterNode::Kind::size, path);
      n.operand = n_items;
      out.push_back(std::move(n));
    } else if (name == "$all") {
      out.push_back(parse_all(path, arg, where));
    } else if (name == "$elemMatch") {
      out.push_back(parse_elem_match(path, arg, where));
    } else if (name == "$not") {
      if (is_regex_literal(arg)) {
        out.push_back(negate(regex_node(path, regex_from_literal(arg, where))));
      } else if (is_operator_object(arg)) {
        out.push_back(negate(and_of(parse_operators(path, arg, where + " in $not"), path)));
      } else {
        fail(at + " needs a regex or a document of operators, got " + describe(arg));
      }
    } else if (name == "$regex") {
      std::string options = regex_options != nullptr ? regex_options->as_string() : "";
      if (is_regex_literal(arg)) {
        Regex re = regex_from_literal(arg, where);
        if (regex_options != nullptr && !re.options.empty()) {
          fail(at + ": options set in both the regex and $options");
        }
        if (regex_options == nullptr) options = re.options;
        out.push_back(regex_node(path, make_regex(re.pattern, options, where)));
      } else if (arg.is_string()) {
        out.push_back(regex_node(path, make_regex(arg.as_string(), options, where)));
      } else {
        fail(at + " needs a string, got " + describe(arg));
      }
    } else if (name == "$options") {
      // Read together with $regex above.
    } else {
      fail(path.empty() ? "unknown operator " + name + " (" + where + ")"
                        : "unknown operator " + name + " at '" + path.dotted + "'");
    }
  }
  return out;
}

FilterNode parse_condition(const Path& path, const Value& cond, const std::string& where) {
  if (is_regex_literal(cond)) return regex_node(path, regex_from_literal(cond, where));
  if (is_operator_object(cond)) return and_of(parse_operators(path, cond, where), path);
  return compare(path, CompareOp::eq, cond);
}

FilterNode parse_document(const Value& filter, const std::string& context) {
  if (!filter.is_object()) {
    fail((context.empty() ? std::string("filter") : context) + " must be an object, got " +
         describe(filter));
  }
  std::vector<FilterNode> parts;
  for (const auto& [key, value] : filter.as_object()) {
    if (!key.empty() && key.front() == '$') {
      if (key == "$and" || key == "$or" || key == "$nor") {
        if (!value.is_array() || value.as_array().empty()) {
          fail(key + " needs a non-empty array of objects, got " + describe(value));
        }
        FilterNode n;
        n.kind = key == "$and"  ? FilterNode::Kind::and_
                 : key == "$or" ? FilterNode::Kind::or_
                                : FilterNode::Kind::nor;
        for (const Value& clause : value.as_array()) {
          if (!clause.is_object()) {
            fail(key + " needs a non-empty array of objects, got an element " + describe(clause));
          }
          n.children.push_back(parse_document(clause, context + " in " + key));
        }
        parts.push_back(std::move(n));
      } else if (key == "$comment") {
        // A note for the reader of logs; it does not filter.
      } else {
        fail("unknown top-level operator " + key + (context.empty() ? "" : " (" + context + ")"));
      }
      continue;
    }
    Path path = make_path(key, "filter path");
    parts.push_back(parse_condition(path, value, where_of(path)));
  }
  if (parts.empty()) return FilterNode{};
  return and_of(std::move(parts), Path{});
}

}  // namespace

bool is_operator_object(const Value& v) {
  return v.is_object() && !v.as_object().empty() && !v.as_object().front().first.empty() &&
         v.as_object().front().first.front() == '$';
}

bool whole_number(const Value& v, std::int64_t& out) {
  if (v.is_int()) {
    out = v.as_int();
    return true;
  }
  if (v.is_double()) {
    double d = v.as_double();
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9.0e15) return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

std::string describe(const Value& v) {
  if (v.is_null()) return "null";
  std::string type(Value::type_name(v.type()));
  try {
    std::string text = v.to_json();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return type + " " + text;
  } catch (const Error&) {
    return type;  // NaN and infinities have no JSON text
  }
}

bool Path::is_index(std::size_t i) const {
  if (i >= parts.size() || parts[i].empty()) return false;
  // As MongoDB's strict reading: "01" names a field, never an array position.
  if (parts[i].size() > 1 && parts[i].front() == '0') return false;
  for (char c : parts[i]) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Path make_path(std::string_view dotted, std::string_view what) {
  Path path;
  path.dotted = std::string(dotted);
  if (dotted.empty()) fail(std::string(what) + " is empty");
  std::size_t start = 0;
  while (true) {
    std::size_t dot = dotted.find('.', start);
    std::string_view part =
        dotted.substr(start, dot == std::string_view::npos ? dotted.size() - start : dot - start);
    if (part.empty()) {
      fail(std::string(what) + " '" + path.dotted + "' has an empty component");
    }
    path.parts.emplace_back(part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return path;
}

namespace {

// Bounds on one pcre2_match, so a pattern that backtracks without end (catastrophic
// backtracking, e.g. (a|aa)*b on a long run of a's) is an error instead of a hung or crashed
// process. The match limit is PCRE2's usual default, set here whatever the library was built
// with; the depth and heap limits bound the interpreter's backtracking memory (kept on the heap
// since PCRE2 10.30, so long strings no longer exhaust the stack as std::regex did).
constexpr std::uint32_t kRegexMatchLimit = 10'000'000;
constexpr std::uint32_t kRegexDepthLimit = 1'000'000;
constexpr std::uint32_t kRegexHeapLimitKib = 256 * 1024;
constexpr std::size_t kRegexKeepFramesBelow = 64 * 1024;  // subject bytes

// PCRE2 objects per thread: a match context holding the limits, and match data with room
// for the whole match only (regex_search needs no groups). Neither may be shared between
// threads; the compiled patterns may.
struct MatchScratch {
  pcre2_match_context* context = nullptr;
  pcre2_match_data* data = nullptr;

  MatchScratch() {
    context = pcre2_match_context_create(nullptr);
    data = pcre2_match_data_create(1, nullptr);
    if (context == nullptr || data == nullptr) {
      pcre2_match_context_free(context);
      pcre2_match_data_free(data);
      throw std::bad_alloc();
    }
    pcre2_set_match_limit(context, kRegexMatchLimit);
    pcre2_set_depth_limit(context, kRegexDepthLimit);
    pcre2_set_heap_limit(context, kRegexHeapLimitKib);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
  }
  // The interpreter keeps its backtracking frames in the match data for the next match; after
  // a long subject (whose frames may have grown up to the heap limit) they are handed back.
  void shrink_after(std::size_t subject_size) {
    if (subject_size <= kRegexKeepFramesBelow) return;
    pcre2_match_data* fresh = pcre2_match_data_create(1, nullptr);
    if (fresh == nullptr) return;  // keep the old one: it still works
    pcre2_match_data_free(data);
    data = fresh;
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

}  // namespace

struct CompiledRegex {
  pcre2_code* code = nullptr;
  std::string where;  // the place it was written, e.g. "filter path 'a'", for match errors

  CompiledRegex() = default;
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;
  ~CompiledRegex() { pcre2_code_free(code); }
};

Regex make_regex(std::string_view pattern, std::string_view options, std::string_view where) {
  Regex re;
  re.pattern = std::string(pattern);
  // UTF-8 as MongoDB reads patterns; strings that are not valid UTF-8 still match where they
  // are (MATCH_INVALID_UTF) instead of failing, and \C, which could split a character, is out.
  std::uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
  for (char c : options) {
    switch (c) {
      case 'i':
        flags |= PCRE2_CASELESS;
        break;
      case 'm':
        flags |= PCRE2_MULTILINE;
        break;
      case 's':
        flags |= PCRE2_DOTALL;
        break;
      case 'x':
        flags |= PCRE2_EXTENDED;
        break;
      case 'u':
        continue;  // UTF-8 is MongoDB's default; the flag changes nothing
      default:
        fail(std::string(where) + ": $regex has unknown option '" + std::string(1, c) + "'");
    }
    if (re.options.find(c) == std::string::npos) re.options += c;
  }
  // The newline convention is fixed rather than left to how the library was built: '.' stops
  // and '$' matches only at '\n', as in MongoDB.
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  if (context == nullptr) throw std::bad_alloc();
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   flags, &error, &offset, context);
  pcre2_compile_context_free(context);
  if (code == nullptr) {
    fail(std::string(where) + ": $regex /" + re.pattern + "/ is not a valid pattern (" +
         pcre2_message(error) + " at offset " + std::to_string(offset) + ")");
  }
  auto compiled = std::make_shared<CompiledRegex>();
  compiled->code = code;
  compiled->where = std::string(where);
  // JIT where the platform has it; without it (or when it fails) pcre2_match interprets.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  re.compiled = std::move(compiled);
  return re;
}

bool regex_search(const Regex& re, std::string_view s) {
  if (!re.compiled) return false;
  thread_local MatchScratch scratch;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  int rc = pcre2_match(re.compiled->code, subject, s.size(), 0, 0, scratch.data, scratch.context);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // JIT code runs on a small fixed stack; the interpreter keeps its backtracking on the heap,
    // bounded by the depth and heap limits.
    rc = pcre2_match(re.compiled->code, subject, s.size(), 0, PCRE2_NO_JIT, scratch.data,
                     scratch.context);
  }
  scratch.shrink_after(s.size());
  if (rc >= 0) return true;  // 0: matched, the ovector is too small for the groups
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  const std::string head = re.compiled->where + ": $regex /" + re.pattern + "/ on a string of " +
                           std::to_string(s.size()) + " bytes: ";
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
      rc == PCRE2_ERROR_NOMEMORY) {
    fail(head + pcre2_message(rc) +
         " (PCRE2 gave up: the pattern backtracks too much on this string; simplify it)");
  }
  fail(head + pcre2_message(rc));
}

FilterNode parse_filter(const Value& filter) { return parse_document(filter, ""); }

FilterNode parse_value_condition(const Value& ops, std::string_view where) {
  std::string at(where);
  if (is_regex_literal(ops)) return regex_node(Path{}, regex_from_literal(ops, at));
  if (!is_operator_object(ops)) fail(at + " needs an object of operators, got " + describe(ops));
  return and_of(parse_operators(Path{}, ops, at), Path{});
}

}  // namespace sddb::query
