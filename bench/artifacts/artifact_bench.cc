// artifact_bench: put and get of one large artifact, streamed (put_from / get_into) against
// whole (put / get of a std::string), on the file:// store and, given a URI, on PostgreSQL, in
// the same run. The two forms alternate round by round (the first one alternating too) and each
// round stores a fresh artifact, so neither form finds the other's bytes already there.
//
//   artifact_bench [--mib N] [--rounds R] [--dir DIR] [--postgres URI] [--only streamed|whole]
//
// --only runs one form alone and prints the process's peak RSS, which is what shows whether an
// artifact was held whole: run it once per form, as separate processes.

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "sddb/artifact_store.h"
#include "sddb/config.h"
#include "sddb/db.h"

namespace {

using sddb::bench::Clock;
using sddb::bench::median;
using sddb::bench::seconds_since;

constexpr std::size_t kBlock = sddb::kArtifactChunkBytes;

// The bytes of artifact `seed`: a fixed 1 MiB random pattern with the seed and the block number
// written into each block, so every round's artifact is new and no two blocks are alike.
struct Generator {
  std::uint64_t total;
  std::uint64_t seed;
  std::uint64_t done = 0;
  std::shared_ptr<std::string> pattern;

  std::size_t operator()(char* buf, std::size_t cap) {
    std::size_t n = 0;
    while (n < cap && done < total) {
      const std::uint64_t off = done % kBlock;
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>({cap - n, kBlock - off, total - done}));
      std::memcpy(buf + n, pattern->data() + off, take);
      // The block's stamp lies in its first 16 bytes.
      for (std::uint64_t i = off; i < 16 && i < off + take; ++i) {
        const std::uint64_t v = i < 8 ? seed : done / kBlock;
        buf[n + (i - off)] = static_cast<char>(v >> (8 * (i % 8)));
      }
      n += take;
      done += take;
    }
    return n;
  }
};

std::string materialize(Generator g) {
  std::string s(g.total, '\0');
  std::size_t n = 0;
  while (n < s.size()) n += g(s.data() + n, std::min(kBlock, s.size() - n));
  return s;
}

long peak_rss_kib() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct Figures {
  std::vector<double> put_streamed, get_streamed, put_whole, get_whole;
};

void run(const std::string& name, sddb::ArtifactStore& store, std::uint64_t bytes, int rounds,
         const std::string& only, std::uint64_t seed0) {
  auto pattern = std::make_shared<std::string>(kBlock, '\0');
  // Random, so PostgreSQL's TOAST compression finds nothing to gain, as with model weights.
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < kBlock; ++i) (*pattern)[i] = static_cast<char>(rng());
  const double mib = static_cast<double>(bytes) / (1 << 20);
  Figures f;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const bool streamed = ((r + k) % 2 == 0);
      if (!only.empty() && only != (streamed ? "streamed" : "whole")) continue;
      Generator g{bytes, seed0 + static_cast<std::uint64_t>(2 * r + k), 0, pattern};
      std::string id;
      if (streamed) {
        auto t0 = Clock::now();
        id = store.put_from(std::ref(g));
        f.put_streamed.push_back(mib / seconds_since(t0));
        std::uint64_t got = 0;
        t0 = Clock::now();
        store.get_into(id, [&got](std::string_view c) { got += c.size(); });
        f.get_streamed.push_back(mib / seconds_since(t0));
        if (got != bytes) std::abort();
      } else {
        {
          const std::string whole = materialize(g);
          const auto t0 = Clock::now();
          id = store.put(whole);
          f.put_whole.push_back(mib / seconds_since(t0));
        }
        const auto t0 = Clock::now();
        std::string back = store.get(id);
        f.get_whole.push_back(mib / seconds_since(t0));
        if (back.size() != bytes) std::abort();
      }
      store.remove(id);
    }
  }
  auto line = [&](const char* form, const std::vector<double>& put,
                  const std::vector<double>& get) {
    if (put.empty()) return;
    std::printf("%-10s %-8s put %8.1f MiB/s   get %8.1f MiB/s\n", name.c_str(), form, median(put),
                median(get));
  };
  line("streamed", f.put_streamed, f.get_streamed);
  line("whole", f.put_whole, f.get_whole);
  if (only.empty() && !f.put_whole.empty()) {
    std::printf("%-10s ratio    put %8.2f          get %8.2f   (streamed / whole)\n", name.c_str(),
                median(f.put_streamed) / median(f.put_whole),
                median(f.get_streamed) / median(f.get_whole));
  }
}

std::unique_ptr<sddb::DB> open(const std::string& data, const std::string& artifacts) {
  sddb::Config c;
  c.data_backend = data;
  c.artifact_store = artifacts;
  return sddb::build_datalayer(c);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = 256;
  int rounds = 3;
  std::string dir;
  std::string postgres;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--mib" && v) {
      mib = std::strtoull(v, nullptr, 10), ++i;
    } else if (a == "--rounds" && v) {
      rounds = std::atoi(v), ++i;
    } else if (a == "--dir" && v) {
      dir = v, ++i;
    } else if (a == "--postgres" && v) {
      postgres = v, ++i;
    } else if (a == "--only" && v) {
      only = v, ++i;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--mib N] [--rounds R] [--dir DIR] [--postgres URI] "
                   "[--only streamed|whole]\n",
                   argv[0]);
      return 2;
    }
  }
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "artifact-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
  }
  const std::uint64_t bytes = mib << 20;
  std::printf("artifact of %llu MiB, %d rounds, median of rounds\n",
              static_cast<unsigned long long>(mib), rounds);
  try {
    auto db = open("sqlite://:memory:", "file://" + dir + "/artifacts");
    run("file", db->artifact_store(), bytes, rounds, only, 1000);
    if (!postgres.empty()) {
      auto pg = open(postgres, "");
      run("postgres", pg->artifact_store(), bytes, rounds, only, 2000);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "artifact_bench: %s\n", e.what());
    if (own_dir) std::filesystem::remove_all(dir);
    return 1;
  }
  if (own_dir) std::filesystem::remove_all(dir);
  std::printf("peak RSS %.1f MiB\n", static_cast<double>(peak_rss_kib()) / 1024);
  return 0;
}
