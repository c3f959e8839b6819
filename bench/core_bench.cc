// core_bench: the embedded core against hand-written SQLite, measured side by side in one run.
//
//   ingest        db->execute(insert_many(docs))  vs  one prepared INSERT of the same JSON text
//                 in one transaction, same table shape and pragmas.
//   find_indexed  {section: S} after create_index("section")  vs
//                 SELECT doc ... WHERE json_extract(doc,'$.section') = ? over the same index,
//                 each result parsed into a Value (what a caller of either gets to use).
//   find_scan     {size: {$gt: N}} with no index  vs  the same json_extract(...) > ? scan.
//
// Rounds alternate sddb and the baseline so that both see the same machine noise; the figure
// reported is the median over rounds, and the ratio is sddb / baseline throughput.
// Prints one JSON object per line. Usage: core_bench [--docs N] [--rounds R] [--dir DIR]

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sddb/sddb.h"

namespace fs = std::filesystem;

namespace {

using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;

using sddb::bench::make_docs;

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite error in %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void exec(sqlite3* db, const char* sql) {
  check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql);
}

// The hand-written baseline: the same table shape and durability settings as sddb's backend.
struct Baseline {
  sqlite3* db = nullptr;
  explicit Baseline(const std::string& path) {
    check(sqlite3_open(path.c_str(), &db), db, "open");
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "PRAGMA synchronous=FULL");
    exec(db, "PRAGMA mmap_size=268435456");  // as sddb's connections
    exec(db, "CREATE TABLE IF NOT EXISTS docs(_id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
  }
  ~Baseline() { sqlite3_close(db); }

  void insert(const std::vector<std::pair<std::string, std::string>>& rows) {
    exec(db, "BEGIN");
    sqlite3_stmt* st = nullptr;
    check(sqlite3_prepare_v2(db, "INSERT INTO docs(_id, doc) VALUES(?, ?)", -1, &st, nullptr), db,
          "prepare insert");
    for (const auto& [id, text] : rows) {
      sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      sqlite3_bind_text(st, 2, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
      check(sqlite3_step(st), db, "insert");
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
  }

  // Runs a query with one bound parameter and parses every result document.
  std::size_t query(const char* sql, const sddb::Value& param) {
    sqlite3_stmt* st = nullptr;
    check(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), db, sql);
    if (param.is_int()) {
      sqlite3_bind_int64(st, 1, param.as_int());
    } else {
      const std::string& s = param.as_string();
      sqlite3_bind_text(st, 1, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    std::size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      sddb::Value doc = sddb::Value::parse(
          std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(st, 0))));
      n += doc.size() > 0;
    }
    sqlite3_finalize(st);
    return n;
  }
};

void report(const char* name, std::size_t items, const std::vector<double>& sddb_s,
            const std::vector<double>& base_s, std::size_t results) {
  const double s = median(sddb_s);
  const double b = median(base_s);
  std::printf(
      "{\"bench\":\"%s\",\"items\":%zu,\"results\":%zu,\"rounds\":%zu,"
      "\"sddb_per_s\":%.0f,\"baseline_per_s\":%.0f,\"ratio\":%.3f}\n",
      name, items, results, sddb_s.size(), static_cast<double>(items) / s,
      static_cast<double>(items) / b, b / s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_docs = 50'000;
  int rounds = 5;
  fs::path dir = fs::temp_directory_path() / "sddb-core-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--docs")
      n_docs = std::stoul(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: core_bench [--docs N] [--rounds R] [--dir DIR]\n");
      return 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);

  const std::vector<sddb::Document> docs = make_docs(n_docs);
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(docs.size());
  for (const auto& d : docs) rows.emplace_back(d.find("_id")->as_string(), d.to_json());

  // Ingest: fresh databases every round, alternating which side goes first.
  std::vector<double> ingest_sddb, ingest_base;
  for (int r = 0; r < rounds; ++r) {
    const fs::path sp = dir / ("sddb-" + std::to_string(r) + ".db");
    const fs::path bp = dir / ("base-" + std::to_string(r) + ".db");
    auto run_sddb = [&] {
      auto db = sddb::superduper("sqlite://" + sp.string());
      auto q = sddb::Collection("docs").insert_many(docs);
      auto t0 = Clock::now();
      db->execute(std::move(q));
      ingest_sddb.push_back(seconds_since(t0));
    };
    auto run_base = [&] {
      Baseline b(bp.string());
      auto t0 = Clock::now();
      b.insert(rows);
      ingest_base.push_back(seconds_since(t0));
    };
    if (r % 2) {
      run_base();
      run_sddb();
    } else {
      run_sddb();
      run_base();
    }
  }
  report("ingest", n_docs, ingest_sddb, ingest_base, n_docs);

  // Finds run on the databases of round 0.
  auto db = sddb::superduper("sqlite://" + (dir / "sddb-0.db").string());
  Baseline base((dir / "base-0.db").string());
  exec(base.db, "CREATE INDEX IF NOT EXISTS docs_section ON docs(json_extract(doc, '$.section'))");
  db->create_index("docs", "section");

  struct FindCase {
    const char* name;
    sddb::Value filter;
    const char* sql;
    sddb::Value param;
  };
  const std::vector<FindCase> cases = {
      {"find_indexed", sddb::Value{{"section", "graphics"}},
       "SELECT doc FROM docs WHERE json_extract(doc, '$.section') = ?", sddb::Value("graphics")},
      {"find_scan", sddb::Value{{"size", sddb::Value{{"$gt", 4'900'000}}}},
       "SELECT doc FROM docs WHERE json_extract(doc, '$.size') > ?",
       sddb::Value(std::int64_t{4'900'000})},
  };
  for (const FindCase& c : cases) {
    std::vector<double> ts, tb;
    std::size_t ns = 0, nb = 0;
    const int reps = 3;  // queries per round, so that short queries are timed over a longer span
    for (int r = 0; r < rounds; ++r) {
      auto t0 = Clock::now();
      for (int k = 0; k < reps; ++k) {
        // Each document is looked at and dropped, as the baseline does with its own.
        ns = 0;
        for (sddb::Document& d : db->execute(sddb::Collection("docs").find(c.filter))) {
          ns += d.size() > 0;
        }
      }
      ts.push_back(seconds_since(t0) / reps);
      t0 = Clock::now();
      for (int k = 0; k < reps; ++k) nb = base.query(c.sql, c.param);
      tb.push_back(seconds_since(t0) / reps);
    }
    if (ns != nb) {
      std::fprintf(stderr, "%s: sddb found %zu documents, the baseline %zu\n", c.name, ns, nb);
      return 1;
    }
    report(c.name, ns, ts, tb, ns);
  }
  fs::remove_all(dir);
  return 0;
}
