// The exact (flat) index and the "inmemory://" VectorSearch that holds one per index name.

#include "vector/flat_index.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "sddb/error.h"
#include "vector/bytes.h"
#include "vector/distance.h"
#include "vector/hnsw_search.h"
#include "vector/inmemory.h"

namespace sddb::detail {
namespace {

// to_string(Measure) lives in sddb (db/components.cc), which this library does not link.
const char* measure_name(Measure m) {
  switch (m) {
    case Measure::cosine:
      return "cosine";
    case Measure::dot:
      return "dot";
    case Measure::l2:
      return "l2";
  }
  return "?";
}

Error invalid(const std::string& message) { return Error(ErrorCode::invalid_argument, message); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

double norm(const float* v, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(v[i]) * v[i];
  return std::sqrt(s);
}

// Position of the first non-finite value, or n.
std::size_t first_non_finite(const float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return i;
  }
  return n;
}

// Grows a vector geometrically to hold `total` elements, so that an add that then fails to
// allocate has changed nothing and repeated small adds stay amortized O(1).
template <typename V>
void reserve_for(V& v, std::size_t total) {
  if (total > v.capacity()) v.reserve(std::max(total, 2 * v.capacity()));
}

// A candidate of a search: better means a higher score, then an earlier row.
struct Candidate {
  double score;
  std::size_t row;
};
bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// The n best candidates offered, in a heap whose front is the worst kept.
class TopN {
 public:
  explicit TopN(std::size_t n) : n_(n) { heap_.reserve(n); }

  void offer(double score, std::size_t row) {
    const Candidate c{score, row};
    if (heap_.size() < n_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (n_ > 0 && better(c, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = c;
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }
  bool full() const { return heap_.size() >= n_; }
  // The worst score kept; only when full() and n > 0.
  double worst() const { return heap_.front().score; }
  // Best first.
  std::vector<Candidate> take() {
    std::sort_heap(heap_.begin(), heap_.end(), better);
    return std::move(heap_);
  }

 private:
  std::size_t n_;
  std::vector<Candidate> heap_;
};

// The score of a row from the kernel's raw output (squared l2 or inner product); see
// sddb/vector_search.h for the conventions.
template <Measure M>
double score_as(float raw, double row_norm, double query_norm) {
  double s;
  if constexpr (M == Measure::l2) {
    s = -std::sqrt(static_cast<double>(raw));
  } else if constexpr (M == Measure::dot) {
    s = raw;
  } else {
    const double d = query_norm * row_norm;
    s = d == 0 ? 0.0 : std::clamp(static_cast<double>(raw) / d, -1.0, 1.0);
  }
  // Finite inputs can still overflow float sums (inf - inf); such a row ranks last.
  return std::isnan(s) ? -std::numeric_limits<double>::infinity() : s;
}

// Offers rows [start, start + m) of a scan, whose raw outputs are out[0, m). A row that cannot
// beat the worst kept one is dropped before the heap: a later row never wins a tie.
template <Measure M>
void offer_block(TopN& top, const float* out, std::size_t m, std::size_t start, const double* norms,
                 double query_norm) {
  for (std::size_t i = 0; i < m; ++i) {
    const double s = score_as<M>(out[i], M == Measure::cosine ? norms[start + i] : 0.0, query_norm);
    if (top.full() && s <= top.worst()) continue;
    top.offer(s, start + i);
  }
}

// --- saved form -------------------------------------------------------------------------------

constexpr char kMagic[8] = {'S', 'D', 'D', 'B', 'F', 'L', 'A', 'T'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;  // magic, version, measure, dim, count
constexpr std::size_t kChecksumBytes = 8;

// FNV-1a over 64-bit little-endian words (the tail zero-padded), eight times faster than the
// bytewise form. Each step is a bijection of the state, so any single changed word is detected.
std::uint64_t checksum_of(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  constexpr std::uint64_t kPrime = 0x100000001b3ULL;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w = 0;
    for (int b = 0; b < 8; ++b) {
      w |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i + b])) << (8 * b);
    }
    h = (h ^ w) * kPrime;
  }
  if (i < bytes.size()) {
    std::uint64_t w = 0;
    for (int b = 0; i + b < bytes.size(); ++b) {
      w |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i + b])) << (8 * b);
    }
    h = (h ^ w) * kPrime;
  }
  return (h ^ bytes.size()) * kPrime;
}

}  // namespace

