#include "commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <unordered_map>

#include "core/document.h"
#include "progress.h"
#include "query/evaluator.h"
#include "sddb/config.h"
#include "sddb/error.h"

namespace sddb::cli {

namespace {

// Buffered stdout, one JSON value per line: find can print millions of lines, and one write per
// line would dominate. Every command ends with finish(), which reports a failed write.
class Out {
 public:
  Out() = default;
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  // Only reached without finish() when the command failed: show what it printed before, but
  // never throw (this may run during unwinding) nor replace the error being reported.
  ~Out() {
    try {
      flush();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the command's own error is reported
    }
  }

  void line(const Value& v) {
    v.append_json(buf_);
    buf_ += '\n';
    if (buf_.size() >= (1 << 16)) flush();
  }
  void finish() { flush(); }

 private:
  void flush() {
    std::string text;
    text.swap(buf_);  // a failed write is not retried by the destructor
    write_stdout(text);
  }

  std::string buf_;
};

bool is_blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

constexpr const char* kWriteFilterHint = "; pass '{}' to match every document";
constexpr const char* kReadFilterHint = "; pass '{}', or leave FILTER out, to match every document";

std::string kind_of(const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      return "null";
    case Value::Type::boolean:
      return v.as_bool() ? "true" : "false";
    case Value::Type::integer:
    case Value::Type::real:
      return "a number";
    case Value::Type::string:
      return "a string";
    case Value::Type::array:
      return "an array";
    case Value::Type::object:
      break;
  }
  return "an object";
}

// A JSON object argument from the command line; `what` names it in messages ("FILTER"), `hint`
// ends the message of a usage error.
Value parse_object_arg(const std::string& text, const char* what, const char* hint) {
  if (is_blank(text)) throw UsageError(std::string(what) + " is empty" + hint);
  Value v;
  try {
    v = Value::parse(text);
  } catch (const Error& e) {
    throw Error(e.code(), std::string(what) + " is not valid JSON: " + e.what());
  }
  if (!v.is_object()) {
    throw UsageError(std::string(what) + " must be a JSON object, got " + kind_of(v) + hint);
  }
  return v;
}

Value optional_filter(const std::optional<std::string>& text) {
  return text ? parse_object_arg(*text, "FILTER", kReadFilterHint) : Value::object();
}

// A line is always line 1 of its own JSON text; the file's line number is the useful one.
std::string without_line_one(std::string msg) {
  const std::string_view from = "invalid JSON at line 1 column ";
  if (msg.rfind(from, 0) == 0) msg.replace(0, from.size(), "invalid JSON at column ");
  return msg;
}

// A --filter or --projection option: given means an object, parsed as FILTER is.
Value optional_object_option(const std::optional<std::string>& text, const char* option,
                             const char* hint) {
  return text ? parse_object_arg(*text, option, hint) : Value::object();
}

constexpr const char* kOptionFilterHint = "; leave --filter out to use every document";

Value ref_json(const ComponentRef& ref) {
  Value jobs = Value::array();
  for (const std::string& j : ref.jobs) jobs.push_back(Value(j));
  return Value{{"type_id", ref.type_id},
               {"identifier", ref.identifier},
               {"version", ref.version},
               {"created", ref.created},
               {"jobs", std::move(jobs)}};
}

void print_ref(const ComponentRef& ref) {
  Out out;
  out.line(ref_json(ref));
  out.finish();
}

void require_at_least(std::int64_t value, std::int64_t least, const char* option) {
  if (value < least) {
    throw UsageError(std::string(option) + " must be at least " + std::to_string(least) + ", got " +
                     std::to_string(value));
  }
}

// {"a": {"b": v}} for the dotted key "a.b": how like() reads a listener's key from its example.
Value nest_at(const std::string& key, Value v) {
  std::size_t end = key.size();
  while (true) {
    const std::size_t dot = key.rfind('.', end - 1);
    const std::size_t begin = dot == std::string::npos || end == 0 ? 0 : dot + 1;
    Value obj = Value::object();
    obj.set(key.substr(begin, end - begin), std::move(v));
    v = std::move(obj);
    if (begin == 0) return v;
    end = dot;
  }
}

Value update_result_json(const UpdateResult& r) {
  Value v{{"matched", r.matched}, {"modified", r.modified}};
  if (r.upserted_id) v.set("upserted_id", *r.upserted_id);
  return v;
}

}  // namespace

