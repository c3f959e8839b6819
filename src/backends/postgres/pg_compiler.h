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
// On a path that create_index gave a range index (`range_indexed`, see below), $gt/$gte/$lt/$lte
// with a number operand compile instead to an OR whose every term an index can search, as the
// SQLite compiler's walk of a path does: the typed value compared as numeric (the btree
// expression index), and for each prefix of the path "it is an array" (a partial index) AND the
// jsonpath pre-filter, which steps into that array. The planner then runs a BitmapOr of index
// scans instead of reading the table; without those indexes the SQL means the same.
// No pre-filter (TRUE) for: null operands (null matches missing), arrays and objects as
// operands, numeric path components (index or field name), $regex, $type, $size, $elemMatch,
// and negations of anything inexact (the complement of a superset is not a superset).
// Values travel as parameters: the jsonpath text is itself a bound parameter, built here with
// JSON string escapes, never pasted into the SQL. Only the field names of the range form are in
// the SQL text, as quoted literals (pg_quote_literal): an index expression is matched by its
// text, which a placeholder would not be.

#include <optional>
#include <set>
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
// `range_indexed` (optional): dotted paths (field names only) that have the range indexes of
// create_index (pg_number_sql over the path, pg_is_array_sql over each prefix).
CompiledPgFilter compile_pg_filter(const query::FilterNode& filter, int first_param = 1,
                                   const std::set<std::string>* range_indexed = nullptr);

// The value at a path of field names as jsonb, `body->'a'->'b'` (NULL when missing or when a
// prefix is not an object), with the names as SQL literals: create_index builds its expression
// indexes from the same text as the compiled filters, so that the planner matches them.
// nullopt when a part may be an array index (all digits) or holds a NUL.
std::optional<std::string> pg_value_sql(const std::vector<std::string>& parts);

// Over a pg_value_sql: the value as numeric when it is a JSON number, else NULL (never an error,
// so it can be indexed); and "the value is an array".
std::string pg_number_sql(const std::string& value_sql);
std::string pg_is_array_sql(const std::string& value_sql);

}  // namespace sddb::detail
