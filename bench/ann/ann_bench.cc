// sddb-bench-ann: sddb's HNSW index against hnswlib and FAISS IndexHNSWFlat (and sddb's exact flat
// index) on fashion-mnist, the benchmark of issue 4.
//
// Data: Debian's dataset-fashion-mnist, gzipped IDX files. Base = the 60,000 train images, queries
// = the first 2,000 of the 10,000 test images, 784 float32 components 0..255 each (the data of
// ann-benchmarks' fashion-mnist-784-euclidean), L2, k = 10. Ground truth by exact search with
// sddb's flat kernels, cached in /tmp. Recall counts a returned label when its exact distance is
// within the k-th true distance (+1e-3, ann-benchmarks' rule, so ties do not count against an
// index).
//
// Every index is built once (same M and ef_construction, the largest thread count), then each
// point of the sweep (index, threads, ef) is timed once per round; rounds interleave the indexes
// and rotate which one goes first, and a point's QPS is the median over the rounds. One JSON
// object per line per point goes to stdout (and --out); a summary goes to stderr.
//
// Second dataset (--outputs URI TABLE): the vectors a listener stored in an sddb database, e.g.
// the fastText vectors of the Debian package descriptions that `make demo` computes. They are
// normalized, so L2 ranks as cosine does (ann-benchmarks' "angular"); every (n / queries)-th
// vector in _id order is a query and leaves the base. Classes for the anti filter: the nine most
// common values of --classes COLLECTION.FIELD (default packages.section) and one for the rest.
//
// Sweeps: unfiltered over --threads-list and --ef-list; filtered (one thread) with random allowed
// sets of 1%, 10% and 50% and an "anti" set (only the images of one other class than the
// query's: class (c + 5) mod 10, about 10%); churn (remove a random half of the labels, add them
// back, sweep again at one thread). sddb-hnsw gets the allowed set as a list of labels, as the
// DB passes a filter's ids (--sddb-filter predicate: a function per label, as hnswlib does).

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ann_index.h"
#include "bench_util.h"
#include "sddb/db.h"
#include "vector/distance.h"
#include "vector/flat_index.h"
#ifdef SDDB_BENCH_HAVE_HNSW
#include "vector/hnsw.h"
#endif

namespace sddb::bench {

void parallel_for(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn) {
  if (threads <= 1 || n < 2) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  constexpr std::size_t kChunk = 8;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (;;) {
      const std::size_t begin = next.fetch_add(kChunk);
      if (begin >= n) return;
      const std::size_t end = std::min(n, begin + kChunk);
      for (std::size_t i = begin; i < end; ++i) fn(i);
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

namespace {

constexpr std::size_t kK = 10;
constexpr std::size_t kM = 16;
constexpr std::size_t kEfConstruction = 200;

// CPU seconds of the whole process (every thread), which a shared machine disturbs less than
// wall-clock time: a search that waits for the core is not charged for the wait.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "sddb-bench-ann: %s\n", message.c_str());
  std::exit(1);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string outputs_uri, outputs_table;    // second dataset: a DB's outputs table
  std::string classes = "packages.section";  // its classes: COLLECTION.FIELD
  std::size_t queries = 2000;
  std::size_t base = 0;  // 0: all train images
  std::size_t rounds = 3;
  std::vector<std::size_t> threads_list = {1, 2};
  std::vector<std::size_t> ef_list;
  std::vector<std::size_t> filter_ef_list = {10, 20, 40, 80};
  std::set<std::string> only;
  // sddb-hnsw storages; "auto" is what an index with no forced storage picks (u8 or f32).
  std::vector<std::string> storages = {"auto", "f32", "sq8", "f16"};
  std::string out;
  bool quick = false;
  bool filters = true;
  bool churn = true;
  bool sddb_filter_labels = true;  // --sddb-filter: labels (what the DB passes) or predicate
};

const char kUsage[] =
    "usage: sddb-bench-ann [options]\n"
    "  sddb's HNSW (u8 and f32 storage) and flat index against hnswlib and FAISS IndexHNSWFlat\n"
    "  on fashion-mnist (M=16, ef_construction=200, k=10). One JSON object per measured point\n"
    "  on stdout, a summary on stderr.\n"
    "options:\n"
    "  --data DIR          fashion-mnist IDX .gz files (default "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --outputs URI TABLE instead: the vectors of an sddb outputs table, e.g.\n"
    "                      --outputs sqlite://demo-data/packages.db _outputs/ft/text/0\n"
    "                      (normalized: L2 ranks as cosine; every n/queries-th is a query)\n"
    "  --classes C.F       classes of that data for the anti filter (default packages.section)\n"
    "  --queries N         first N test images as queries (default 2000)\n"
    "  --base N            first N train images as the base (default all 60000)\n"
    "  --rounds R          interleaved rounds, QPS is the median (default 3)\n"
    "  --threads-list L    comma-separated search thread counts (default 1,2)\n"
    "  --ef-list L         comma-separated ef values (default 10..60 every 1, then\n"
    "                      80,100,120,160,200,300,400)\n"
    "  --filter-ef-list L  ef values of the filtered sweep (default 10,20,40,80)\n"
    "  --quick             small sweep: 500 queries, 1 round, ef 10,15,20,25,30,40,60,100\n"
    "  --only LIST         comma-separated indexes: sddb-hnsw, hnswlib, faiss-hnsw, sddb-flat\n"
    "  --storages LIST     sddb-hnsw storages: auto, f32, u8, sq8, f16 (default auto,f32,sq8,f16;\n"
    "                      auto is u8 on integer data, else f32, and then not built twice)\n"
    "  --no-filters        skip the filtered sweep\n"
    "  --no-churn          skip the churn sweep\n"
    "  --sddb-filter FORM  how sddb-hnsw gets the allowed set: labels (a list of labels, as the\n"
    "                      DB passes a filter's ids; default) or predicate (a function per label)\n"
    "  --out FILE          also write the JSON lines to FILE\n"
    "  --help              this text\n";

std::vector<std::size_t> parse_list(const std::string& text) {
  std::vector<std::size_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v == 0) die("bad number '" + item + "' in list " + text);
    out.push_back(static_cast<std::size_t>(v));
  }
  if (out.empty()) die("empty list");
  return out;
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool rounds_given = false, queries_given = false, ef_given = false, fef_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--data") {
      o.data = value();
    } else if (a == "--outputs") {
      o.outputs_uri = value();
      o.outputs_table = value();
    } else if (a == "--classes") {
      o.classes = value();
    } else if (a == "--queries") {
      o.queries = parse_list(value()).at(0);
      queries_given = true;
    } else if (a == "--base") {
      o.base = parse_list(value()).at(0);
    } else if (a == "--rounds") {
      o.rounds = parse_list(value()).at(0);
      rounds_given = true;
    } else if (a == "--threads-list") {
      o.threads_list = parse_list(value());
    } else if (a == "--ef-list") {
      o.ef_list = parse_list(value());
      ef_given = true;
    } else if (a == "--filter-ef-list") {
      o.filter_ef_list = parse_list(value());
      fef_given = true;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--only") {
      std::stringstream in(value());
      std::string item;
      while (std::getline(in, item, ',')) {
        if (item != "sddb-hnsw" && item != "hnswlib" && item != "faiss-hnsw" && item != "sddb-flat")
          die("unknown index '" + item + "' (sddb-hnsw, hnswlib, faiss-hnsw, sddb-flat)");
        o.only.insert(item);
      }
    } else if (a == "--storages") {
      std::stringstream in(value());
      std::string item;
      o.storages.clear();
      while (std::getline(in, item, ',')) {
        if (item != "auto" && item != "f32" && item != "u8" && item != "sq8" && item != "f16")
          die("unknown storage '" + item + "' (auto, f32, u8, sq8, f16)");
        o.storages.push_back(item);
      }
    } else if (a == "--no-filters") {
      o.filters = false;
    } else if (a == "--no-churn") {
      o.churn = false;
    } else if (a == "--sddb-filter") {
      const std::string form = value();
      if (form != "labels" && form != "predicate")
        die("unknown --sddb-filter '" + form + "' (labels, predicate)");
      o.sddb_filter_labels = form == "labels";
    } else if (a == "--out") {
      o.out = value();
    } else {
      std::fputs(kUsage, stderr);
      die("unknown option '" + a + "'");
    }
  }
  if (o.quick) {
    if (!queries_given) o.queries = 500;
    if (!rounds_given) o.rounds = 1;
    if (!ef_given) o.ef_list = {10, 15, 20, 25, 30, 40, 60, 100};
    if (!fef_given) o.filter_ef_list = {20, 80};
  }
  if (o.ef_list.empty()) {
    for (std::size_t ef = 10; ef <= 60; ++ef) o.ef_list.push_back(ef);
    for (std::size_t ef : {80, 100, 120, 160, 200, 300, 400}) o.ef_list.push_back(ef);
  }
  return o;
}

