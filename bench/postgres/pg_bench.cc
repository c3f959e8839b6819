// pg_bench: the PostgreSQL backend against hand-written libpq, side by side in one run (issue 5),
// with the same workload on SQLite beside it.
//
//   ingest       db->execute(insert_many(docs)) on postgresql://  vs  one COPY of the same JSON
//                text (made before the clock starts) into the same table shape
//                (n identity, _id text key, doc text, body jsonb generated from doc).
//   find_indexed {section: S} after create_index  vs  SELECT doc ... WHERE body @> {"section": S}
//                over the same GIN (jsonb_path_ops) index, each result parsed into a Value.
//   find_scan    {size: {$gt: N}}, no index  vs  WHERE (body->>'size')::bigint > N, 5 times.
//   find_range   the same after create_index("docs", "size")  vs  the same SQL over a btree on
//                ((body->>'size')::bigint), 5 times.
//
// The server is SDDB_BENCH_POSTGRES_URI, else SDDB_TEST_POSTGRES_URI (scripts/
// postgres_test_server.sh starts a throwaway one); each side works in a schema of its own,
// dropped at the end. Rounds (and the queries inside them) alternate which side goes first;
// figures are medians over rounds and
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

  constexpr int kQueries = 5;  // finds per side per round, for the scan and the range
  // Per bench: documents (or results) per second of each side in each round, and the ratio.
  struct Series {
    explicit Series(const char* n) : name(n) {}
    const char* name;
    std::vector<double> sddb, ref, lite, ratio;
    void add(int round, double t_sddb, double t_ref, std::size_t n) {
      line(name, "sddb", round, t_sddb, n);
      line(name, "reference", round, t_ref, n);
      sddb.push_back(n / t_sddb);
      ref.push_back(n / t_ref);
      ratio.push_back(t_ref / t_sddb);
    }
    void add_lite(int round, double t, std::size_t n) {
      line(name, "sqlite", round, t, n);
      lite.push_back(n / t);
    }
  };
  Series ingest{"ingest"}, indexed{"find_indexed"}, scan{"find_scan"}, range{"find_range"};
  for (int round = 0; round < rounds; ++round) {
    const std::string sddb_schema = "bench_sddb", ref_schema = "bench_ref";
    {
      Reference cleanup(base, sddb_schema);  // a fresh schema for sddb too
      cleanup.exec("DROP SCHEMA " + sddb_schema + " CASCADE");
    }
    Reference ref(base, ref_schema);
    auto db = sddb::superduper(base + sep + "schema=" + sddb_schema);
    sddb::Collection coll("docs");

    // Runs both sides `reps` times, interleaved; the side that goes first alternates with the
    // round (and inside it), so neither always meets the warmer cache. Returns the seconds of
    // each side.
    struct Times {
      double sddb = 0, ref = 0;
    };
    auto both = [&](int reps, const auto& run_sddb, const auto& run_ref) {
      Times t;
      for (int rep = 0; rep < reps; ++rep) {
        auto time = [](double& into, const auto& f) {
          auto t0 = Clock::now();
          f();
          into += seconds_since(t0);
        };
        if ((round + rep) % 2) {
          time(t.ref, run_ref);
          time(t.sddb, run_sddb);
        } else {
          time(t.sddb, run_sddb);
          time(t.ref, run_ref);
        }
      }
      return t;
    };
    // One find on both sides; exits when they disagree. Returns the times and the results.
    auto find = [&](const sddb::Value& filter, const char* sql, const std::string& param,
                    int reps) {
      std::size_t got_sddb = 0, got_ref = 0;
      Times t = both(
          reps, [&] { got_sddb += drain(db->execute(coll.find(filter))); },
          [&] { got_ref += ref.query(sql, param); });
      if (got_sddb != got_ref) {
        std::fprintf(stderr, "pg_bench: %s found %zu on sddb, %zu on the reference\n",
                     filter.to_json().c_str(), got_sddb, got_ref);
        std::exit(1);
      }
      return std::make_pair(t, got_sddb);
    };
    auto analyze = [&] {
      ref.exec("ANALYZE docs");
      Reference an(base, "bench_unused");
      an.exec("ANALYZE " + sddb_schema + ".docs");
      an.exec("DROP SCHEMA bench_unused CASCADE");
    };

    Times t = both(
        1, [&] { db->execute(coll.insert_many(docs)); }, [&] { ref.copy(payload); });
    ingest.add(round, t.sddb, t.ref, docs.size());

    // Scans first, before any index exists; then the GIN index on both sides; then the btree.
    analyze();
    const sddb::Value over_floor{{"size", sddb::Value{{"$gt", size_floor}}}};
    const char* range_sql = "SELECT doc FROM docs WHERE (body->>'size')::bigint > $1::bigint";
    const std::string floor_param = std::to_string(size_floor);
    {
      auto [t, n] = find(over_floor, range_sql, floor_param, kQueries);
      scan.add(round, t.sddb, t.ref, n);
    }

    db->create_index("docs", "section");
    ref.exec("CREATE INDEX ON docs USING gin (body jsonb_path_ops)");
    analyze();
    {
      Times sum;
      std::size_t n = 0;
      for (const std::string& s : sections) {
        const sddb::Value filter{{"section", s}};
        auto [t, got] =
            find(filter, "SELECT doc FROM docs WHERE body @> $1::jsonb", filter.to_json(), 1);
        sum.sddb += t.sddb;
        sum.ref += t.ref;
        n += got;
      }
      indexed.add(round, sum.sddb, sum.ref, n);
    }

    // The range over a btree on each side: sddb's typed expression index from create_index,
    // the reference's index on the expression its SQL compares.
    db->create_index("docs", "size");
    ref.exec("CREATE INDEX ON docs (((body->>'size')::bigint))");
    analyze();
    {
      auto [t, n] = find(over_floor, range_sql, floor_param, kQueries);
      range.add(round, t.sddb, t.ref, n);
    }

    // The same workload on the embedded SQLite backend, for the trade-off.
    {
      const std::string dir =
          (std::filesystem::temp_directory_path() / ("pg_bench_sqlite_" + std::to_string(round)))
              .string();
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      auto lite = sddb::superduper("sqlite://" + dir + "/data.db");
      auto timed = [](const auto& f) {
        auto t0 = Clock::now();
        std::size_t n = f();
        return std::make_pair(seconds_since(t0), n);
      };
      auto [ti, ni] = timed([&] {
        lite->execute(coll.insert_many(docs));
        return docs.size();
      });
      ingest.add_lite(round, ti, ni);
      auto scan_lite = [&] {
        std::size_t n = 0;
        for (int rep = 0; rep < kQueries; ++rep) n += drain(lite->execute(coll.find(over_floor)));
        return n;
      };
      auto [ts, ns] = timed(scan_lite);
      scan.add_lite(round, ts, ns);
      lite->create_index("docs", "section");
      auto [tf, nf] = timed([&] {
        std::size_t n = 0;
        for (const std::string& s : sections) {
          n += drain(lite->execute(coll.find(sddb::Value{{"section", s}})));
        }
        return n;
      });
      indexed.add_lite(round, tf, nf);
      lite->create_index("docs", "size");
      auto [tr, nr] = timed(scan_lite);
      range.add_lite(round, tr, nr);
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
  std::printf("{\"summary\": true, \"docs\": %zu, \"rounds\": %d", docs.size(), rounds);
  for (const Series* s : {&ingest, &indexed, &scan, &range}) {
    std::printf(", \"%s_ratio\": %.3f", s->name, median(s->ratio));
  }
  for (const Series* s : {&ingest, &indexed, &scan, &range}) {
    std::printf(", \"%s_per_s\": {\"sddb_pg\": %.0f, \"reference\": %.0f, \"sddb_sqlite\": %.0f}",
                s->name, median(s->sddb), median(s->ref), median(s->lite));
  }
  std::printf("}\n");
  return 0;
}
