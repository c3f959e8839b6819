#pragma once
// DataBackend: the SPI of a document store (SQLite, PostgreSQL, ...). One implementation per
// URI scheme, registered in src/db/registry.cc.
//
// Contract shared by every implementation:
//  - Collection names are checked with validate_collection_name() before they reach SQL.
//  - Filters, updates and projections arrive as MongoDB documents and must give the same results
//    as the in-memory evaluator (src/query), which is the reference; tests/conformance holds the
//    cases every backend must pass.
//  - Documents arriving at insert_many already carry a string _id (the DB assigns missing ones).
//  - Every write is atomic: on any error nothing of that call is stored.
//  - An implementation must be safe to call from several threads at once (it may serialize).

#include <cstdint>
#include <string>
#include <vector>

#include "sddb/cursor.h"
#include "sddb/query.h"
#include "sddb/value.h"

namespace sddb {

class DataBackend {
 public:
  virtual ~DataBackend() = default;

  // The URI it was opened with, e.g. "sqlite://./data.db".
  virtual std::string uri() const = 0;

  // Names of the collections that exist, sorted.
  virtual std::vector<std::string> list_collections() = 0;
  // Removes a collection and its indexes; a missing collection is not an error.
  virtual void drop_collection(const std::string& collection) = 0;

  // Stores documents in one transaction. A duplicate _id (within the batch or with a stored
  // document) is Error(already_exists) naming the _id, and nothing of the batch is stored.
  virtual void insert_many(const std::string& collection, const std::vector<Document>& docs) = 0;

  virtual Cursor find(const Find& query) = 0;
  virtual std::int64_t count(const Count& query) = 0;
  virtual UpdateResult update(const UpdateMany& query) = 0;
  virtual UpdateResult replace_one(const ReplaceOne& query) = 0;
  virtual DeleteResult remove(const DeleteMany& query) = 0;

  // Makes an index on a dotted path so that filters on it avoid a full scan. Idempotent.
  virtual void create_index(const std::string& collection, const std::string& path) = 0;
};

// Throws Error(invalid_argument) unless `name` is a valid collection name: 1-64 characters of
// [A-Za-z0-9_-], starting with a letter (names starting with '_' are sddb's own).
void validate_collection_name(const std::string& name);

}  // namespace sddb