bool wanted(const Options& o, const std::string& index) {
  return o.only.empty() || o.only.count(index) > 0;
}

// ---------------------------------------------------------------------------------------------
// Data

struct Dataset {
  std::string name = "fashion-mnist-784-euclidean";
  std::size_t dim = 0;
  std::vector<float> base, queries;  // row-major
  std::vector<std::uint8_t> base_labels, query_labels;
  std::size_t n() const { return base_labels.size(); }
  std::size_t nq() const { return query_labels.size(); }
};

std::vector<std::uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) die("cannot open " + path + " (install dataset-fashion-mnist or pass --data DIR)");
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  for (;;) {
    const int got = gzread(f, buf, sizeof buf);
    if (got < 0) die("cannot read " + path);
    if (got == 0) break;
    out.insert(out.end(), buf, buf + got);
  }
  gzclose(f);
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// IDX images (magic 0x803): the first `limit` rows as floats; returns the dimension.
std::size_t read_images(const std::string& path, std::size_t limit, std::vector<float>& out) {
  const auto bytes = read_gz(path);
  if (bytes.size() < 16 || be32(bytes.data()) != 0x803) die(path + ": not an IDX image file");
  const std::size_t count = be32(&bytes[4]);
  const std::size_t dim = std::size_t{be32(&bytes[8])} * be32(&bytes[12]);
  if (bytes.size() != 16 + count * dim) die(path + ": truncated");
  const std::size_t n = std::min(count, limit);
  out.resize(n * dim);
  for (std::size_t i = 0; i < n * dim; ++i) out[i] = bytes[16 + i];
  return dim;
}

std::vector<std::uint8_t> read_labels(const std::string& path, std::size_t limit) {
  const auto bytes = read_gz(path);
  if (bytes.size() < 8 || be32(bytes.data()) != 0x801) die(path + ": not an IDX label file");
  const std::size_t count = be32(&bytes[4]);
  if (bytes.size() != 8 + count) die(path + ": truncated");
  const std::size_t n = std::min(count, limit);
  return {bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n)};
}

