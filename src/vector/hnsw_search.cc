#include "vector/hnsw_search.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "sddb/error.h"
#include "vector/bytes.h"
#include "vector/flat_index.h"

namespace sddb::detail {
namespace {

constexpr char kMagic[8] = {'S', 'D', 'D', 'B', 'V', 'I', 'X', '1'};
constexpr unsigned char kTypeHnsw = 1;
constexpr std::size_t kChecksumBytes = 8;

Error invalid(const std::string& message) { return Error(ErrorCode::invalid_argument, message); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::size_t first_non_finite(const float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return i;
  }
  return n;
}

// The SPI's higher-better score from an HNSW distance (see sddb/vector_search.h).
double score_of(Measure m, float d) {
  double s = 0;
  switch (m) {
    case Measure::l2:
      s = -std::sqrt(std::max(0.0, static_cast<double>(d)));
      break;
    case Measure::dot:
      s = -static_cast<double>(d);
      break;
    case Measure::cosine:
      s = std::clamp(1.0 - static_cast<double>(d), -1.0, 1.0);
      break;
  }
  return std::isnan(s) ? -std::numeric_limits<double>::infinity() : s;
}

HnswOptions engine_options(const IndexOptions& o) {
  if (o.m < 2 || o.ef_construction == 0 || o.ef_search == 0) {
    throw invalid("hnsw vector index: m must be >= 2 and ef_construction, ef_search >= 1 (got m " +
                  std::to_string(o.m) + ", ef_construction " + std::to_string(o.ef_construction) +
                  ", ef_search " + std::to_string(o.ef_search) + ")");
  }
  HnswOptions h;
  h.m = o.m;
  h.ef_construction = o.ef_construction;
  h.ef_search = o.ef_search;
  switch (o.storage) {
    case IndexStorage::automatic:
      break;
    case IndexStorage::f32:
      h.storage = HnswStorage::f32;
      break;
    case IndexStorage::u8:
      h.storage = HnswStorage::u8;
      break;
    case IndexStorage::sq8:
      h.storage = HnswStorage::sq8;
      break;
    case IndexStorage::f16:
      h.storage = HnswStorage::f16;
      break;
  }
  return h;
}

IndexStorage index_storage(std::optional<HnswStorage> s) {
  if (!s) return IndexStorage::automatic;
  switch (*s) {
    case HnswStorage::f32:
      return IndexStorage::f32;
    case HnswStorage::u8:
      return IndexStorage::u8;
    case HnswStorage::sq8:
      return IndexStorage::sq8;
    case HnswStorage::f16:
      return IndexStorage::f16;
  }
  return IndexStorage::automatic;
}

}  // namespace

bool is_saved_vector_index_envelope(std::string_view bytes) {
  return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

HnswSearchIndex::HnswSearchIndex(std::size_t dim, Measure measure, const IndexOptions& options)
    : hnsw_(std::make_unique<HnswIndex>(dim, measure, engine_options(options))) {}

IndexOptions HnswSearchIndex::options() const {
  IndexOptions o;
  o.type = IndexOptions::Type::hnsw;
  o.m = hnsw_->options().m;
  o.ef_construction = hnsw_->options().ef_construction;
  o.ef_search = hnsw_->options().ef_search;
  o.storage = index_storage(hnsw_->options().storage);
  return o;
}

bool HnswSearchIndex::engine_keeps_vectors() const {
  const HnswStorage s = hnsw_->storage();
  return s == HnswStorage::sq8 || s == HnswStorage::f16;
}

void HnswSearchIndex::check(std::string_view name, const std::vector<std::string>& ids,
                            const std::vector<std::vector<float>>& vectors) const {
  const std::size_t d = dim();
  if (ids.size() != vectors.size()) {
    throw invalid("vector index " + quoted(name) + ": " + std::to_string(ids.size()) + " ids but " +
                  std::to_string(vectors.size()) + " vectors");
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::vector<float>& v = vectors[i];
    if (v.size() != d) {
      throw invalid("vector index " + quoted(name) + ": the vector of id " + quoted(ids[i]) +
                    " has dimension " + std::to_string(v.size()) + ", the index has dimension " +
                    std::to_string(d));
    }
    const std::size_t bad = first_non_finite(v.data(), d);
    if (bad != d) {
      throw invalid("vector index " + quoted(name) + ": the vector of id " + quoted(ids[i]) +
                    " (dimension " + std::to_string(d) + ") has a non-finite value at " +
                    std::to_string(bad));
    }
  }
}

void HnswSearchIndex::add(std::string_view name, const std::vector<std::string>& ids,
                          const std::vector<std::vector<float>>& vectors, bool parallel) {
  check(name, ids, vectors);
  if (ids.empty()) return;
  const std::size_t d = dim();
  // Labels first (existing ids keep theirs; a repeated new id gets one label), then the engine,
  // then the maps: an engine failure leaves everything as it was.
  std::vector<std::uint64_t> labels(ids.size());
  std::unordered_map<std::string, std::uint64_t> fresh;
  std::uint64_t next = next_label_;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (auto it = vectors_.find(ids[i]); it != vectors_.end()) {
      labels[i] = it->second.label;
    } else {
      auto [f, inserted] = fresh.emplace(ids[i], next);
      if (inserted) ++next;
      labels[i] = f->second;
    }
  }
  std::vector<float> rows(ids.size() * d);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::copy(vectors[i].begin(), vectors[i].end(),
              rows.begin() + static_cast<std::ptrdiff_t>(i * d));
  }
  hnsw_->add_batch(labels, rows.data(), parallel ? 0 : 1);
  next_label_ = next;
  const bool keep = !engine_keeps_vectors();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Entry& e = vectors_[ids[i]];
    e.label = labels[i];
    if (keep) e.vector = vectors[i];
    id_of_[labels[i]] = ids[i];
  }
}