std::uint64_t flat_index_checksum(std::string_view bytes) { return checksum_of(bytes); }

// --- FlatIndex --------------------------------------------------------------------------------

FlatIndex::FlatIndex(std::size_t dim, Measure measure) : dim_(dim), measure_(measure) {}

void FlatIndex::append_row(const std::string& id, const float* v) {
  const std::size_t row = ids_.size();
  data_.insert(data_.end(), v, v + dim_);
  ids_.push_back(id);
  if (measure_ == Measure::cosine) norms_.push_back(norm(v, dim_));
  row_.emplace(id, row);
}

void FlatIndex::add(std::string_view name, const std::vector<std::string>& ids,
                    const std::vector<std::vector<float>>& vectors) {
  if (ids.size() != vectors.size()) {
    throw invalid("vector index " + quoted(name) + ": " + std::to_string(ids.size()) + " ids but " +
                  std::to_string(vectors.size()) + " vectors");
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::vector<float>& v = vectors[i];
    if (v.size() != dim_) {
      throw invalid("vector index " + quoted(name) + ": the vector of id " + quoted(ids[i]) +
                    " has dimension " + std::to_string(v.size()) + ", the index has dimension " +
                    std::to_string(dim_));
    }
    const std::size_t bad = first_non_finite(v.data(), dim_);
    if (bad != dim_) {
      throw invalid("vector index " + quoted(name) + ": the vector of id " + quoted(ids[i]) +
                    " (dimension " + std::to_string(dim_) + ") has a non-finite value at " +
                    std::to_string(bad));
    }
  }
  // Allocate first, so that running out of memory also leaves the index unchanged.
  const std::size_t most = size() + ids.size();
  reserve_for(data_, most * dim_);
  reserve_for(ids_, most);
  if (measure_ == Measure::cosine) reserve_for(norms_, most);
  // unordered_map::reserve may rehash (even shrink) whenever asked, so ask only when it must grow.
  if (static_cast<float>(most) > row_.max_load_factor() * static_cast<float>(row_.bucket_count())) {
    row_.reserve(std::max(most, 2 * row_.size()));
  }

  for (std::size_t i = 0; i < ids.size(); ++i) {
    const float* v = vectors[i].data();
    auto it = row_.find(ids[i]);
    if (it == row_.end()) {
      append_row(ids[i], v);
      continue;
    }
    const std::size_t row = it->second;
    std::copy(v, v + dim_, data_.begin() + static_cast<std::ptrdiff_t>(row * dim_));
    if (measure_ == Measure::cosine) norms_[row] = norm(v, dim_);
  }
}

void FlatIndex::remove(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    auto it = row_.find(id);
    if (it == row_.end()) continue;
    const std::size_t row = it->second;
    const std::size_t last = ids_.size() - 1;
    row_.erase(it);
    if (row != last) {
      std::copy(data_.begin() + static_cast<std::ptrdiff_t>(last * dim_), data_.end(),
                data_.begin() + static_cast<std::ptrdiff_t>(row * dim_));
      ids_[row] = std::move(ids_[last]);
      row_[ids_[row]] = row;
      if (measure_ == Measure::cosine) norms_[row] = norms_[last];
    }
    data_.resize(last * dim_);
    ids_.pop_back();
    if (measure_ == Measure::cosine) norms_.pop_back();
  }
}

const float* FlatIndex::find(const std::string& id) const {
  auto it = row_.find(id);
  return it == row_.end() ? nullptr : data_.data() + it->second * dim_;
}

double FlatIndex::score(float raw, std::size_t row, double query_norm) const {
  switch (measure_) {
    case Measure::l2:
      return score_as<Measure::l2>(raw, 0, query_norm);
    case Measure::dot:
      return score_as<Measure::dot>(raw, 0, query_norm);
    case Measure::cosine:
      return score_as<Measure::cosine>(raw, norms_[row], query_norm);
  }
  return 0;
}

