// The sddb demo: import the package records of `apt-cache dumpavail` (tens of thousands of
// Debian control stanzas that nobody here wrote) into an sddb database, then show the query
// language on them, with timings.
//
//   apt-cache dumpavail | debian_packages_demo --db sqlite://./demo-data/packages.db -
//
// The demo is a list of steps run in order over one DemoContext; later features (models,
// listeners, semantic search) add steps to make_steps() and may read what earlier steps left in
// the context. `--steps import,queries` runs a subset, `--list-steps` names them.
//
// Re-running starts from a fresh database: a sqlite:// file (with its -wal/-shm files and the
// artifacts folder beside it) is deleted first; on other backends the collection is dropped.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "debian_control.h"
#include "sddb/sddb.h"

namespace {

using sddb::Collection;
using sddb::Value;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string db_uri = "sqlite://./demo-data/packages.db";
  std::string input = "-";
  std::vector<std::string> steps;  // empty: all
};

struct DemoContext {
  Options options;
  std::unique_ptr<sddb::DB> db;
  Collection packages{"packages"};
  std::int64_t imported = 0;
  std::string model_id = "ft";
  std::string listener_id;  // set by the listener step: "<model>/<key>"
  std::string index_id = "pkg-text";
};

struct Step {
  std::string name;
  std::string title;
  std::function<void(DemoContext&)> run;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string cell(const Value* v) {
  if (v == nullptr) return "-";
  if (v->is_string()) return v->as_string();
  if (v->is_int()) return with_commas(v->as_int());
  return v->to_json();
}

// One query: its description, the query text as a user would write it, its time and its rows.
void show(const std::string& title, const Value& filter, double ms) {
  std::printf("\n[%8.2f ms] %s\n             filter %s\n", ms, title.c_str(),
              filter.to_json().c_str());
}

void show_rows(const std::vector<sddb::Document>& docs, const std::vector<std::string>& fields) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::size_t> width(fields.size(), 0);
  for (const sddb::Document& d : docs) {
    std::vector<std::string>& row = rows.emplace_back();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      std::string c = cell(d.find(fields[i]));
      if (c.size() > 60) c = c.substr(0, 57) + "...";
      width[i] = std::max(width[i], c.size());
      row.push_back(std::move(c));
    }
  }
  for (const auto& row : rows) {
    std::string line = "             ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      // Pad every column but the last, so the columns line up.
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

std::int64_t timed_count(DemoContext& ctx, const std::string& title, const Value& filter) {
  const auto start = Clock::now();
  const std::int64_t n = ctx.db->execute(ctx.packages.count(filter));
  show(title, filter, ms_since(start));
  std::printf("             -> %s packages\n", with_commas(n).c_str());
  return n;
}

void timed_find(DemoContext& ctx, const std::string& title, const sddb::Find& q,
                const std::vector<std::string>& fields) {
  const auto start = Clock::now();
  std::vector<sddb::Document> docs = ctx.db->execute(q).to_vector();
  const double ms = ms_since(start);
  show(title, q.filter, ms);
  std::string extra;
  for (const sddb::SortKey& k : q.sort_keys) {
    extra += (extra.empty() ? "sort " : ", ") + k.path + (k.direction < 0 ? " desc" : " asc");
  }
  if (q.limit_n > 0) extra += (extra.empty() ? "" : ", ") + ("limit " + std::to_string(q.limit_n));
  if (!extra.empty()) std::printf("             %s\n", extra.c_str());
  show_rows(docs, fields);
}

// --- text for the model ----------------------------------------------------------------------

// The field the model trains on and listens to: see search_text().
constexpr const char* kTextKey = "text";

// Words that carry no meaning of their own. fastText's sentence vector is the mean of its
// words' normalized vectors, so each of these would pull every synopsis towards the others.
bool is_stopword(std::string_view w) {
  static const std::set<std::string_view> kStop = {
      "a",     "an",           "and",     "are",         "as",   "at",    "based", "be",   "by",
      "for",   "from",         "in",      "into",        "is",   "it",    "its",   "of",   "on",
      "or",    "that",         "the",     "this",        "to",   "using", "via",   "with", "x",
      "dummy", "transitional", "package", "metapackage", "your", "you",   "which", "can"};
  return w.size() < 2 || kStop.count(w) > 0;
}

// Lowercase words of `text` (letters, digits, '+'; so "C++" stays a word), stopwords dropped,
// appended to `out` with single spaces. fastText is case-sensitive and splits on spaces only.
// A word already in `out` is not repeated: the mean would count it twice.
void append_words(std::string_view text, std::string& out) {
  std::string word;
  auto flush = [&] {
    if (!word.empty() && !is_stopword(word) &&
        (" " + out + " ").find(" " + word + " ") == std::string::npos) {
      if (!out.empty()) out += ' ';
      out += word;
    }
    word.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '+') {
      word += c;
    } else if (u >= 'A' && u <= 'Z') {
      word += static_cast<char>(u - 'A' + 'a');
    } else {
      flush();
    }
  }
  flush();
}

