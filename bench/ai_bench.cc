// ai_bench: the AI layer on the demo's corpus (Debian package records), each figure against a
// reference measured side by side in the same run.
//
//   like         db->execute(like({text: q}, index, 10)): encode + search + fetch documents
//                vs  vector_database()->search(index, model.predict(q), 10) alone.
//   like_filter  the same with .find({section: <the section of q's package>})
//                vs  the same raw search (n = 10, no filter).
//   backfill     db->add(Listener(packages, "text", model)): reads every document, predicts in
//                batches, writes the outputs  vs  model.predict() alone on the same texts in
//                the same batch sizes (256).
//
// The corpus is the demo's database (./demo-data/packages.db, made by `make demo`), copied to a
// temporary folder so the demo's files are never touched; its fastText model "ft", listener
// "ft/text" and index "pkg-text" are reused. Without it the bench imports `apt-cache dumpavail`
// itself and trains the same kind of model (fastText, dim 100) on the lowercased synopses.
// Rounds alternate the two sides of each pair; figures are medians over rounds (the ratio is
// the median of per-round ratios). Usage:
//   ai_bench [--demo-db PATH] [--queries N] [--rounds R] [--dir DIR] [--only like|backfill]

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "debian_control.h"
#include "sddb/sddb.h"

namespace fs = std::filesystem;