std::vector<std::pair<std::string, double>> FlatIndex::search(
    std::span<const float> query, std::size_t n, const std::vector<std::string>* within) const {
  const DistanceKernels& k = distance_kernels();
  const bool l2 = measure_ == Measure::l2;
  const double query_norm = measure_ == Measure::cosine ? norm(query.data(), dim_) : 0.0;
  const float* q = query.data();

  std::vector<Candidate> best;
  if (within != nullptr) {
    std::vector<std::size_t> rows;
    rows.reserve(within->size());
    for (const std::string& id : *within) {
      auto it = row_.find(id);
      if (it != row_.end()) rows.push_back(it->second);
    }
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    TopN top(std::min(n, rows.size()));
    const DistanceFn f = l2 ? k.l2_squared : k.inner_product;
    for (std::size_t row : rows) {
      top.offer(score(f(q, data_.data() + row * dim_, dim_), row, query_norm), row);
    }
    best = top.take();
  } else {
    const std::size_t rows = size();
    TopN top(std::min(n, rows));
    if (n > 0) {
      // Blocks keep the distances in L1 while the matrix streams through once.
      constexpr std::size_t kBlock = 1024;
      float out[kBlock];
      const BatchDistanceFn f = l2 ? k.l2_squared_batch : k.inner_product_batch;
      for (std::size_t start = 0; start < rows; start += kBlock) {
        const std::size_t m = std::min(kBlock, rows - start);
        f(q, data_.data() + start * dim_, m, dim_, out);
        switch (measure_) {
          case Measure::l2:
            offer_block<Measure::l2>(top, out, m, start, nullptr, query_norm);
            break;
          case Measure::dot:
            offer_block<Measure::dot>(top, out, m, start, nullptr, query_norm);
            break;
          case Measure::cosine:
            offer_block<Measure::cosine>(top, out, m, start, norms_.data(), query_norm);
            break;
        }
      }
    }
    best = top.take();
  }

  std::vector<std::pair<std::string, double>> result;
  result.reserve(best.size());
  for (const Candidate& c : best) result.emplace_back(ids_[c.row], c.score);
  return result;
}

std::string FlatIndex::save() const {
  std::string out;
  std::size_t id_bytes = 0;
  for (const std::string& id : ids_) id_bytes += 4 + id.size();
  out.reserve(kHeaderBytes + id_bytes + data_.size() * sizeof(float) + kChecksumBytes);
  out.append(kMagic, sizeof kMagic);
  put_u32(out, kVersion);
  put_u32(out, static_cast<std::uint32_t>(measure_));
  put_u64(out, dim_);
  put_u64(out, ids_.size());
  for (const std::string& id : ids_) {
    if (id.size() > std::numeric_limits<std::uint32_t>::max()) {
      throw invalid("vector index: id of " + std::to_string(id.size()) +
                    " bytes is too long to save");
    }
    put_u32(out, static_cast<std::uint32_t>(id.size()));
    out += id;
  }
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(data_.data()), data_.size() * sizeof(float));
  } else {
    for (float x : data_) put_u32(out, std::bit_cast<std::uint32_t>(x));
  }
  put_u64(out, checksum_of(out));
  return out;
}