void write_stdout(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) throw OutputClosed();
    if (n <= 0) {
      throw Error(ErrorCode::io_error, std::string("writing to standard output: ") +
                                           (n < 0 ? std::strerror(errno) : "nothing was written"));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

DB& LazyDb::get() {
  if (!db_) {
    ConfigOverrides overrides;
    if (!global_.db.empty()) overrides.data_backend = global_.db;
    if (!global_.config.empty()) overrides.config_file = global_.config;
    db_ = build_datalayer(load_config(overrides));
  }
  return *db_;
}

void run_insert(LazyDb& db, const InsertOptions& o) {
  if (o.batch_size < 1) throw UsageError("--batch-size must be at least 1");
  const bool from_stdin = o.file == "-";
  const std::string name = from_stdin ? "<stdin>" : o.file;
  std::ifstream file;
  std::uint64_t total_bytes = 0;
  if (!from_stdin) {
    file.open(o.file, std::ios::binary);
    if (!file) {
      throw Error(ErrorCode::io_error, "cannot open '" + o.file + "': " + std::strerror(errno));
    }
    struct stat st {};
    if (::stat(o.file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total_bytes = static_cast<std::uint64_t>(st.st_size);
    }
  }
  std::istream& in = from_stdin ? std::cin : file;
  DB& database = db.get();
  if (from_stdin) std::ios::sync_with_stdio(false);

  ProgressMeter progress(total_bytes);
  const Collection collection(o.collection);
  std::vector<Document> batch;
  batch.reserve(static_cast<std::size_t>(std::min<std::int64_t>(o.batch_size, 100000)));
  // The line of each explicit _id of the batch: a duplicate within the batch is caught here, and
  // one the library finds among stored documents is mapped back to its line.
  std::unordered_map<std::string, std::uint64_t> batch_ids;
  std::uint64_t line_no = 0, bytes = 0, inserted = 0;
  std::uint64_t batch_first = 0;

  auto committed_note = [&] {
    if (inserted == 0) return std::string(" (nothing was inserted)");
    return " (the " + std::to_string(inserted) + " documents before line " +
           std::to_string(batch_first) + " stay inserted; nothing from line " +
           std::to_string(batch_first) + " on)";
  };
  auto flush = [&] {
    if (batch.empty()) return;
    const std::size_t n = batch.size();
    try {
      database.execute(collection.insert_many(std::move(batch)));
    } catch (const Error& e) {
      const std::string msg = e.what();
      // The message names the _id ("duplicate _id 'x' in collection 'c'"); of the ids that
      // appear there as _id '...', the longest is the one, so 'a' is not blamed for 'a'b'.
      const std::pair<const std::string, std::uint64_t>* culprit = nullptr;
      if (e.code() == ErrorCode::already_exists) {
        for (const auto& entry : batch_ids) {
          if ((!culprit || entry.first.size() > culprit->first.size()) &&
              msg.find("_id '" + entry.first + "'") != std::string::npos) {
            culprit = &entry;
          }
        }
      }
      const std::string lines = culprit
                                    ? std::to_string(culprit->second)
                                    : std::to_string(batch_first) + "-" + std::to_string(line_no);
      throw Error(e.code(), name + ":" + lines + ": " + msg + committed_note());
    }
    inserted += n;
    batch.clear();
    batch_ids.clear();
  };

  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    bytes += line.size() + 1;
    progress.update(line_no, inserted + batch.size(), bytes);
    // Editors on Windows start UTF-8 files with a byte order mark; it is not part of the JSON.
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (is_blank(line)) continue;
    if (batch.empty()) batch_first = line_no;
    const std::string where = name + ":" + std::to_string(line_no);
    Document doc;
    try {
      doc = Value::parse(line);
      detail::check_document(doc, where);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind(where, 0) != 0) msg = where + ": " + without_line_one(msg);
      throw Error(e.code(), msg + committed_note());
    }
    if (const Value* id = doc.find("_id")) {  // a string: check_document said so
      const auto [it, fresh] = batch_ids.emplace(id->as_string(), line_no);
      if (!fresh) {
        throw Error(ErrorCode::already_exists, where + ": duplicate _id '" + id->as_string() +
                                                   "' in collection '" + o.collection +
                                                   "', already on line " +
                                                   std::to_string(it->second) + committed_note());
      }
    }
    batch.push_back(std::move(doc));
    if (static_cast<std::int64_t>(batch.size()) >= o.batch_size) flush();
  }
  if (in.bad()) {
    throw Error(ErrorCode::io_error,
                "reading " + name + " after line " + std::to_string(line_no) + committed_note());
  }
  flush();
  progress.finish(line_no, inserted, bytes);
  Out out;
  out.line(Value{{"inserted", static_cast<std::int64_t>(inserted)}});
  out.finish();
}

