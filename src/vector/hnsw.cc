// HnswIndex (hnsw.h). Design notes, with the measurements behind them, are in
// ../shared/reference/ann-techniques.md; the sections cited below are that page's.
//
// Slots: every node has an internal id (slot). Level-0 links ([count, M0 ids]), vectors and the
// u8 per-node constants are separate 64-byte-aligned arrays indexed by slot (§1); upper-level
// links are per-slot vectors. A removed label leaves a dead slot: its neighbours are relinked at
// once, its own links stay (searches may still pass through it, never return it) and the slot is
// the next one an add takes. Links that still point at it then point at the new node, which is
// merely an extra edge.

#include "vector/hnsw.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <queue>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "sddb/error.h"
#include "vector/flat_index.h"
#include "vector/hnsw_kernels.h"

namespace sddb::detail {
namespace {

constexpr std::uint32_t kNone = 0xffffffffu;
constexpr int kMaxLevel = 31;
constexpr std::size_t kMaxU8Dim = 32000;  // keeps every integer sum of the u8 kernels in int32
constexpr char kMagic[8] = {'S', 'D', 'D', 'B', 'H', 'N', 'S', 'W'};
// Version 2 added the dimension order, version 3 the sq8 and f16 storages (their exact f32 rows
// and the sq8 parameters); older files still load.
constexpr std::uint32_t kFormatVersion = 3;
// An l2 index chooses its dimension order from its first batch when that has at least this many
// rows, else from the rows it holds once it reaches four times as many.
constexpr std::size_t kOrderSampleMin = 256;
constexpr std::size_t kOrderSampleMax = 8192;
// Allowed sets up to this size are scanned exactly (§6: ~27 µs for 600 of 60K, recall 1.0; the
// in-graph search costs more than the scan below ~5 % selectivity).
constexpr std::size_t kExactFilterMax = 3000;
// sq8 parameters are learned again each time the index doubles, until they come from this many
// rows (each time every stored row is encoded again).
constexpr std::size_t kSq8SampleMax = 8192;

Error invalid(const std::string& message) { return Error(ErrorCode::invalid_argument, message); }

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

constexpr std::size_t kHuge = std::size_t{2} << 20;
constexpr std::size_t kHugeMin = std::size_t{4} << 20;

// A zero-initialised, 64-byte-aligned array that grows by copying.
template <typename T>
class AlignedArray {
 public:
  AlignedArray() = default;
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  ~AlignedArray() { std::free(data_); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const {
    const std::size_t b = size_ * sizeof(T);
    return round_up(b, b >= kHugeMin ? kHuge : 64);
  }

  void resize(std::size_t n) {
    if (n == size_) return;
    if (n == 0) {
      std::free(data_);
      data_ = nullptr;
      size_ = 0;
      return;
    }
    // Large arrays (the vectors, the level-0 links) go on 2 MiB pages: rows are read at random,
    // and with 4 KiB pages nearly every row costs a TLB miss too (ann-techniques.md §1).
    const std::size_t bytes = n * sizeof(T);
    const std::size_t align = bytes >= kHugeMin ? kHuge : 64;
    T* p = static_cast<T*>(std::aligned_alloc(align, round_up(bytes, align)));
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHuge) madvise(p, round_up(bytes, align), MADV_HUGEPAGE);
    const std::size_t keep = std::min(n, size_);
    if (keep > 0) std::memcpy(p, data_, keep * sizeof(T));
    std::memset(static_cast<void*>(p + keep), 0, (n - keep) * sizeof(T));
    std::free(data_);
    data_ = p;
    size_ = n;
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Visited marks, one u16 epoch array per thread (§3): O(1) reset, no pool and no lock.
struct Visited {
  std::vector<std::uint16_t> marks;
  std::uint16_t epoch = 0;

  void begin(std::size_t n) {
    if (marks.size() < n) marks.resize(n, 0);
    if (++epoch == 0) {
      std::fill(marks.begin(), marks.end(), 0);
      epoch = 1;
    }
  }
  // True the first time an id is seen in this search.
  bool visit(std::uint32_t id) {
    if (marks[id] == epoch) return false;
    marks[id] = epoch;
    return true;
  }
};

Visited& thread_visited() {
  thread_local Visited v;
  return v;
}

struct Cand {
  float dist;
  std::uint32_t id;
};
struct CloserFirst {  // for a min-heap by distance
  bool operator()(const Cand& a, const Cand& b) const { return a.dist > b.dist; }
};
struct FartherFirst {  // for a max-heap by distance
  bool operator()(const Cand& a, const Cand& b) const { return a.dist < b.dist; }
};

// Glass-style linear pool (§4): up to `cap` candidates sorted by distance with an "expanded"
// flag; the cursor is the best unexpanded one. It is also the result list.
class Pool {
 public:
  explicit Pool(std::size_t cap) : cap_(cap) {
    items_.reserve(std::min<std::size_t>(cap, 4096) + 1);
  }

  bool insert(float dist, std::uint32_t id) {
    if (items_.size() == cap_ && dist >= items_.back().dist) return false;
    const auto pos = std::upper_bound(items_.begin(), items_.end(), dist,
                                      [](float d, const Item& it) { return d < it.dist; });
    const std::size_t at = static_cast<std::size_t>(pos - items_.begin());
    items_.insert(pos, Item{dist, id, false});
    if (items_.size() > cap_) items_.pop_back();
    if (at < cursor_) cursor_ = at;
    return true;
  }
  bool has_next() const { return cursor_ < items_.size(); }
  std::uint32_t pop_next() {
    items_[cursor_].expanded = true;
    const std::uint32_t id = items_[cursor_].id;
    while (cursor_ < items_.size() && items_[cursor_].expanded) ++cursor_;
    return id;
  }
  std::size_t size() const { return items_.size(); }
  // Distances at or above this are rejected by insert().
  float bound() const {
    return items_.size() == cap_ ? items_.back().dist : std::numeric_limits<float>::infinity();
  }
  Cand at(std::size_t i) const { return {items_[i].dist, items_[i].id}; }

 private:
  struct Item {
    float dist;
    std::uint32_t id;
    bool expanded;
  };
  std::size_t cap_;
  std::size_t cursor_ = 0;
  std::vector<Item> items_;
};

// Casting NaN to an integer is undefined: code conversions map it to 0. (Finite inputs can
// still overflow to infinities on the way, e.g. with the sq8 parameters of a damaged file.)
float nan_to_zero(float x) { return std::isnan(x) ? 0.0f : x; }

bool is_u8_value(float x) { return x >= 0.0f && x <= 255.0f && x == std::floor(x); }

bool all_u8(const float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_u8_value(v[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view hnsw_storage_name(HnswStorage s) {
  switch (s) {
    case HnswStorage::f32:
      return "f32";
    case HnswStorage::u8:
      return "u8";
    case HnswStorage::sq8:
      return "sq8";
    case HnswStorage::f16:
      return "f16";
  }
  return "?";
}

// ------------------------------------------------------------------------------------------------

struct HnswIndex::Impl {
  // A query prepared for the kernels: padded floats (normalized for cosine on f32, f16 and sq8;
  // for sq8 l2 (q - min) * w, for sq8 dot q * w, then also as int8 in s with one step), or for an
  // integer query on u8 storage the bytes shifted to signed (q - 128) and the integer norms. On sq8
  // and f16 also the exact query for the f32 re-ranking.
  struct Query {
    std::vector<float> f;
    std::vector<std::int8_t> s;
    std::vector<float> x;       // sq8, f16: the query as given (stored order, padded)
    const float* fp = nullptr;  // f.data(), or a stored f32 row
    const float* xp = nullptr;  // x.data(), or a stored exact row
    bool int_mode = false;
    std::int64_t nq = 0;  // sum q^2 (integer mode)
    float norm = 0;       // |q| (u8 and compressed cosine)
    float qc = 0;         // sq8: l2 sum (q - min)^2, dot sum q * min
    float step = 0;       // sq8 with an int8 query: f ~ step * s
    bool exact = false;   // compressed: distances() measures on the f32 rows
  };

  std::size_t dim;
  Measure measure;
  HnswOptions opt;
  std::size_t m, m0;
  double level_mult;
  HnswStorage storage;
  const HnswKernels* kern;
  std::size_t pf;  // padded floats per f32 row
  std::size_t pu;  // padded bytes per u8 row

  std::size_t cap = 0;      // slots allocated
  std::size_t n_slots = 0;  // slots in use (live or dead)
  std::size_t live = 0;
  AlignedArray<std::uint32_t> links0;  // cap * (1 + m0)
  AlignedArray<float> vf;              // cap * pf (f32 storage)
  AlignedArray<std::uint8_t> vu;       // cap * pu (u8 and sq8 storage)
  AlignedArray<std::uint16_t> vh;      // cap * pf (f16 storage)
  // sq8 and f16: the rows as given (stored order, not normalized), read only to re-rank the
  // final candidates, and their norms (for cosine).
  AlignedArray<float> raw;  // cap * pf
  std::vector<float> raw_norm;
  // sq8: per stored dimension x = sq_min + sq_w * code (pu entries, 0 in the padding), learned
  // from a sample of sq_from rows (0: not yet).
  std::vector<float> sq_min, sq_w;
  std::size_t sq_from = 0;
  // sq8 l2: per slot sum_j (w_j code_j)^2, for the dot form of the distance.
  std::vector<float> sq_n2;
  // u8: per node the sum of components and of squares, side by side so that a distance costs
  // one more cache line, not two.
  struct U8Sums {
    std::int32_t sum, sq;
  };
  std::vector<U8Sums> us;
  // Dimension order of the stored rows and prepared queries (row[i] = v[order[i]]; empty: the
  // identity). An l2 index orders dimensions by falling variance so that the bounded kernel's
  // partial sums grow fastest and far rows are given up after fewer blocks; l2 and dot do not
  // depend on the order.
  std::vector<std::uint32_t> order;
  bool order_chosen = false;  // the order (possibly the identity) is settled
  std::vector<std::uint64_t> labels;
  std::vector<std::uint8_t> levels;
  std::vector<std::uint8_t> dead;
  std::vector<std::vector<std::uint32_t>> upper;  // level l >= 1 at (l - 1) * (1 + m)
  std::unordered_map<std::uint64_t, std::uint32_t> by_label;
  // Removed slots: pending ones may still be linked to (searches pass through them); a
  // consolidation unlinks them everywhere and frees them for reuse.
  std::vector<std::uint32_t> pending;
  std::vector<std::uint32_t> free_slots;
  std::uint32_t entry = kNone;
  int max_level = -1;
  std::mt19937_64 rng;

  mutable std::shared_mutex rw;
  // Parallel insertion (add_batch): per-node link locks, striped, and one for the entry point.
  bool parallel = false;
  static constexpr std::size_t kStripes = 4096;
  std::unique_ptr<std::mutex[]> node_locks{new std::mutex[kStripes]};
  std::mutex entry_lock;

  Impl(std::size_t d, Measure me, HnswOptions o)
      : dim(d), measure(me), opt(o), kern(&hnsw_kernels()), rng(o.seed) {
    if (dim == 0) throw invalid("hnsw index: dimension must be > 0");
    if (opt.m < 2 || opt.m > 1024) throw invalid("hnsw index: m must be in [2, 1024]");
    if (opt.ef_construction == 0) throw invalid("hnsw index: ef_construction must be > 0");
    if (opt.storage == HnswStorage::u8 && dim > kMaxU8Dim) {
      throw invalid("hnsw index: u8 storage allows at most 32000 dimensions");
    }
    if (opt.ef_search == 0) opt.ef_search = 1;
    m = opt.m;
    m0 = 2 * opt.m;
    level_mult = 1.0 / std::log(static_cast<double>(m));
    storage = opt.storage.value_or(dim <= kMaxU8Dim ? HnswStorage::u8 : HnswStorage::f32);
    pf = round_up(dim, 16);
    pu = round_up(dim, 64);
  }

  bool u8() const { return storage == HnswStorage::u8; }
  // Lossy storages: searched on their codes, the final candidates re-ranked on the f32 rows.
  bool compressed() const { return storage == HnswStorage::sq8 || storage == HnswStorage::f16; }
  // f32 cosine rows are normalized, so they are searched as dot.
  bool normalize() const { return measure == Measure::cosine && !u8(); }
  std::size_t max_links(int level) const { return level == 0 ? m0 : m; }

  std::uint32_t* links(std::uint32_t id, int level) {
    if (level == 0) return links0.data() + static_cast<std::size_t>(id) * (1 + m0);
    return upper[id].data() + static_cast<std::size_t>(level - 1) * (1 + m);
  }
  const std::uint32_t* links(std::uint32_t id, int level) const {
    return const_cast<Impl*>(this)->links(id, level);
  }
  std::mutex& lock_of(std::uint32_t id) const { return node_locks[id % kStripes]; }

  // --- storage --------------------------------------------------------------------------------

  void grow(std::size_t need) {
    if (need <= cap) return;
    const std::size_t c = std::max<std::size_t>({need, cap * 2, 64});
    links0.resize(c * (1 + m0));
    switch (storage) {
      case HnswStorage::u8:
        vu.resize(c * pu);
        break;
      case HnswStorage::f32:
        vf.resize(c * pf);
        break;
      case HnswStorage::sq8:
        vu.resize(c * pu);
        raw.resize(c * pf);
        break;
      case HnswStorage::f16:
        vh.resize(c * pf);
        raw.resize(c * pf);
        break;
    }
    if (compressed()) raw_norm.resize(c);
    if (storage == HnswStorage::sq8) sq_n2.resize(c);
    cap = c;
  }

  // v in the stored dimension order (buf holds the copy when the order is not the identity).
  const float* ordered(const float* v, std::vector<float>& buf) const {
    if (order.empty()) return v;
    buf.resize(dim);
    for (std::size_t i = 0; i < dim; ++i) buf[i] = v[order[i]];
    return buf.data();
  }

  // Whether the dimension order is still to be chosen: l2 indexes of at least 32 dimensions only
  // (below, the bounded kernel gives up nothing). Both callers must ask this same question, or
  // maybe_choose_order copies every stored row after each add for an order never chosen.
  bool orders_dimensions() const {
    return !order_chosen && measure == Measure::l2 && dim >= 2 * 16;
  }

  // Chooses the dimension order of an l2 index from n rows (in the caller's order); rows already
  // stored are rewritten in it.
  void choose_order(const float* rows, std::size_t n) {
    if (!orders_dimensions()) return;
    order_chosen = true;
    std::vector<float> stored(n_slots * dim);
    for (std::uint32_t id = 0; id < n_slots; ++id) read_vector(id, stored.data() + id * dim);
    const std::size_t step = (n + kOrderSampleMax - 1) / kOrderSampleMax;
    std::vector<double> sum(dim, 0.0), sq(dim, 0.0);
    std::size_t used = 0;
    for (std::size_t r = 0; r < n; r += step, ++used) {
      const float* v = rows + r * dim;
      for (std::size_t i = 0; i < dim; ++i) {
        sum[i] += v[i];
        sq[i] += static_cast<double>(v[i]) * v[i];
      }
    }
    std::vector<double> var(dim);
    for (std::size_t i = 0; i < dim; ++i) var[i] = sq[i] / used - (sum[i] / used) * (sum[i] / used);
    order.resize(dim);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return var[a] > var[b]; });
    bool identity = true;
    for (std::size_t i = 0; i < dim && identity; ++i) identity = order[i] == i;
    if (identity) order.clear();
    if (!order.empty() && sq_from > 0) {  // the parameters were learned in the identity order
      const std::vector<float> mn = sq_min, w = sq_w;
      for (std::size_t i = 0; i < dim; ++i) {
        sq_min[i] = mn[order[i]];
        sq_w[i] = w[order[i]];
      }
    }
    for (std::uint32_t id = 0; id < n_slots; ++id) write_vector(id, stored.data() + id * dim);
  }

  // After adds: an index that grew without a large first batch takes its order from its rows.
  void maybe_choose_order() {
    if (!orders_dimensions() || n_slots < 4 * kOrderSampleMin) return;
    std::vector<float> rows(n_slots * dim);
    for (std::uint32_t id = 0; id < n_slots; ++id) read_vector(id, rows.data() + id * dim);
    choose_order(rows.data(), n_slots);
  }

  // sq8: learns the per-dimension range of the stored rows and of `n` more (caller's order;
  // cosine: of the normalized vectors, which are the ones encoded) and encodes every stored row
  // again. Components outside the range learned are clamped to it (the re-ranking is exact).
  void learn_sq8(const float* rows, std::size_t n) {
    std::vector<float> lo(dim, std::numeric_limits<float>::infinity());
    std::vector<float> hi(dim, -std::numeric_limits<float>::infinity());
    std::vector<float> buf, one(dim);
    std::size_t used = 0;
    auto take = [&](const float* v) {  // v in stored order
      double n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) n2 += static_cast<double>(v[i]) * v[i];
      const float scale = normalize() && n2 > 0 ? static_cast<float>(1.0 / std::sqrt(n2)) : 1.0f;
      for (std::size_t i = 0; i < dim; ++i) {
        lo[i] = std::min(lo[i], v[i] * scale);
        hi[i] = std::max(hi[i], v[i] * scale);
      }
      ++used;
    };
    const std::size_t total = n_slots + n;
    const std::size_t step = (total + kSq8SampleMax - 1) / kSq8SampleMax;
    for (std::size_t r = 0; r < total; r += step) {
      if (r < n_slots) {
        if (!dead[r]) take(raw.data() + r * pf);
      } else {
        take(ordered(rows + (r - n_slots) * dim, buf));
      }
    }
    if (used == 0) return;
    sq_min.assign(pu, 0.0f);
    sq_w.assign(pu, 0.0f);
    for (std::size_t i = 0; i < dim; ++i) {
      sq_min[i] = lo[i];
      // A constant dimension gets w 0: every code decodes to it exactly.
      sq_w[i] = hi[i] > lo[i] ? (hi[i] - lo[i]) / 255.0f : 0.0f;
    }
    sq_from = total;
    for (std::uint32_t id = 0; id < n_slots; ++id) encode(id);
  }

  // Before adding n rows: sq8 learns its parameters until they come from enough rows.
  void maybe_learn_sq8(const float* rows, std::size_t n) {
    if (storage != HnswStorage::sq8 || n == 0) return;
    if (sq_from == 0 || (sq_from < kSq8SampleMax && n_slots + n >= 2 * sq_from)) {
      learn_sq8(rows, n);
    }
  }

  // The searched row of a compressed slot from its exact one.
  void encode(std::uint32_t id) {
    const float* v = raw.data() + static_cast<std::size_t>(id) * pf;
    const float n = raw_norm[id];
    const float scale = normalize() && n > 0 ? 1.0f / n : 1.0f;
    if (storage == HnswStorage::f16) {
      std::uint16_t* row = vh.data() + static_cast<std::size_t>(id) * pf;
      for (std::size_t i = 0; i < dim; ++i) {
        row[i] = float_to_half(std::clamp(v[i] * scale, -65504.0f, 65504.0f));
      }
      return;
    }
    std::uint8_t* row = vu.data() + static_cast<std::size_t>(id) * pu;
    if (sq_from == 0) return;  // learned before any search reads the row
    double n2 = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      const float c = sq_w[i] > 0 ? std::nearbyint((v[i] * scale - sq_min[i]) / sq_w[i]) : 0.0f;
      row[i] = static_cast<std::uint8_t>(std::clamp(nan_to_zero(c), 0.0f, 255.0f));
      n2 += static_cast<double>(sq_w[i] * row[i]) * (sq_w[i] * row[i]);
    }
    sq_n2[id] = static_cast<float>(n2);
  }

  void write_vector(std::uint32_t id, const float* given) {
    thread_local std::vector<float> buf;
    const float* v = ordered(given, buf);
    if (compressed()) {
      float* row = raw.data() + static_cast<std::size_t>(id) * pf;
      double n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        row[i] = v[i];
        n2 += static_cast<double>(v[i]) * v[i];
      }
      raw_norm[id] = static_cast<float>(std::sqrt(n2));
      encode(id);
      return;
    }
    if (u8()) {
      std::uint8_t* row = vu.data() + static_cast<std::size_t>(id) * pu;
      std::int64_t s = 0, n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        const auto x = static_cast<std::uint8_t>(v[i]);
        row[i] = x;
        s += x;
        n2 += static_cast<std::int64_t>(x) * x;
      }
      if (us.size() <= id) us.resize(std::max<std::size_t>(id + 1, cap));
      us[id] = {static_cast<std::int32_t>(s), static_cast<std::int32_t>(n2)};
    } else {
      float* row = vf.data() + static_cast<std::size_t>(id) * pf;
      double n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) n2 += static_cast<double>(v[i]) * v[i];
      const float scale = normalize() && n2 > 0 ? static_cast<float>(1.0 / std::sqrt(n2)) : 1.0f;
      for (std::size_t i = 0; i < dim; ++i) row[i] = v[i] * scale;
    }
  }