FlatIndex FlatIndex::load(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    throw invalid("not a saved vector index: " + std::to_string(bytes.size()) +
                  " bytes, shorter than the " + std::to_string(kHeaderBytes + kChecksumBytes) +
                  "-byte header and checksum");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw invalid("not a saved vector index: bad magic (expected \"SDDBFLAT\")");
  }
  ByteReader r(bytes.substr(0, bytes.size() - kChecksumBytes), "not a saved vector index");
  r.take(sizeof kMagic, "magic");
  const std::uint32_t version = r.u32("version");
  if (version != kVersion) {
    throw invalid("saved vector index: unsupported format version " + std::to_string(version) +
                  " (this build reads version " + std::to_string(kVersion) + ")");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  const std::uint64_t stored = get_le(bytes.data() + body.size(), 8);
  if (checksum_of(body) != stored) {
    throw invalid("saved vector index: checksum mismatch (the bytes are truncated or corrupted)");
  }
  const std::uint32_t measure = r.u32("measure");
  if (measure > static_cast<std::uint32_t>(Measure::l2)) {
    throw invalid("saved vector index: unknown measure code " + std::to_string(measure));
  }
  const std::uint64_t dim = r.u64("dimension");
  const std::uint64_t count = r.u64("count");
  if (dim == 0) throw invalid("saved vector index: dimension 0");
  // Every id takes at least its 4-byte length and every vector at least 4 bytes.
  if (count > r.left() / 4) {
    throw invalid("saved vector index: count " + std::to_string(count) + " does not fit in " +
                  std::to_string(r.left()) + " bytes");
  }
  FlatIndex index(static_cast<std::size_t>(dim), static_cast<Measure>(measure));
  index.ids_.reserve(count);
  index.row_.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint32_t len = r.u32("id length");
    std::string id(r.take(len, "id"), len);
    if (!index.row_.emplace(id, i).second) {
      throw invalid("saved vector index: duplicate id " + quoted(id));
    }
    index.ids_.push_back(std::move(id));
  }
  const std::size_t left = r.left();
  if (count != 0 && dim > left / sizeof(float) / count) {
    throw invalid("saved vector index: " + std::to_string(count) + " vectors of dimension " +
                  std::to_string(dim) + " do not fit in the " + std::to_string(left) +
                  " bytes left");
  }
  const std::size_t floats = static_cast<std::size_t>(count * dim);
  if (floats * sizeof(float) != left) {
    throw invalid("saved vector index: " + std::to_string(count) + " vectors of dimension " +
                  std::to_string(dim) + " take " + std::to_string(floats * sizeof(float)) +
                  " bytes, found " + std::to_string(left));
  }
  const char* p = r.take(left, "vectors");
  index.data_.resize(floats);
  if constexpr (std::endian::native == std::endian::little) {
    if (left > 0) std::memcpy(index.data_.data(), p, left);
  } else {
    for (std::size_t i = 0; i < floats; ++i) {
      index.data_[i] = std::bit_cast<float>(static_cast<std::uint32_t>(get_le(p + 4 * i, 4)));
    }
  }
  for (std::size_t row = 0; row < count; ++row) {
    const float* v = index.data_.data() + row * dim;
    const std::size_t bad = first_non_finite(v, dim);
    if (bad != dim) {
      throw invalid("saved vector index: the vector of id " + quoted(index.ids_[row]) +
                    " has a non-finite value at " + std::to_string(bad));
    }
    if (index.measure_ == Measure::cosine) index.norms_.push_back(norm(v, dim));
  }
  return index;
}

// --- the VectorSearch -------------------------------------------------------------------------

namespace {

std::string options_text(const IndexOptions& o) {
  const std::string numbers = " (m " + std::to_string(o.m) + ", ef_construction " +
                              std::to_string(o.ef_construction) + ", ef_search " +
                              std::to_string(o.ef_search) + ", storage " +
                              std::string(to_string(o.storage)) + ")";
  switch (o.type) {
    case IndexOptions::Type::flat:
      return "type flat";
    case IndexOptions::Type::hnsw:
      return "type hnsw" + numbers;
    case IndexOptions::Type::automatic:
      break;
  }
  return "type auto" + numbers;
}

bool same_numbers(const IndexOptions& a, const IndexOptions& b) {
  return a.m == b.m && a.ef_construction == b.ef_construction && a.ef_search == b.ef_search &&
         a.storage == b.storage;
}

bool same_options(const IndexOptions& a, const IndexOptions& b) {
  return a.type == b.type && (a.type == IndexOptions::Type::flat || same_numbers(a, b));
}

// One index: exactly one of flat and hnsw is set. `requested` is what create_index asked for
// (empty for an index that came from load() and was not asked for since).
struct Slot {
  std::unique_ptr<FlatIndex> flat;
  std::unique_ptr<HnswSearchIndex> hnsw;
  std::optional<IndexOptions> requested;

