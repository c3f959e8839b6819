#include "commands.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "core/document.h"
#include "progress.h"
#include "sddb/config.h"
#include "sddb/error.h"

namespace sddb::cli {

namespace {

// Buffered stdout: find can print millions of lines, and one write per line would dominate.
class Out {
 public:
  ~Out() { flush(); }
  void line(const Value& v) {
    v.append_json(buf_);
    buf_ += '\n';
    if (buf_.size() >= (1 << 16)) flush();
  }
  void line(std::string_view s) {
    buf_ += s;
    buf_ += '\n';
  }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), stdout) != buf_.size()) {
      throw Error(ErrorCode::io_error, std::string("writing to stdout: ") + std::strerror(errno));
    }
    buf_.clear();
    std::fflush(stdout);
  }

 private:
  std::string buf_;
};

// A JSON argument from the command line; `what` names it in the message ("FILTER").
Value parse_arg(const std::string& text, const char* what, Value if_empty) {
  if (text.empty()) return if_empty;
  try {
    return Value::parse(text);
  } catch (const Error& e) {
    throw Error(e.code(), std::string(what) + " is not valid JSON: " + e.what());
  }
}

bool is_blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
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

std::unique_ptr<DB> open_db(const GlobalOptions& global) {
  ConfigOverrides overrides;
  if (!global.db.empty()) overrides.data_backend = global.db;
  if (!global.config.empty()) overrides.config_file = global.config;
  return build_datalayer(load_config(overrides));
}

void run_insert(DB& db, const InsertOptions& o) {
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
  if (from_stdin) std::ios::sync_with_stdio(false);

  ProgressMeter progress(total_bytes);
  const Collection collection(o.collection);
  std::vector<Document> batch;
  batch.reserve(static_cast<std::size_t>(std::min<std::int64_t>(o.batch_size, 100000)));
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
      db.execute(collection.insert_many(std::move(batch)));
    } catch (const Error& e) {
      throw Error(e.code(), name + ":" + std::to_string(batch_first) + "-" +
                                std::to_string(line_no) + ": " + e.what() + committed_note());
    }
    inserted += n;
    batch.clear();
  };

  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    bytes += line.size() + 1;
    progress.update(line_no, inserted + batch.size(), bytes);
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
}

SortKey parse_sort_key(const std::string& spec) {
  const std::size_t colon = spec.rfind(':');
  if (colon != std::string::npos) {
    const std::string dir = spec.substr(colon + 1);
    const std::string path = spec.substr(0, colon);
    if (dir == "1" || dir == "asc") return {path, 1};
    if (dir == "-1" || dir == "desc") return {path, -1};
    // A field name may contain ':', but a number after the last one is surely a direction.
    if (!dir.empty() && dir.find_first_not_of("-+0123456789") == std::string::npos) {
      throw UsageError("--sort '" + spec + "': the direction must be 1 or -1");
    }
  }
  return {spec, 1};
}

void run_find(DB& db, const FindOptions& o) {
  Find q = Collection(o.collection)
               .find(parse_arg(o.filter, "FILTER", Value::object()),
                     parse_arg(o.projection, "--projection", Value()));
  for (const std::string& s : o.sort) q.sort_keys.push_back(parse_sort_key(s));
  if (o.limit < 0) throw UsageError("--limit must not be negative");
  if (o.skip < 0) throw UsageError("--skip must not be negative");
  q.limit_n = o.limit;
  q.skip_n = o.skip;
  Cursor cursor = db.execute(q);
  Out out;
  while (auto doc = cursor.next()) out.line(*doc);
}

void run_update(DB& db, const UpdateOptions& o) {
  Value filter = parse_arg(o.filter, "FILTER", Value::object());
  Value update = parse_arg(o.update, "UPDATE", Value::object());
  bool replacement = update.is_object() && update.size() > 0;
  if (update.is_object()) {
    for (const auto& [key, _] : update.as_object()) {
      if (!key.empty() && key[0] == '$') replacement = false;
    }
  }
  UpdateResult r;
  if (replacement) {
    // A document without operators replaces what it matches; MongoDB only ever replaces one
    // document that way, so we ask for --one rather than silently touching one of many.
    if (!o.one) {
      throw UsageError(
          "UPDATE has no $-operators, so it is a replacement document, which replaces one "
          "document: pass --one, or use e.g. {\"$set\": {...}}");
    }
    r = db.execute(Collection(o.collection).replace_one(filter, update, o.upsert));
  } else {
    const Collection c(o.collection);
    r = db.execute(o.one ? c.update_one(filter, update, o.upsert)
                         : c.update_many(filter, update, o.upsert));
  }
  Out out;
  out.line(update_result_json(r));
}

void run_delete(DB& db, const DeleteOptions& o) {
  Value filter = parse_arg(o.filter, "FILTER", Value::object());
  const Collection c(o.collection);
  DeleteResult r = db.execute(o.one ? c.delete_one(filter) : c.delete_many(filter));
  Out out;
  out.line(Value{{"deleted", r.deleted}});
}

void run_count(DB& db, const std::string& collection, const std::string& filter) {
  const std::int64_t n =
      db.execute(Collection(collection).count(parse_arg(filter, "FILTER", Value::object())));
  Out out;
  out.line(Value{{"count", n}});
}

void run_collections(DB& db) {
  Out out;
  for (const std::string& name : db.collections()) out.line(std::string_view(name));
}

void run_create_index(DB& db, const std::string& collection, const std::string& path) {
  db.create_index(collection, path);
  Out out;
  out.line(Value{{"collection", collection}, {"index", path}});
}

}  // namespace sddb::cli