// The vectors of an outputs table, normalized; queries are spread over the _id order.
Dataset load_outputs_dataset(const Options& o) {
  auto db = sddb::superduper(o.outputs_uri);
  std::vector<sddb::OutputRow> rows;
  db->databackend().scan_outputs(o.outputs_table, 0,
                                 [&](const sddb::OutputRow& r) { rows.push_back(r); });
  if (rows.size() < 2 * o.queries) die(o.outputs_table + " has too few vectors");
  std::sort(rows.begin(), rows.end(),
            [](const sddb::OutputRow& a, const sddb::OutputRow& b) { return a.id < b.id; });
  // Classes: the nine most common values of the field, then one for everything else.
  const auto dot = o.classes.find('.');
  if (dot == std::string::npos) die("--classes wants COLLECTION.FIELD, not " + o.classes);
  const std::string field = o.classes.substr(dot + 1);
  std::map<std::string, std::string> value_of;
  std::map<std::string, std::size_t> count;
  for (const sddb::Document& doc :
       db->execute(sddb::Collection(o.classes.substr(0, dot)).find()).to_vector()) {
    const sddb::Value* v = doc.find(field);
    const std::string text = v && v->is_string() ? v->as_string() : "";
    value_of[doc.find("_id")->to_json()] = text;
    ++count[text];
  }
  std::vector<std::pair<std::size_t, std::string>> common;
  for (const auto& [text, c] : count) common.emplace_back(c, text);
  std::sort(common.rbegin(), common.rend());
  std::map<std::string, std::uint8_t> class_of;
  for (std::size_t i = 0; i < common.size() && i < 9; ++i) {
    class_of[common[i].second] = static_cast<std::uint8_t>(i);
  }
  Dataset d;
  d.dim = rows[0].vector.size();
  d.name = "debian-fasttext-" + std::to_string(d.dim) + "-angular";
  const std::size_t every = rows.size() / o.queries;
  const std::size_t base_limit = o.base ? o.base : SIZE_MAX;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<float> v = rows[i].vector;
    if (v.size() != d.dim) die("vectors of different lengths in " + o.outputs_table);
    double n2 = 0;
    for (float x : v) n2 += static_cast<double>(x) * x;
    const float scale = n2 > 0 ? static_cast<float>(1.0 / std::sqrt(n2)) : 1.0f;
    for (float& x : v) x *= scale;
    auto it = value_of.find(sddb::Value(rows[i].id).to_json());
    auto c = it == value_of.end() ? class_of.end() : class_of.find(it->second);
    const std::uint8_t label = c == class_of.end() ? 9 : c->second;
    const bool query = i % every == every - 1 && d.nq() < o.queries;
    if (!query && d.n() >= base_limit) continue;
    auto& to = query ? d.queries : d.base;
    (query ? d.query_labels : d.base_labels).push_back(label);
    to.insert(to.end(), v.begin(), v.end());
  }
  return d;
}

Dataset load_dataset(const Options& o) {
  if (!o.outputs_uri.empty()) return load_outputs_dataset(o);
  Dataset d;
  const std::size_t base_limit = o.base ? o.base : SIZE_MAX;
  d.dim = read_images(o.data + "/train-images-idx3-ubyte.gz", base_limit, d.base);
  const std::size_t qdim = read_images(o.data + "/t10k-images-idx3-ubyte.gz", o.queries, d.queries);
  if (qdim != d.dim) die("train and test images differ in size");
  d.base_labels = read_labels(o.data + "/train-labels-idx1-ubyte.gz", base_limit);
  d.query_labels = read_labels(o.data + "/t10k-labels-idx1-ubyte.gz", o.queries);
  if (d.base_labels.size() * d.dim != d.base.size() ||
      d.query_labels.size() * d.dim != d.queries.size())
    die("image and label files differ in count");
  return d;
}

// ---------------------------------------------------------------------------------------------
// Filters and ground truth

// Filter sets: 0 = none; 1..3 = random 1%, 10%, 50%; 4 = anti (one other class).
constexpr std::size_t kFilterSets = 5;
const double kRandomSelectivity[] = {0, 0.01, 0.10, 0.50};
const char* filter_kind(std::size_t s) { return s == 0 ? nullptr : s == 4 ? "anti" : "random"; }

struct Filters {
  std::vector<std::vector<std::uint8_t>> random;  // [1..3] bitsets over base labels
  std::vector<std::size_t> random_count;
  std::vector<std::vector<std::uint64_t>> random_labels;  // the same sets as label lists
  std::vector<std::vector<std::uint8_t>> by_class;        // [10]
  std::vector<std::size_t> class_count;
  std::vector<std::vector<std::uint64_t>> class_labels;
};

std::vector<std::uint64_t> labels_of(const std::vector<std::uint8_t>& allowed) {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (allowed[i]) out.push_back(i);
  }
  return out;
}

std::uint8_t anti_class(std::uint8_t query_class) { return (query_class + 5) % 10; }

Filters make_filters(const Dataset& d) {
  Filters f;
  f.random.resize(4);
  f.random_count.resize(4);
  std::vector<std::size_t> order(d.n());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(20261126);
  for (std::size_t s = 1; s <= 3; ++s) {
    std::shuffle(order.begin(), order.end(), rng);
    const auto count = static_cast<std::size_t>(std::llround(kRandomSelectivity[s] * d.n()));
    f.random[s].assign(d.n(), 0);
    for (std::size_t i = 0; i < count; ++i) f.random[s][order[i]] = 1;
    f.random_count[s] = count;
  }
  f.by_class.assign(10, std::vector<std::uint8_t>(d.n(), 0));
  f.class_count.assign(10, 0);
  for (std::size_t i = 0; i < d.n(); ++i) {
    f.by_class[d.base_labels[i] % 10][i] = 1;
    ++f.class_count[d.base_labels[i] % 10];
  }
  f.random_labels.resize(4);
  for (std::size_t s = 1; s <= 3; ++s) f.random_labels[s] = labels_of(f.random[s]);
  for (const auto& c : f.by_class) f.class_labels.push_back(labels_of(c));
  return f;
}