// Debtags facets that say what a package is for ("use::editing", "works-with::image:raster");
// the others (implemented-in, interface, uitoolkit, ...) say how it is built.
bool is_topic_facet(std::string_view facet) {
  static const std::set<std::string_view> kTopics = {
      "use",  "works-with", "field", "admin",    "network",  "protocol", "sound",
      "game", "web",        "mail",  "security", "hardware", "science"};
  return kTopics.count(facet) > 0;
}

// What the model sees of a package: the synopsis, the extended description when apt has it
// (rarely: see README.md) and the topic debtags as words, e.g. for gimp
// "gnu image manipulation program arts editing learning image raster".
// Questions go through the same function, so both sides have the same vocabulary.
std::string search_text(const sddb::Document& doc) {
  std::string out;
  if (const Value* d = doc.find("description"); d != nullptr && d->is_string()) {
    append_words(d->as_string(), out);
  }
  if (const Value* d = doc.find("long_description"); d != nullptr && d->is_string()) {
    append_words(d->as_string(), out);
  }
  if (const Value* tags = doc.find("tags"); tags != nullptr && tags->is_array()) {
    for (const Value& t : tags->as_array()) {
      if (!t.is_string()) continue;
      const std::string& tag = t.as_string();
      const std::size_t sep = tag.find("::");
      if (sep == std::string::npos || !is_topic_facet(std::string_view(tag).substr(0, sep))) {
        continue;
      }
      const std::string_view value = std::string_view(tag).substr(sep + 2);
      if (value == "TODO") continue;
      append_words(value, out);
    }
  }
  return out;
}

std::string question_text(std::string_view question) {
  std::string out;
  append_words(question, out);
  return out;
}

// A one-line progress meter on stderr (so that piping stdout keeps the report clean), only
// when stderr is a terminal.
sddb::ProgressFn progress_meter(std::string what) {
  if (isatty(STDERR_FILENO) != 1) return {};
  return [what = std::move(what), last = -1](std::size_t done, std::size_t total) mutable {
    const int pct = total == 0 ? 0 : static_cast<int>(100.0 * done / total);
    if (pct == last) return;
    last = pct;
    std::fprintf(stderr, "\r             %s: %3d%%%s", what.c_str(), pct, pct >= 100 ? "\n" : "");
    std::fflush(stderr);
  };
}

// --- steps -----------------------------------------------------------------------------------