  // The stored vector as floats (before normalization for cosine it is not recoverable; the
  // normalized one is returned, which is what the f32 conversion needs).
  void read_vector(std::uint32_t id, float* out) const {
    const std::uint8_t* ru = u8() ? vu.data() + static_cast<std::size_t>(id) * pu : nullptr;
    const float* rf = u8()           ? nullptr
                      : compressed() ? raw.data() + static_cast<std::size_t>(id) * pf
                                     : vf.data() + static_cast<std::size_t>(id) * pf;
    for (std::size_t i = 0; i < dim; ++i) {
      out[order.empty() ? i : order[i]] = ru ? static_cast<float>(ru[i]) : rf[i];
    }
  }

  // Auto storage met a vector that is not u8: every stored row becomes f32.
  void convert_to_f32() {
    std::vector<float> all(n_slots * dim);
    for (std::uint32_t id = 0; id < n_slots; ++id) read_vector(id, all.data() + id * dim);
    storage = HnswStorage::f32;
    vu.resize(0);
    us.clear();
    us.shrink_to_fit();
    vf.resize(cap * pf);
    for (std::uint32_t id = 0; id < n_slots; ++id) write_vector(id, all.data() + id * dim);
  }

  void check_vector(const float* v, std::uint64_t label) const {
    for (std::size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(v[i])) {
        throw invalid("hnsw index: vector of label " + std::to_string(label) +
                      " has a non-finite value at position " + std::to_string(i));
      }
    }
    if (opt.storage == HnswStorage::u8 && !all_u8(v, dim)) {
      throw invalid("hnsw index: u8 storage needs integers in [0, 255]; the vector of label " +
                    std::to_string(label) + " has others");
    }
  }

  // --- distances ------------------------------------------------------------------------------

  Query prepare(const float* given) const {
    std::vector<float> buf;
    return prepare_ordered(ordered(given, buf));
  }

  // v in the stored order.
  Query prepare_ordered(const float* v) const {
    Query q;
    if (u8() && all_u8(v, dim)) {
      q.int_mode = true;
      q.s.assign(pu, 0);
      for (std::size_t i = 0; i < dim; ++i) {
        const auto x = static_cast<std::int64_t>(v[i]);
        q.s[i] = static_cast<std::int8_t>(x - 128);
        q.nq += x * x;
      }
      return q;
    }
    double n2 = 0;
    for (std::size_t i = 0; i < dim; ++i) n2 += static_cast<double>(v[i]) * v[i];
    const float scale = normalize() && n2 > 0 ? static_cast<float>(1.0 / std::sqrt(n2)) : 1.0f;
    q.norm = static_cast<float>(std::sqrt(n2));
    if (compressed()) {
      q.x.assign(pf, 0.0f);
      std::copy(v, v + dim, q.x.begin());
      q.xp = q.x.data();
    }
    if (storage == HnswStorage::sq8) {
      q.f.assign(pu, 0.0f);
      double qc = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        if (measure == Measure::l2) {
          q.f[i] = (v[i] - sq_min[i]) * sq_w[i];
          qc += static_cast<double>(v[i] - sq_min[i]) * (v[i] - sq_min[i]);
        } else {
          q.f[i] = v[i] * scale * sq_w[i];
          qc += static_cast<double>(v[i] * scale) * sq_min[i];
        }
      }
      q.qc = static_cast<float>(qc);
      {  // the query as int8 (one step for all components) for the VNNI kernel
        float top = 0;
        for (std::size_t i = 0; i < dim; ++i) top = std::max(top, std::fabs(q.f[i]));
        q.step = top > 0 ? top / 127.0f : 1.0f;
        q.s.assign(pu, 0);
        for (std::size_t i = 0; i < dim; ++i) {
          q.s[i] = static_cast<std::int8_t>(
              std::clamp(nan_to_zero(std::nearbyint(q.f[i] / q.step)), -127.0f, 127.0f));
        }
      }
    } else {
      q.f.assign(u8() ? pu : pf, 0.0f);
      for (std::size_t i = 0; i < dim; ++i) q.f[i] = v[i] * scale;
    }
    q.fp = q.f.data();
    return q;
  }

  // The query of a stored node (for building and relinking). On sq8 and f16 it measures on the
  // f32 rows: a graph built on the codes needed ef 60 instead of 40 for recall 0.98 on the
  // fastText vectors (sq8; 0.9888 against 0.9928 at ef 100) and took longer to build.
  Query prepare_node(std::uint32_t id) const {
    if (compressed()) {
      Query q;
      q.exact = true;
      q.xp = raw.data() + static_cast<std::size_t>(id) * pf;
      q.norm = raw_norm[id];
      return q;
    }
    if (!u8()) {
      Query q;
      q.fp = vf.data() + static_cast<std::size_t>(id) * pf;
      return q;
    }
    Query q;
    q.int_mode = true;
    q.s.assign(pu, 0);
    const std::uint8_t* row = vu.data() + static_cast<std::size_t>(id) * pu;
    for (std::size_t i = 0; i < dim; ++i) q.s[i] = static_cast<std::int8_t>(row[i] - 128);
    q.nq = us[id].sq;
    return q;
  }

  static float cosine_of(double dot, double na, double nb) {
    if (na <= 0 || nb <= 0) return 1.0f;
    return static_cast<float>(1.0 - dot / (na * nb));
  }

  // out[i] = distance (hnsw.h conventions) between q and node ids[i]. A caller that will
  // reject every distance above `bound` may get, for such a node, some other value above it: f32
  // l2 rows give up once their partial sum passes the bound.
  void distances(const Query& q, const std::uint32_t* ids, std::size_t n, float* out,
                 float bound = std::numeric_limits<float>::infinity()) const {
    if (n == 0) return;
    if (q.exact) {
      exact_distances(q, ids, n, out, bound);
      return;
    }
    if (compressed()) {
      if (storage == HnswStorage::sq8) {
        // |q - min - w c|^2 = |q - min|^2 + |w c|^2 - 2 ((q - min) w) . c, and the dot of the
        // codes with (q - min) w (dot: q w) quantized to int8 with one step is exact on the
        // VNNI kernel (ann-techniques.md §2). Against the float query on decoded codes
        // (u8f_dot): the same recall at every ef on fashion-mnist, 2.61x hnswlib against 2.15x.
        std::int32_t raw8[64];
        for (std::size_t done = 0; done < n; done += 64) {
          const std::size_t c = std::min<std::size_t>(64, n - done);
          kern->u8_dot_shifted(q.s.data(), vu.data(), pu, pu, ids + done, c, raw8);
          for (std::size_t i = 0; i < c; ++i) {
            const float dot = q.step * static_cast<float>(raw8[i]);
            out[done + i] =
                measure == Measure::l2 ? q.qc + sq_n2[ids[done + i]] - 2 * dot : q.qc + dot;
          }
        }
      } else if (measure == Measure::l2) {
        kern->f16_l2(q.fp, vh.data(), pf, pf, ids, n, out);
      } else {
        kern->f16_dot(q.fp, vh.data(), pf, pf, ids, n, out);
      }
      if (measure != Measure::l2) {
        const float base = measure == Measure::cosine ? 1.0f : 0.0f;
        for (std::size_t i = 0; i < n; ++i) out[i] = base - out[i];
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(out[i])) out[i] = std::numeric_limits<float>::infinity();
      }
      return;
    }
    if (!u8()) {
      if (measure == Measure::l2 && bound < std::numeric_limits<float>::infinity()) {
        kern->f32_l2_bounded(q.fp, vf.data(), pf, pf, ids, n, bound, out);
      } else if (measure == Measure::l2) {
        kern->f32_l2(q.fp, vf.data(), pf, pf, ids, n, out);
      } else {
        kern->f32_dot(q.fp, vf.data(), pf, pf, ids, n, out);
        const float base = measure == Measure::cosine ? 1.0f : 0.0f;
        for (std::size_t i = 0; i < n; ++i) out[i] = base - out[i];
      }
      // Huge finite inputs can overflow to inf - inf; a NaN would break the orderings below.
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(out[i])) out[i] = std::numeric_limits<float>::infinity();
      }
      return;
    }
    if (q.int_mode) {
      std::int32_t raw[64];
      for (std::size_t done = 0; done < n; done += 64) {
        const std::size_t c = std::min<std::size_t>(64, n - done);
        kern->u8_dot_shifted(q.s.data(), vu.data(), pu, pu, ids + done, c, raw);
        for (std::size_t i = 0; i < c; ++i) {
          const std::uint32_t id = ids[done + i];
          const std::int64_t dot = static_cast<std::int64_t>(raw[i]) + 128LL * us[id].sum;
          switch (measure) {
            case Measure::l2:
              out[done + i] = static_cast<float>(us[id].sq + q.nq - 2 * dot);
              break;
            case Measure::dot:
              out[done + i] = static_cast<float>(-dot);
              break;
            case Measure::cosine:
              out[done + i] = cosine_of(static_cast<double>(dot), std::sqrt(double(us[id].sq)),
                                        std::sqrt(double(q.nq)));
              break;
          }
        }
      }
      return;
    }
    if (measure == Measure::l2) {
      kern->u8f_l2(q.fp, vu.data(), pu, pu, ids, n, out);
      return;
    }
    kern->u8f_dot(q.fp, vu.data(), pu, pu, ids, n, out);
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = measure == Measure::dot
                   ? -out[i]
                   : cosine_of(out[i], std::sqrt(double(us[ids[i]].sq)), q.norm);
      if (std::isnan(out[i])) out[i] = std::numeric_limits<float>::infinity();
    }
  }

  // Exact distances (hnsw.h conventions): on the f32 rows for sq8 and f16, else as distances().
  void exact_distances(const Query& q, const std::uint32_t* ids, std::size_t n, float* out,
                       float bound = std::numeric_limits<float>::infinity()) const {
    if (!compressed()) {
      distances(q, ids, n, out, bound);
      return;
    }
    if (n == 0) return;
    if (measure == Measure::l2 && bound < std::numeric_limits<float>::infinity()) {
      kern->f32_l2_bounded(q.xp, raw.data(), pf, pf, ids, n, bound, out);
    } else if (measure == Measure::l2) {
      kern->f32_l2(q.xp, raw.data(), pf, pf, ids, n, out);
    } else {
      kern->f32_dot(q.xp, raw.data(), pf, pf, ids, n, out);
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = measure == Measure::dot ? -out[i] : cosine_of(out[i], q.norm, raw_norm[ids[i]]);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isnan(out[i])) out[i] = std::numeric_limits<float>::infinity();
    }
  }

  float distance(const Query& q, std::uint32_t id) const {
    float d;
    distances(q, &id, 1, &d);
    return d;
  }

  // --- search ---------------------------------------------------------------------------------

  // Copies a node's links at a level (under its lock while a parallel build runs).
  std::size_t read_links(std::uint32_t id, int level, std::uint32_t* out) const {
    if (parallel) {
      std::lock_guard<std::mutex> g(lock_of(id));
      const std::uint32_t* l = links(id, level);
      std::memcpy(out, l + 1, l[0] * sizeof(std::uint32_t));
      return l[0];
    }
    const std::uint32_t* l = links(id, level);
    std::memcpy(out, l + 1, l[0] * sizeof(std::uint32_t));
    return l[0];
  }

  // Greedy descent on one upper level.
  Cand greedy(const Query& q, Cand cur, int level) const {
    std::vector<std::uint32_t> nb(m0 + 1);
    std::vector<float> d(m0 + 1);
    for (bool moved = true; moved;) {
      moved = false;
      const std::size_t n = read_links(cur.id, level, nb.data());
      distances(q, nb.data(), n, d.data(), cur.dist);
      for (std::size_t i = 0; i < n; ++i) {
        if (d[i] < cur.dist) {
          cur = {d[i], nb[i]};
          moved = true;
        }
      }
    }
    return cur;
  }

  // A node's level-0 link block, every line of it (132 bytes at m 16 span up to 3 lines): +3 %
  // (u8) to +6 % (f32) QPS on fashion-mnist over prefetching only its first line.
  void prefetch_links0(std::uint32_t id) const {
    const char* p = reinterpret_cast<const char*>(links0.data() + std::size_t{id} * (1 + m0));
    const char* end = p + (1 + m0) * sizeof(std::uint32_t);
    for (p = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) &
                                           ~std::uintptr_t{63});
         p < end; p += 64) {
      __builtin_prefetch(p);
    }
  }

  // Search of one level from `start` with the pool: every node reached may be returned (no dead
  // nodes, no filter). Two passes per expansion: collect unvisited neighbours, then one kernel
  // call for all of them, which prefetches rows ahead (§3).
  std::vector<Cand> search_pool(const Query& q, Cand start, std::size_t ef, int level) const {
    Visited& vis = thread_visited();
    vis.begin(n_slots);
    Pool pool(ef);
    vis.visit(start.id);
    pool.insert(start.dist, start.id);
    std::vector<std::uint32_t> nb(m0 + 1), fresh(m0 + 1);
    std::vector<float> d(m0 + 1);
    while (pool.has_next()) {
      const std::uint32_t c = pool.pop_next();
      const std::size_t n = read_links(c, level, nb.data());
      std::size_t f = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (vis.visit(nb[i])) fresh[f++] = nb[i];
      }
      distances(q, fresh.data(), f, d.data(), pool.bound());
      for (std::size_t i = 0; i < f; ++i) {
        if (pool.insert(d[i], fresh[i]) && level == 0) prefetch_links0(fresh[i]);
      }
    }
    std::vector<Cand> out(pool.size());
    for (std::size_t i = 0; i < pool.size(); ++i) out[i] = pool.at(i);
    return out;
  }

  // Search of one level that passes through every node but returns only those `ok` accepts
  // (live and allowed by the filter), stopping once ef of them are held and no candidate is
  // nearer than the farthest (hnswlib's rule with a filter). Gives up, returning false, after
  // `budget` distances (§6: then the exact scan is cheaper), or, when `rate` (the share of nodes
  // `ok` accepts, 0: unknown) is given, once the nodes measured hold less than a quarter of
  // that share: a filter anti-correlated with the query leaves the search wandering through
  // disallowed nodes, and the scan is cheaper than finding that out at the full budget.
  template <typename Ok>
  bool search_filtered(const Query& q, Cand start, std::size_t ef, int level, const Ok& ok,
                       std::size_t budget, std::vector<Cand>* out, double rate = 0) const {
    Visited& vis = thread_visited();
    vis.begin(n_slots);
    std::priority_queue<Cand, std::vector<Cand>, CloserFirst> cand;
    std::priority_queue<Cand, std::vector<Cand>, FartherFirst> top;
    vis.visit(start.id);
    cand.push(start);
    if (ok(start.id)) top.push(start);
    std::vector<std::uint32_t> nb(m0 + 1), fresh(m0 + 1);
    std::vector<float> d(m0 + 1);
    std::vector<std::uint8_t> allowed(m0 + 1);
    std::size_t computed = 1, accepted = top.size();
    // Past this many distances, a quarter of the expected accepted share must have been seen.
    const std::size_t probe = std::max<std::size_t>(8 * ef, 256);
    while (!cand.empty()) {
      const Cand c = cand.top();
      if (top.size() >= ef && c.dist > top.top().dist) break;
      cand.pop();
      const std::size_t n = read_links(c.id, level, nb.data());
      std::size_t f = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (vis.visit(nb[i])) fresh[f++] = nb[i];
      }
      distances(q, fresh.data(), f, d.data(),
                top.size() >= ef ? top.top().dist : std::numeric_limits<float>::infinity());
      computed += f;
      if (computed > budget) return false;
      for (std::size_t i = 0; i < f; ++i) {
        allowed[i] = ok(fresh[i]);
        accepted += allowed[i];
      }
      if (rate > 0 && computed >= probe && static_cast<double>(accepted) * 4 < rate * computed) {
        return false;
      }
      for (std::size_t i = 0; i < f; ++i) {
        if (top.size() < ef || d[i] < top.top().dist) {
          cand.push({d[i], fresh[i]});
          if (allowed[i]) {
            top.push({d[i], fresh[i]});
            if (top.size() > ef) top.pop();
          }
        }
      }
    }
    out->resize(top.size());
    for (std::size_t i = top.size(); i-- > 0;) {
      (*out)[i] = top.top();
      top.pop();
    }
    return true;
  }

  // Entry for level `level`: greedy from the top.
  Cand descend(const Query& q, int to_level) const {
    Cand cur{distance(q, entry), entry};
    for (int l = max_level; l > to_level; --l) cur = greedy(q, cur, l);
    return cur;
  }

  // --- building -------------------------------------------------------------------------------

  // hnswlib's heuristic (Malkov & Yashunin alg. 4): nearest first, keep a candidate only when it
  // is nearer to the base than to every kept one.
  std::vector<std::uint32_t> select(std::vector<Cand> cands, std::size_t keep) const {
    // Ties newest first: among equal vectors a node then links to the latest copies it found,
    // which chains the copies together (see below).
    std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
      return a.dist < b.dist || (a.dist == b.dist && a.id > b.id);
    });
    std::vector<std::uint32_t> kept;
    if (cands.size() <= keep) {
      for (const Cand& c : cands) kept.push_back(c.id);
      return kept;
    }
    // Exact duplicates: every copy ties with every other, so none prunes another, and a group of
    // more than 2m equal vectors would link only among itself, an island that searches neither
    // enter nor leave. A node keeps at most kCopyLinks links to copies of one vector (the newest
    // ones, so the copies form a chain a search can walk) and the rest for the way out.
    constexpr std::size_t kCopyLinks = 2;
    std::vector<float> d(keep);
    std::vector<std::uint32_t> copies_of(keep, 0);  // per kept neighbour: copies kept beside it
    for (const Cand& c : cands) {
      if (kept.size() >= keep) break;
      const Query cq = prepare_node(c.id);
      distances(cq, kept.data(), kept.size(), d.data());
      bool good = true;
      std::size_t copy_of = kept.size();
      for (std::size_t i = 0; i < kept.size(); ++i) {
        if (d[i] < c.dist) {
          good = false;
          break;
        }
        if (d[i] == c.dist && copy_of == kept.size() && same_row(c.id, kept[i])) copy_of = i;
      }
      if (good && copy_of < kept.size()) {
        good = ++copies_of[copy_of] < kCopyLinks;
      }
      if (good) kept.push_back(c.id);
    }
    return kept;
  }

  // Whether two slots hold the same vector (the exact rows where both are kept, else the codes).
  bool same_row(std::uint32_t a, std::uint32_t b) const {
    if (compressed()) {
      return std::memcmp(raw.data() + std::size_t{a} * pf, raw.data() + std::size_t{b} * pf,
                         dim * sizeof(float)) == 0;
    }
    if (u8())
      return std::memcmp(vu.data() + std::size_t{a} * pu, vu.data() + std::size_t{b} * pu, dim) ==
             0;
    return std::memcmp(vf.data() + std::size_t{a} * pf, vf.data() + std::size_t{b} * pf,
                       dim * sizeof(float)) == 0;
  }

  void set_links(std::uint32_t id, int level, const std::vector<std::uint32_t>& ids) {
    std::uint32_t* l = links(id, level);
    l[0] = static_cast<std::uint32_t>(ids.size());
    std::copy(ids.begin(), ids.end(), l + 1);
  }

  // Adds `id` to the links of `n` at a level, pruning with the heuristic when full.
  void link_back(std::uint32_t n, std::uint32_t id, int level) {
    std::unique_lock<std::mutex> g(lock_of(n), std::defer_lock);
    if (parallel) g.lock();
    std::uint32_t* l = links(n, level);
    const std::size_t cnt = l[0];
    for (std::size_t i = 0; i < cnt; ++i) {
      if (l[1 + i] == id) return;
    }
    if (cnt < max_links(level)) {
      l[1 + cnt] = id;
      l[0] = static_cast<std::uint32_t>(cnt + 1);
      return;
    }
    std::vector<std::uint32_t> ids(l + 1, l + 1 + cnt);
    ids.push_back(id);
    std::vector<float> d(ids.size());
    distances(prepare_node(n), ids.data(), ids.size(), d.data());
    std::vector<Cand> cands(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) cands[i] = {d[i], ids[i]};
    set_links(n, level, select(std::move(cands), max_links(level)));
  }

  int random_level() {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double r = -std::log(std::max(u(rng), 1e-300)) * level_mult;
    return static_cast<int>(std::min<double>(r, kMaxLevel));
  }

  // Takes a slot for a new node (a dead one first) and sets its label, level and vector.
  std::uint32_t claim_slot(std::uint64_t label, const float* v, int level) {
    std::uint32_t id;
    if (!free_slots.empty()) {
      id = free_slots.back();
      free_slots.pop_back();
    } else {
      grow(n_slots + 1);
      id = static_cast<std::uint32_t>(n_slots++);
      labels.resize(n_slots);
      levels.resize(n_slots);
      dead.resize(n_slots);
      upper.resize(n_slots);
    }
    labels[id] = label;
    levels[id] = static_cast<std::uint8_t>(level);
    dead[id] = 0;
    links(id, 0)[0] = 0;
    upper[id].assign(static_cast<std::size_t>(level) * (1 + m), 0);
    write_vector(id, v);
    by_label[label] = id;
    ++live;
    return id;
  }

  // Links a claimed slot into the graph (Malkov & Yashunin alg. 1).
  void insert(std::uint32_t id) {
    const int level = levels[id];
    std::unique_lock<std::mutex> top_guard(entry_lock, std::defer_lock);
    if (parallel) top_guard.lock();
    if (entry == kNone) {
      entry = id;
      max_level = level;
      return;
    }
    const std::uint32_t ep = entry;
    const int top = max_level;
    if (parallel && level <= top) top_guard.unlock();

    const Query q = prepare_node(id);
    Cand cur{distance(q, ep), ep};
    for (int l = top; l > level; --l) cur = greedy(q, cur, l);
    auto ok = [&](std::uint32_t n) { return n != id && !dead[n]; };
    for (int l = std::min(level, top); l >= 0; --l) {
      std::vector<Cand> found;
      // With no pending removals no dead slot is reachable and the pool serves; a replaced node
      // may still be the target of old links, so it can come back itself and is dropped.
      if (pending.empty()) {
        found = search_pool(q, cur, opt.ef_construction, l);
        found.erase(
            std::remove_if(found.begin(), found.end(), [&](const Cand& c) { return !ok(c.id); }),
            found.end());
      } else {
        search_filtered(q, cur, opt.ef_construction, l, ok, std::numeric_limits<std::size_t>::max(),
                        &found);
      }
      if (found.empty()) continue;
      const Cand nearest = found.front();
      const std::vector<std::uint32_t> chosen = select(std::move(found), m);
      {
        std::unique_lock<std::mutex> g(lock_of(id), std::defer_lock);
        if (parallel) g.lock();
        set_links(id, l, chosen);
      }
      for (std::uint32_t n : chosen) link_back(n, id, l);
      cur = nearest;
    }
    if (level > top) {
      entry = id;
      max_level = level;
    }
  }

  void add_one(std::uint64_t label, const float* v) {
    if (opt.storage == std::nullopt && u8() && !all_u8(v, dim)) convert_to_f32();
    auto it = by_label.find(label);
    if (it != by_label.end()) {
      replace(it->second, v);
      return;
    }
    if (free_slots.empty() && !pending.empty() && pending.size() * 100 >= n_slots) {
      consolidate();
    }
    maybe_learn_sq8(v, 1);
    const std::uint32_t id = claim_slot(label, v, random_level());
    insert(id);
    maybe_choose_order();
  }

  // An update in place: the node keeps its slot and level, its neighbours drop it (relinking
  // among themselves), then it is inserted again with the new vector. Links from elsewhere still
  // point at it, now at its new place, as extra edges.
  void replace(std::uint32_t id, const float* v) {
    dead[id] = 1;
    unlink(id);
    if (entry == id) reset_entry();
    write_vector(id, v);
    for (int l = 0; l <= levels[id]; ++l) links(id, l)[0] = 0;
    dead[id] = 0;
    if (entry == kNone) {
      entry = id;
      max_level = levels[id];
      return;
    }
    insert(id);
  }

  // --- removal --------------------------------------------------------------------------------

  bool remove_label(std::uint64_t label) {
    auto it = by_label.find(label);
    if (it == by_label.end()) return false;
    const std::uint32_t id = it->second;
    by_label.erase(it);
    dead[id] = 1;
    --live;
    pending.push_back(id);
    unlink(id);
    if (entry == id) reset_entry();
    // §7: consolidate at 10 % removed.
    if (pending.size() * 10 >= n_slots) consolidate();
    return true;
  }

  // Each neighbour of a (dead-marked) node that links back to it re-selects from its links and
  // the node's (the 1-hop and 2-hop set of hnswlib's update repair).
  void unlink(std::uint32_t id) {
    for (int l = levels[id]; l >= 0; --l) {
      const std::uint32_t* own = links(id, l);
      const std::vector<std::uint32_t> via(own + 1, own + 1 + own[0]);
      for (std::uint32_t n : via) {
        if (dead[n] || levels[n] < l) continue;
        const std::uint32_t* nl = links(n, l);
        if (std::find(nl + 1, nl + 1 + nl[0], id) == nl + 1 + nl[0]) continue;
        relink(n, l, via);
      }
    }
  }

  // Node n at level l keeps its live links plus the live `extra` ones, pruned by the heuristic.
  void relink(std::uint32_t n, int l, const std::vector<std::uint32_t>& extra) {
    const std::uint32_t* nl = links(n, l);
    std::vector<std::uint32_t> ids;
    for (std::uint32_t i = 0; i < nl[0]; ++i) {
      if (!dead[nl[1 + i]]) ids.push_back(nl[1 + i]);
    }
    for (std::uint32_t x : extra) {
      if (x != n && !dead[x] && levels[x] >= l &&
          std::find(ids.begin(), ids.end(), x) == ids.end()) {
        ids.push_back(x);
      }
    }
    std::vector<float> d(ids.size());
    distances(prepare_node(n), ids.data(), ids.size(), d.data());
    std::vector<Cand> cands(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) cands[i] = {d[i], ids[i]};
    set_links(n, l, select(std::move(cands), max_links(l)));
  }

  // FreshDiskANN's consolidation: every live node with dead links re-selects from its live links
  // and the live links of its dead ones. Afterwards no live node links to a dead one, so dead
  // slots are unreachable and free for reuse.
  void consolidate() {
    std::vector<std::uint32_t> extra;
    for (std::uint32_t s = 0; s < n_slots; ++s) {
      if (dead[s]) continue;
      for (int l = 0; l <= levels[s]; ++l) {
        const std::uint32_t* sl = links(s, l);
        extra.clear();
        bool any = false;
        for (std::uint32_t i = 0; i < sl[0]; ++i) {
          const std::uint32_t x = sl[1 + i];
          if (!dead[x]) continue;
          any = true;
          const std::uint32_t* xl = links(x, l);
          extra.insert(extra.end(), xl + 1, xl + 1 + xl[0]);
        }
        if (any) relink(s, l, extra);
      }
    }
    free_slots.insert(free_slots.end(), pending.begin(), pending.end());
    pending.clear();
  }

  void reset_entry() {
    entry = kNone;
    max_level = -1;
    for (std::uint32_t s = 0; s < n_slots; ++s) {
      if (!dead[s] && static_cast<int>(levels[s]) > max_level) {
        entry = s;
        max_level = levels[s];
      }
    }
  }

  // --- queries --------------------------------------------------------------------------------

  // Exact search over every slot `ok` accepts.
  template <typename Ok>
  std::vector<Cand> exact(const Query& q, std::size_t k, const Ok& ok) const {
    return exact_each(q, k, [&](const auto& push) {
      for (std::uint32_t s = 0; s < n_slots; ++s) {
        if (ok(s)) push(s);
      }
    });
  }

  // Exact search over the slots each(push) pushes.
  template <typename Each>
  std::vector<Cand> exact_each(const Query& q, std::size_t k, const Each& each) const {
    std::priority_queue<Cand, std::vector<Cand>, FartherFirst> top;
    std::uint32_t ids[64];
    float d[64];
    std::size_t n = 0;
    auto flush = [&] {
      // Nodes farther than the k-th best so far can only be rejected (equal ones are not).
      exact_distances(q, ids, n, d,
                      top.size() >= k ? top.top().dist : std::numeric_limits<float>::infinity());
      for (std::size_t i = 0; i < n; ++i) {
        if (top.size() < k) {
          top.push({d[i], ids[i]});
        } else if (d[i] < top.top().dist ||
                   (d[i] == top.top().dist && labels[ids[i]] < labels[top.top().id])) {
          top.pop();
          top.push({d[i], ids[i]});
        }
      }
      n = 0;
    };
    each([&](std::uint32_t s) {
      ids[n++] = s;
      if (n == 64) flush();
    });
    flush();
    std::vector<Cand> out(top.size());
    for (std::size_t i = top.size(); i-- > 0;) {
      out[i] = top.top();
      top.pop();
    }
    return out;
  }

  // The best candidates of a search on the codes (sorted by their distances there) get their
  // exact f32 distances; the rest are dropped.
  void rerank(const Query& q, std::size_t k, std::size_t ef, std::vector<Cand>& found) const {
    // Half the pool (at least 1.5 k): on fashion-mnist sq8 the recall at every ef from 18 to 26
    // was the same as with the whole pool, at +10 % QPS (2.82x against 2.56x hnswlib).
    const std::size_t r = std::min(found.size(), std::max(k + k / 2, ef / 2));
    std::vector<std::uint32_t> ids(r);
    std::vector<float> d(r);
    for (std::size_t i = 0; i < r; ++i) ids[i] = found[i].id;
    exact_distances(q, ids.data(), r, d.data());
    found.resize(r);
    for (std::size_t i = 0; i < r; ++i) found[i].dist = d[i];
  }

  // A search for the k best of `a` allowed nodes (0: unknown): in the graph, unless the allowed
  // set is small or the graph search gives up (or finds fewer than `want`); then exactly, over
  // the nodes each(push) pushes. *scanned: whether the exact search ran.
  template <typename Ok, typename Each>
  std::vector<Cand> filtered(const Query& q, std::size_t k, std::size_t ef, std::size_t a,
                             std::size_t want, const Ok& ok, bool* scanned,
                             const Each& each) const {
    std::vector<Cand> found;
    if (a == 0 || (a > kExactFilterMax && a * 20 > live)) {
      // Lucene's budget: past `a` distances the in-graph search costs more than the scan.
      // With `a` unknown, half the index: a tiny allowed set then costs at most 1.5 scans.
      const std::size_t budget = std::max(a == 0 ? live / 2 : a, 4 * ef);
      // Disallowed nodes near the query are traversed but crowd the candidates, and an
      // anti-correlated filter puts all of them there; twice the ef brought the recall of the
      // anti-correlated test (20 separated clusters) from 0.94 back to that of the unfiltered
      // search.
      const double rate = a == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(live);
      if (search_filtered(q, descend(q, 0), 2 * ef, 0, ok, budget, &found, rate) &&
          found.size() >= want) {
        *scanned = false;
        return found;
      }
    }
    *scanned = true;
    return exact_each(q, k, each);
  }

  std::vector<std::pair<std::uint64_t, float>> search(const float* query, std::size_t k,
                                                      std::size_t ef,
                                                      const HnswFilter* filter) const {
    std::vector<std::pair<std::uint64_t, float>> result;
    if (k == 0 || live == 0) return result;
    ef = std::max(ef == 0 ? opt.ef_search : ef, k);
    const Query q = prepare(query);
    const bool has_dead = !pending.empty();
    std::vector<Cand> found;
    bool scanned = false;  // found by the exact scan: distances exact already
    std::size_t want = std::min(k, live);
    if (filter != nullptr && filter->labels != nullptr) {
      // A bit per allowed live node (an exact search walks the bits: slot order, no sort).
      std::vector<std::uint64_t> bits((n_slots + 63) / 64);
      std::size_t a = 0;
      for (std::uint64_t label : *filter->labels) {
        auto it = by_label.find(label);
        if (it == by_label.end()) continue;
        const std::uint32_t s = it->second;
        std::uint64_t& word = bits[s / 64];
        const std::uint64_t bit = std::uint64_t{1} << (s % 64);
        a += (word & bit) == 0;
        word |= bit;
      }
      if (a == 0) return result;
      auto ok = [&](std::uint32_t s) { return ((bits[s / 64] >> (s % 64)) & 1) != 0; };
      want = std::min(want, a);
      found = filtered(q, k, ef, a, want, ok, &scanned, [&](const auto& push) {
        for (std::size_t w = 0; w < bits.size(); ++w) {
          for (std::uint64_t word = bits[w]; word != 0; word &= word - 1) {
            push(static_cast<std::uint32_t>(w * 64 +
                                            static_cast<std::size_t>(std::countr_zero(word))));
          }
        }
      });
    } else if (filter != nullptr && filter->allowed) {
      auto ok = [&](std::uint32_t s) { return !dead[s] && filter->allowed(labels[s]); };
      const std::size_t a = filter->allowed_count;
      if (a != 0) want = std::min(want, a);
      found = filtered(q, k, ef, a, want, ok, &scanned, [&](const auto& push) {
        for (std::uint32_t s = 0; s < n_slots; ++s) {
          if (ok(s)) push(s);
        }
      });
    } else if (!has_dead) {
      found = search_pool(q, descend(q, 0), ef, 0);
      // Only a graph cut in pieces (which the builder does not make) returns fewer.
      if (found.size() < want) {
        found = exact(q, k, [&](std::uint32_t s) { return !dead[s]; });
        scanned = true;
      }
    } else {
      auto ok = [&](std::uint32_t s) { return !dead[s]; };
      const bool done = search_filtered(q, descend(q, 0), ef, 0, ok,
                                        std::numeric_limits<std::size_t>::max(), &found) &&
                        found.size() >= want;
      if (!done) {
        found = exact(q, k, ok);
        scanned = true;
      }
    }
    if (compressed() && !scanned) rerank(q, k, ef, found);
    std::sort(found.begin(), found.end(), [&](const Cand& a, const Cand& b) {
      return a.dist < b.dist || (a.dist == b.dist && labels[a.id] < labels[b.id]);
    });
    if (found.size() > k) found.resize(k);
    result.reserve(found.size());
    for (const Cand& c : found) result.emplace_back(labels[c.id], c.dist);
    return result;
  }
};