QueryFilter query_filter(const Filters& f, const Dataset& d, std::size_t set, std::size_t q) {
  if (set == 4) {
    const std::uint8_t c = anti_class(d.query_labels[q]);
    return {f.by_class[c].data(), f.class_count[c], &f.class_labels[c]};
  }
  return {f.random[set].data(), f.random_count[set], &f.random_labels[set]};
}

double exact_l2(const float* a, const float* b, std::size_t dim) {
  double s = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const double x = double{a[i]} - double{b[i]};
    s += x * x;
  }
  return s;
}

// For each filter set and query: the k nearest allowed labels and the k-th exact distance.
struct GroundTruth {
  std::vector<std::uint64_t> labels;  // [set][query][k]
  std::vector<double> kth;            // [set][query]
};

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

GroundTruth ground_truth(const Options& o, const Dataset& d, const Filters& f) {
  const std::size_t nq = d.nq(), n = d.n();
  std::ostringstream key;
  key << "v1|" << (o.outputs_uri.empty() ? o.data : o.outputs_uri + '|' + o.outputs_table) << '|'
      << n << '|' << nq << '|' << d.dim << '|' << kK;
  char path[128];
  std::snprintf(path, sizeof path, "/tmp/sddb-bench-ann-gt-%016llx.bin",
                static_cast<unsigned long long>(fnv1a(key.str())));
  GroundTruth gt;
  gt.labels.resize(kFilterSets * nq * kK);
  gt.kth.resize(kFilterSets * nq);
  const std::size_t label_bytes = gt.labels.size() * sizeof(std::uint64_t);
  const std::size_t kth_bytes = gt.kth.size() * sizeof(double);
  if (std::ifstream in(path, std::ios::binary); in) {
    in.read(reinterpret_cast<char*>(gt.labels.data()), static_cast<std::streamsize>(label_bytes));
    in.read(reinterpret_cast<char*>(gt.kth.data()), static_cast<std::streamsize>(kth_bytes));
    if (in && in.peek() == std::char_traits<char>::eof()) {
      std::fprintf(stderr, "ground truth: cached in %s\n", path);
      return gt;
    }
  }
  const auto t0 = Clock::now();
  const auto& kernels = sddb::detail::distance_kernels();
  const std::size_t threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  parallel_for(nq, threads, [&](std::size_t q) {
    std::vector<float> dist(n);
    const float* query = &d.queries[q * d.dim];
    kernels.l2_squared_batch(query, d.base.data(), n, d.dim, dist.data());
    for (std::size_t s = 0; s < kFilterSets; ++s) {
      const QueryFilter filter = s == 0 ? QueryFilter{} : query_filter(f, d, s, q);
      // Bounded max-heap of (distance, label): ties go to the lower label.
      std::vector<std::pair<float, std::uint64_t>> heap;
      for (std::size_t i = 0; i < n; ++i) {
        if (filter.allowed && !filter.allowed[i]) continue;
        const std::pair<float, std::uint64_t> item{dist[i], i};
        if (heap.size() < kK) {
          heap.push_back(item);
          std::push_heap(heap.begin(), heap.end());
        } else if (item < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = item;
          std::push_heap(heap.begin(), heap.end());
        }
      }
      std::sort_heap(heap.begin(), heap.end());
      std::uint64_t* row = &gt.labels[(s * nq + q) * kK];
      double kth = 0;
      for (std::size_t j = 0; j < kK; ++j) {
        row[j] = j < heap.size() ? heap[j].second : kNoLabel;
        if (j < heap.size())
          kth = std::max(kth, exact_l2(query, &d.base[heap[j].second * d.dim], d.dim));
      }
      gt.kth[s * nq + q] = kth;
    }
  });
  std::fprintf(stderr, "ground truth: computed in %.1f s, cached in %s\n", seconds_since(t0), path);
  if (std::ofstream out(path, std::ios::binary); out) {
    out.write(reinterpret_cast<const char*>(gt.labels.data()),
              static_cast<std::streamsize>(label_bytes));
    out.write(reinterpret_cast<const char*>(gt.kth.data()),
              static_cast<std::streamsize>(kth_bytes));
  }
  return gt;
}

struct Quality {
  double recall = 0;
  std::size_t results_min = 0;
};

