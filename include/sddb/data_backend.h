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
#include <functional>
#include <string>
#include <vector>

#include "sddb/cursor.h"
#include "sddb/query.h"
#include "sddb/value.h"

namespace sddb {

// One model output: the vector a listener's model computed for one document.
struct OutputRow {
  std::string id;  // the document's _id
  std::vector<float> vector;
  std::int64_t model_version = 0;
  std::int64_t seq = 0;  // set by the backend when read
};

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

  // --- model outputs: one table per listener (design §5) ---
  // Table names are "_outputs/<listener identifier>"; the DB checks them with
  // validate_outputs_name(). Every row has a sequence number that grows with each write (a
  // rewritten row gets a new one), so a reader can catch up with what changed since a point.
  // Creates the table if it does not exist.
  virtual void create_outputs(const std::string& table) = 0;
  // Removes the table; a missing one is not an error.
  virtual void drop_outputs(const std::string& table) = 0;
  // Inserts or replaces rows by _id, in one transaction.
  virtual void write_outputs(const std::string& table, const std::vector<OutputRow>& rows) = 0;
  // Inserts the rows whose _id has no row yet, in one transaction, and leaves the rows that
  // exist as they are; returns how many were inserted. For writers that computed from what
  // they read a while ago (a DB catching up on open): another process may have written a
  // newer output meanwhile, and it must win.
  virtual std::size_t insert_missing_outputs(const std::string& table,
                                             const std::vector<OutputRow>& rows) = 0;
  // Deletes rows by _id, in one transaction; absent ids are ignored.
  virtual void delete_outputs(const std::string& table, const std::vector<std::string>& ids) = 0;
  // Calls fn for every row whose sequence number is above `after_seq`, in sequence order.
  virtual void scan_outputs(const std::string& table, std::int64_t after_seq,
                            const std::function<void(const OutputRow&)>& fn) = 0;
  // The rows of these ids that exist, in no particular order.
  virtual std::vector<OutputRow> get_outputs(const std::string& table,
                                             const std::vector<std::string>& ids) = 0;
  // Every _id in the table.
  virtual std::vector<std::string> output_ids(const std::string& table) = 0;
};

// Throws Error(invalid_argument) unless `table` is "_outputs/" followed by 1-128 characters of
// [A-Za-z0-9_.-/].
void validate_outputs_name(const std::string& table);

// Throws Error(invalid_argument) unless `name` is a valid collection name: 1-64 characters of
// [A-Za-z0-9_-], starting with a letter (names starting with '_' are sddb's own).
void validate_collection_name(const std::string& name);

}  // namespace sddb