void run_model_fit(LazyDb& db, const ModelFitOptions& o) {
  require_at_least(o.dim, 1, "--dim");
  require_at_least(o.epochs, 1, "--epochs");
  require_at_least(o.min_count, 1, "--min-count");
  require_at_least(o.threads, 0, "--threads");
  require_at_least(o.seed, 0, "--seed");
  const Value filter = optional_object_option(o.filter, "--filter", kOptionFilterHint);
  FastTextOptions options;
  options.dim = o.dim;
  options.epochs = o.epochs;
  options.min_count = o.min_count;
  options.threads = o.threads;
  options.seed = o.seed;
  const Model model =
      Model::fasttext(o.identifier, options).fit(Collection(o.collection).find(filter), o.key);
  DB& database = db.get();
  TaskProgress progress("training fastText model '" + o.identifier + "'");
  const ComponentRef ref = database.add(
      model, [&](std::size_t done, std::size_t total) { progress.update(done, total); });
  progress.finish();
  print_ref(ref);
}

void run_model_add(LazyDb& db, const ModelAddOptions& o) {
  const int kinds = !o.fasttext.empty() + !o.torchscript.empty() + !o.http.empty();
  if (kinds != 1) {
    throw UsageError(
        std::string(kinds == 0 ? "say where the model comes from" : "give only one source") +
        ": --fasttext FILE, --torchscript FILE or --http URL");
  }
  require_at_least(o.dim, 0, "--dim");
  require_at_least(o.batch_size, 0, "--batch-size");
  if (o.fasttext.empty() == false) {
    if (o.dim != 0 || o.batch_size != 0 || o.input_dim != 0 || !o.model.empty()) {
      throw UsageError(
          "--fasttext takes no --dim, --batch-size, --input-dim or --model: the file "
          "says what the model is");
    }
  }
  if (o.torchscript.empty() && o.input_dim != 0) {
    throw UsageError("--input-dim is for --torchscript models");
  }
  if (o.http.empty() && !o.model.empty()) throw UsageError("--model is for --http models");
  Model model;
  if (!o.fasttext.empty()) {
    model = Model::fasttext_file(o.identifier, o.fasttext);
  } else if (!o.torchscript.empty()) {
    if (o.input_dim < 1) {
      throw UsageError("--torchscript needs --input-dim N, the length of each input vector");
    }
    TorchScriptOptions options;
    options.input_dim = static_cast<std::size_t>(o.input_dim);
    options.dim = static_cast<std::size_t>(o.dim);
    if (o.batch_size > 0) options.batch_size = static_cast<std::size_t>(o.batch_size);
    model = Model::torchscript(o.identifier, o.torchscript, options);
  } else {
    HttpEmbeddingOptions options;
    options.url = o.http;
    options.model = o.model;
    options.dim = static_cast<std::size_t>(o.dim);
    if (o.batch_size > 0) options.batch_size = static_cast<std::size_t>(o.batch_size);
    model = Model::http_embeddings(o.identifier, options);
  }
  print_ref(db.get().add(model));
}