// ------------------------------------------------------------------------------------------------

HnswIndex::HnswIndex(std::size_t dim, Measure measure, HnswOptions options)
    : impl_(std::make_unique<Impl>(dim, measure, options)) {}
HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::~HnswIndex() = default;

std::size_t HnswIndex::dim() const { return impl_->dim; }
Measure HnswIndex::measure() const { return impl_->measure; }
const HnswOptions& HnswIndex::options() const { return impl_->opt; }
HnswStorage HnswIndex::storage() const {
  std::shared_lock g(impl_->rw);
  return impl_->storage;
}

void HnswIndex::add(std::uint64_t label, const float* vector) {
  std::unique_lock g(impl_->rw);
  impl_->check_vector(vector, label);
  impl_->add_one(label, vector);
}

void HnswIndex::add_batch(const std::vector<std::uint64_t>& labels, const float* vectors,
                          std::size_t threads) {
  Impl& im = *impl_;
  std::unique_lock g(im.rw);
  const std::size_t n = labels.size();
  bool all_ints = true;
  for (std::size_t i = 0; i < n; ++i) {
    im.check_vector(vectors + i * im.dim, labels[i]);
    all_ints = all_ints && all_u8(vectors + i * im.dim, im.dim);
  }
  // The last row of a label wins; earlier ones are dropped.
  std::unordered_map<std::uint64_t, std::size_t> last;
  for (std::size_t i = 0; i < n; ++i) last[labels[i]] = i;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (last[labels[i]] == i) rows.push_back(i);
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (im.opt.storage == std::nullopt && im.u8() && !all_ints) im.convert_to_f32();
  if (im.n_slots == 0 && n >= kOrderSampleMin) im.choose_order(vectors, n);
  im.maybe_learn_sq8(vectors, n);
  // Replacements and the first few nodes go one by one (the graph needs a start); the rest are
  // claimed here, serially, then linked in parallel.
  std::vector<std::uint32_t> fresh;
  for (std::size_t r : rows) {
    const float* v = vectors + r * im.dim;
    if (threads <= 1 || im.by_label.count(labels[r]) || im.live < 64 || !im.free_slots.empty() ||
        !im.pending.empty()) {
      im.add_one(labels[r], v);
      continue;
    }
    fresh.push_back(im.claim_slot(labels[r], v, im.random_level()));
  }
  if (fresh.empty()) return;
  // Unlinked claimed nodes are unreachable (no slot was reused), so searches see none of them.
  im.parallel = true;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  std::exception_ptr failure;
  std::mutex failure_lock;
  auto work = [&] {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < fresh.size();) im.insert(fresh[i]);
    } catch (...) {
      std::lock_guard<std::mutex> f(failure_lock);
      failure = std::current_exception();
    }
  };
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  im.parallel = false;
  if (failure) std::rethrow_exception(failure);
  im.maybe_choose_order();
}