  std::size_t dim() const { return flat ? flat->dim() : hnsw->dim(); }
  Measure measure() const { return flat ? flat->measure() : hnsw->measure(); }
  // What the engine in use is.
  IndexOptions engine() const { return flat ? IndexOptions{} : hnsw->options(); }
  IndexOptions options() const { return requested.value_or(engine()); }
  std::size_t size() const { return flat ? flat->size() : hnsw->size(); }
  // Whether the engine in use can serve `o`: an automatic index is served by either engine.
  bool serves(const IndexOptions& o) const {
    const IndexOptions e = engine();
    if (o.type != IndexOptions::Type::automatic) return same_options(e, o);
    return flat != nullptr || same_numbers(e, o);
  }
};

// Whether an automatic index has reached IndexOptions::auto_hnsw_size vectors and is still exact.
bool should_grow(const Slot& s) {
  return s.flat && s.requested && s.requested->type == IndexOptions::Type::automatic &&
         s.flat->size() >= IndexOptions::auto_hnsw_size(s.flat->dim());
}

// The HNSW graph of an exact index's vectors (built on every core).
std::unique_ptr<HnswSearchIndex> build_hnsw(const std::string& index, const Slot& s) {
  IndexOptions o = *s.requested;
  o.type = IndexOptions::Type::hnsw;
  auto hnsw = std::make_unique<HnswSearchIndex>(s.flat->dim(), s.flat->measure(), o);
  std::vector<std::string> ids = s.flat->ids();
  std::vector<std::vector<float>> vectors;
  vectors.reserve(ids.size());
  for (const std::string& id : ids) {
    const float* v = s.flat->find(id);
    vectors.emplace_back(v, v + s.flat->dim());
  }
  hnsw->add(index, ids, vectors, /*parallel=*/true);
  return hnsw;
}

// An automatic index asked for exact 8-bit storage takes, while it is exact, only the vectors
// that storage can hold (integers in [0, 255]): a vector it could not hold is refused by its own
// add, naming the id, rather than by the later add that grows the index into hnsw.
void check_u8_while_flat(const std::string& index, const Slot& s,
                         const std::vector<std::string>& ids,
                         const std::vector<std::vector<float>>& vectors) {
  if (!s.flat || !s.requested || s.requested->type != IndexOptions::Type::automatic ||
      s.requested->storage != IndexStorage::u8) {
    return;
  }
  for (std::size_t i = 0; i < vectors.size() && i < ids.size(); ++i) {
    for (float x : vectors[i]) {
      if (!(x >= 0.0f && x <= 255.0f && x == std::floor(x))) {
        throw invalid("vector index " + quoted(index) + " has storage u8, which holds integers " +
                      "in [0, 255]; the vector of " + quoted(ids[i]) + " holds " +
                      std::to_string(x) + " (use storage sq8, f16 or f32 for such vectors)");
      }
    }
  }
}

// One index and its locks. Changes run one at a time (`writer`); `data` guards the slot: searches
// share it, and a change holds it exclusively only while it mutates. So a search waits neither
// for a change to another index nor for the whole of a long change to its own: a large hnsw add
// or remove takes `data` in pieces of about kHold of work each (a search sees the rows added so
// far, each whole), and the graph an automatic index grows into is built without it while the
// exact index keeps answering.
struct Entry {
  std::mutex writer;
  std::shared_mutex data;
  std::atomic<int> queued{0};  // reads waiting for `data`
  Slot slot;
};

// The longest a piece of a change holds an index from its reads, and the longest a change
// waits, between two pieces, for the reads that queued during the first to take their turn.
constexpr std::chrono::milliseconds kHold{20};
constexpr std::chrono::milliseconds kYield{2};

// Runs apply(begin, end) over [0, n) in pieces, each under e.data held exclusively, sized from
// the last piece's time so that a piece takes about kHold. The caller holds e.writer. Between
// pieces, the reads that queued during one go first.
template <typename Apply>
void in_pieces(Entry& e, std::size_t n, const Apply& apply) {
  using Clock = std::chrono::steady_clock;
  std::size_t piece = 16;
  for (std::size_t begin = 0; begin < n;) {
    const std::size_t end = std::min(n, begin + piece);
    const auto t0 = Clock::now();
    {
      std::unique_lock lock(e.data);
      apply(begin, end);
    }
    const auto took = std::max<Clock::duration>(Clock::now() - t0, std::chrono::microseconds(1));
    const double scale = std::chrono::duration<double>(kHold) / took;
    piece = std::clamp<std::size_t>(static_cast<std::size_t>(static_cast<double>(piece) * scale), 1,
                                    piece * 2);
    begin = end;
    // glibc's rwlock would let this thread take `data` again before the woken reads do.
    for (const auto until = Clock::now() + kYield;
         begin < n && e.queued.load() > 0 && Clock::now() < until;) {
      std::this_thread::yield();
    }
  }
}

// A read of an index: a search, or one of the calls that report on it.
std::shared_lock<std::shared_mutex> read_lock(Entry& e) {
  ++e.queued;
  std::shared_lock lock(e.data);
  --e.queued;
  return lock;
}

// Large hnsw batches use every core (threads pay off only for them; the usual sync is small).
constexpr std::size_t kParallelAdd = 4096;

class InMemoryVectorSearch final : public VectorSearch {
 public:
  std::string uri() const override { return "inmemory://"; }

