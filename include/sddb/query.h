#pragma once
// Query objects, mirroring the seed's Python API:
//
//   sddb::Collection("docs").find({{"n", {{"$gt", 1}}}}).sort("n", -1).limit(10)
//
// They are plain values that describe work; nothing runs until DB::execute(query). Filters,
// updates and projections are MongoDB documents (sddb::Value); they are parsed and checked when
// executed, and a bad one is Error(invalid_argument) naming the path at fault.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sddb/value.h"

namespace sddb {

struct SortKey {
  std::string path;   // dotted path, e.g. "size" or "a.b"
  int direction = 1;  // 1 ascending, -1 descending
};

struct Like;

struct Find {
  std::string collection;
  Value filter = Value::object();
  Value projection;  // null: whole documents
  std::vector<SortKey> sort_keys;
  std::int64_t skip_n = 0;
  std::int64_t limit_n = 0;  // 0: no limit

  Find sort(std::string path, int direction = 1) const;
  Find sort(std::vector<SortKey> keys) const;
  Find skip(std::int64_t n) const;
  Find limit(std::int64_t n) const;
  Find project(Value projection) const;
  // Vector search among the documents that match this find's filter (see Like). Sort, skip and
  // limit do not apply to a like(): Error(invalid_argument) here when any is set.
  Like like(Value example, std::string index, std::int64_t n = 10) const;
};

// Vector search (design §3): the n documents nearest to `example` in vector index `index`, best
// first, each with "_score" (see sddb/vector_search.h for what scores mean). `example` is a
// document: {key: value} is encoded by the model of the index's indexing (or compatible)
// listener whose key it has; {"_id": id} uses the stored vector of that document.
// With a filter, the n best documents that match it come back (never fewer while n exist):
// `like(...).find(filter)` and `find(filter).like(...)` are the same query.
struct Like {
  std::string collection;
  Value example = Value::object();
  std::string index;
  std::int64_t n = 10;
  Value filter = Value::object();
  Value projection;  // null: whole documents (and _score)

  Like find(Value filter = Value::object(), Value projection = {}) const;
};

// find_one: the first document of a Find (after sort and skip), or nothing.
struct FindOne {
  Find find;
};

struct Count {
  std::string collection;
  Value filter = Value::object();
};

struct InsertMany {
  std::string collection;
  std::vector<Document> documents;  // each gets a fresh string _id when it has none
};

struct UpdateMany {
  std::string collection;
  Value filter;
  Value update;  // an update document ($set, $unset, $inc, $push, $pull)
  bool upsert = false;
  bool many = true;  // false: update_one
};

struct ReplaceOne {
  std::string collection;
  Value filter;
  Document replacement;  // no operators; _id absent or equal to the current one
  bool upsert = false;
};

struct DeleteMany {
  std::string collection;
  Value filter;
  bool many = true;  // false: delete_one
};

// A named collection: the factory of the queries above. Reads take a null filter (`find()`,
// `find({})`) as "every document".
class Collection {
 public:
  explicit Collection(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  Find find(Value filter = Value::object(), Value projection = {}) const;
  FindOne find_one(Value filter = Value::object(), Value projection = {}) const;
  Count count(Value filter = Value::object()) const;
  Like like(Value example, std::string index, std::int64_t n = 10) const;
  InsertMany insert_one(Document doc) const;
  InsertMany insert_many(std::vector<Document> docs) const;
  // Writes need a filter object: a null filter is Error(invalid_argument) when executed, so an
  // unset variable never updates or deletes everything. `delete_many({})` (an empty braced list,
  // through the initializer-list overloads) is the empty filter and matches every document.
  UpdateMany update_one(Value filter, Value update, bool upsert = false) const;
  UpdateMany update_one(std::initializer_list<Member> filter, Value update,
                        bool upsert = false) const;
  UpdateMany update_many(Value filter, Value update, bool upsert = false) const;
  UpdateMany update_many(std::initializer_list<Member> filter, Value update,
                         bool upsert = false) const;
  ReplaceOne replace_one(Value filter, Document replacement, bool upsert = false) const;
  ReplaceOne replace_one(std::initializer_list<Member> filter, Document replacement,
                         bool upsert = false) const;
  DeleteMany delete_one(Value filter) const;
  DeleteMany delete_one(std::initializer_list<Member> filter) const;
  DeleteMany delete_many(Value filter) const;
  DeleteMany delete_many(std::initializer_list<Member> filter) const;

 private:
  std::string name_;
};

struct InsertResult {
  std::vector<std::string> inserted_ids;  // in the order of the documents given
};

struct UpdateResult {
  std::int64_t matched = 0;
  std::int64_t modified = 0;
  std::optional<std::string> upserted_id;
  std::vector<std::string> modified_ids;  // ids whose stored document changed (and the upsert)
};

struct DeleteResult {
  std::int64_t deleted = 0;
  std::vector<std::string> deleted_ids;
};

}  // namespace sddb
