#pragma once
// The subcommands of the `sddb` command. Each one runs against an open DB, writes its results to
// stdout as JSON lines (every line one JSON object, so scripts can read them), writes them out
// before it returns, and throws sddb::Error for failures, UsageError for a bad command line that
// CLI11 cannot catch itself, and OutputClosed when the reader of stdout went away.

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sddb/db.h"

namespace sddb::cli {

// A command line that parses but cannot be used, e.g. "--sort size:2". Exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writing to stdout failed with EPIPE: its reader has gone (`sddb find docs | head -1`). Not an
// error to report; main stops quietly with exit code 141, as a program stopped by SIGPIPE.
class OutputClosed : public std::exception {
 public:
  const char* what() const noexcept override { return "standard output was closed"; }
};

// Writes all of `text` to standard output with write(2) (no stdio buffer whose errors could be
// lost). Throws OutputClosed on EPIPE (SIGPIPE must be ignored, as main does), otherwise
// Error(io_error) "writing to standard output: <strerror>".
void write_stdout(std::string_view text);

struct GlobalOptions {
  std::string db;      // --db URI; empty: the configuration decides
  std::string config;  // --config FILE; empty: ./sddb.toml or $SDDB_CONFIG
};

// The DB from the configuration, with --db and --config as the explicit overrides, opened on
// first use: the commands check their arguments first, so a bad command line is reported
// without opening (or creating) a database. Errors of opening surface from get().
class LazyDb {
 public:
  explicit LazyDb(GlobalOptions global) : global_(std::move(global)) {}
  DB& get();

 private:
  GlobalOptions global_;
  std::unique_ptr<DB> db_;
};

struct InsertOptions {
  std::string collection;
  std::string file;  // "-" for stdin
  std::int64_t batch_size = 1000;
};
void run_insert(LazyDb& db, const InsertOptions& o);

// FILTER, UPDATE and --projection are JSON objects. One that is given but empty, null or not an
// object is a UsageError (`delete docs ''` must not mean "everything"); text that is not JSON is
// Error(invalid_argument) naming the argument.

struct FindOptions {
  std::string collection;
  std::optional<std::string> filter;  // JSON object; not given: every document
  std::vector<std::string> sort;      // see parse_sort_key
  std::int64_t limit = 0;
  std::int64_t skip = 0;
  std::optional<std::string> projection;  // JSON object; not given: whole documents
};
void run_find(LazyDb& db, const FindOptions& o);

// UPDATE with $-operators updates; without (by the library's rule, query::parse_update, so {} is
// a replacement too) it is a replacement document for replace_one, which needs `one`.
struct UpdateOptions {
  std::string collection;
  std::string filter;  // JSON object, required: '{}' matches every document
  std::string update;
  bool one = false;
  bool upsert = false;
};
void run_update(LazyDb& db, const UpdateOptions& o);

struct DeleteOptions {
  std::string collection;
  std::string filter;  // JSON object, required: '{}' matches every document
  bool one = false;
};
void run_delete(LazyDb& db, const DeleteOptions& o);

struct CountOptions {
  std::string collection;
  std::optional<std::string> filter;  // JSON object; not given: every document
};
void run_count(LazyDb& db, const CountOptions& o);

// Prints {"collection": NAME} per collection, sorted by name.
void run_collections(LazyDb& db);
void run_create_index(LazyDb& db, const std::string& collection, const std::string& path);

// Parses one --sort argument: PATH, or PATH:DIR with DIR one of 1, asc, -1, desc. Anything else
// after the last ':' is a UsageError rather than part of the path, so `n:up` is not read as a
// field named "n:up"; a field whose name contains ':' is sorted with an explicit direction
// ("k:v:1"). An empty PATH is a UsageError too.
SortKey parse_sort_key(const std::string& spec);

}  // namespace sddb::cli