void run_listen(LazyDb& db, const ListenOptions& o) {
  const Value filter = optional_object_option(o.filter, "--filter", kOptionFilterHint);
  if (o.model_version) require_at_least(*o.model_version, 0, "--model-version");
  const Listener listener(Collection(o.collection).find(filter), o.key, o.model, o.model_version,
                          o.identifier);
  DB& database = db.get();
  TaskProgress progress("computing '" + o.model + "' on " + o.collection + "." + o.key);
  progress.set_unit("docs");
  const ComponentRef ref = database.add(
      listener, [&](std::size_t done, std::size_t total) { progress.update(done, total); });
  progress.finish();
  print_ref(ref);
}

void run_index_create(LazyDb& db, const IndexCreateOptions& o) {
  Measure measure = Measure::cosine;
  if (o.measure == "cosine") {
    measure = Measure::cosine;
  } else if (o.measure == "dot") {
    measure = Measure::dot;
  } else if (o.measure == "l2") {
    measure = Measure::l2;
  } else {
    throw UsageError("--measure '" + o.measure + "' is not a measure; use cosine, dot or l2");
  }
  if (o.type != "auto" && o.type != "flat" && o.type != "hnsw") {
    throw UsageError("--type '" + o.type + "' is not an index type; use auto, flat or hnsw");
  }
  if (!parse_index_storage(o.options.storage)) {
    throw UsageError("--storage '" + o.options.storage +
                     "' is not an index storage; use auto, f32, u8, sq8 or f16");
  }
  VectorIndexOptions options = o.options;
  options.type = o.type;
  print_ref(db.get().add(VectorIndex(o.identifier, o.listener, measure, o.compatible, options)));
}

void run_search(LazyDb& db, const SearchOptions& o) {
  if (o.text.has_value() == o.id.has_value()) {
    throw UsageError(o.text ? "give TEXT or --id, not both"
                            : "give TEXT to search for, or --id DOC_ID to search by a document");
  }
  require_at_least(o.n, 1, "-n");
  const Value filter = optional_object_option(o.filter, "--filter", kOptionFilterHint);
  Value projection;
  if (o.projection) {
    projection =
        parse_object_arg(*o.projection, "--projection", ", e.g. '{\"name\": 1}' or '{\"_id\": 0}'");
  }
  DB& database = db.get();
  Value example;
  if (o.id) {
    example = Value{{"_id", *o.id}};
  } else {
    // The key of the listener whose outputs the index holds; its model encodes the text. The
    // index names the listener's version, which may be hidden (removed with --force).
    VectorIndex index;
    std::optional<std::int64_t> listener_version;
    try {
      index = database.load_vector_index(o.index);
      const ComponentRecord record = database.show("vector_index", o.index, std::nullopt);
      const Value* v = record.body.find("indexing_version");
      if (v && v->is_int()) listener_version = v->as_int();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
      throw Error(ErrorCode::not_found, "search: no vector index '" + o.index + "'");
    }
    const Listener listener = database.load_listener(index.indexing_listener(), listener_version);
    example = nest_at(listener.key(), Value(*o.text));
  }
  const Like q = Collection(o.collection).like(example, o.index, o.n).find(filter, projection);
  Cursor cursor = database.execute(q);
  Out out;
  while (auto doc = cursor.next()) out.line(*doc);
  out.finish();
}

