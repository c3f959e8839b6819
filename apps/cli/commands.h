#pragma once
// The subcommands of the `sddb` command. Each one runs against an open DB, writes its results to
// stdout (JSON lines, or one JSON object for write results, so scripts can read them) and throws
// sddb::Error for failures, or UsageError for a bad command line that CLI11 cannot catch itself.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sddb/db.h"

namespace sddb::cli {

// A command line that parses but cannot be used, e.g. "--sort size:2". Exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GlobalOptions {
  std::string db;      // --db URI; empty: the configuration decides
  std::string config;  // --config FILE; empty: ./sddb.toml or $SDDB_CONFIG
};

// Opens the DB from the configuration, with --db and --config as the explicit overrides.
std::unique_ptr<DB> open_db(const GlobalOptions& global);

struct InsertOptions {
  std::string collection;
  std::string file;  // "-" for stdin
  std::int64_t batch_size = 1000;
};
void run_insert(DB& db, const InsertOptions& o);

struct FindOptions {
  std::string collection;
  std::string filter;             // JSON; empty: every document
  std::vector<std::string> sort;  // "PATH", "PATH:1" or "PATH:-1"
  std::int64_t limit = 0;
  std::int64_t skip = 0;
  std::string projection;  // JSON; empty: whole documents
};
void run_find(DB& db, const FindOptions& o);

struct UpdateOptions {
  std::string collection;
  std::string filter;
  std::string update;
  bool one = false;
  bool upsert = false;
};
void run_update(DB& db, const UpdateOptions& o);

struct DeleteOptions {
  std::string collection;
  std::string filter;
  bool one = false;
};
void run_delete(DB& db, const DeleteOptions& o);

void run_count(DB& db, const std::string& collection, const std::string& filter);
void run_collections(DB& db);
void run_create_index(DB& db, const std::string& collection, const std::string& path);

// Parses one --sort argument. UsageError when the direction is neither 1 nor -1.
SortKey parse_sort_key(const std::string& spec);

}  // namespace sddb::cli
