// The C++ half of bench/python/bench_insert_find.py: the same work as the Python half, through
// the C++ API. Prints one JSON line of seconds.
//
//   sddb-bench-python-ref DIR N BATCH
//
// In a fresh database DIR/data.db: insert N small documents in batches of BATCH
// (insert_many), then iterate every document (find()), then the half with tag "a"
// (find({"tag": "a"})). The documents are built before the clock starts, as the Python half's
// dicts are.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sddb/sddb.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR N BATCH\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const long n = std::atol(argv[2]);
  const long batch = std::atol(argv[3]);
  if (n <= 0 || batch <= 0) {
    std::fprintf(stderr, "N and BATCH must be positive\n");
    return 2;
  }
  try {
    auto db = sddb::superduper("sqlite://" + dir + "/data.db");
    const sddb::Collection docs("docs");

    std::vector<std::vector<sddb::Document>> batches;
    for (long start = 0; start < n; start += batch) {
      std::vector<sddb::Document> b;
      for (long i = start; i < std::min(n, start + batch); ++i) {
        b.push_back(sddb::Document{{"i", i},
                                   {"name", "document " + std::to_string(i)},
                                   {"score", static_cast<double>(i) * 0.5},
                                   {"tag", i % 2 == 0 ? "a" : "b"}});
      }
      batches.push_back(std::move(b));
    }

    auto t = std::chrono::steady_clock::now();
    for (auto& b : batches) db->execute(docs.insert_many(std::move(b)));
    const double insert_s = seconds_since(t);

    t = std::chrono::steady_clock::now();
    long seen = 0;
    for (const sddb::Document& d : db->execute(docs.find())) seen += d.find("i") ? 1 : 0;
    const double find_all_s = seconds_since(t);

    t = std::chrono::steady_clock::now();
    long tagged = 0;
    for (const sddb::Document& d : db->execute(docs.find({{"tag", "a"}}))) {
      tagged += d.find("i") ? 1 : 0;
    }
    const double find_filter_s = seconds_since(t);

    if (seen != n || tagged != (n + 1) / 2) {
      std::fprintf(stderr, "wrong counts: %ld of %ld, %ld tagged\n", seen, n, tagged);
      return 1;
    }
    std::printf("{\"insert_s\": %.6f, \"find_all_s\": %.6f, \"find_filter_s\": %.6f}\n", insert_s,
                find_all_s, find_filter_s);
  } catch (const sddb::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