namespace {

std::int64_t parse_version(const std::string& text, const char* what) {
  std::int64_t v = 0;
  std::size_t used = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < 0 ||
      !std::isdigit(static_cast<unsigned char>(text[0]))) {
    throw UsageError(std::string(what) + " '" + text + "' is not a version (0, 1, 2 ...)");
  }
  return v;
}

}  // namespace

void run_show(LazyDb& db, const std::vector<std::string>& args) {
  if (args.size() > 3) throw UsageError("show takes at most TYPE ID VERSION");
  std::optional<std::int64_t> version;
  if (args.size() == 3) version = parse_version(args[2], "VERSION");
  DB& database = db.get();
  Out out;
  if (args.empty()) {
    for (const std::string& t : database.show()) out.line(Value{{"type_id", t}});
  } else if (args.size() == 1) {
    for (const std::string& id : database.show(args[0])) {
      out.line(Value{{"type_id", args[0]}, {"identifier", id}});
    }
  } else if (args.size() == 2) {
    for (std::int64_t v : database.show(args[0], args[1])) {
      out.line(Value{{"type_id", args[0]}, {"identifier", args[1]}, {"version", v}});
    }
  } else {
    // Hidden versions (removed with --force while in use) can be shown by number.
    const ComponentRecord r =
        database.metadata().get_component(args[0], args[1], version, /*allow_hidden=*/true);
    out.line(Value{{"type_id", r.type_id},
                   {"identifier", r.identifier},
                   {"version", r.version},
                   {"hidden", r.hidden},
                   {"body", r.body},
                   {"created_at_ms", r.created_at_ms}});
  }
  out.finish();
}

void run_remove(LazyDb& db, const RemoveOptions& o) {
  DB& database = db.get();
  std::vector<std::int64_t> versions;
  if (o.version) {
    versions.push_back(*o.version);
  } else {
    versions = database.show(o.type_id, o.identifier);
  }
  database.remove(o.type_id, o.identifier, o.version, o.force);
  Out out;
  for (std::int64_t v : versions) {
    std::string status = "deleted";
    try {
      if (database.metadata().get_component(o.type_id, o.identifier, v, true).hidden) {
        status = "hidden";
      }
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
    }
    out.line(Value{
        {"type_id", o.type_id}, {"identifier", o.identifier}, {"version", v}, {"status", status}});
  }
  out.finish();
}

namespace {

// sddb::to_string(JobStatus) is declared in sddb/metadata_store.h but not defined by the library
// yet, so the CLI names the statuses itself.
constexpr std::pair<JobStatus, const char*> kJobStatuses[] = {{JobStatus::pending, "pending"},
                                                              {JobStatus::running, "running"},
                                                              {JobStatus::success, "success"},
                                                              {JobStatus::failed, "failed"}};

std::string status_name(JobStatus s) {
  for (const auto& [status, name] : kJobStatuses) {
    if (status == s) return name;
  }
  return "unknown";
}

}  // namespace

void run_jobs(LazyDb& db, const std::optional<std::string>& status) {
  std::optional<JobStatus> wanted;
  if (status) {
    for (const auto& [s, name] : kJobStatuses) {
      if (name == *status) wanted = s;
    }
    if (!wanted) {
      throw UsageError("--status '" + *status +
                       "' is not a job status; use pending, running, success or failed");
    }
  }
  DB& database = db.get();
  Out out;
  for (const JobRecord& j : database.jobs()) {
    if (wanted && j.status != *wanted) continue;
    out.line(Value{{"id", j.id},
                   {"kind", j.kind},
                   {"args", j.args},
                   {"status", status_name(j.status)},
                   {"progress", j.progress},
                   {"error", j.error},
                   {"created_at_ms", j.created_at_ms},
                   {"updated_at_ms", j.updated_at_ms}});
  }
  out.finish();
}