bool HnswIndex::remove(std::uint64_t label) {
  std::unique_lock g(impl_->rw);
  return impl_->remove_label(label);
}

bool HnswIndex::get(std::uint64_t label, float* out) const {
  std::shared_lock g(impl_->rw);
  auto it = impl_->by_label.find(label);
  if (it == impl_->by_label.end()) return false;
  impl_->read_vector(it->second, out);
  return true;
}

bool HnswIndex::contains(std::uint64_t label) const {
  std::shared_lock g(impl_->rw);
  return impl_->by_label.count(label) != 0;
}

std::size_t HnswIndex::size() const {
  std::shared_lock g(impl_->rw);
  return impl_->live;
}

std::vector<std::pair<std::uint64_t, float>> HnswIndex::search(const float* query, std::size_t k,
                                                               std::size_t ef,
                                                               const HnswFilter* filter) const {
  std::shared_lock g(impl_->rw);
  return impl_->search(query, k, ef, filter);
}

std::size_t HnswIndex::memory_bytes() const {
  std::shared_lock g(impl_->rw);
  const Impl& im = *impl_;
  std::size_t b = sizeof(Impl) + im.links0.bytes() + im.vf.bytes() + im.vu.bytes() + im.vh.bytes() +
                  im.raw.bytes();
  b += im.us.capacity() * sizeof(Impl::U8Sums);
  b += (im.raw_norm.capacity() + im.sq_min.capacity() + im.sq_w.capacity()) * sizeof(float);
  b += im.labels.capacity() * sizeof(std::uint64_t) + im.levels.capacity() + im.dead.capacity();
  b += im.upper.capacity() * sizeof(std::vector<std::uint32_t>);
  for (const auto& u : im.upper) b += u.capacity() * sizeof(std::uint32_t);
  b += im.by_label.bucket_count() * sizeof(void*) +
       im.by_label.size() * (sizeof(std::uint64_t) + sizeof(std::uint32_t) + 2 * sizeof(void*));
  b += im.free_slots.capacity() * sizeof(std::uint32_t);
  return b;
}

