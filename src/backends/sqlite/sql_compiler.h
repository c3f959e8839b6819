#pragma once
// Compiles a filter tree (query/filter.h) into a SQLite WHERE expression over the JSON text of
// each document (column `doc`), using the JSON1 functions, so that filtering runs inside SQLite.
//
// The SQL reproduces the evaluator's MongoDB semantics: candidate values along a path (one level
// of implicit array traversal, numeric components as index and as field name, terminal arrays
// reached by name expanded one level), type bracketing, null against missing, and negations as
// complements.
//
// Three-valued result. Every compiled expression is, per document, 1 (matches), 0 (does not) or
// NULL. When CompiledFilter::exact is true, NULL means "does not match" (plain SQL truth). When it
// is false, some node could not be expressed exactly (see `inexact_reason`) and NULL means
// "unknown": the caller selects rows where the expression IS NOT 0 and re-checks them with
// query::matches. SQL's three-valued NOT/AND/OR is exactly the logic this needs, so a residual
// node never spoils the exactness of the rest: rows it cannot affect are decided in SQL.
//
// Nodes that are residual (NULL for the documents they might match):
//  - equality and $in with an array or object operand of more than 200 values (operands without
//    numbers are compared as JSON text, which is exact: same members in the same order; with
//    numbers, which MongoDB compares by value (1 == 1.0), member by member in SQL);
//  - $gt/$gte/$lt/$lte with an array or object operand (MongoDB's full BSON order);
//  - a path component that SQLite's JSON path syntax cannot name (a key containing '"'), or a
//    path with so many array levels that the SQL would explode (more than kMaxBranches ways);
//  - a whole filter whose SQL would be too large or nest deeper than SQLite's parser allows
//    (nested $elemMatch over paths with many array levels): it is left to the evaluator alone.
// Everything else (equality, ranges, $in/$nin, $exists, $type, $size, $all, $regex, $elemMatch
// in both forms, also over array elements read as documents {"0": ..., "1": ...}, $not, $nor,
// $or, $and, dotted and numeric paths) is exact SQL.
//
// Index use. The walk of a path is an OR of terms, one per way of reaching a value; conditions
// on static paths stay outside EXISTS, so `json_extract(doc, p) = ?` and `json_type(doc, p) =
// 'array' AND EXISTS (... json_each ...)` are each searchable through the expression indexes
// that create_index makes (a multi-index OR). Type guards beside a value comparison carry a
// unary '+' so that the planner searches the value index, not the type index.

#include <sqlite3.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "query/filter.h"
#include "sddb/value.h"

namespace sddb::detail {

struct CompiledFilter {
  std::string sql;            // a boolean SQL expression over the column `doc`
  std::vector<Value> params;  // bound to its numbered placeholders ?1, ?2, ...
  // Placeholders that take a regex (by sqlite3_bind_pointer, type kRegexPointerType) instead of
  // params[i - 1]: the regex parse_filter compiled, so SQL and the evaluator share one dialect
  // and nothing is compiled again. Held here so they outlive the statement.
  std::vector<std::pair<int, std::shared_ptr<const query::Regex>>> regex_params;
  bool exact = true;  // false: re-check rows with query::matches (see above)
  std::string inexact_reason;
};

// `array_free` (optional): dotted paths from the document root (field names only, e.g. "a.b")
// known to hold no array in any document of the collection, as of the transaction the SQL runs
// in. The walk then leaves out the array branches of those locations (their elements, and a
// numeric component after them is only a field name), so an indexed equality is one plain index
// search instead of a multi-index OR. The caller must prove it in the same snapshot.
CompiledFilter compile_filter(const query::FilterNode& filter,
                              const std::set<std::string>* array_free = nullptr);

// Whether the filter is, or is a conjunction holding, an _id equality or $in with strings, which
// compile_filter turns into a search of the primary key. Such a find should search the key
// (SELECT ... INDEXED BY the key's index): without statistics SQLite's planner guesses that an
// equality on another indexed field selects fewer rows, and then reads every document that
// field matches to find the few ids asked for (like() with a filter did: a whole section per
// fetch of 64 candidates).
bool searches_key(const query::FilterNode& filter);

// The JSON path literal (SQL text, quoted) that compile_filter uses for a dotted path made only
// of field names; create_index builds its expression indexes with the same text so that SQLite
// matches them. Empty when a component cannot be written as a SQLite JSON path.
std::string json_path_literal(const std::vector<std::string>& parts);

// Binds params and regex_params to a statement prepared from `sql`.
void bind_filter(sqlite3_stmt* stmt, const CompiledFilter& filter);

// Registers regexp(pattern, value), which SQLite calls for `value REGEXP pattern`. The pattern is
// either a query::Regex bound as a pointer (what compiled filters use) or text, compiled by
// query::make_regex (PCRE2, no options) once per statement (sqlite3_set_auxdata); both match
// through query::regex_search, and its errors become SQL errors carrying
// kInvalidArgumentPrefix.
void register_sql_functions(sqlite3* db);

inline constexpr const char* kRegexPointerType = "sddb_regex";

// Errors that SQL functions raise because of the caller's input start with this text; the
// connection turns them into Error(invalid_argument).
inline constexpr std::string_view kInvalidArgumentPrefix = "sddb:invalid_argument:";

}  // namespace sddb::detail
