#pragma once
// Compiles a filter tree (query/filter.h) into a PostgreSQL WHERE expression over a collection
// table (`_id text`, `body jsonb`: the document), so that PostgreSQL selects the candidates and,
// with a GIN index on `body` (create_index), finds them through the index.
//
// The contract is one-sided, as the simplest that is never wrong: the SQL is a *necessary*
// condition. Every document the evaluator matches satisfies it; documents it selects may still
// not match, so the backend re-checks each selected document with query::matches unless
// CompiledPgFilter::exact says the SQL alone decides. JSONB cannot say everything the evaluator
// does exactly (it keeps no int/double distinction, its type order and its array traversal
// differ from MongoDB's, and its member order is not the document's), so exactness is claimed
// only where it is plain:
//  - {} and conditions on _id (a text column, always a string): equality, $in, ranges (byte
//    order, as MongoDB compares strings), and their negations, And/Or/Nor of exact parts;
// Everything else is a pre-filter through jsonpath in lax mode (`body @? $n::jsonpath`), whose
// member accessors step into arrays and whose filters test array elements, a superset of
// MongoDB's one-level traversal:
//  - equality and $in with string, number or boolean operands: `$."a"."b" ? (@ == v || ...)`;
//  - $gt/$gte/$lt/$lte with a number or string operand (jsonpath compares strings by code
//    point, which is UTF-8 byte order, and, like MongoDB, never across types);
//  - $exists: true: `$."a"."b"`; $all with such equalities: the And of them;
//  - And of pre-filters, Or when every branch has one.
// No pre-filter (TRUE) for: null operands (null matches missing), arrays and objects as
// operands, numeric path components (index or field name), $regex, $type, $size, $elemMatch,
// and negations of anything inexact (the complement of a superset is not a superset).
// Values travel as parameters: the jsonpath text is itself a bound parameter, built here with
// JSON string escapes, never pasted into the SQL.

#include <string>
#include <vector>

#include "query/filter.h"

namespace sddb::detail {

struct CompiledPgFilter {
  std::string sql;                  // a boolean SQL expression over _id and body
  std::vector<std::string> params;  // text parameters, $first_param, $first_param+1, ...
  bool exact = true;                // false: re-check selected rows with query::matches
};

// `first_param` is the number of the first placeholder the filter may use ($1 when 1).
CompiledPgFilter compile_pg_filter(const query::FilterNode& filter, int first_param = 1);

}  // namespace sddb::detail
