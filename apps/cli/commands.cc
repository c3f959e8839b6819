#include "commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