void fresh_database(DemoContext& ctx) {
  namespace fs = std::filesystem;
  const std::string& uri = ctx.options.db_uri;
  const std::string prefix = "sqlite://";
  if (uri.rfind(prefix, 0) == 0 && uri.size() > prefix.size() && uri != "sqlite://:memory:") {
    const fs::path file = uri.substr(prefix.size());
    sddb::ConfigOverrides overrides;
    overrides.data_backend = uri;
    const sddb::Config cfg = sddb::load_config(overrides);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      fs::remove(file.string() + suffix);
    }
    // Only the artifacts folder the configuration derives from the file is ours to delete.
    if (cfg.resolved_artifact_store() == "file://" + file.string() + ".artifacts") {
      fs::remove_all(file.string() + ".artifacts");
    }
    if (file.has_parent_path()) fs::create_directories(file.parent_path());
    ctx.db = sddb::superduper(uri);
  } else {
    ctx.db = sddb::superduper(uri);
    ctx.db->drop_collection(ctx.packages.name());
  }
  std::printf("database %s (fresh)\n", uri.c_str());
}

void import_packages(DemoContext& ctx) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (ctx.options.input != "-") {
    file.open(ctx.options.input, std::ios::binary);
    if (!file) {
      throw sddb::Error(sddb::ErrorCode::io_error, "cannot open '" + ctx.options.input + "'");
    }
    in = &file;
  }
  sddb::debian::ControlReader reader(*in, ctx.options.input);
  constexpr std::size_t kBatch = 1000;
  std::vector<sddb::Document> batch;
  batch.reserve(kBatch);
  double insert_ms = 0;
  const auto start = Clock::now();
  auto flush = [&] {
    const auto t = Clock::now();
    ctx.db->execute(ctx.packages.insert_many(std::move(batch)));
    insert_ms += ms_since(t);
    batch.clear();
  };
  while (auto stanza = reader.next()) {
    sddb::Document doc = sddb::debian::package_document(*stanza, reader.source());
    doc.set(kTextKey, Value(search_text(doc)));
    batch.push_back(std::move(doc));
    ++ctx.imported;
    if (batch.size() == kBatch) flush();
  }
  if (!batch.empty()) flush();
  const double total_ms = ms_since(start);
  if (ctx.imported == 0) {
    throw sddb::Error(sddb::ErrorCode::invalid_argument,
                      reader.source() + " holds no package stanzas; pipe in `apt-cache dumpavail`");
  }
  std::printf("imported %s packages from %s (%.1f MiB, %s lines) in %.2f s\n",
              with_commas(ctx.imported).c_str(), reader.source().c_str(),
              static_cast<double>(reader.bytes_read()) / (1024.0 * 1024.0),
              with_commas(static_cast<std::int64_t>(reader.lines_read())).c_str(),
              total_ms / 1000.0);
  auto rate = [&](double ms) {
    return with_commas(
        static_cast<std::int64_t>(static_cast<double>(ctx.imported) / (ms / 1000.0)));
  };
  std::printf("  %s docs/s end to end (parse + insert), %s docs/s inside insert_many\n",
              rate(total_ms).c_str(), rate(insert_ms).c_str());
  const auto one = ctx.db->execute(ctx.packages.find_one(Value{{"name", "sqlite3"}}));
  if (one) std::printf("  one document: %s\n", one->to_json().c_str());
}

void run_queries(DemoContext& ctx) {
  const Collection& p = ctx.packages;
  timed_count(ctx, "all packages", Value::object());
  timed_find(ctx, "small games (section games, under 100 KB)",
             p.find(sddb::json(R"({"section": "games", "size": {"$lt": 100000}})"))
                 .sort("size", -1)
                 .limit(5),
             {"name", "size", "description"});
  timed_count(ctx, "$regex: descriptions mentioning SQLite, any case",
              sddb::json(R"({"description": {"$regex": "sqlite", "$options": "i"}})"));
  timed_find(ctx, "$regex on names: Python SQL packages",
             p.find(sddb::json(R"({"name": {"$regex": "^python3-.*sql"}})")).sort("name").limit(8),
             {"name", "version", "description"});
  timed_count(ctx, "$in: priority required or important",
              sddb::json(R"({"priority": {"$in": ["required", "important"]}})"));
  timed_find(
      ctx, "arrays: packages depending on libsqlite3-0, largest first",
      p.find(sddb::json(R"({"depends": "libsqlite3-0"})")).sort("installed_size", -1).limit(8),
      {"name", "installed_size", "section"});
  timed_count(ctx, "arrays: $all of two debtags",
              sddb::json(R"({"tags": {"$all": ["role::program", "interface::commandline"]}})"));
  timed_count(ctx, "$exists and $or: no homepage, or in section oldlibs",
              sddb::json(R"({"$or": [{"homepage": {"$exists": false}}, {"section": "oldlibs"}]})"));
  timed_find(ctx, "sort + limit + projection: the 10 largest installs",
             p.find(Value::object(), sddb::json(R"({"name": 1, "installed_size": 1, "_id": 0})"))
                 .sort("installed_size", -1)
                 .limit(10),
             {"name", "installed_size"});
}

