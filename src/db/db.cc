#include "sddb/db.h"

#include <string>

#include "core/document.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"

namespace sddb {

namespace {

// Everything about a query that can be checked without touching data is checked here, once,
// before a backend sees it: a bad query changes nothing, on every backend alike.
void check_filter(const Value& filter) { (void)query::parse_filter(filter); }

// Writes take no null filter: an unset filter variable must not update or delete everything.
// (In C++, `delete_many({})` picks the initializer-list overload and passes an empty object.)
void check_write_filter(const Value& filter, std::string_view collection) {
  if (filter.is_null()) {
    throw Error(ErrorCode::invalid_argument,
                "the filter of a write to '" + std::string(collection) +
                    "' is null; pass an empty object {} to match every document");
  }
  check_filter(filter);
}

// A field path for sorting or indexing: dot-separated, non-empty names, none an operator.
void check_field_path(const std::string& path, std::string_view what) {
  query::Path p = query::make_path(path, what);
  for (const std::string& part : p.parts) {
    if (part[0] == '$') {
      throw Error(ErrorCode::invalid_argument, std::string(what) + " '" + path +
                                                   "' has the component '" + part +
                                                   "', and names starting with '$' are operators");
    }
  }
}

void check_find(const Find& q) {
  validate_collection_name(q.collection);
  check_filter(q.filter);
  (void)query::parse_projection(q.projection);
  for (const SortKey& k : q.sort_keys) {
    check_field_path(k.path, "sort path");
    if (k.direction != 1 && k.direction != -1) {
      throw Error(ErrorCode::invalid_argument, "sort direction for '" + k.path +
                                                   "' must be 1 or -1, got " +
                                                   std::to_string(k.direction));
    }
  }
  if (q.skip_n < 0) {
    throw Error(ErrorCode::invalid_argument,
                "skip must not be negative, got " + std::to_string(q.skip_n));
  }
}

}  // namespace

Cursor DB::execute(const Find& q) {
  check_find(q);
  Find normalized = q;
  // MongoDB reads a negative limit as "one batch of at most |n|"; a cursor has one batch.
  if (normalized.limit_n < 0) normalized.limit_n = -normalized.limit_n;
  return databackend_->find(normalized);
}

std::optional<Document> DB::execute(const FindOne& q) {
  Cursor c = execute(q.find.limit(1));
  return c.next();
}

std::int64_t DB::execute(const Count& q) {
  validate_collection_name(q.collection);
  check_filter(q.filter);
  return databackend_->count(q);
}

InsertResult DB::execute(const InsertMany& q) { return execute(InsertMany(q)); }

InsertResult DB::execute(InsertMany&& q) {
  validate_collection_name(q.collection);
  InsertResult result;
  result.inserted_ids.reserve(q.documents.size());
  for (std::size_t i = 0; i < q.documents.size(); ++i) {
    Document& doc = q.documents[i];
    detail::check_document(doc, i, q.collection);
    if (const Value* id = doc.find("_id")) {
      result.inserted_ids.push_back(id->as_string());
      continue;
    }
    // _id goes first, as MongoDB stores it.
    std::string fresh = new_id();
    Object& members = doc.as_object();
    members.emplace(members.begin(), "_id", Value(fresh));
    result.inserted_ids.push_back(std::move(fresh));
  }
  databackend_->insert_many(q.collection, q.documents);
  after_insert(q.collection, q.documents);
  return result;
}

UpdateResult DB::execute(const UpdateMany& q) {
  validate_collection_name(q.collection);
  check_write_filter(q.filter, q.collection);
  if (query::parse_update(q.update).is_replacement) {
    // As MongoDB's update_one/update_many: a document without operators is a replacement, and
    // replacing is replace_one's job (it never replaces more than one document).
    throw Error(ErrorCode::invalid_argument, "an update for '" + q.collection +
                                                 "' needs update operators ($set, $unset, " +
                                                 "$inc, $push, $pull), got " + q.update.to_json() +
                                                 "; use replace_one to replace a whole document");
  }
  const std::string job = before_update(q.collection);
  UpdateResult r = databackend_->update(q);
  after_update(q.collection, r.modified_ids, job);
  return r;
}

UpdateResult DB::execute(const ReplaceOne& q) {
  validate_collection_name(q.collection);
  check_write_filter(q.filter, q.collection);
  detail::check_document(q.replacement, "replacement document for '" + q.collection + "'");
  (void)query::parse_update(q.replacement, /*replacement_only=*/true);
  const std::string job = before_update(q.collection);
  UpdateResult r = databackend_->replace_one(q);
  after_update(q.collection, r.modified_ids, job);
  return r;
}

DeleteResult DB::execute(const DeleteMany& q) {
  validate_collection_name(q.collection);
  check_write_filter(q.filter, q.collection);
  DeleteResult r = databackend_->remove(q);
  after_delete(q.collection, r.deleted_ids);
  return r;
}

void DB::create_index(const std::string& collection, const std::string& path) {
  validate_collection_name(collection);
  check_field_path(path, "index path");
  databackend_->create_index(collection, path);
}

std::vector<std::string> DB::collections() { return databackend_->list_collections(); }

void DB::drop_collection(const std::string& collection) {
  validate_collection_name(collection);
  databackend_->drop_collection(collection);
  after_drop(collection);
}

// ---------------------------------------------------------------------------------------------
// Query builders (sddb/query.h)

Find Find::sort(std::string path, int direction) const {
  Find f = *this;
  f.sort_keys.push_back({std::move(path), direction});
  return f;
}
Find Find::sort(std::vector<SortKey> keys) const {
  Find f = *this;
  f.sort_keys = std::move(keys);
  return f;
}
Find Find::skip(std::int64_t n) const {
  Find f = *this;
  f.skip_n = n;
  return f;
}
Find Find::limit(std::int64_t n) const {
  Find f = *this;
  f.limit_n = n;
  return f;
}
Find Find::project(Value projection) const {
  Find f = *this;
  f.projection = std::move(projection);
  return f;
}

namespace {
// `find()` and `count()` read a null filter as "all", as MongoDB reads find(None). Writes do not:
// see check_write_filter.
Value or_empty(Value filter) { return filter.is_null() ? Value::object() : std::move(filter); }
}  // namespace

Find Collection::find(Value filter, Value projection) const {
  Find f;
  f.collection = name_;
  f.filter = or_empty(std::move(filter));
  f.projection = std::move(projection);
  return f;
}
FindOne Collection::find_one(Value filter, Value projection) const {
  return FindOne{find(std::move(filter), std::move(projection))};
}
Count Collection::count(Value filter) const { return Count{name_, or_empty(std::move(filter))}; }
InsertMany Collection::insert_one(Document doc) const {
  InsertMany q{name_, {}};
  q.documents.push_back(std::move(doc));
  return q;
}
InsertMany Collection::insert_many(std::vector<Document> docs) const {
  return InsertMany{name_, std::move(docs)};
}
UpdateMany Collection::update_one(Value filter, Value update, bool upsert) const {
  return UpdateMany{name_, std::move(filter), std::move(update), upsert, false};
}
UpdateMany Collection::update_many(Value filter, Value update, bool upsert) const {
  return UpdateMany{name_, std::move(filter), std::move(update), upsert, true};
}
ReplaceOne Collection::replace_one(Value filter, Document replacement, bool upsert) const {
  return ReplaceOne{name_, std::move(filter), std::move(replacement), upsert};
}
DeleteMany Collection::delete_one(Value filter) const {
  return DeleteMany{name_, std::move(filter), false};
}
UpdateMany Collection::update_one(std::initializer_list<Member> filter, Value update,
                                  bool upsert) const {
  return update_one(Value(filter), std::move(update), upsert);
}
UpdateMany Collection::update_many(std::initializer_list<Member> filter, Value update,
                                   bool upsert) const {
  return update_many(Value(filter), std::move(update), upsert);
}
ReplaceOne Collection::replace_one(std::initializer_list<Member> filter, Document replacement,
                                   bool upsert) const {
  return replace_one(Value(filter), std::move(replacement), upsert);
}
DeleteMany Collection::delete_one(std::initializer_list<Member> filter) const {
  return delete_one(Value(filter));
}
DeleteMany Collection::delete_many(std::initializer_list<Member> filter) const {
  return delete_many(Value(filter));
}
DeleteMany Collection::delete_many(Value filter) const {
  return DeleteMany{name_, std::move(filter), true};
}

}  // namespace sddb
