#pragma once
// Helpers the filter and update parsers share (internal to src/query).

#include <cstdint>
#include <string>

#include "sddb/value.h"

namespace sddb::query {

// True for an object whose first member name starts with '$' ({$gt: 1}, {$each: [...]}).
bool is_operator_object(const Value& v);

// MongoDB reads whole-number operands of any numeric type: 2 and 2.0 are 2, 2.5 is not. Sets
// `out` and returns true for a whole number (doubles up to 9e15 in magnitude).
bool whole_number(const Value& v, std::int64_t& out);

// A value for messages: its type and JSON text cut to 60 characters ("int 5", "string \"x\""),
// or just "null" for null.
std::string describe(const Value& v);

}  // namespace sddb::query