void index_and_requery(DemoContext& ctx) {
  const Collection& p = ctx.packages;
  const Value by_name = Value{{"name", "sqlite3"}};
  const Value by_section = sddb::json(R"({"section": "database", "size": {"$gt": 1000000}})");
  timed_find(ctx, "before create_index: one package by name", p.find(by_name),
             {"name", "version", "section"});
  timed_count(ctx, "before create_index: big packages in section database", by_section);

  auto start = Clock::now();
  ctx.db->create_index(p.name(), "name");
  ctx.db->create_index(p.name(), "section");
  std::printf("\n[%8.2f ms] create_index(packages, name) and create_index(packages, section)\n",
              ms_since(start));

  timed_find(ctx, "after create_index: the same query by name", p.find(by_name),
             {"name", "version", "section"});
  timed_count(ctx, "after create_index: the same query by section", by_section);
}

void update_and_delete(DemoContext& ctx) {
  const Collection& p = ctx.packages;
  auto start = Clock::now();
  sddb::UpdateResult u = ctx.db->execute(
      p.update_many(sddb::json(R"({"section": "games"})"),
                    sddb::json(R"({"$set": {"fun": true}, "$inc": {"installed_size": 1}})")));
  std::printf("\n[%8.2f ms] update_many games: $set fun, $inc installed_size\n", ms_since(start));
  std::printf("             -> matched %s, modified %s\n", with_commas(u.matched).c_str(),
              with_commas(u.modified).c_str());
  timed_count(ctx, "packages now marked fun", Value{{"fun", true}});

  start = Clock::now();
  u = ctx.db->execute(p.update_one(Value{{"name", "sqlite3"}},
                                   sddb::json(R"({"$push": {"tags": "demo::touched"}})")));
  std::printf("\n[%8.2f ms] update_one sqlite3: $push a tag -> matched %lld, modified %lld\n",
              ms_since(start), static_cast<long long>(u.matched),
              static_cast<long long>(u.modified));

  const Value transitional = Value{{"section", "oldlibs"}};
  timed_count(ctx, "before delete: section oldlibs", transitional);
  start = Clock::now();
  sddb::DeleteResult d = ctx.db->execute(p.delete_many(transitional));
  std::printf("\n[%8.2f ms] delete_many section oldlibs -> deleted %s\n", ms_since(start),
              with_commas(d.deleted).c_str());
  timed_count(ctx, "all packages after the delete", Value::object());
}