namespace {

using sddb::Collection;
using sddb::Value;
using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;

struct Options {
  std::string demo_db = "./demo-data/packages.db";
  std::string dir;
  std::size_t queries = 200;
  int rounds = 5;
  std::string only;  // "like" or "backfill": run one part (for profiling)
};

constexpr const char* kModel = "ft";
constexpr const char* kListener = "ft/text";
constexpr const char* kIndex = "pkg-text";
constexpr std::size_t kBatch = 256;  // the listener's predict batch (src/jobs/listeners.cc)

std::string lower_words(const std::string& s) {
  std::string out;
  bool space = true;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '+') {
      out += static_cast<char>(std::tolower(u));
      space = false;
    } else if (!space) {
      out += ' ';
      space = true;
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Imports `apt-cache dumpavail` and trains, listens and indexes as the demo does.
void build_corpus(sddb::DB& db) {
  std::fprintf(stderr, "no demo database: importing `apt-cache dumpavail` and training\n");
  FILE* pipe = popen("apt-cache dumpavail", "r");
  if (pipe == nullptr) throw sddb::Error(sddb::ErrorCode::io_error, "cannot run apt-cache");
  std::string text;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
  pclose(pipe);
  std::istringstream in(text);
  sddb::debian::ControlReader reader(in, "apt-cache dumpavail");
  std::vector<sddb::Document> batch;
  const Collection packages("packages");
  while (auto stanza = reader.next()) {
    sddb::Document d = sddb::debian::package_document(*stanza, reader.source());
    if (const Value* s = d.find("description")) d.set("text", Value(lower_words(s->as_string())));
    batch.push_back(std::move(d));
    if (batch.size() == 1000) db.execute(packages.insert_many(std::move(batch))), batch.clear();
  }
  if (!batch.empty()) db.execute(packages.insert_many(std::move(batch)));
  sddb::FastTextOptions o;
  o.dim = 100;
  o.epochs = 20;
  o.maxn = 5;
  db.add(sddb::Model::fasttext(kModel, o).fit(packages.find(), "text"));
  db.add(sddb::Listener(packages.find(), "text", kModel));
  db.add(sddb::VectorIndex(kIndex, kListener, sddb::Measure::cosine));
}

// The documents of `hits` read by primary key with a plain prepared statement on a second
// connection, each parsed into a Value: what fetching the like() results needs at least.
class PkFetch {
 public:
  explicit PkFetch(const std::string& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      throw sddb::Error(sddb::ErrorCode::io_error, "cannot open " + file);
    }
  }
  ~PkFetch() {
    for (auto& [n, st] : stmts_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }
  std::vector<sddb::Document> fetch(const std::vector<std::pair<std::string, double>>& hits) {
    sqlite3_stmt*& st = stmts_[hits.size()];
    if (st == nullptr) {
      std::string sql = "SELECT doc FROM \"packages\" WHERE _id IN (";
      for (std::size_t i = 0; i < hits.size(); ++i) sql += i ? ",?" : "?";
      sql += ")";
      sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    }
    for (std::size_t i = 0; i < hits.size(); ++i) {
      sqlite3_bind_text(st, static_cast<int>(i + 1), hits[i].first.data(),
                        static_cast<int>(hits[i].first.size()), SQLITE_STATIC);
    }
    std::vector<sddb::Document> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.push_back(
          sddb::json(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                                      static_cast<std::size_t>(sqlite3_column_bytes(st, 0)))));
    }
    sqlite3_reset(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::size_t, sqlite3_stmt*> stmts_;
};

Value in_ids(const std::vector<std::pair<std::string, double>>& hits) {
  sddb::Array a;
  for (const auto& h : hits) a.emplace_back(h.first);
  return Value{{"_id", Value{{"$in", Value(std::move(a))}}}};
}

struct Query {
  std::string text;
  std::string section;
};

void bench_like(sddb::DB& db, const std::string& file, const std::vector<Query>& queries,
                int rounds) {
  PkFetch pk(file);
  const Collection packages("packages");
  const sddb::Model model = db.load_model(kModel);
  const sddb::ComponentRecord rec = db.show("vector_index", kIndex, std::nullopt);
  // The VectorSearch name of an index version (src/db/ai_state.h: IndexState::name()).
  const std::string index = rec.identifier + "/" + std::to_string(rec.version);
  sddb::VectorSearch& vs = *db.vector_database();
  // Warm up both paths (the first like() loads the index; then SQLite's pages are cached).
  for (std::size_t i = 0; i < std::min<std::size_t>(20, queries.size()); ++i) {
    (void)db.execute(packages.like(Value{{"text", queries[i].text}}, kIndex, 10)).to_vector();
    (void)vs.search(index, model.predict(Value(queries[i].text)), 10);
  }
  std::printf("corpus: %zu vectors of %zu numbers in '%s'; %zu queries, %d rounds\n",
              vs.size(index), model.dim(), index.c_str(), queries.size(), rounds);

  // Per round: the median per-query time of each side.
  std::vector<double> raw_r, like_r, filt_r, enc_r, find_r, pk_r, ratio_like, ratio_filt;
  std::size_t results = 0, filtered_results = 0;
  volatile std::size_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> raw, like, filt, enc, by_find, by_pk;
    for (const Query& q : queries) {
      auto t0 = Clock::now();
      const std::vector<float> v = model.predict(Value(q.text));
      enc.push_back(seconds_since(t0));
      t0 = Clock::now();
      const auto hits = vs.search(index, v, 10);
      raw.push_back(seconds_since(t0));
      // The two halves of the fetch: what like() runs (find with _id $in), and a primary-key read.
      t0 = Clock::now();
      sink = sink + db.databackend().find(packages.find(in_ids(hits))).to_vector().size();
      by_find.push_back(seconds_since(t0));
      t0 = Clock::now();
      sink = sink + pk.fetch(hits).size();
      by_pk.push_back(seconds_since(t0));

      t0 = Clock::now();
      std::vector<sddb::Document> docs =
          db.execute(packages.like(Value{{"text", q.text}}, kIndex, 10)).to_vector();
      like.push_back(seconds_since(t0));
      results += docs.size();

      t0 = Clock::now();
      docs = db.execute(packages.like(Value{{"text", q.text}}, kIndex, 10)
                            .find(Value{{"section", q.section}}))
                 .to_vector();
      filt.push_back(seconds_since(t0));
      filtered_results += docs.size();
    }
    raw_r.push_back(median(raw));
    like_r.push_back(median(like));
    filt_r.push_back(median(filt));
    enc_r.push_back(median(enc));
    find_r.push_back(median(by_find));
    pk_r.push_back(median(by_pk));
    ratio_like.push_back(like_r.back() / raw_r.back());
    ratio_filt.push_back(filt_r.back() / raw_r.back());
  }
  auto us = [](double s) { return s * 1e6; };
  std::printf(
      "\n| query | median per query | reference: raw search n=10 | ratio (target <= 1.3) |\n");
  std::printf("|---|---|---|---|\n");
  std::printf("| like (encode+search+fetch) | %.0f us | %.0f us | %.2f |\n", us(median(like_r)),
              us(median(raw_r)), median(ratio_like));
  std::printf("| like().find({section}) | %.0f us | %.0f us | %.2f |\n", us(median(filt_r)),
              us(median(raw_r)), median(ratio_filt));
  std::printf(
      "encode alone (model.predict of one query): %.1f us; results per query: %.1f plain, "
      "%.1f filtered\n",
      us(median(enc_r)), static_cast<double>(results) / (rounds * queries.size()),
      static_cast<double>(filtered_results) / (rounds * queries.size()));
  std::printf(
      "fetch of the 10 hits: find({_id: {$in: ids}}) %.0f us, by primary key (plain SQL "
      "+ parse) %.0f us\n",
      us(median(find_r)), us(median(pk_r)));
  const double with_pk = median(enc_r) + median(raw_r) + median(pk_r);
  std::printf("encode + search + primary-key fetch: %.0f us = %.2f x the raw search\n", us(with_pk),
              with_pk / median(raw_r));
  std::printf("per-round ratios like: ");
  for (double x : ratio_like) std::printf("%.2f ", x);
  std::printf("; filtered: ");
  for (double x : ratio_filt) std::printf("%.2f ", x);
  std::printf("\n");
}

void bench_backfill(sddb::DB& db, int rounds) {
  const Collection packages("packages");
  const sddb::Model model = db.load_model(kModel);
  std::vector<Value> texts;
  for (const sddb::Document& d : db.execute(packages.find())) {
    if (const Value* t = d.find("text"); t != nullptr && !t->is_null()) texts.push_back(*t);
  }
  std::vector<double> ref_r, fill_r, ratio, read_r, write_r, predict_r;
  for (int r = 0; r < rounds; ++r) {
    // Reference: the model alone, the same texts in batches of the listener's size.
    auto t0 = Clock::now();
    std::size_t outputs = 0;
    for (std::size_t s = 0; s < texts.size(); s += kBatch) {
      std::vector<Value> batch(
          texts.begin() + static_cast<std::ptrdiff_t>(s),
          texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), s + kBatch)));
      outputs += model.predict(batch).size();
    }
    const double predict_s = seconds_since(t0);
    const double ref = static_cast<double>(outputs) / predict_s;

    // The other two halves of a backfill, alone: reading every document as the listener does
    // (whole documents), and writing the outputs in the listener's batches (4 x 256).
    t0 = Clock::now();
    std::vector<sddb::Document> docs = db.databackend().find(packages.find()).to_vector();
    const double read_s = seconds_since(t0);
    std::vector<sddb::OutputRow> rows;
    const std::vector<float> vec(model.dim(), 0.5F);
    for (const sddb::Document& d : docs) rows.push_back({d.find("_id")->as_string(), vec, 0, 0});
    docs.clear();
    const std::string table = "_outputs/bench-write";
    db.databackend().create_outputs(table);
    t0 = Clock::now();
    for (std::size_t s = 0; s < rows.size(); s += 4 * kBatch) {
      const std::vector<sddb::OutputRow> part(
          rows.begin() + static_cast<std::ptrdiff_t>(s),
          rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), s + 4 * kBatch)));
      db.databackend().write_outputs(table, part);
    }
    const double write_s = seconds_since(t0);
    db.databackend().drop_outputs(table);
    read_r.push_back(read_s);
    write_r.push_back(write_s);
    predict_r.push_back(predict_s);

    const std::string id = "bench-fill-" + std::to_string(r);
    t0 = Clock::now();
    db.add(sddb::Listener(packages.find(), "text", kModel, std::nullopt, id));
    const double fill = static_cast<double>(texts.size()) / seconds_since(t0);
    db.remove("listener", id);

    ref_r.push_back(ref);
    fill_r.push_back(fill);
    ratio.push_back(fill / ref);
    std::fprintf(stderr, "backfill round %d: %.0f docs/s vs predict %.0f docs/s (%.2f)\n", r, fill,
                 ref, fill / ref);
  }
  std::printf(
      "\n| work (%zu texts) | backfill docs/s | reference: predict alone docs/s | ratio "
      "(target >= 0.8) |\n",
      texts.size());
  std::printf("|---|---|---|---|\n");
  std::printf("| Listener backfill | %.0f | %.0f | %.2f |\n", median(fill_r), median(ref_r),
              median(ratio));
  const double fill_s = static_cast<double>(texts.size()) / median(fill_r);
  std::printf(
      "breakdown (s, medians): backfill %.2f = predict %.2f + read the documents %.2f + "
      "write the outputs %.2f + other %.2f\n",
      fill_s, median(predict_r), median(read_r), median(write_r),
      fill_s - median(predict_r) - median(read_r) - median(write_r));
  std::printf("per-round ratios: ");
  for (double x : ratio) std::printf("%.2f ", x);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--demo-db") {
      o.demo_db = next();
    } else if (a == "--queries") {
      o.queries = std::stoul(next());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(next());
    } else if (a == "--only") {
      o.only = next();
    } else if (a == "--dir") {
      o.dir = next();
    } else {
      std::fprintf(stderr,
                   "usage: ai_bench [--demo-db PATH] [--queries N] [--rounds R] [--dir DIR] "
                   "[--only like|backfill]\n");
      return 2;
    }
  }
  const fs::path dir =
      o.dir.empty() ? fs::temp_directory_path() / ("sddb-ai-bench-" + std::to_string(getpid()))
                    : fs::path(o.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path file = dir / "packages.db";
  try {
    bool reuse = fs::exists(o.demo_db);
    if (reuse) {
      for (const char* suffix : {"", "-wal"}) {
        if (fs::exists(o.demo_db + suffix)) {
          fs::copy_file(o.demo_db + suffix, file.string() + suffix);
        }
      }
      if (fs::exists(o.demo_db + ".artifacts")) {
        fs::copy(o.demo_db + ".artifacts", file.string() + ".artifacts",
                 fs::copy_options::recursive);
      }
    }
    std::unique_ptr<sddb::DB> db = sddb::superduper("sqlite://" + file.string());
    const auto indexes = db->show("vector_index");
    reuse = reuse && std::find(indexes.begin(), indexes.end(), kIndex) != indexes.end();
    if (!reuse) build_corpus(*db);
    std::printf("ai_bench: corpus %s\n",
                reuse ? ("copied from " + o.demo_db).c_str() : "imported from apt-cache dumpavail");

    // Queries: the text of packages picked with a fixed seed, filtered by their own section.
    std::vector<Query> all;
    for (const sddb::Document& d : db->execute(
             Collection("packages").find(Value::object(), Value{{"text", 1}, {"section", 1}}))) {
      const Value* t = d.find("text");
      const Value* s = d.find("section");
      if (t && t->is_string() && !t->as_string().empty() && s && s->is_string()) {
        all.push_back({t->as_string(), s->as_string()});
      }
    }
    std::mt19937_64 rng(42);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(std::min(all.size(), o.queries));

    if (o.only != "backfill") bench_like(*db, file.string(), all, o.rounds);
    if (o.only != "like") bench_backfill(*db, o.rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ai_bench: %s\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
