// pg_bench: the PostgreSQL backend against hand-written libpq, side by side in one run (issue 5),
// with the same workload on SQLite beside it.
//
//   ingest       db->execute(insert_many(docs)) on postgresql://  vs  one COPY of the same JSON
//                text (made before the clock starts) into the same table shape
//                (n identity, _id text key, doc text, body jsonb generated from doc).
//   find_indexed {section: S} after create_index  vs  SELECT doc ... WHERE body @> {"section": S}
//                over the same GIN (jsonb_path_ops) index, each result parsed into a Value.
//   find_scan    {size: {$gt: N}}, no index  vs  WHERE (body->>'size')::bigint > N.
//
// The server is SDDB_BENCH_POSTGRES_URI, else SDDB_TEST_POSTGRES_URI (scripts/
// postgres_test_server.sh starts a throwaway one); each side works in a schema of its own,
// dropped at the end. Rounds alternate which side goes first; figures are medians over rounds and
// ratio = sddb throughput / reference throughput. Prints one JSON object per line.
// Usage: pg_bench [--docs N] [--rounds R]

#include <libpq-fe.h>

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

namespace {

using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;

using sddb::bench::make_docs;

[[noreturn]] void die(const std::string& what, PGconn* c) {
  std::fprintf(stderr, "pg_bench: %s: %s\n", what.c_str(), c ? PQerrorMessage(c) : "");
  std::exit(1);
}

// The hand-written reference: libpq on its own connection, in a schema of its own.
struct Reference {
  PGconn* c = nullptr;
  explicit Reference(const std::string& base, const std::string& schema) {
    c = PQconnectdb(base.c_str());
    if (PQstatus(c) != CONNECTION_OK) die("connect", c);
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    exec("CREATE SCHEMA " + schema);
    exec("SET search_path TO " + schema);
    exec(
        "CREATE TABLE docs (n bigint GENERATED ALWAYS AS IDENTITY, _id text COLLATE \"C\" "
        "PRIMARY KEY, doc text NOT NULL, body jsonb GENERATED ALWAYS AS (doc::jsonb) STORED)");
  }
  ~Reference() { PQfinish(c); }

  void exec(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      die(sql, c);
    }
    PQclear(r);
  }

  void copy(const std::string& payload) {
    PGresult* r = PQexec(c, "COPY docs (_id, doc) FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) die("copy", c);
    PQclear(r);
    if (PQputCopyData(c, payload.data(), static_cast<int>(payload.size())) != 1 ||
        PQputCopyEnd(c, nullptr) != 1) {
      die("copy data", c);
    }
    while ((r = PQgetResult(c)) != nullptr) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) die("copy end", c);
      PQclear(r);
    }
  }

  // Runs a query with one text parameter and parses every result document.
  std::size_t query(const char* sql, const std::string& param) {
    const char* values[] = {param.c_str()};
    PGresult* r = PQexecParams(c, sql, 1, nullptr, values, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(sql, c);
    std::size_t n = 0;
    for (int i = 0; i < PQntuples(r); ++i) {
      sddb::Value d = sddb::Value::parse(
          std::string_view(PQgetvalue(r, i, 0), static_cast<std::size_t>(PQgetlength(r, i, 0))));
      n += d.is_object() ? 1 : 0;
    }
    PQclear(r);
    return n;
  }
};

// COPY's text format of the documents: what a careful hand-written loader sends.
std::string copy_payload(const std::vector<sddb::Document>& docs) {
  std::string out, json;
  for (const sddb::Document& d : docs) {
    out += d.find("_id")->as_string();
    out += '\t';
    json.clear();
    d.append_json(json);
    for (char ch : json) {
      if (ch == '\\') {
        out += "\\\\";
      } else {
        out += ch;
      }
    }
    out += '\n';
  }
  return out;
}

std::size_t drain(sddb::Cursor c) {
  std::size_t n = 0;
  while (auto d = c.next()) n += d->is_object() ? 1 : 0;
  return n;
}

