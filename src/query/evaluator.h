#pragma once
// The in-memory evaluator: MongoDB 7.0's semantics for filters, updates, projections and sorts
// over sddb::Value documents. It is the reference every backend is tested against
// (tests/conformance), and the engine that backends use for the work they do not push down
// (applying an update document to a document read inside a transaction, projections).

#include <string>
#include <vector>

#include "query/filter.h"
#include "sddb/query.h"
#include "sddb/value.h"

namespace sddb::query {

// True when `doc` matches the filter tree.
bool matches(const FilterNode& filter, const Value& doc);

// MongoDB's total order over values (BSON comparison order: null < numbers < string < object <
// array < bool), numbers compared by value across int and double. <0, 0, >0.
int compare_values(const Value& a, const Value& b);

// A parsed update: either operators ($set $unset $inc $push $pull) or a replacement document.
struct Update {
  bool is_replacement = false;
  Value replacement;
  struct Op {
    std::string op;  // "$set", "$unset", "$inc", "$push", "$pull"
    Path path;
    Value arg;        // the operand ($push may carry {$each, $position, $slice, $sort})
    FilterNode cond;  // $pull with a condition: the parsed condition
    bool pull_by_condition = false;
    // $pull's condition form: true when it tests each element itself ({$gte: 6}, the paths in
    // `cond` are empty); false when it matches object elements as documents ({b: 1}).
    bool pull_value_form = false;
  };
  std::vector<Op> ops;  // in MongoDB's application order
};

// Parses an update document (or, with replacement_only, a replacement). Throws
// Error(invalid_argument) naming the path and operator; conflicting paths ("a" and "a.b" in one
// update) and any change of _id are errors.
Update parse_update(const Value& update, bool replacement_only = false);

// Applies an update to a copy of `doc` and returns it. Errors (e.g. $inc on a string) throw
// Error(invalid_argument) naming the _id and path; `doc` itself is never changed. The result
// passes detail::check_document (so it can be stored and read back: e.g. no nesting deeper
// than Value::kMaxDepth), or the update is an error naming the _id.
Value apply_update(const Update& update, const Value& doc);

// The document an upsert inserts: equality fields of the filter, then the update applied; it
// passes detail::check_document. Error(invalid_argument) naming the path when two equalities
// of the filter set one path, or a path and its prefix ({$and: [{a: 1}, {a: 2}]},
// {a: {b: 1}, "a.c": 2}: MongoDB's NotSingleValueField).
Value upsert_document(const FilterNode& filter, const Update& update);

// A parsed projection ({a: 1, b: 1} or {a: 0}; _id included unless {_id: 0}).
struct Projection {
  bool active = false;  // false: return whole documents
  bool inclusion = true;
  std::vector<Path> paths;
  bool include_id = true;
};
Projection parse_projection(const Value& projection);
Value apply_projection(const Projection& projection, const Value& doc);

// Runs a Find over documents held in memory: filter, sort, skip, limit (0: none; negative: its
// absolute value), then projection. The reference for every backend's find().
// Error(invalid_argument) for a bad filter, projection or sort (parallel arrays).
std::vector<Document> find_in_memory(const std::vector<Document>& docs, const Find& q);

// Orders documents by sort keys (MongoDB's sort semantics: arrays sort by their smallest element
// ascending and largest descending, missing sorts as null, [] below null). Returns <0, 0, >0.
// Error(invalid_argument) when a document holds arrays at two of the sort paths.
int compare_for_sort(const std::vector<SortKey>& keys, const Value& a, const Value& b);

// The sort keys read once, for sorting many documents: compare_for_sort(keys, ...) re-reads the
// dotted paths on every call. parse_sort throws Error(invalid_argument) for an empty path
// component or a direction other than 1 and -1.
struct SortPlan {
  std::vector<Path> paths;
  std::vector<int> directions;  // 1 or -1, one per path
};
SortPlan parse_sort(const std::vector<SortKey>& keys);
int compare_for_sort(const SortPlan& plan, const Value& a, const Value& b);

}  // namespace sddb::query
