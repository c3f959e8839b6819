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

// --- the AI layer (design §4) ---
// Each add prints the ComponentRef as {"type_id", "identifier", "version", "created", "jobs"}.
// Training and backfills show progress on stderr when it is a terminal.

// `sddb model fit`: a fastText model trained on field `key` of the documents of `collection`
// that match `filter`.
struct ModelFitOptions {
  std::string identifier;
  std::string collection;
  std::string key;
  std::optional<std::string> filter;  // JSON object; not given: every document
  int dim = 100;
  int epochs = 5;
  int min_count = 2;
  int threads = 0;  // 0: every core
  int seed = 0;     // 0: fastText's default
};
void run_model_fit(LazyDb& db, const ModelFitOptions& o);

// `sddb model add`: a model from a file or a server; exactly one of fasttext, torchscript, http
// (else a UsageError). dim 0: found from the model (torchscript) or asked of the server (http).
struct ModelAddOptions {
  std::string identifier;
  std::string fasttext;     // .bin or .ftz
  std::string torchscript;  // a TorchScript module; needs input_dim
  std::string http;         // base URL of an OpenAI-compatible /v1/embeddings server
  std::string model;        // the server's model name (empty: the configuration's)
  std::int64_t input_dim = 0;
  std::int64_t dim = 0;
  std::int64_t batch_size = 0;  // 0: the kind's default
};
void run_model_add(LazyDb& db, const ModelAddOptions& o);

struct ListenOptions {
  std::string collection;
  std::string key;
  std::string model;
  std::optional<std::string> filter;  // JSON object; not given: every document
  std::string identifier;             // empty: "<model>/<key>"
  std::optional<std::int64_t> model_version;
};
void run_listen(LazyDb& db, const ListenOptions& o);

struct IndexCreateOptions {
  std::string identifier;
  std::string listener;
  std::string measure = "cosine";  // cosine, dot or l2; anything else is a UsageError
  std::string compatible;
  std::string type = "auto";   // auto, flat or hnsw; anything else is a UsageError
  VectorIndexOptions options;  // m and the efs (its type is set from `type`)
};
void run_index_create(LazyDb& db, const IndexCreateOptions& o);

// Vector search: `text` goes under the key of the index's indexing listener; `id` searches by
// that document's stored vector instead. Exactly one of them (else a UsageError). One line per
// hit, best first, each with "_score".
struct SearchOptions {
  std::string collection;
  std::optional<std::string> text;
  std::optional<std::string> id;
  std::string index;
  std::int64_t n = 10;
  std::optional<std::string> filter;      // JSON object
  std::optional<std::string> projection;  // JSON object
};
void run_search(LazyDb& db, const SearchOptions& o);

// `args` are [TYPE [ID [VERSION]]]: the types ({"type_id"}), the identifiers of a type
// ({"type_id", "identifier"}), the versions of one ({"type_id", "identifier", "version"}), or
// one record ({"type_id", "identifier", "version", "hidden", "body", "created_at_ms"}).
void run_show(LazyDb& db, const std::vector<std::string>& args);

// Removes one version, or every visible one; prints {"type_id", "identifier", "version",
// "status"} per version, status "deleted" or (forced while in use) "hidden".
struct RemoveOptions {
  std::string type_id;
  std::string identifier;
  std::optional<std::int64_t> version;
  bool force = false;
};
void run_remove(LazyDb& db, const RemoveOptions& o);

// Jobs, newest first, optionally of one status (pending, running, success, failed; anything
// else is a UsageError): {"id", "kind", "args", "status", "progress", "error", "created_at_ms",
// "updated_at_ms"} per job.
void run_jobs(LazyDb& db, const std::optional<std::string>& status);

// Parses one --sort argument: PATH, or PATH:DIR with DIR one of 1, asc, -1, desc. Anything else
// after the last ':' is a UsageError rather than part of the path, so `n:up` is not read as a
// field named "n:up"; a field whose name contains ':' is sorted with an explicit direction
// ("k:v:1"). An empty PATH is a UsageError too.
SortKey parse_sort_key(const std::string& spec);

}  // namespace sddb::cli