// Recall@k against filter set `set`; a result counts when it is allowed, not repeated, and within
// the k-th true distance (+1e-3).
Quality score(const Dataset& d, const Filters& f, const GroundTruth& gt, std::size_t set,
              const std::vector<std::uint64_t>& results) {
  const std::size_t nq = d.nq();
  std::vector<double> recall(nq);
  std::vector<std::size_t> count(nq);
  parallel_for(nq, 2, [&](std::size_t q) {
    const QueryFilter filter = set == 0 ? QueryFilter{} : query_filter(f, d, set, q);
    const std::uint64_t* row = &results[q * kK];
    const double limit = gt.kth[set * nq + q] + 1e-3;
    std::size_t truth = 0;
    for (std::size_t j = 0; j < kK; ++j) truth += gt.labels[(set * nq + q) * kK + j] != kNoLabel;
    std::size_t hits = 0, got = 0;
    for (std::size_t j = 0; j < kK; ++j) {
      const std::uint64_t label = row[j];
      if (label == kNoLabel) continue;
      ++got;
      if (label >= d.n()) continue;
      if (filter.allowed && !filter.allowed[label]) continue;
      if (std::find(row, row + j, label) != row + j) continue;
      if (exact_l2(&d.queries[q * d.dim], &d.base[label * d.dim], d.dim) <= limit) ++hits;
    }
    recall[q] = truth ? static_cast<double>(std::min(hits, truth)) / truth : 1.0;
    count[q] = got;
  });
  Quality out;
  out.recall = std::accumulate(recall.begin(), recall.end(), 0.0) / nq;
  out.results_min = nq ? *std::min_element(count.begin(), count.end()) : 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// sddb's indexes behind AnnIndex

class SddbFlat final : public AnnIndex {
 public:
  explicit SddbFlat(std::size_t dim) : dim_(dim), index_(dim, Measure::l2) {}
  std::string name() const override { return "sddb-flat"; }
  std::string storage() const override { return "f32"; }

  void build(const float* base, std::size_t n, std::size_t /*threads*/) override {
    constexpr std::size_t kBatch = 4096;
    for (std::size_t begin = 0; begin < n; begin += kBatch) {
      const std::size_t end = std::min(n, begin + kBatch);
      std::vector<std::string> ids;
      std::vector<std::vector<float>> vectors;
      for (std::size_t i = begin; i < end; ++i) {
        ids.push_back(std::to_string(i));
        vectors.emplace_back(base + i * dim_, base + (i + 1) * dim_);
      }
      index_.add("bench", ids, vectors);
    }
  }

  double memory_bytes() const override {
    // The matrix, plus per id its string and its entry in the id -> row map.
    return static_cast<double>(index_.matrix().size()) * sizeof(float) +
           static_cast<double>(index_.size()) * (2 * sizeof(std::string) + 4 * sizeof(void*));
  }

  void search(const float* queries, std::size_t nq, std::size_t k, std::size_t /*ef*/,
              std::size_t threads, const std::vector<QueryFilter>* /*filters*/,
              std::uint64_t* out) override {
    parallel_for(nq, threads, [&](std::size_t q) {
      const auto hits = index_.search(std::span<const float>(queries + q * dim_, dim_), k, nullptr);
      for (std::size_t j = 0; j < k; ++j) {
        out[q * k + j] =
            j < hits.size() ? std::strtoull(hits[j].first.c_str(), nullptr, 10) : kNoLabel;
      }
    });
  }

 private:
  std::size_t dim_;
  sddb::detail::FlatIndex index_;
};

#ifdef SDDB_BENCH_HAVE_HNSW
using sddb::detail::HnswStorage;

std::string storage_name(HnswStorage s) { return std::string(hnsw_storage_name(s)); }

class SddbHnsw final : public AnnIndex {
 public:
  SddbHnsw(std::size_t dim, HnswStorage storage, bool filter_labels)
      : dim_(dim), filter_labels_(filter_labels) {
    sddb::detail::HnswOptions options;
    options.m = kM;
    options.ef_construction = kEfConstruction;
    options.storage = storage;
    index_ = std::make_unique<sddb::detail::HnswIndex>(dim, Measure::l2, options);
  }
  std::string name() const override { return "sddb-hnsw"; }
  std::string storage() const override { return storage_name(index_->storage()); }
  // The searched row and, for sq8 and f16, the f32 copy the final candidates are re-ranked on
  // (both included in bytes_per_vector).
  std::string extra_json() const override {
    const std::size_t pf = (dim_ + 15) / 16 * 16, pu = (dim_ + 63) / 64 * 64;
    std::size_t row = pf * 4, copy = 0;
    switch (index_->storage()) {
      case HnswStorage::f32:
        break;
      case HnswStorage::u8:
        row = pu;
        break;
      case HnswStorage::sq8:
        row = pu;
        copy = pf * 4;
        break;
      case HnswStorage::f16:
        row = pf * 2;
        copy = pf * 4;
        break;
    }
    return ", \"row_bytes\": " + std::to_string(row) +
           ", \"rerank_copy_bytes\": " + std::to_string(copy) + ", \"filter_form\": \"" +
           (filter_labels_ ? "labels" : "predicate") + "\"";
  }
  std::string filter_mode() const override { return "in-graph"; }

  void build(const float* base, std::size_t n, std::size_t threads) override {
    std::vector<std::uint64_t> labels(n);
    std::iota(labels.begin(), labels.end(), 0);
    index_->add_batch(labels, base, threads);
  }
  double memory_bytes() const override { return static_cast<double>(index_->memory_bytes()); }

  void search(const float* queries, std::size_t nq, std::size_t k, std::size_t ef,
              std::size_t threads, const std::vector<QueryFilter>* filters,
              std::uint64_t* out) override {
    std::vector<sddb::detail::HnswFilter> hnsw_filters;
    if (filters) {
      hnsw_filters.reserve(nq);
      for (const QueryFilter& f : *filters) {
        sddb::detail::HnswFilter h;
        if (filter_labels_) {
          h.labels = f.labels;
        } else {
          const std::uint8_t* allowed = f.allowed;
          h.allowed = [allowed](std::uint64_t label) { return allowed[label] != 0; };
          h.allowed_count = f.allowed_count;
        }
        hnsw_filters.push_back(std::move(h));
      }
    }
    parallel_for(nq, threads, [&](std::size_t q) {
      const auto hits =
          index_->search(queries + q * dim_, k, ef, filters ? &hnsw_filters[q] : nullptr);
      for (std::size_t j = 0; j < k; ++j)
        out[q * k + j] = j < hits.size() ? hits[j].first : kNoLabel;
    });
  }

  bool supports_churn() const override { return true; }
  void remove(const std::vector<std::uint64_t>& labels) override {
    for (std::uint64_t label : labels) index_->remove(label);
  }
  void reinsert(const float* base, const std::vector<std::uint64_t>& labels,
                std::size_t threads) override {
    std::vector<float> rows(labels.size() * dim_);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      std::memcpy(&rows[i * dim_], base + labels[i] * dim_, dim_ * sizeof(float));
    }
    index_->add_batch(labels, rows.data(), threads);
  }

 private:
  std::size_t dim_;
  bool filter_labels_;
  std::unique_ptr<sddb::detail::HnswIndex> index_;
};