void train_model(DemoContext& ctx) {
  // Small corpus (a synopsis and a few topic words per package, ~0.7 M words), so many epochs
  // are cheap; character n-grams 3..5 let "archiver", "archives" and "archiving" share meaning.
  sddb::FastTextOptions o;
  o.dim = 100;
  o.epochs = 10;
  o.minn = 3;
  o.maxn = 5;
  o.min_count = 2;
  o.ws = 5;
  o.seed = 7;
  const sddb::Model model =
      sddb::Model::fasttext(ctx.model_id, o).fit(ctx.packages.find(), kTextKey);
  std::printf(
      "model fasttext '%s': dim %d, %d epochs, skipgram, char n-grams %d..%d, on field '%s'\n",
      ctx.model_id.c_str(), o.dim, o.epochs, o.minn, o.maxn, kTextKey);
  const std::int64_t trained_on = ctx.db->execute(ctx.packages.count());
  auto start = Clock::now();
  const std::clock_t cpu = std::clock();
  sddb::ComponentRef ref = ctx.db->add(model, progress_meter("training"));
  const double cpu_s = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  std::printf("[%8.2f ms] db->add(model): trained on %s packages -> %s (created %s)\n",
              ms_since(start), with_commas(trained_on).c_str(), ref.key().c_str(),
              ref.created ? "yes" : "no");
  // On a busy machine the wall time says little; the CPU time is what training costs.
  std::printf("             training time %.1f s wall, %.1f s CPU on %u threads\n",
              ms_since(start) / 1000.0, cpu_s, std::max(1U, std::thread::hardware_concurrency()));

  // The same model again is the same component: nothing is trained or stored.
  start = Clock::now();
  ref = ctx.db->add(model);
  std::printf("[%8.2f ms] db->add(the same model) again -> %s (created %s: no retraining)\n",
              ms_since(start), ref.key().c_str(), ref.created ? "yes" : "no");

  const sddb::Model ft = ctx.db->load_model(ctx.model_id);
  start = Clock::now();
  const std::vector<float> v = ft.predict(Value(question_text("resize images")));
  std::printf("[%8.2f ms] predict(\"resize images\") -> %zu numbers, [%.3f, %.3f, %.3f, ...]\n",
              ms_since(start), v.size(), v[0], v[1], v[2]);
}

void add_listener(DemoContext& ctx) {
  const sddb::Listener listener(ctx.packages.find(), kTextKey, ctx.model_id);
  ctx.listener_id = listener.identifier();
  const std::int64_t n = ctx.db->execute(ctx.packages.count(Value::object()));
  const auto start = Clock::now();
  const sddb::ComponentRef ref = ctx.db->add(listener, progress_meter("backfill"));
  const double ms = ms_since(start);
  std::printf(
      "[%8.2f ms] db->add(Listener(packages, '%s', '%s')) -> %s, backfilled %s packages "
      "(%s docs/s)\n",
      ms, kTextKey, ctx.model_id.c_str(), ref.key().c_str(), with_commas(n).c_str(),
      with_commas(static_cast<std::int64_t>(static_cast<double>(n) / (ms / 1000.0))).c_str());
}

void add_vector_index(DemoContext& ctx) {
  const auto start = Clock::now();
  const sddb::ComponentRef ref =
      ctx.db->add(sddb::VectorIndex(ctx.index_id, ctx.listener_id, sddb::Measure::cosine));
  std::printf("[%8.2f ms] db->add(VectorIndex('%s', '%s', cosine)) -> %s, %s vectors\n",
              ms_since(start), ctx.index_id.c_str(), ctx.listener_id.c_str(), ref.key().c_str(),
              with_commas(static_cast<std::int64_t>(ctx.db->vector_database()->size(
                              ref.identifier + "/" + std::to_string(ref.version))))
                  .c_str());
}

void semantic_search(DemoContext& ctx) {
  struct Question {
    std::string text;
    Value filter;
  };
  // Packages that only carry another one's files (-dev, -data, -common, -doc) are left out
  // where a person asks for a program.
  const Value programs = sddb::json(R"({"$not": {"$regex": "-(dev|data|common|doc)$"}})");
  const std::vector<Question> questions = {
      {"edit photos and images", Value{{"section", "graphics"}}},
      {"play music files", Value{{"section", "sound"}, {"name", programs}}},
      {"python web framework", Value{{"section", "python"}}},
      {"compress files into an archive", Value::object()},
      {"monitor network traffic", Value{{"section", "net"}}},
      {"text editor for programmers", Value::object()},
  };
  for (const Question& q : questions) {
    const std::string words = question_text(q.text);
    sddb::Like like = ctx.packages.like(Value{{kTextKey, words}}, ctx.index_id, 8);
    if (!q.filter.as_object().empty()) like = like.find(q.filter);
    const auto start = Clock::now();
    const std::vector<sddb::Document> docs = ctx.db->execute(like).to_vector();
    const double ms = ms_since(start);
    std::printf("\n[%8.2f ms] \"%s\"\n", ms, q.text.c_str());
    std::printf("             like({%s: \"%s\"}, '%s', 8)%s\n", kTextKey, words.c_str(),
                ctx.index_id.c_str(),
                q.filter.as_object().empty() ? "" : (".find(" + q.filter.to_json() + ")").c_str());
    std::vector<sddb::Document> rows;
    for (const sddb::Document& d : docs) {
      sddb::Document r = d;
      char score[16];
      std::snprintf(score, sizeof score, "%.3f", d.find("_score")->as_double());
      r.set("_score", Value(std::string(score)));
      rows.push_back(std::move(r));
    }
    show_rows(rows, {"name", "section", "_score", "description"});
  }
}