void HnswSearchIndex::remove(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    auto it = vectors_.find(id);
    if (it == vectors_.end()) continue;
    hnsw_->remove(it->second.label);
    id_of_.erase(it->second.label);
    vectors_.erase(it);
  }
}

std::optional<std::vector<float>> HnswSearchIndex::find(const std::string& id) const {
  auto it = vectors_.find(id);
  if (it == vectors_.end()) return std::nullopt;
  if (!engine_keeps_vectors()) return it->second.vector;
  std::vector<float> v(dim());
  hnsw_->get(it->second.label, v.data());
  return v;
}

std::vector<std::string> HnswSearchIndex::ids() const {
  std::vector<std::string> out;
  out.reserve(vectors_.size());
  for (const auto& [id, e] : vectors_) out.push_back(id);
  return out;
}

std::vector<std::pair<std::string, double>> HnswSearchIndex::search(
    std::span<const float> query, std::size_t n, const std::vector<std::string>* within) const {
  std::vector<std::pair<std::string, double>> result;
  if (n == 0 || vectors_.empty()) return result;
  const std::size_t ef = std::max(hnsw_->options().ef_search, n);
  std::vector<std::pair<std::uint64_t, float>> found;
  if (within != nullptr) {
    std::vector<std::uint64_t> allowed;  // repeats are the engine's to drop
    allowed.reserve(within->size());
    for (const std::string& id : *within) {
      if (auto it = vectors_.find(id); it != vectors_.end()) allowed.push_back(it->second.label);
    }
    if (allowed.empty()) return result;
    HnswFilter filter;
    filter.labels = &allowed;
    found = hnsw_->search(query.data(), n, ef, &filter);
  } else {
    found = hnsw_->search(query.data(), n, ef);
  }
  result.reserve(found.size());
  for (const auto& [label, distance] : found) {
    auto it = id_of_.find(label);
    if (it == id_of_.end()) continue;  // never: the maps and the engine change together
    result.emplace_back(it->second, score_of(measure(), distance));
  }
  // Scores are rounded from float distances; keep them sorted best first as the SPI promises.
  std::stable_sort(result.begin(), result.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return result;
}

std::string HnswSearchIndex::save() const {
  const std::size_t d = dim();
  const std::string engine = hnsw_->save();
  std::string out;
  out.reserve(sizeof kMagic + 1 + 24 + vectors_.size() * (12 + d * sizeof(float) + 16) +
              engine.size() + 16);
  out.append(kMagic, sizeof kMagic);
  out.push_back(static_cast<char>(kTypeHnsw));
  put_u64(out, d);
  put_u64(out, next_label_);
  put_u64(out, vectors_.size());
  const bool from_engine = engine_keeps_vectors();
  std::vector<float> held(from_engine ? d : 0);
  for (const auto& [id, e] : vectors_) {
    const std::vector<float>& vector = from_engine ? held : e.vector;
    if (from_engine) hnsw_->get(e.label, held.data());
    if (id.size() > std::numeric_limits<std::uint32_t>::max()) {
      throw invalid("vector index: id of " + std::to_string(id.size()) +
                    " bytes is too long to save");
    }
    put_u64(out, e.label);
    put_u32(out, static_cast<std::uint32_t>(id.size()));
    out += id;
    if constexpr (std::endian::native == std::endian::little) {
      out.append(reinterpret_cast<const char*>(vector.data()), d * sizeof(float));
    } else {
      for (float x : vector) put_u32(out, std::bit_cast<std::uint32_t>(x));
    }
  }
  put_u64(out, engine.size());
  out += engine;
  put_u64(out, flat_index_checksum(out));
  return out;
}

std::unique_ptr<HnswSearchIndex> HnswSearchIndex::load(std::string_view bytes) {
  if (!is_saved_vector_index_envelope(bytes)) {
    throw invalid("not a saved vector index: bad magic (expected \"SDDBVIX1\")");
  }
  if (bytes.size() < sizeof kMagic + 1 + kChecksumBytes) {
    throw invalid("saved hnsw vector index: " + std::to_string(bytes.size()) +
                  " bytes, too short for the header and checksum");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  if (flat_index_checksum(body) != get_le(bytes.data() + body.size(), 8)) {
    throw invalid(
        "saved hnsw vector index: checksum mismatch (the bytes are truncated or corrupted)");
  }
  ByteReader r(body, "saved hnsw vector index");
  r.take(sizeof kMagic, "magic");
  const auto type = static_cast<unsigned char>(*r.take(1, "type"));
  if (type != kTypeHnsw) {
    throw invalid("saved vector index: unknown index type code " + std::to_string(type));
  }
  const std::uint64_t dim = r.u64("dimension");
  const std::uint64_t next_label = r.u64("next label");
  const std::uint64_t count = r.u64("count");
  if (dim == 0 || dim > r.left() / sizeof(float) + 1) {
    throw invalid("saved hnsw vector index: bad dimension " + std::to_string(dim));
  }
  // Each entry takes at least its 8-byte label, 4-byte id length and its vector.
  if (count > r.left() / (12 + dim * sizeof(float))) {
    throw invalid("saved hnsw vector index: count " + std::to_string(count) + " does not fit in " +
                  std::to_string(r.left()) + " bytes");
  }
  std::unique_ptr<HnswSearchIndex> index(new HnswSearchIndex());
  index->vectors_.reserve(count);
  index->id_of_.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t label = r.u64("label");
    const std::uint32_t len = r.u32("id length");
    std::string id(r.take(len, "id"), len);
    const char* p = r.take(dim * sizeof(float), "vector");
    std::vector<float> v(dim);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(v.data(), p, dim * sizeof(float));
    } else {
      for (std::size_t k = 0; k < dim; ++k) {
        v[k] = std::bit_cast<float>(static_cast<std::uint32_t>(get_le(p + 4 * k, 4)));
      }
    }
    if (label >= next_label) {
      throw invalid("saved hnsw vector index: label " + std::to_string(label) + " of id " +
                    quoted(id) + " is not below the next label " + std::to_string(next_label));
    }
    if (first_non_finite(v.data(), dim) != dim) {
      throw invalid("saved hnsw vector index: the vector of id " + quoted(id) +
                    " has a non-finite value");
    }
    if (!index->id_of_.emplace(label, id).second) {
      throw invalid("saved hnsw vector index: duplicate label " + std::to_string(label));
    }
    if (!index->vectors_.emplace(id, Entry{label, std::move(v)}).second) {
      throw invalid("saved hnsw vector index: duplicate id " + quoted(id));
    }
  }
  const std::uint64_t engine_len = r.u64("engine length");
  if (engine_len != r.left()) {
    throw invalid("saved hnsw vector index: engine length " + std::to_string(engine_len) +
                  ", found " + std::to_string(r.left()) + " bytes");
  }
  index->hnsw_ = HnswIndex::load(std::string_view(r.take(engine_len, "engine"), engine_len));
  if (index->hnsw_->dim() != dim || index->hnsw_->size() != count) {
    throw invalid("saved hnsw vector index: the graph holds " +
                  std::to_string(index->hnsw_->size()) + " vectors of dimension " +
                  std::to_string(index->hnsw_->dim()) + ", the ids " + std::to_string(count) +
                  " of dimension " + std::to_string(dim));
  }
  for (const auto& [label, id] : index->id_of_) {
    if (!index->hnsw_->contains(label)) {
      throw invalid("saved hnsw vector index: id " + quoted(id) + " is not in the graph");
    }
  }
  index->next_label_ = next_label;
  if (index->engine_keeps_vectors()) {
    for (auto& [id, e] : index->vectors_) e.vector = {};
  }
  return index;
}

}  // namespace sddb::detail