// What an index with no forced storage picks on this data (from its first rows).
std::string auto_storage(const Dataset& d) {
  sddb::detail::HnswIndex probe(d.dim, Measure::l2, {});
  const std::size_t n = std::min<std::size_t>(1000, d.n());
  std::vector<std::uint64_t> labels(n);
  std::iota(labels.begin(), labels.end(), 0);
  probe.add_batch(labels, d.base.data(), 1);
  return probe.storage() == HnswStorage::u8 ? "u8" : "f32";
}
#endif

// ---------------------------------------------------------------------------------------------
// Measurement

struct Built {
  std::unique_ptr<AnnIndex> index;
  double build_s = 0;
  double bytes_per_vector = 0;
  double churn_s = 0;  // remove + reinsert, when churned
  double churn_bytes_per_vector = 0;
};

struct Point {
  std::size_t index = 0;  // into the Built list
  std::size_t threads = 1;
  std::size_t ef = 0;  // 0: not applicable (flat)
  std::size_t filter_set = 0;
  std::string phase = "fresh";
  std::optional<Quality> quality;
  std::vector<double> qps;
  std::vector<double> cpu_qps;  // queries per second of process CPU time (steadier when shared)
};

Point make_point(std::size_t index, std::size_t threads, std::size_t ef, std::size_t filter_set,
                 std::string phase) {
  Point p;
  p.index = index;
  p.threads = threads;
  p.ef = ef;
  p.filter_set = filter_set;
  p.phase = std::move(phase);
  return p;
}

class Bench {
 public:
  Bench(const Options& o, const Dataset& d, const Filters& f, const GroundTruth& gt,
        std::vector<Built>& built, std::size_t build_threads, std::string auto_storage)
      : o_(o),
        d_(d),
        f_(f),
        gt_(gt),
        built_(built),
        build_threads_(build_threads),
        auto_storage_(std::move(auto_storage)) {
    if (!o.out.empty()) {
      out_.open(o.out);
      if (!out_) die("cannot write " + o.out);
    }
  }

  void measure(Point& p) {
    AnnIndex& index = *built_[p.index].index;
    std::vector<std::uint64_t> results(d_.nq() * kK, kNoLabel);
    std::vector<QueryFilter> filters;
    if (p.filter_set) {
      filters.reserve(d_.nq());
      for (std::size_t q = 0; q < d_.nq(); ++q)
        filters.push_back(query_filter(f_, d_, p.filter_set, q));
    }
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    index.search(d_.queries.data(), d_.nq(), kK, p.ef, p.threads, p.filter_set ? &filters : nullptr,
                 results.data());
    const double s = seconds_since(t0);
    p.qps.push_back(static_cast<double>(d_.nq()) / s);
    p.cpu_qps.push_back(static_cast<double>(d_.nq()) / std::max(1e-9, cpu_seconds() - cpu0));
    if (!p.quality) p.quality = score(d_, f_, gt_, p.filter_set, results);
  }

  // Times every point once per round; within a round, each group (same threads, ef, filter)
  // runs its indexes in an order rotated by the round.
  void run(std::vector<Point>& points) {
    std::map<std::tuple<std::size_t, std::size_t, std::size_t, std::string>, std::vector<Point*>>
        groups;
    for (Point& p : points) groups[{p.threads, p.filter_set, p.ef, p.phase}].push_back(&p);
    for (std::size_t r = 0; r < o_.rounds; ++r) {
      for (auto& [key, group] : groups) {
        for (std::size_t i = 0; i < group.size(); ++i) measure(*group[(i + r) % group.size()]);
      }
      std::fprintf(stderr, "  round %zu/%zu done\n", r + 1, o_.rounds);
    }
    for (const Point& p : points) emit(p);
  }

  void emit(const Point& p) {
    const Built& b = built_[p.index];
    const AnnIndex& index = *b.index;
    const bool churned = p.phase == "churn";
    std::ostringstream j;
    j.precision(6);
    j << "{\"index\": \"" << index.name() << "\", \"storage\": \"" << index.storage()
      << "\", \"threads\": " << p.threads << ", \"ef\": ";
    if (p.ef)
      j << p.ef;
    else
      j << "null";
    j << ", \"filter_selectivity\": ";
    if (p.filter_set) {
      const double sel = p.filter_set == 4 ? 0.1 : kRandomSelectivity[p.filter_set];
      j << sel << ", \"filter\": \"" << filter_kind(p.filter_set) << '"';
    } else {
      j << "null, \"filter\": null";
    }
    j << ", \"recall\": " << p.quality->recall << ", \"results_min\": " << p.quality->results_min
      << ", \"qps\": " << median(p.qps) << ", \"build_s\": " << b.build_s
      << ", \"bytes_per_vector\": " << (churned ? b.churn_bytes_per_vector : b.bytes_per_vector)
      << ", \"dataset\": \"" << d_.name << "\", \"k\": " << kK << ", \"m\": " << kM
      << ", \"ef_construction\": " << kEfConstruction << ", \"n\": " << d_.n()
      << ", \"queries\": " << d_.nq() << ", \"build_threads\": " << build_threads_
      << ", \"phase\": \"" << p.phase << "\", \"rounds\": " << p.qps.size()
      << ", \"qps_rounds\": [";
    for (std::size_t i = 0; i < p.qps.size(); ++i) j << (i ? ", " : "") << p.qps[i];
    j << "], \"cpu_qps\": " << median(p.cpu_qps) << ", \"cpu_qps_rounds\": [";
    for (std::size_t i = 0; i < p.cpu_qps.size(); ++i) j << (i ? ", " : "") << p.cpu_qps[i];
    j << ']';
    if (p.filter_set) {
      j << ", \"filter_mode\": \"" << index.filter_mode()
        << "\", \"allowed_mean\": " << allowed_mean(p.filter_set);
    }
    if (churned)
      j << ", \"churn_s\": " << b.churn_s << ", \"fresh_bytes_per_vector\": " << b.bytes_per_vector;
    if (index.name() == "sddb-hnsw") j << ", \"storage_auto\": \"" << auto_storage_ << '"';
    j << index.extra_json();
    j << '}';
    std::printf("%s\n", j.str().c_str());
    std::fflush(stdout);
    if (out_) out_ << j.str() << '\n' << std::flush;
  }