  void create_index(const std::string& index, std::size_t dim, Measure measure,
                    const IndexOptions& options) override {
    if (dim == 0) throw invalid("vector index " + quoted(index) + ": dimension must be > 0");
    std::shared_ptr<Entry> e = find(index);
    if (!e) {
      auto made = std::make_shared<Entry>();
      made->slot.requested = options;
      // An automatic index checks its hnsw numbers now (by building the empty engine), so that
      // the add that grows it into hnsw later cannot fail on them.
      if (options.type != IndexOptions::Type::flat) {
        try {
          made->slot.hnsw = std::make_unique<HnswSearchIndex>(dim, measure, options);
        } catch (const Error& err) {
          throw invalid("vector index " + quoted(index) + ": " + err.what());
        }
      }
      if (options.type != IndexOptions::Type::hnsw) {
        made->slot.hnsw.reset();
        made->slot.flat = std::make_unique<FlatIndex>(dim, measure);
      }
      std::unique_lock lock(map_);
      auto [it, inserted] = indexes_.emplace(index, made);
      if (inserted) return;
      e = it->second;  // made meanwhile by another thread: check against it
    }
    std::lock_guard writer(e->writer);
    {
      std::unique_lock lock(e->data);
      Slot& s = e->slot;
      if (s.dim() != dim || s.measure() != measure) {
        throw invalid("vector index " + quoted(index) + " exists with dimension " +
                      std::to_string(s.dim()) + " and measure " + measure_name(s.measure()) +
                      ", not dimension " + std::to_string(dim) + " and measure " +
                      measure_name(measure));
      }
      if (s.requested ? !same_options(*s.requested, options) : !s.serves(options)) {
        throw invalid("vector index " + quoted(index) + " exists with " +
                      options_text(s.options()) + ", not " + options_text(options));
      }
      s.requested = options;  // a loaded index learns what it was made for
    }
    grow(index, *e);
  }

  void drop_index(const std::string& index) override {
    std::shared_ptr<Entry> dropped;  // freed outside the lock (or by its last search)
    std::unique_lock lock(map_);
    auto it = indexes_.find(index);
    if (it == indexes_.end()) return;
    dropped = std::move(it->second);
    indexes_.erase(it);
  }

  bool has_index(const std::string& index) override { return find(index) != nullptr; }

  std::size_t size(const std::string& index) override {
    const std::shared_ptr<Entry> e = at(index);
    const std::shared_lock lock = read_lock(*e);
    return e->slot.size();
  }

  void add(const std::string& index, const std::vector<std::string>& ids,
           const std::vector<std::vector<float>>& vectors) override {
    const std::shared_ptr<Entry> e = at(index);
    std::lock_guard writer(e->writer);
    Slot& s = e->slot;  // only changes, which hold e->writer, replace the engine
    if (s.flat) {
      {
        std::unique_lock lock(e->data);
        check_u8_while_flat(index, s, ids, vectors);
        s.flat->add(index, ids, vectors);
      }
      grow(index, *e);
      return;
    }
    // Every vector is checked before the first piece: a bad one changes nothing.
    s.hnsw->check(index, ids, vectors);
    const bool parallel = ids.size() >= kParallelAdd;
    in_pieces(*e, ids.size(), [&](std::size_t begin, std::size_t end) {
      if (begin == 0 && end == ids.size()) {
        s.hnsw->add(index, ids, vectors, parallel);
        return;
      }
      const auto b = static_cast<std::ptrdiff_t>(begin), n = static_cast<std::ptrdiff_t>(end);
      s.hnsw->add(index, std::vector<std::string>(ids.begin() + b, ids.begin() + n),
                  std::vector<std::vector<float>>(vectors.begin() + b, vectors.begin() + n),
                  parallel);
    });
  }

  void remove(const std::string& index, const std::vector<std::string>& ids) override {
    const std::shared_ptr<Entry> e = at(index);
    std::lock_guard writer(e->writer);
    Slot& s = e->slot;
    if (s.flat) {
      std::unique_lock lock(e->data);
      s.flat->remove(ids);
      return;
    }
    in_pieces(*e, ids.size(), [&](std::size_t begin, std::size_t end) {
      const auto b = static_cast<std::ptrdiff_t>(begin), n = static_cast<std::ptrdiff_t>(end);
      s.hnsw->remove(std::vector<std::string>(ids.begin() + b, ids.begin() + n));
    });
  }

