#pragma once
// The filter tree: what parse_filter() makes of a MongoDB filter document, and what every
// consumer reads: the in-memory evaluator (the reference semantics, evaluator.h) and each
// backend's compiler (e.g. src/backends/sqlite/sql_compiler.h).
//
// Negations are whole-document complements (MongoDB: "no candidate matches"), so $ne, $nin and
// $not are all a Not node over the positive predicate on the same path:
//   {a: {$ne: 5}}          -> Not(Compare(a, eq, 5))
//   {a: {$nin: [1, 2]}}    -> Not(In(a, [1, 2]))
//   {a: {$not: {$gt: 1}}}  -> Not(And(Compare(a, gt, 1)))
// Several operators on one path are an And of one predicate each ({a: {$gt: 1, $lt: 5}}).
//
// JSON has no regex literal, so a filter writes MongoDB's /p/o as Extended JSON v2,
// {"$regularExpression": {"pattern": "p", "options": "o"}}: as a field's value ({a: /p/}), inside
// $in, $nin, $all and as the operand of $not. Under $eq it is compared as the plain object it is.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/value.h"

namespace sddb::query {

// A dotted path, split. An empty path (no parts) means "the value itself"; it is used inside
// the value form of $elemMatch ({a: {$elemMatch: {$gt: 1}}}) and is never expanded as an array.
struct Path {
  std::vector<std::string> parts;
  std::string dotted;  // the text as written, for messages

  bool empty() const { return parts.empty(); }
  // True when part i is all digits without a leading zero (it may index an array as well as
  // name a field).
  bool is_index(std::size_t i) const;
};

enum class CompareOp { eq, gt, gte, lt, lte };

// A pattern compiled by PCRE2 (defined in filter.cc, so PCRE2's header stays there).
struct CompiledRegex;

struct Regex {
  std::string pattern;
  std::string options;  // subset of "imsx" (u is accepted and dropped)
  // Compiled once by parse_filter with PCRE2, MongoDB's own engine (UTF-8; JIT-compiled where
  // the platform allows), and shared by copies of the node; never null in a parsed tree. Safe
  // to search from several threads at once.
  std::shared_ptr<const CompiledRegex> compiled;
};

// Splits a dotted path. Error(invalid_argument) naming `what` (e.g. "filter path") when it is
// empty or has an empty component ("a..b", ".a").
Path make_path(std::string_view dotted, std::string_view what);

// Checks the options ("imsxu": i m s x are PCRE2's CASELESS, MULTILINE, DOTALL, EXTENDED),
// compiles the pattern as UTF-8 PCRE syntax and returns the regex. Error(invalid_argument)
// naming `where` (e.g. "filter path 'a'") for an unknown option or a pattern PCRE2 rejects.
Regex make_regex(std::string_view pattern, std::string_view options, std::string_view where);

// True when `s` contains a match of `re` (unanchored, as MongoDB's $regex). Any thread may call
// it. A match that exceeds PCRE2's match, depth or heap limit (a pattern that backtracks
// without end on `s`) throws Error(invalid_argument) naming the `where` given to make_regex
// and the pattern, rather than running unbounded.
bool regex_search(const Regex& re, std::string_view s);

struct FilterNode {
  enum class Kind {
    always,      // matches every document (the empty filter {})
    and_,        // children all match
    or_,         // some child matches
    nor,         // no child matches
    not_,        // the single child does not match
    compare,     // path op operand; operand may be any Value
    in,          // path equals one of operands (values); `regexes` may also match strings
    exists,      // path present (operand true) or absent (operand false)
    regex,       // path holds a string matching `regex`
    size,        // path holds an array of exactly operand.as_int() elements
    all,         // path matches every child (each an eq compare, a regex or an elem_match on
                 // `path`); no children (`$all: []`) matches nothing
    elem_match,  // path holds an array with one element matching all children
    type,        // path holds a value of one of the types in `types` ("number" = int or double)
  };

  Kind kind = Kind::always;
  Path path;
  CompareOp op = CompareOp::eq;
  Value operand;                   // compare: the operand; exists: bool; size: int; in: the array
                                   // of the non-regex members of the list
  std::vector<Regex> regexes;      // regex: exactly one; in: the regex members of the list
  std::vector<std::string> types;  // type: canonical names "null" "bool" "int" "double" "string"
                                   // "array" "object" (a "number" alias expands to int+double;
                                   // "long" is "int"; BSON types that JSON cannot hold, such as
                                   // "date", are accepted and dropped, so the list may be empty
                                   // and then matches nothing)
  // elem_match: true when the children test each element itself ({$elemMatch: {$gt: 1}}); their
  // paths are then empty. False when each element is matched as a document ({$elemMatch: {b: 1}}).
  bool elem_value_form = false;
  std::vector<FilterNode> children;
};

// Parses an operator object such as {$gte: 6} that applies to a value itself (every node's path
// is empty), as $elemMatch's value form and $pull's condition do. `where` names the place for
// messages, e.g. "update path 'votes': $pull".
FilterNode parse_value_condition(const Value& ops, std::string_view where);

// Parses a MongoDB filter document. Throws Error(invalid_argument) naming the path and the
// operator at fault ("filter path 'a.b': $size needs a whole number, got -1").
FilterNode parse_filter(const Value& filter);

}  // namespace sddb::query