  double allowed_mean(std::size_t set) const {
    double sum = 0;
    for (std::size_t q = 0; q < d_.nq(); ++q)
      sum += static_cast<double>(query_filter(f_, d_, set, q).allowed_count);
    return d_.nq() ? sum / d_.nq() : 0;
  }

 private:
  const Options& o_;
  const Dataset& d_;
  const Filters& f_;
  const GroundTruth& gt_;
  std::vector<Built>& built_;
  std::size_t build_threads_;
  std::string auto_storage_;
  std::ofstream out_;
};

std::string label(const AnnIndex& index) { return index.name() + "/" + index.storage(); }

// Best single-thread QPS at recall >= 0.98 per round, for the unfiltered points of one index and
// phase; empty when no ef reaches it.
std::vector<double> best_per_round(const std::vector<Point>& points, std::size_t index,
                                   const std::string& phase, std::size_t* best_ef,
                                   std::vector<double> Point::*qps = &Point::qps) {
  std::vector<double> best;
  double best_median = 0;
  for (const Point& p : points) {
    if (p.index != index || p.threads != 1 || p.filter_set || p.phase != phase) continue;
    if (!p.quality || p.quality->recall < 0.98) continue;
    const std::vector<double>& q = p.*qps;
    if (best.size() < q.size()) best.resize(q.size(), 0);
    for (std::size_t r = 0; r < q.size(); ++r) best[r] = std::max(best[r], q[r]);
    if (median(q) > best_median) {
      best_median = median(q);
      if (best_ef) *best_ef = p.ef;
    }
  }
  return best;
}

