// distance_bench: each distance kernel this CPU can run against the portable kernel, measured in
// the same run.
//
//   kernel   one query against a base of vectors that stays in L1 (32 KiB) or in L2 (256 KiB),
//            single form in a loop: distances per second, and the ratio to the scalar kernel.
//   batch    the batch form over a base far larger than the caches (256 MiB): bytes of base read
//            per second, and the ratio to a plain memory-read loop over the same bytes (the
//            physical limit of one thread).
//
// Dimensions 784 (fashion-mnist) and 1536. Rounds interleave the variants so that all see the
// same machine noise; each figure is the median of the rounds. Prints one JSON object per line.
// Usage: distance_bench [--rounds R] [--mib M]

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

namespace {

using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;
using sddb::detail::DistanceKernels;

// Keeps results alive without a store per distance costing more than the distance itself.
volatile float g_sink;
volatile std::uint64_t g_sink_u64;

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> px(0, 255);  // fashion-mnist pixels, held as float32
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(px(rng));
  return v;
}

const char* measure_name(int m) { return m == 0 ? "l2" : m == 1 ? "ip" : "cosine"; }

sddb::detail::DistanceFn single(const DistanceKernels& k, int m) {
  return m == 0 ? k.l2_squared : m == 1 ? k.inner_product : k.cosine_distance;
}

sddb::detail::BatchDistanceFn batch(const DistanceKernels& k, int m) {
  return m == 0 ? k.l2_squared_batch : m == 1 ? k.inner_product_batch : k.cosine_distance_batch;
}

// Distances per second of one query against every row of a cache-resident base, repeated until
// about 50 ms have passed.
double distances_per_second(sddb::detail::DistanceFn f, const float* q, const float* base,
                            std::size_t rows, std::size_t dim) {
  std::size_t done = 0;
  float acc = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  do {
    for (std::size_t i = 0; i < rows; ++i) acc += f(q, base + i * dim, dim);
    done += rows;
    elapsed = seconds_since(t0);
  } while (elapsed < 0.05);
  g_sink = acc;
  return static_cast<double>(done) / elapsed;
}

// The reference for the batch: read every byte once, eight independent 64-bit sums so that the
// loop is bound by loads, not by an add chain.
double read_bytes_per_second(const float* data, std::size_t bytes) {
  const auto* w = reinterpret_cast<const std::uint64_t*>(data);
  const std::size_t words = bytes / 8;
  const auto t0 = Clock::now();
  std::uint64_t s[8] = {};
  for (std::size_t i = 0; i + 8 <= words; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += w[i + j];
  }
  const double elapsed = seconds_since(t0);
  g_sink_u64 = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
  return static_cast<double>(bytes) / elapsed;
}

double batch_bytes_per_second(sddb::detail::BatchDistanceFn f, const float* q, const float* base,
                              std::size_t rows, std::size_t dim, float* out) {
  const auto t0 = Clock::now();
  f(q, base, rows, dim, out);
  const double elapsed = seconds_since(t0);
  g_sink = out[rows - 1];
  return static_cast<double>(rows * dim * sizeof(float)) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  std::size_t mib = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--mib") == 0) mib = std::strtoull(argv[i + 1], nullptr, 10);
  }
  const auto kernels = sddb::detail::available_distance_kernels();
  const DistanceKernels& scalar = sddb::detail::scalar_distance_kernels();

  for (std::size_t dim : {std::size_t{784}, std::size_t{1536}}) {
    const std::vector<float> q = random_floats(dim, 1);

    // Kernel throughput, base in L1 or in L2.
    for (std::size_t kib : {std::size_t{32}, std::size_t{256}}) {
      const char* resident = kib == 32 ? "L1" : "L2";
      const std::size_t hot_rows = std::max<std::size_t>(1, (kib * 1024) / (dim * sizeof(float)));
      const std::vector<float> hot = random_floats(hot_rows * dim, 2);
      for (int m = 0; m < 3; ++m) {
        std::vector<std::vector<double>> rates(kernels.size());
        std::vector<std::vector<double>> ratios(kernels.size());
        for (int r = 0; r < rounds; ++r) {
          const double base_rate =
              distances_per_second(single(scalar, m), q.data(), hot.data(), hot_rows, dim);
          for (std::size_t k = 0; k < kernels.size(); ++k) {
            const double rate = kernels[k] == &scalar
                                    ? base_rate
                                    : distances_per_second(single(*kernels[k], m), q.data(),
                                                           hot.data(), hot_rows, dim);
            rates[k].push_back(rate);
            ratios[k].push_back(rate / base_rate);
          }
        }
        for (std::size_t k = 0; k < kernels.size(); ++k) {
          std::printf(
              "{\"bench\":\"kernel\",\"resident\":\"%s\",\"dim\":%zu,\"measure\":\"%s\","
              "\"kernel\":\"%s\",\"distances_per_s\":%.4g,\"ns_per_distance\":%.2f,\"vs_scalar\":%."
              "2f}\n",
              resident, dim, measure_name(m), kernels[k]->name, median(rates[k]),
              1e9 / median(rates[k]), median(ratios[k]));
        }
      }
    }

    // Batch over a base much larger than the caches, against a plain read of the same bytes.
    const std::size_t big_rows = mib * 1024 * 1024 / (dim * sizeof(float));
    const std::vector<float> big = random_floats(big_rows * dim, 3);
    std::vector<float> out(big_rows);
    const DistanceKernels& best = sddb::detail::distance_kernels();
    for (int m = 0; m < 3; ++m) {
      std::vector<double> read_rates, rates, ratios;
      for (int r = 0; r < rounds; ++r) {
        const double ref = read_bytes_per_second(big.data(), big_rows * dim * sizeof(float));
        const double rate =
            batch_bytes_per_second(batch(best, m), q.data(), big.data(), big_rows, dim, out.data());
        read_rates.push_back(ref);
        rates.push_back(rate);
        ratios.push_back(rate / ref);
      }
      std::printf(
          "{\"bench\":\"batch\",\"dim\":%zu,\"measure\":\"%s\",\"kernel\":\"%s\",\"rows\":%zu,"
          "\"gb_per_s\":%.2f,\"read_loop_gb_per_s\":%.2f,\"vs_read_loop\":%.2f}\n",
          dim, measure_name(m), best.name, big_rows, median(rates) / 1e9, median(read_rates) / 1e9,
          median(ratios));
    }
  }
  return 0;
}