  std::optional<std::vector<float>> get(const std::string& index, const std::string& id) override {
    const std::shared_ptr<Entry> e = at(index);
    const std::shared_lock lock = read_lock(*e);
    const Slot& s = e->slot;
    if (s.hnsw) {
      return s.hnsw->find(id);
    }
    const float* v = s.flat->find(id);
    if (v == nullptr) return std::nullopt;
    return std::vector<float>(v, v + s.flat->dim());
  }

  std::vector<std::string> ids(const std::string& index) override {
    const std::shared_ptr<Entry> e = at(index);
    const std::shared_lock lock = read_lock(*e);
    const Slot& s = e->slot;
    return s.flat ? s.flat->ids() : s.hnsw->ids();
  }

  std::vector<std::pair<std::string, double>> search(
      const std::string& index, const std::vector<float>& query, std::size_t n,
      const std::vector<std::string>* within) override {
    const std::shared_ptr<Entry> e = at(index);
    const std::shared_lock lock = read_lock(*e);
    const Slot& s = e->slot;
    if (query.size() != s.dim()) {
      throw invalid("vector index " + quoted(index) + ": the query has dimension " +
                    std::to_string(query.size()) + ", the index has dimension " +
                    std::to_string(s.dim()));
    }
    const std::size_t bad = first_non_finite(query.data(), query.size());
    if (bad != query.size()) {
      throw invalid("vector index " + quoted(index) + ": the query has a non-finite value at " +
                    std::to_string(bad));
    }
    return s.flat ? s.flat->search(query, n, within) : s.hnsw->search(query, n, within);
  }

  // A flat index keeps the FlatIndex format (so snapshots from before hnsw still load); an hnsw
  // index is saved in the "SDDBVIX1" envelope. load() tells them apart by the magic.
  std::string save(const std::string& index) override {
    const std::shared_ptr<Entry> e = at(index);
    const std::shared_lock lock = read_lock(*e);
    const Slot& s = e->slot;
    return s.flat ? s.flat->save() : s.hnsw->save();
  }

  void load(const std::string& index, const std::string& bytes) override {
    // Parsed before taking any lock: a bad blob changes nothing and blocks no one.
    Slot loaded;
    if (is_saved_vector_index_envelope(bytes)) {
      loaded.hnsw = HnswSearchIndex::load(bytes);
    } else {
      loaded.flat = std::make_unique<FlatIndex>(FlatIndex::load(bytes));
    }
    std::shared_ptr<Entry> e;
    {
      std::unique_lock lock(map_);
      std::shared_ptr<Entry>& in_map = indexes_[index];
      if (!in_map) {
        in_map = std::make_shared<Entry>();
        in_map->slot = std::move(loaded);
        return;
      }
      e = in_map;
    }
    Slot replaced;  // freed outside the lock
    std::lock_guard writer(e->writer);
    std::unique_lock lock(e->data);
    replaced = std::move(e->slot);
    e->slot = std::move(loaded);
  }

 private:
  std::shared_ptr<Entry> find(const std::string& index) const {
    std::shared_lock lock(map_);
    auto it = indexes_.find(index);
    return it == indexes_.end() ? nullptr : it->second;
  }

  std::shared_ptr<Entry> at(const std::string& index) const {
    std::shared_ptr<Entry> e = find(index);
    if (!e) throw Error(ErrorCode::not_found, "vector index " + quoted(index) + " not found");
    return e;
  }

  // An automatic index that reached its threshold becomes hnsw: the graph is built while
  // searches still use the exact index, then swapped in. The caller holds e.writer.
  static void grow(const std::string& index, Entry& e) {
    if (!should_grow(e.slot)) return;
    std::unique_ptr<HnswSearchIndex> built = build_hnsw(index, e.slot);
    std::unique_ptr<FlatIndex> exact;  // freed outside the lock
    std::unique_lock lock(e.data);
    exact = std::move(e.slot.flat);
    e.slot.hnsw = std::move(built);
  }

  mutable std::shared_mutex map_;  // guards indexes_ (not the indexes)
  std::unordered_map<std::string, std::shared_ptr<Entry>> indexes_;
};

}  // namespace

std::shared_ptr<VectorSearch> make_inmemory_vector_search() {
  return std::make_shared<InMemoryVectorSearch>();
}

}  // namespace sddb::detail