void summarize(const std::vector<Built>& built, const std::vector<Point>& points) {
  std::fprintf(stderr, "\nsummary (single thread, recall@10 >= 0.98, medians over rounds):\n");
  std::optional<std::size_t> hnswlib;
  for (std::size_t i = 0; i < built.size(); ++i) {
    if (built[i].index->name() == "hnswlib") hnswlib = i;
  }
  std::vector<double> ref =
      hnswlib ? best_per_round(points, *hnswlib, "fresh", nullptr) : std::vector<double>{};
  std::vector<double> ref_cpu =
      hnswlib ? best_per_round(points, *hnswlib, "fresh", nullptr, &Point::cpu_qps)
              : std::vector<double>{};
  // Medians of the per-round ratios of the best QPS at recall >= 0.98.
  auto ratio = [](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> ratios;
    for (std::size_t r = 0; r < std::min(a.size(), b.size()); ++r) ratios.push_back(a[r] / b[r]);
    return median(ratios);
  };
  for (std::size_t i = 0; i < built.size(); ++i) {
    std::size_t ef = 0;
    const auto best = best_per_round(points, i, "fresh", &ef);
    std::fprintf(stderr, "  %-16s build %6.1f s, %7.0f bytes/vector, ",
                 label(*built[i].index).c_str(), built[i].build_s, built[i].bytes_per_vector);
    if (best.empty()) {
      std::fprintf(stderr, "never reaches 0.98\n");
      continue;
    }
    std::fprintf(stderr, "best %8.0f QPS (ef %zu)", median(best), ef);
    if (hnswlib && i != *hnswlib && !ref.empty()) {
      const auto best_cpu = best_per_round(points, i, "fresh", nullptr, &Point::cpu_qps);
      std::fprintf(stderr, ", %.2fx hnswlib QPS (CPU %.2fx), build %.2fx hnswlib's",
                   ratio(best, ref), ratio(best_cpu, ref_cpu),
                   built[i].build_s / built[*hnswlib].build_s);
      if (built[i].index->name() == "sddb-hnsw") {
        std::fprintf(stderr, " (target %s)",
                     built[i].index->storage() == "f32" ? ">= 1.5x" : ">= 3x");
      }
    }
    std::fprintf(stderr, "\n");
  }
  for (std::size_t i = 0; i < built.size(); ++i) {
    if (built[i].churn_s == 0) continue;
    std::size_t ef = 0;
    const auto best = best_per_round(points, i, "churn", &ef);
    double fresh_recall = 0, churn_recall = 0;
    for (const Point& p : points) {
      if (p.index != i || p.threads != 1 || p.filter_set || p.ef != 20 || !p.quality) continue;
      (p.phase == "fresh" ? fresh_recall : churn_recall) = p.quality->recall;
    }
    std::fprintf(stderr,
                 "  churn %-10s recall at ef 20 %.4f (fresh %.4f), %.0f bytes/vector (fresh %.0f, "
                 "%+.1f%%), best %.0f QPS at >= 0.98\n",
                 label(*built[i].index).c_str(), churn_recall, fresh_recall,
                 built[i].churn_bytes_per_vector, built[i].bytes_per_vector,
                 100 * (built[i].churn_bytes_per_vector / built[i].bytes_per_vector - 1),
                 best.empty() ? 0.0 : median(best));
  }
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const auto t_load = Clock::now();
  const Dataset d = load_dataset(o);
  std::fprintf(stderr, "data: %s, %zu base, %zu queries, %zu dims (%.1f s)\n", d.name.c_str(),
               d.n(), d.nq(), d.dim, seconds_since(t_load));
  const Filters f = make_filters(d);
  const GroundTruth gt = ground_truth(o, d, f);
  const std::size_t build_threads = *std::max_element(o.threads_list.begin(), o.threads_list.end());

  std::vector<Built> built;
  auto build = [&](std::unique_ptr<AnnIndex> index) {
    std::fprintf(stderr, "building %s with %zu threads ...\n", index->name().c_str(),
                 build_threads);
    const auto t0 = Clock::now();
    index->build(d.base.data(), d.n(), build_threads);
    Built b;
    b.build_s = seconds_since(t0);
    b.bytes_per_vector = index->memory_bytes() / static_cast<double>(d.n());
    std::fprintf(stderr, "  %s: %.1f s, %.0f bytes/vector\n", label(*index).c_str(), b.build_s,
                 b.bytes_per_vector);
    b.index = std::move(index);
    built.push_back(std::move(b));
  };
  std::string auto_pick = "n/a";
  if (wanted(o, "hnswlib")) build(make_hnswlib_index(d.dim, kM, kEfConstruction));
  if (wanted(o, "faiss-hnsw")) build(make_faiss_index(d.dim, kM, kEfConstruction));
#ifdef SDDB_BENCH_HAVE_HNSW
  if (wanted(o, "sddb-hnsw")) {
    auto_pick = auto_storage(d);
    std::fprintf(stderr, "sddb-hnsw with no forced storage picks %s on this data\n",
                 auto_pick.c_str());
    std::set<std::string> done;
    for (std::string s : o.storages) {
      if (s == "auto") s = auto_pick;
      if (!done.insert(s).second) continue;
      const HnswStorage st = s == "u8"    ? HnswStorage::u8
                             : s == "sq8" ? HnswStorage::sq8
                             : s == "f16" ? HnswStorage::f16
                                          : HnswStorage::f32;
      build(std::make_unique<SddbHnsw>(d.dim, st, o.sddb_filter_labels));
    }
  }
#else
  if (wanted(o, "sddb-hnsw")) {
    std::fprintf(stderr,
                 "sddb-hnsw: not in this build (sddb_vector has no hnsw.cc yet); skipped\n");
  }
#endif
  if (wanted(o, "sddb-flat")) build(std::make_unique<SddbFlat>(d.dim));

  Bench bench(o, d, f, gt, built, build_threads, auto_pick);
  std::vector<Point> points;

  std::fprintf(stderr, "unfiltered sweep: %zu ef values x %zu thread counts x %zu rounds\n",
               o.ef_list.size(), o.threads_list.size(), o.rounds);
  {
    std::vector<Point> sweep;
    for (std::size_t i = 0; i < built.size(); ++i) {
      const bool flat = built[i].index->name() == "sddb-flat";
      for (std::size_t t : o.threads_list) {
        if (flat) {
          sweep.push_back(make_point(i, t, 0, 0, "fresh"));
          continue;
        }
        for (std::size_t ef : o.ef_list) sweep.push_back(make_point(i, t, ef, 0, "fresh"));
      }
    }
    bench.run(sweep);
    points.insert(points.end(), sweep.begin(), sweep.end());
  }

  if (o.filters) {
    std::fprintf(stderr, "filtered sweep (1 thread)\n");
    std::vector<Point> sweep;
    for (std::size_t i = 0; i < built.size(); ++i) {
      if (built[i].index->filter_mode().empty()) continue;
      for (std::size_t set = 1; set < kFilterSets; ++set) {
        for (std::size_t ef : o.filter_ef_list) sweep.push_back(make_point(i, 1, ef, set, "fresh"));
      }
    }
    bench.run(sweep);
    points.insert(points.end(), sweep.begin(), sweep.end());
  }

  if (o.churn) {
    std::vector<std::uint64_t> half(d.n());
    std::iota(half.begin(), half.end(), 0);
    std::mt19937_64 rng(7);
    std::shuffle(half.begin(), half.end(), rng);
    half.resize(d.n() / 2);
    std::vector<Point> sweep;
    for (std::size_t i = 0; i < built.size(); ++i) {
      Built& b = built[i];
      if (!b.index->supports_churn()) continue;
      std::fprintf(stderr, "churn %s: removing %zu labels and adding them back ...\n",
                   label(*b.index).c_str(), half.size());
      const auto t0 = Clock::now();
      b.index->remove(half);
      b.index->reinsert(d.base.data(), half, build_threads);
      b.churn_s = seconds_since(t0);
      b.churn_bytes_per_vector = b.index->memory_bytes() / static_cast<double>(d.n());
      for (std::size_t ef : o.ef_list) sweep.push_back(make_point(i, 1, ef, 0, "churn"));
    }
    if (!sweep.empty()) {
      std::fprintf(stderr, "churn sweep (1 thread)\n");
      bench.run(sweep);
      points.insert(points.end(), sweep.begin(), sweep.end());
    }
  }

  summarize(built, points);
  return 0;
}

}  // namespace
}  // namespace sddb::bench

int main(int argc, char** argv) {
  try {
    return sddb::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sddb-bench-ann: %s\n", e.what());
    return 1;
  }
}