// --- persistence ---

namespace {

void put(std::string& out, const void* p, std::size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <typename T>
void put_le(std::string& out, T v) {
  static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
  put(out, &v, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  T get(const char* what) {
    T v;
    need(sizeof(T), what);
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void need(std::size_t n, const char* what) const {
    if (b_.size() - pos_ < n) {
      throw invalid(std::string("saved hnsw index: truncated in ") + what);
    }
  }
  const char* take(std::size_t n, const char* what) {
    need(n, what);
    const char* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::size_t left() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string HnswIndex::save() const {
  std::shared_lock g(impl_->rw);
  const Impl& im = *impl_;
  std::string out;
  put(out, kMagic, 8);
  put_le<std::uint32_t>(out, kFormatVersion);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(im.measure));
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(im.storage));
  put_le<std::uint8_t>(out, im.opt.storage ? 1 + static_cast<std::uint8_t>(*im.opt.storage) : 0);
  put_le<std::uint8_t>(out, 0);
  put_le<std::uint64_t>(out, im.dim);
  put_le<std::uint64_t>(out, im.opt.m);
  put_le<std::uint64_t>(out, im.opt.ef_construction);
  put_le<std::uint64_t>(out, im.opt.ef_search);
  put_le<std::uint64_t>(out, im.opt.seed);
  put_le<std::uint64_t>(out, im.n_slots);
  put_le<std::uint32_t>(out, im.entry);
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(im.order.size()));
  for (std::uint32_t d : im.order) put_le<std::uint32_t>(out, d);
  std::vector<bool> is_pending(im.n_slots);
  for (std::uint32_t s : im.pending) is_pending[s] = true;
  for (std::uint32_t s = 0; s < im.n_slots; ++s) {
    put_le<std::uint8_t>(out, im.dead[s] ? (is_pending[s] ? 2 : 1) : 0);
    put_le<std::uint64_t>(out, im.labels[s]);
    put_le<std::uint8_t>(out, im.levels[s]);
    for (int l = 0; l <= im.levels[s]; ++l) {
      const std::uint32_t* ls = im.links(s, l);
      put(out, ls, (1 + ls[0]) * sizeof(std::uint32_t));
    }
  }
  if (im.storage == HnswStorage::sq8) {
    put_le<std::uint64_t>(out, im.sq_from);
    std::vector<float> mn(im.dim, 0.0f), w(im.dim, 0.0f);  // zero while not learned
    std::copy_n(im.sq_min.begin(), std::min(im.dim, im.sq_min.size()), mn.begin());
    std::copy_n(im.sq_w.begin(), std::min(im.dim, im.sq_w.size()), w.begin());
    put(out, mn.data(), im.dim * sizeof(float));
    put(out, w.data(), im.dim * sizeof(float));
  }
  // sq8 and f16 save their exact rows (in the stored order, not normalized); the codes are
  // made again on load.
  for (std::uint32_t s = 0; s < im.n_slots; ++s) {
    if (im.u8()) {
      put(out, im.vu.data() + static_cast<std::size_t>(s) * im.pu, im.dim);
    } else if (im.compressed()) {
      put(out, im.raw.data() + static_cast<std::size_t>(s) * im.pf, im.dim * sizeof(float));
    } else {
      put(out, im.vf.data() + static_cast<std::size_t>(s) * im.pf, im.dim * sizeof(float));
    }
  }
  put_le<std::uint64_t>(out, flat_index_checksum(out));
  return out;
}

std::unique_ptr<HnswIndex> HnswIndex::load(std::string_view bytes) {
  constexpr std::size_t kHeader = 8 + 4 + 4 + 6 * 8 + 4;
  if (bytes.size() < kHeader + 8) {
    throw invalid("saved hnsw index: " + std::to_string(bytes.size()) +
                  " bytes is shorter than the header and checksum");
  }
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) {
    throw invalid("saved hnsw index: bad magic (not an sddb hnsw index)");
  }
  Reader r(bytes.substr(0, bytes.size() - 8));
  r.take(8, "magic");
  const auto version = r.get<std::uint32_t>("version");
  if (version < 1 || version > kFormatVersion) {
    throw invalid("saved hnsw index: unsupported format version " + std::to_string(version) +
                  " (this build reads versions 1 to " + std::to_string(kFormatVersion) + ")");
  }
  std::uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (flat_index_checksum(bytes.substr(0, bytes.size() - 8)) != stored) {
    throw invalid("saved hnsw index: checksum mismatch (the bytes are truncated or corrupted)");
  }
  const auto measure = r.get<std::uint8_t>("measure");
  const auto storage = r.get<std::uint8_t>("storage");
  const auto storage_opt = r.get<std::uint8_t>("storage option");
  if (r.get<std::uint8_t>("padding") != 0) throw invalid("saved hnsw index: bad header padding");
  if (measure > 2) throw invalid("saved hnsw index: unknown measure " + std::to_string(measure));
  if (storage > (version >= 3 ? 3 : 1)) {
    throw invalid("saved hnsw index: unknown storage " + std::to_string(storage) +
                  " for format version " + std::to_string(version));
  }
  if (storage_opt > 4 || (storage_opt != 0 && storage_opt - 1 != storage)) {
    throw invalid("saved hnsw index: storage option " + std::to_string(storage_opt) +
                  " does not match storage " + std::to_string(storage));
  }
  const auto dim = r.get<std::uint64_t>("dim");
  HnswOptions o;
  o.m = r.get<std::uint64_t>("m");
  o.ef_construction = r.get<std::uint64_t>("ef_construction");
  o.ef_search = r.get<std::uint64_t>("ef_search");
  o.seed = r.get<std::uint64_t>("seed");
  if (storage_opt != 0) o.storage = static_cast<HnswStorage>(storage_opt - 1);
  if (dim == 0 || dim > (1u << 20)) {
    throw invalid("saved hnsw index: dimension " + std::to_string(dim) + " out of range");
  }
  if (o.m < 2 || o.m > 1024 || o.ef_construction == 0 || o.ef_search == 0 ||
      o.ef_construction > (1u << 20) || o.ef_search > (1u << 20)) {
    throw invalid("saved hnsw index: options out of range (m, ef_construction, ef_search)");
  }
  if (storage == 1 && dim > kMaxU8Dim) {
    throw invalid("saved hnsw index: u8 storage with more than 32000 dimensions");
  }
  const auto n_slots = r.get<std::uint64_t>("slot count");
  const auto entry = r.get<std::uint32_t>("entry point");
  std::vector<std::uint32_t> order;
  if (version >= 2) {
    const auto order_size = r.get<std::uint32_t>("dimension order size");
    if (order_size != 0 && order_size != dim) {
      throw invalid("saved hnsw index: dimension order of " + std::to_string(order_size) +
                    " entries for " + std::to_string(dim) + " dimensions");
    }
    std::vector<bool> seen(order_size);
    for (std::uint32_t i = 0; i < order_size; ++i) {
      const auto d = r.get<std::uint32_t>("dimension order");
      if (d >= dim || seen[d]) {
        throw invalid("saved hnsw index: the dimension order is not a permutation (entry " +
                      std::to_string(i) + ")");
      }
      seen[d] = true;
      order.push_back(d);
    }
  }
  // Each slot takes at least 14 bytes of nodes plus its vector.
  const std::size_t row_bytes = storage == 1 ? dim : dim * sizeof(float);
  if (n_slots >= kNone || n_slots > r.left() / (14 + row_bytes)) {
    throw invalid("saved hnsw index: slot count " + std::to_string(n_slots) +
                  " does not fit the bytes");
  }
  auto im = std::make_unique<Impl>(dim, static_cast<Measure>(measure), o);
  im->storage = static_cast<HnswStorage>(storage);
  im->rng.seed(o.seed ^ n_slots);
  im->grow(n_slots);
  im->n_slots = n_slots;
  im->labels.resize(n_slots);
  im->levels.resize(n_slots);
  im->dead.resize(n_slots);
  im->upper.resize(n_slots);
  if (im->u8()) {
    im->us.resize(n_slots);
  }
  for (std::uint32_t s = 0; s < n_slots; ++s) {
    const auto d = r.get<std::uint8_t>("node");
    if (d > 2) throw invalid("saved hnsw index: bad state of slot " + std::to_string(s));
    im->dead[s] = d != 0;
    if (d == 2) im->pending.push_back(s);
    im->labels[s] = r.get<std::uint64_t>("node label");
    const auto level = r.get<std::uint8_t>("node level");
    if (level > kMaxLevel) {
      throw invalid("saved hnsw index: level " + std::to_string(level) + " of slot " +
                    std::to_string(s) + " out of range");
    }
    im->levels[s] = level;
    im->upper[s].assign(static_cast<std::size_t>(level) * (1 + im->m), 0);
    for (int l = 0; l <= level; ++l) {
      const auto cnt = r.get<std::uint32_t>("link count");
      if (cnt > im->max_links(l)) {
        throw invalid("saved hnsw index: slot " + std::to_string(s) + " has " +
                      std::to_string(cnt) + " links at level " + std::to_string(l));
      }
      std::uint32_t* ls = im->links(s, l);
      ls[0] = cnt;
      for (std::uint32_t i = 0; i < cnt; ++i) {
        const auto to = r.get<std::uint32_t>("link");
        if (to >= n_slots || to == s) {
          throw invalid("saved hnsw index: slot " + std::to_string(s) + " links to " +
                        std::to_string(to));
        }
        ls[1 + i] = to;
      }
    }
    if (d == 0) {
      if (!im->by_label.emplace(im->labels[s], s).second) {
        throw invalid("saved hnsw index: label " + std::to_string(im->labels[s]) +
                      " appears twice");
      }
      ++im->live;
    }
  }
  std::vector<bool> is_pending(n_slots);
  for (std::uint32_t s : im->pending) is_pending[s] = true;
  // Links to upper levels must exist there, and no live node links to a freed slot (only
  // pending removals may still be reachable).
  for (std::uint32_t s = 0; s < n_slots; ++s) {
    if (!im->dead[s]) {
      for (int l = 0; l <= im->levels[s]; ++l) {
        const std::uint32_t* ls = im->links(s, l);
        for (std::uint32_t i = 0; i < ls[0]; ++i) {
          if (im->dead[ls[1 + i]] && !is_pending[ls[1 + i]]) {
            throw invalid("saved hnsw index: slot " + std::to_string(s) +
                          " links to the freed slot " + std::to_string(ls[1 + i]));
          }
        }
      }
    }
    for (int l = 1; l <= im->levels[s]; ++l) {
      const std::uint32_t* ls = im->links(s, l);
      for (std::uint32_t i = 0; i < ls[0]; ++i) {
        if (im->levels[ls[1 + i]] < l) {
          throw invalid("saved hnsw index: slot " + std::to_string(s) + " links at level " +
                        std::to_string(l) + " to a node without that level");
        }
      }
    }
  }
  if (im->storage == HnswStorage::sq8) {
    im->sq_from = r.get<std::uint64_t>("sq8 sample size");
    im->sq_min.assign(im->pu, 0.0f);
    im->sq_w.assign(im->pu, 0.0f);
    std::memcpy(im->sq_min.data(), r.take(dim * sizeof(float), "sq8 minimums"), dim * 4);
    std::memcpy(im->sq_w.data(), r.take(dim * sizeof(float), "sq8 steps"), dim * 4);
    for (std::size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(im->sq_min[i]) || !std::isfinite(im->sq_w[i]) || im->sq_w[i] < 0) {
        throw invalid("saved hnsw index: bad sq8 parameters of dimension " + std::to_string(i));
      }
    }
    if ((im->sq_from == 0) != (n_slots == 0)) {
      throw invalid("saved hnsw index: sq8 parameters learned from " + std::to_string(im->sq_from) +
                    " rows for " + std::to_string(n_slots) + " slots");
    }
  }
  std::vector<float> row(dim);
  for (std::uint32_t s = 0; s < n_slots; ++s) {
    const char* p = r.take(row_bytes, "vectors");
    if (storage == 1) {
      for (std::size_t i = 0; i < dim; ++i) row[i] = static_cast<std::uint8_t>(p[i]);
    } else {
      std::memcpy(row.data(), p, row_bytes);
      if (std::find_if(row.begin(), row.end(), [](float x) { return !std::isfinite(x); }) !=
          row.end()) {
        throw invalid("saved hnsw index: non-finite value in the vector of slot " +
                      std::to_string(s));
      }
    }
    if (storage != 0) {  // u8 sums, sq8 and f16 codes (the order is still the identity here)
      im->write_vector(s, row.data());
    } else {  // as saved: f32 cosine rows are already normalized
      std::memcpy(im->vf.data() + static_cast<std::size_t>(s) * im->pf, row.data(), row_bytes);
    }
  }
  if (r.left() != 0) {
    throw invalid("saved hnsw index: " + std::to_string(r.left()) + " unexpected trailing bytes");
  }
  im->order = std::move(order);  // after the rows, which are saved in this order already
  im->order_chosen = !im->order.empty() || n_slots >= 4 * kOrderSampleMin;
  if (im->live == 0) {
    if (entry != kNone) throw invalid("saved hnsw index: entry point in an empty index");
  } else {
    if (entry >= n_slots || im->dead[entry]) {
      throw invalid("saved hnsw index: entry point " + std::to_string(entry) +
                    " is not a live node");
    }
    im->entry = entry;
    im->max_level = im->levels[entry];
  }
  for (std::uint32_t s = static_cast<std::uint32_t>(n_slots); s-- > 0;) {
    if (im->dead[s] && !is_pending[s]) im->free_slots.push_back(s);
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(im)));
}

}  // namespace sddb::detail
