#pragma once
// Checks on what users hand in: documents, field names, ids.

#include <string>
#include <string_view>

#include "sddb/value.h"

namespace sddb::detail {

// Throws Error(invalid_argument) unless `doc` can be stored: an object, whose _id (if any) is a
// non-empty string, whose field names at every depth are non-empty, contain no '.' and do not
// start with '$', which holds no NaN or infinity, and whose arrays and objects nest at most
// Value::kMaxDepth levels (the document itself is level 1), as Value::parse reads back. `where`
// names the document in messages, e.g. "document 3 of the batch for collection 'docs'".
void check_document(const Value& doc, std::string_view where);
// The same, with `where` spelled as "document INDEX of the insert into 'COLLECTION'" only when
// there is an error (inserts check every document of large batches).
void check_document(const Value& doc, std::size_t index, std::string_view collection);

}  // namespace sddb::detail
