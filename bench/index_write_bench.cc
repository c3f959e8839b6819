// index_write_bench: what a large add to an hnsw index costs the searches running beside it, and
// what adding in pieces costs the add.
//
// One "inmemory://" VectorSearch holds an hnsw index of --base random vectors; then --batch more
// arrive in one add() while a second thread searches the same index (top 10) in a loop. Reported
// per round: the same batch added to a lone HnswSearchIndex in one call (the reference: no
// pieces, no readers), through the VectorSearch (which takes the index in pieces of about 20 ms
// and lets waiting searches go between them) with no search running and then with one, and the
// searches' latency while the add ran (median, 99th percentile, largest). Before the pieces, a
// search that arrived during an add waited for all of it, so the add's own time is what the largest
// wait was. Medians over rounds. Usage: index_write_bench [--dim D] [--base N] [--batch N]
// [--rounds R]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "sddb/vector_search.h"
#include "vector/hnsw_search.h"
#include "vector/inmemory.h"

namespace {

using sddb::IndexOptions;
using sddb::Measure;
using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;

struct Rows {
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
};

Rows make_rows(std::size_t first, std::size_t n, std::size_t dim, std::mt19937& rng) {
  std::normal_distribution<float> g;
  Rows r;
  for (std::size_t i = 0; i < n; ++i) {
    r.ids.push_back("r" + std::to_string(first + i));
    std::vector<float> v(dim);
    for (float& x : v) x = g(rng);
    r.vectors.push_back(std::move(v));
  }
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

IndexOptions hnsw() {
  IndexOptions o;
  o.type = IndexOptions::Type::hnsw;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t dim = 100, base = 20000, batch = 40000, rounds = 3;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "index_write_bench: %s needs a number\n", argv[i]);
        std::exit(2);
      }
      return static_cast<std::size_t>(std::strtoull(argv[++i], nullptr, 10));
    };
    if (!std::strcmp(argv[i], "--dim")) {
      dim = next();
    } else if (!std::strcmp(argv[i], "--base")) {
      base = next();
    } else if (!std::strcmp(argv[i], "--batch")) {
      batch = next();
    } else if (!std::strcmp(argv[i], "--rounds")) {
      rounds = next();
    } else {
      std::fprintf(stderr,
                   "usage: index_write_bench [--dim D] [--base N] [--batch N] [--rounds R]\n");
      return 2;
    }
  }
  std::mt19937 rng(7);
  const Rows first = make_rows(0, base, dim, rng);
  const Rows more = make_rows(base, batch, dim, rng);
  std::printf(
      "hnsw index (m 16, ef_construction 200) of %zu random vectors of %zu floats; "
      "%zu more in one add; %zu rounds\n\n",
      base, dim, batch, rounds);
  std::vector<double> add_s, quiet_s, lone_s, p50, p99, worst, searches;
  for (std::size_t r = 0; r < rounds; ++r) {
    {
      // The reference: the same batch into a lone engine in one call.
      sddb::detail::HnswSearchIndex lone(dim, Measure::l2, hnsw());
      lone.add("lone", first.ids, first.vectors, true);
      const auto t0 = Clock::now();
      lone.add("lone", more.ids, more.vectors, true);
      lone_s.push_back(seconds_since(t0));
    }
    {
      // The same add through the VectorSearch with no search beside it: the cost of the pieces.
      auto quiet = sddb::detail::make_inmemory_vector_search();
      quiet->create_index("q", dim, Measure::l2, hnsw());
      quiet->add("q", first.ids, first.vectors);
      const auto t0 = Clock::now();
      quiet->add("q", more.ids, more.vectors);
      quiet_s.push_back(seconds_since(t0));
    }
    auto vs = sddb::detail::make_inmemory_vector_search();
    vs->create_index("v", dim, Measure::l2, hnsw());
    vs->add("v", first.ids, first.vectors);
    std::atomic<bool> started{false}, done{false};
    std::vector<double> latency;
    std::thread reader([&] {
      std::mt19937 qrng(11);
      std::normal_distribution<float> g;
      std::vector<float> q(dim);
      while (!started) std::this_thread::yield();
      while (!done) {
        for (float& x : q) x = g(qrng);
        const auto t0 = Clock::now();
        const auto hits = vs->search("v", q, 10);
        if (!done) latency.push_back(seconds_since(t0));
        if (hits.size() != 10) std::abort();
      }
    });
    started = true;
    const auto t0 = Clock::now();
    vs->add("v", more.ids, more.vectors);
    add_s.push_back(seconds_since(t0));
    done = true;
    reader.join();
    p50.push_back(percentile(latency, 0.5));
    p99.push_back(percentile(latency, 0.99));
    worst.push_back(percentile(latency, 1.0));
    searches.push_back(static_cast<double>(latency.size()));
    std::fprintf(stderr, "round %zu/%zu: add %.2f s (lone %.2f s), %zu searches, largest %.1f ms\n",
                 r + 1, rounds, add_s.back(), lone_s.back(), latency.size(), worst.back() * 1e3);
  }
  std::printf(
      "| add of %zu: lone engine, one call | through the VectorSearch (pieces) | ratio "
      "| the same with a search thread beside it | searches during the add | their "
      "latency p50 / p99 / largest |\n",
      batch);
  std::printf("|---|---|---|---|---|---|\n");
  std::printf("| %.2f s | %.2f s | %.2f | %.2f s | %.0f | %.2f / %.1f / %.1f ms |\n",
              median(lone_s), median(quiet_s), median(quiet_s) / median(lone_s), median(add_s),
              median(searches), median(p50) * 1e3, median(p99) * 1e3, median(worst) * 1e3);
  return 0;
}