SortKey parse_sort_key(const std::string& spec) {
  constexpr const char* kForms =
      "; use PATH or PATH:1 or PATH:asc (ascending), PATH:-1 or PATH:desc (descending)";
  const std::size_t colon = spec.rfind(':');
  const std::string path = spec.substr(0, colon);
  SortKey key{path, 1};
  if (colon != std::string::npos) {
    const std::string dir = spec.substr(colon + 1);
    if (dir == "-1" || dir == "desc") {
      key.direction = -1;
    } else if (dir != "1" && dir != "asc") {
      if (dir.empty()) throw UsageError("--sort '" + spec + "': no direction after ':'" + kForms);
      throw UsageError(
          "--sort '" + spec + "': '" + dir + "' after the last ':' is not a direction" + kForms +
          " (a field whose name contains ':' needs the direction, e.g. '" + spec + ":1')");
    }
  }
  if (path.empty()) throw UsageError("--sort '" + spec + "' names no field" + kForms);
  return key;
}

void run_find(LazyDb& db, const FindOptions& o) {
  Find q = Collection(o.collection).find(optional_filter(o.filter));
  if (o.projection) {
    q.projection =
        parse_object_arg(*o.projection, "--projection", ", e.g. '{\"name\": 1}' or '{\"_id\": 0}'");
  }
  for (const std::string& s : o.sort) q.sort_keys.push_back(parse_sort_key(s));
  if (o.limit < 0) throw UsageError("--limit must not be negative");
  if (o.skip < 0) throw UsageError("--skip must not be negative");
  q.limit_n = o.limit;
  q.skip_n = o.skip;
  Cursor cursor = db.get().execute(q);
  Out out;
  while (auto doc = cursor.next()) out.line(*doc);
  out.finish();
}

void run_update(LazyDb& db, const UpdateOptions& o) {
  Value filter = parse_object_arg(o.filter, "FILTER", kWriteFilterHint);
  Value update = parse_object_arg(
      o.update, "UPDATE", ", e.g. '{\"$set\": {\"a\": 1}}', or a replacement document with --one");
  // Whether UPDATE replaces is the library's rule, the one DB::execute(UpdateMany) applies; it
  // also rejects fields mixed with operators.
  UpdateResult r;
  if (query::parse_update(update).is_replacement) {
    // A document without operators replaces what it matches; MongoDB only ever replaces one
    // document that way, so we ask for --one rather than silently touching one of many.
    if (!o.one) {
      throw UsageError(
          "UPDATE has no $-operators, so it is a replacement document, which replaces one "
          "document: pass --one, or use e.g. {\"$set\": {...}}");
    }
    r = db.get().execute(Collection(o.collection).replace_one(filter, update, o.upsert));
  } else {
    const Collection c(o.collection);
    r = db.get().execute(o.one ? c.update_one(filter, update, o.upsert)
                               : c.update_many(filter, update, o.upsert));
  }
  Out out;
  out.line(update_result_json(r));
  out.finish();
}

void run_delete(LazyDb& db, const DeleteOptions& o) {
  Value filter = parse_object_arg(o.filter, "FILTER", kWriteFilterHint);
  const Collection c(o.collection);
  DeleteResult r = db.get().execute(o.one ? c.delete_one(filter) : c.delete_many(filter));
  Out out;
  out.line(Value{{"deleted", r.deleted}});
  out.finish();
}

void run_count(LazyDb& db, const CountOptions& o) {
  const Count q = Collection(o.collection).count(optional_filter(o.filter));
  const std::int64_t n = db.get().execute(q);
  Out out;
  out.line(Value{{"count", n}});
  out.finish();
}

void run_collections(LazyDb& db) {
  Out out;
  for (const std::string& name : db.get().collections()) out.line(Value{{"collection", name}});
  out.finish();
}

void run_create_index(LazyDb& db, const std::string& collection, const std::string& path) {
  db.get().create_index(collection, path);
  Out out;
  out.line(Value{{"collection", collection}, {"index", path}});
  out.finish();
}

}  // namespace sddb::cli
