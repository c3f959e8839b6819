// exact_search_bench: one-thread queries of the exact (flat) index against a plain memory-read
// loop over the same matrix, measured in the same run.
//
// For each dimension (100, 768, 1536) and measure (cosine, dot, l2), an index of at least
// 256 MiB of vectors answers top-10 queries; each query reads the whole matrix once, so its
// bytes per second compare directly with a loop that only sums the same bytes (the physical limit
// of one thread). Rounds interleave the read loop and the measures so that all see the same
// machine noise; each figure is the median over the rounds (the ratio is the median of per-round
// ratios). Prints a markdown table.
// Usage: exact_search_bench [--rounds R] [--mib M] [--quick]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "vector/distance.h"
#include "vector/flat_index.h"

namespace {

using sddb::Measure;
using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;
using sddb::detail::FlatIndex;

volatile std::uint64_t g_sink_u64;
volatile double g_sink;

// Reads every byte once, eight independent 64-bit sums so the loop is bound by loads.
double read_seconds(const float* data, std::size_t bytes) {
  const auto* w = reinterpret_cast<const std::uint64_t*>(data);
  const std::size_t words = bytes / 8;
  const auto t0 = Clock::now();
  std::uint64_t s[8] = {};
  for (std::size_t i = 0; i + 8 <= words; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += w[i + j];
  }
  const double elapsed = seconds_since(t0);
  g_sink_u64 = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
  return elapsed;
}

const char* name(Measure m) {
  return m == Measure::cosine ? "cosine" : m == Measure::dot ? "dot" : "l2";
}

FlatIndex build(std::size_t dim, std::size_t rows, Measure m) {
  FlatIndex index(dim, m);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  constexpr std::size_t kChunk = 4096;
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vecs;
  for (std::size_t start = 0; start < rows; start += kChunk) {
    const std::size_t k = std::min(kChunk, rows - start);
    ids.resize(k);
    vecs.assign(k, std::vector<float>(dim));
    for (std::size_t i = 0; i < k; ++i) {
      ids[i] = "doc" + std::to_string(start + i);
      for (float& x : vecs[i]) x = u(rng);
    }
    index.add("bench", ids, vecs);
  }
  return index;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::size_t mib = 256;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) {
      mib = static_cast<std::size_t>(std::atol(argv[++i]));
    } else if (!std::strcmp(argv[i], "--quick")) {
      rounds = 3;
      mib = 16;
    } else {
      std::fprintf(stderr, "usage: %s [--rounds R] [--mib M] [--quick]\n", argv[0]);
      return 2;
    }
  }
  constexpr std::size_t kTopN = 10;
  constexpr Measure kMeasures[] = {Measure::cosine, Measure::dot, Measure::l2};

  std::printf("kernel %s, %d rounds, %zu MiB of vectors per index, top-%zu, one thread\n\n",
              sddb::detail::distance_kernels().name, rounds, mib, kTopN);
  std::printf("| dim | rows | measure | queries/s | search GB/s | read loop GB/s | ratio |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (std::size_t dim : {100u, 768u, 1536u}) {
    const std::size_t rows = (mib * 1024 * 1024 + dim * sizeof(float) - 1) / (dim * sizeof(float));
    const double bytes = static_cast<double>(rows * dim * sizeof(float));
    std::vector<FlatIndex> indexes;
    for (Measure m : kMeasures) indexes.push_back(build(dim, rows, m));
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);

    std::vector<double> read_s[3], search_s[3], ratio[3];
    for (int r = 0; r < rounds; ++r) {
      for (int mi = 0; mi < 3; ++mi) {
        const FlatIndex& index = indexes[mi];
        std::vector<float> q(dim);
        for (float& x : q) x = u(rng);
        const double ref = read_seconds(index.matrix().data(), index.matrix().size_bytes());
        const auto t0 = Clock::now();
        const auto got = index.search(q, kTopN, nullptr);
        const double t = seconds_since(t0);
        g_sink = got.front().second;
        read_s[mi].push_back(ref);
        search_s[mi].push_back(t);
        ratio[mi].push_back(ref / t);
      }
    }
    for (int mi = 0; mi < 3; ++mi) {
      const double t = median(search_s[mi]);
      std::printf("| %zu | %zu | %s | %.1f | %.2f | %.2f | %.2f |\n", dim, rows,
                  name(kMeasures[mi]), 1.0 / t, bytes / t / 1e9, bytes / median(read_s[mi]) / 1e9,
                  median(ratio[mi]));
    }
    std::fflush(stdout);
  }
  return 0;
}