void line(const char* bench, const char* side, int round, double seconds, std::size_t items) {
  std::printf(
      "{\"bench\": \"%s\", \"side\": \"%s\", \"round\": %d, \"seconds\": %.6f, "
      "\"items\": %zu, \"per_second\": %.0f}\n",
      bench, side, round, seconds, items, items / seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_docs = 50000;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--docs") {
      n_docs = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (a == "--rounds") {
      rounds = std::atoi(argv[i + 1]);
    }
  }
  std::string base;
  for (const char* var : {"SDDB_BENCH_POSTGRES_URI", "SDDB_TEST_POSTGRES_URI"}) {
    if (const char* v = std::getenv(var); v && *v) {
      base = v;
      break;
    }
  }
  if (base.empty()) {
    std::fprintf(stderr,
                 "pg_bench: set SDDB_BENCH_POSTGRES_URI (or SDDB_TEST_POSTGRES_URI) to a server; "
                 "scripts/postgres_test_server.sh starts a throwaway one\n");
    return 2;
  }
  const std::string sep = base.find('?') == std::string::npos ? "?" : "&";
  const std::vector<sddb::Document> docs = make_docs(n_docs);
  const std::string payload = copy_payload(docs);
  const std::vector<std::string> sections = {"graphics", "libs", "net", "python"};
  const std::int64_t size_floor = 4'900'000;

  std::vector<double> ingest_ratio, indexed_ratio, scan_ratio;
  std::vector<double> sddb_ingest, ref_ingest, sddb_indexed, ref_indexed, sddb_scan, ref_scan;
  std::vector<double> lite_ingest, lite_indexed, lite_scan;
  for (int round = 0; round < rounds; ++round) {
    const std::string sddb_schema = "bench_sddb", ref_schema = "bench_ref";
    {
      Reference cleanup(base, sddb_schema);  // a fresh schema for sddb too
      cleanup.exec("DROP SCHEMA " + sddb_schema + " CASCADE");
    }
    Reference ref(base, ref_schema);
    auto db = sddb::superduper(base + sep + "schema=" + sddb_schema);
    sddb::Collection coll("docs");

    double t_sddb = 0, t_ref = 0;
    auto run_sddb = [&] {
      auto t0 = Clock::now();
      db->execute(coll.insert_many(docs));
      t_sddb = seconds_since(t0);
    };
    auto run_ref = [&] {
      auto t0 = Clock::now();
      ref.copy(payload);
      t_ref = seconds_since(t0);
    };
    if (round % 2) {
      run_ref();
      run_sddb();
    } else {
      run_sddb();
      run_ref();
    }
    line("ingest", "sddb", round, t_sddb, docs.size());
    line("ingest", "reference", round, t_ref, docs.size());
    sddb_ingest.push_back(docs.size() / t_sddb);
    ref_ingest.push_back(docs.size() / t_ref);
    ingest_ratio.push_back(t_ref / t_sddb);

    // Scans first, before any index exists; then the GIN index on both sides.
    ref.exec("ANALYZE docs");
    {
      Reference an(base, "bench_unused");
      an.exec("ANALYZE " + sddb_schema + ".docs");
      an.exec("DROP SCHEMA bench_unused CASCADE");
    }
    std::size_t got_sddb = 0, got_ref = 0;
    auto t0 = Clock::now();
    got_sddb =
        drain(db->execute(coll.find(sddb::Value{{"size", sddb::Value{{"$gt", size_floor}}}})));
    t_sddb = seconds_since(t0);
    t0 = Clock::now();
    got_ref = ref.query("SELECT doc FROM docs WHERE (body->>'size')::bigint > $1::bigint",
                        std::to_string(size_floor));
    t_ref = seconds_since(t0);
    if (got_sddb != got_ref) {
      std::fprintf(stderr, "pg_bench: scan found %zu on sddb, %zu on the reference\n", got_sddb,
                   got_ref);
      return 1;
    }
    line("find_scan", "sddb", round, t_sddb, got_sddb);
    line("find_scan", "reference", round, t_ref, got_ref);
    sddb_scan.push_back(got_sddb / t_sddb);
    ref_scan.push_back(got_ref / t_ref);
    scan_ratio.push_back(t_ref / t_sddb);

    db->create_index("docs", "section");
    ref.exec("CREATE INDEX ON docs USING gin (body jsonb_path_ops)");
    ref.exec("ANALYZE docs");
    got_sddb = got_ref = 0;
    t_sddb = t_ref = 0;
    for (const std::string& s : sections) {
      t0 = Clock::now();
      got_sddb += drain(db->execute(coll.find(sddb::Value{{"section", s}})));
      t_sddb += seconds_since(t0);
      t0 = Clock::now();
      got_ref += ref.query("SELECT doc FROM docs WHERE body @> $1::jsonb",
                           sddb::Value{{"section", s}}.to_json());
      t_ref += seconds_since(t0);
    }
    if (got_sddb != got_ref) {
      std::fprintf(stderr, "pg_bench: indexed find found %zu on sddb, %zu on the reference\n",
                   got_sddb, got_ref);
      return 1;
    }
    line("find_indexed", "sddb", round, t_sddb, got_sddb);
    line("find_indexed", "reference", round, t_ref, got_ref);
    sddb_indexed.push_back(got_sddb / t_sddb);
    ref_indexed.push_back(got_ref / t_ref);
    indexed_ratio.push_back(t_ref / t_sddb);

    // The same workload on the embedded SQLite backend, for the trade-off.
    {
      const std::string dir =
          (std::filesystem::temp_directory_path() / ("pg_bench_sqlite_" + std::to_string(round)))
              .string();
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      auto lite = sddb::superduper("sqlite://" + dir + "/data.db");
      t0 = Clock::now();
      lite->execute(coll.insert_many(docs));
      const double ti = seconds_since(t0);
      t0 = Clock::now();
      const std::size_t ns =
          drain(lite->execute(coll.find(sddb::Value{{"size", sddb::Value{{"$gt", size_floor}}}})));
      const double ts = seconds_since(t0);
      lite->create_index("docs", "section");
      std::size_t nf = 0;
      t0 = Clock::now();
      for (const std::string& s : sections) {
        nf += drain(lite->execute(coll.find(sddb::Value{{"section", s}})));
      }
      const double tf = seconds_since(t0);
      line("ingest", "sqlite", round, ti, docs.size());
      line("find_scan", "sqlite", round, ts, ns);
      line("find_indexed", "sqlite", round, tf, nf);
      lite_ingest.push_back(docs.size() / ti);
      lite_scan.push_back(ns / ts);
      lite_indexed.push_back(nf / tf);
      lite.reset();
      std::filesystem::remove_all(dir);
    }
    ref.exec("DROP SCHEMA " + ref_schema + " CASCADE");
  }
  {
    Reference cleanup(base, "bench_sddb");
    cleanup.exec("DROP SCHEMA IF EXISTS bench_sddb CASCADE");
    cleanup.exec("DROP SCHEMA IF EXISTS bench_ref CASCADE");
  }
  std::printf(
      "{\"summary\": true, \"docs\": %zu, \"rounds\": %d, "
      "\"ingest_ratio\": %.3f, \"find_indexed_ratio\": %.3f, \"find_scan_ratio\": %.3f, "
      "\"ingest_per_s\": {\"sddb_pg\": %.0f, \"reference\": %.0f, \"sddb_sqlite\": %.0f}, "
      "\"find_indexed_per_s\": {\"sddb_pg\": %.0f, \"reference\": %.0f, \"sddb_sqlite\": %.0f}, "
      "\"find_scan_per_s\": {\"sddb_pg\": %.0f, \"reference\": %.0f, \"sddb_sqlite\": %.0f}}\n",
      docs.size(), rounds, median(ingest_ratio), median(indexed_ratio), median(scan_ratio),
      median(sddb_ingest), median(ref_ingest), median(lite_ingest), median(sddb_indexed),
      median(ref_indexed), median(lite_indexed), median(sddb_scan), median(ref_scan),
      median(lite_scan));
  return 0;
}
