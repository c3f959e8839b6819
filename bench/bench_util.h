// Helpers the benchmarks share: wall-clock timing, the median of rounds, and the synthetic
// package records of core_bench and pg_bench.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "sddb/value.h"

namespace sddb::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The median of the values (0 for none).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Documents shaped like the demo's Debian package records, from a fixed seed.
inline std::vector<sddb::Document> make_docs(std::size_t n) {
  static const char* kSections[] = {"admin", "devel", "doc",    "editors", "games", "graphics",
                                    "libs",  "net",   "python", "science", "sound", "text",
                                    "utils", "web",   "x11",    "video",   "perl",  "misc"};
  static const char* kWords[] = {"library", "tool",   "image",   "network", "data", "files",
                                 "python",  "server", "client",  "format",  "fast", "simple",
                                 "editor",  "audio",  "graphic", "convert", "test", "module"};
  std::mt19937_64 rng(42);
  std::vector<sddb::Document> docs;
  docs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    sddb::Value d = sddb::Value::object();
    char id[32];
    std::snprintf(id, sizeof id, "pkg%08zu", i);
    d.set("_id", id);
    d.set("name", std::string("package-") + std::to_string(i));
    d.set("version", std::to_string(rng() % 10) + "." + std::to_string(rng() % 20) + "-1");
    d.set("section", kSections[rng() % std::size(kSections)]);
    d.set("priority", rng() % 10 == 0 ? "important" : "optional");
    d.set("size", static_cast<std::int64_t>(rng() % 5'000'000));
    d.set("installed_size", static_cast<std::int64_t>(rng() % 20'000));
    sddb::Value deps = sddb::Value::array();
    for (std::uint64_t k = rng() % 8; k > 0; --k) {
      deps.push_back(std::string("lib") + kWords[rng() % std::size(kWords)] + std::to_string(k));
    }
    d.set("depends", std::move(deps));
    std::string desc;
    for (int w = 0; w < 24; ++w) {
      if (w) desc += ' ';
      desc += kWords[rng() % std::size(kWords)];
    }
    d.set("description", desc);
    docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace sddb::bench