std::vector<Step> make_steps() {
  return {
      {"open", "Open a fresh database", fresh_database},
      {"import", "Import apt-cache dumpavail", import_packages},
      {"queries", "The query language", run_queries},
      {"index", "create_index, then the same queries again", index_and_requery},
      {"write", "An update and a delete", update_and_delete},
      {"train", "Train fastText on the packages' text inside the database", train_model},
      {"listen", "A listener computes a vector for every package (backfill)", add_listener},
      {"vindex", "A vector index over the listener's outputs (cosine)", add_vector_index},
      {"semantic", "Questions in plain words: like(), with and without filters", semantic_search},
  };
}

int usage(const char* argv0, int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: %s [--db URI] [--steps a,b,...] [--list-steps] [INPUT|-]\n"
               "  Imports `apt-cache dumpavail` output (INPUT, or - for stdin, the default)\n"
               "  into --db (default sqlite://./demo-data/packages.db, recreated on each run)\n"
               "  and runs queries on it. Example:\n"
               "    apt-cache dumpavail | %s --db sqlite://./demo-data/packages.db -\n",
               argv0, argv0);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return usage(argv[0], 0);
    if (arg == "--list-steps") {
      list = true;
    } else if ((arg == "--db" || arg == "--steps") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--db") {
        options.db_uri = value;
      } else {
        for (std::size_t s = 0, e; s <= value.size(); s = e + 1) {
          e = value.find(',', s);
          if (e == std::string::npos) e = value.size();
          if (e > s) options.steps.push_back(value.substr(s, e - s));
        }
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage(argv[0], 2);
    } else {
      options.input = arg;
    }
  }

  const std::vector<Step> steps = make_steps();
  if (list) {
    for (const Step& s : steps) std::printf("%-10s %s\n", s.name.c_str(), s.title.c_str());
    return 0;
  }
  for (const std::string& name : options.steps) {
    bool known = false;
    for (const Step& s : steps) known = known || s.name == name;
    if (!known) {
      std::fprintf(stderr, "debian_packages_demo: unknown step '%s' (see --list-steps)\n",
                   name.c_str());
      return 2;
    }
  }

  if (options.input == "-" && isatty(STDIN_FILENO) == 1) {
    std::fprintf(stderr,
                 "debian_packages_demo: stdin is a terminal; pipe in `apt-cache dumpavail`\n");
    return usage(argv[0], 2);
  }

  DemoContext ctx;
  ctx.options = options;
  try {
    for (const Step& step : steps) {
      const bool wanted =
          options.steps.empty() || step.name == "open" ||
          std::find(options.steps.begin(), options.steps.end(), step.name) != options.steps.end();
      if (!wanted) continue;
      std::printf("\n== %s ==\n", step.title.c_str());
      const auto start = Clock::now();
      step.run(ctx);
      std::printf("   (%s: %.2f s)\n", step.name.c_str(), ms_since(start) / 1000.0);
      std::fflush(stdout);
    }
  } catch (const sddb::Error& e) {
    std::fprintf(stderr, "debian_packages_demo: error: %s: %s\n",
                 std::string(sddb::to_string(e.code())).c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "debian_packages_demo: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
