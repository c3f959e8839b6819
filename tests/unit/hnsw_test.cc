// HnswIndex (src/vector/hnsw.h) against double-precision brute force: recall on random and
// clustered data for every measure and storage, exact u8 distances, filters (only allowed labels,
// exactly min(k, allowed) of them), removal and churn, replace, save/load and damaged bytes,
// concurrent searches during adds, and the parallel build.
//
// Recall counts a returned label as a hit when its true distance is within the k-th true
// distance, so ties (frequent with integer data) do not count against the index.

#include "vector/hnsw.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sddb/error.h"
#include "testing/errors.h"
#include "vector/flat_index.h"
#include "vector/hnsw_kernels.h"

namespace sddb::detail {
namespace {

using testutil::code_of;
using Results = std::vector<std::pair<std::uint64_t, float>>;

std::string name(Measure m) {
  return m == Measure::cosine ? "cosine" : m == Measure::dot ? "dot" : "l2";
}

std::uint64_t label_of(std::size_t i) { return i * 7 + 3; }

struct Data {
  std::size_t n, d;
  std::vector<float> v;  // n rows of d
  std::vector<int> cluster;
  const float* row(std::size_t i) const { return v.data() + i * d; }
};

// Random or clustered points; `ints` makes every component an integer in [0, 255]. The cluster
// centres depend only on d, so base points and queries made with other seeds share them.
Data make_data(std::size_t n, std::size_t d, bool clustered, bool ints, std::uint64_t seed) {
  std::mt19937_64 rng(1000 + d);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Data out{n, d, std::vector<float>(n * d), std::vector<int>(n, 0)};
  const int k = 20;
  std::vector<float> centers(k * d);
  for (auto& c : centers) c = 3.0f * g(rng);
  rng.seed(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = clustered ? static_cast<int>(rng() % k) : 0;
    out.cluster[i] = c;
    for (std::size_t j = 0; j < d; ++j) {
      float x = g(rng) + (clustered ? centers[c * d + j] : 0.0f);
      if (ints) x = std::clamp(std::round(128.0f + 20.0f * x), 0.0f, 255.0f);
      out.v[i * d + j] = x;
    }
  }
  return out;
}

double ref_distance(Measure m, const float* a, const float* b, std::size_t d) {
  double dot = 0, l2 = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < d; ++i) {
    dot += double(a[i]) * b[i];
    l2 += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (m == Measure::l2) return l2;
  if (m == Measure::dot) return -dot;
  if (na == 0 || nb == 0) return 1.0;
  return 1.0 - dot / std::sqrt(na * nb);
}

// The exact k nearest rows (indexes) among those `ok` accepts, with their distances.
template <typename Ok>
std::vector<std::pair<double, std::size_t>> brute(const Data& data, Measure m, const float* q,
                                                  std::size_t k, const Ok& ok) {
  std::vector<std::pair<double, std::size_t>> all;
  for (std::size_t i = 0; i < data.n; ++i) {
    if (ok(i)) all.emplace_back(ref_distance(m, q, data.row(i), data.d), i);
  }
  const std::size_t kk = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + kk, all.end());
  all.resize(kk);
  return all;
}

double hits(const Data& data, Measure m, const float* q, const Results& got,
            const std::vector<std::pair<double, std::size_t>>& truth) {
  if (truth.empty()) return 0;
  const double worst = truth.back().first;
  double h = 0;
  for (const auto& [label, dist] : got) {
    const std::size_t i = (label - 3) / 7;
    const double d = ref_distance(m, q, data.row(i), data.d);
    if (d <= worst + 1e-5 * (1 + std::fabs(worst))) ++h;
  }
  return h;
}

// Mean recall@k over `queries` of the rows accepted by `live` (all when null).
double recall(const HnswIndex& index, const Data& data, const Data& queries, std::size_t k,
              std::size_t ef, const std::vector<bool>* live = nullptr) {
  double h = 0, total = 0;
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    const float* q = queries.row(qi);
    const Results got = index.search(q, k, ef);
    auto truth = brute(data, index.measure(), q, k,
                       [&](std::size_t i) { return live == nullptr || (*live)[i]; });
    EXPECT_EQ(got.size(), truth.size());
    h += hits(data, index.measure(), q, got, truth);
    total += truth.size();
  }
  return h / total;
}

std::unique_ptr<HnswIndex> build(const Data& data, Measure m, HnswOptions o = {}) {
  auto index = std::make_unique<HnswIndex>(data.d, m, o);
  for (std::size_t i = 0; i < data.n; ++i) index->add(label_of(i), data.row(i));
  return index;
}

HnswOptions fast_options(std::optional<HnswStorage> storage = std::nullopt) {
  HnswOptions o;
  o.ef_construction = 100;
  o.storage = storage;
  return o;
}

// --- recall ---

class HnswRecall : public testing::TestWithParam<std::tuple<Measure, HnswStorage, bool>> {};

TEST_P(HnswRecall, AtLeast095AtEf100) {
  const auto [m, storage, clustered] = GetParam();
  const bool ints = storage == HnswStorage::u8;
  const Data data = make_data(5000, 32, clustered, ints, 1);
  const Data queries = make_data(100, 32, clustered, ints, 2);
  auto index = build(data, m, fast_options());
  EXPECT_EQ(index->storage(), storage);
  EXPECT_EQ(index->size(), data.n);
  EXPECT_GE(recall(*index, data, queries, 10, 100), 0.95);
}

INSTANTIATE_TEST_SUITE_P(
    All, HnswRecall,
    testing::Combine(testing::Values(Measure::l2, Measure::dot, Measure::cosine),
                     testing::Values(HnswStorage::f32, HnswStorage::u8), testing::Bool()),
    [](const auto& info) {
      return name(std::get<0>(info.param)) +
             (std::get<1>(info.param) == HnswStorage::u8 ? "_u8" : "_f32") +
             (std::get<2>(info.param) ? "_clustered" : "_random");
    });

// --- sq8 and f16 storage ---

std::string storage_name(HnswStorage s) { return std::string(hnsw_storage_name(s)); }

// The graph is searched on lossy codes and the candidates re-ranked on f32: recall as with f32
// storage, and every distance returned is the exact one, in order.
void expect_exact_sorted(const HnswIndex& index, const Data& data, const float* q,
                         const Results& got) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double want = ref_distance(index.measure(), q, data.row((got[i].first - 3) / 7), data.d);
    ASSERT_NEAR(got[i].second, want, 1e-4 * (1 + std::fabs(want))) << "rank " << i;
    if (i > 0) {
      ASSERT_LE(got[i - 1].second, got[i].second) << "rank " << i;
    }
  }
}

class HnswCompressed : public testing::TestWithParam<std::tuple<Measure, HnswStorage, bool>> {};

TEST_P(HnswCompressed, RecallAndExactDistances) {
  const auto [m, storage, clustered] = GetParam();
  const Data data = make_data(5000, 32, clustered, false, 1);
  const Data queries = make_data(100, 32, clustered, false, 2);
  // One by one (sq8 learns its ranges again as the index doubles) and in one batch.
  for (bool batch : {false, true}) {
    std::unique_ptr<HnswIndex> index;
    if (batch) {
      index = std::make_unique<HnswIndex>(data.d, m, fast_options(storage));
      std::vector<std::uint64_t> labels(data.n);
      for (std::size_t i = 0; i < data.n; ++i) labels[i] = label_of(i);
      index->add_batch(labels, data.v.data(), 2);
    } else {
      index = build(data, m, fast_options(storage));
    }
    EXPECT_EQ(index->storage(), storage);
    EXPECT_GE(recall(*index, data, queries, 10, 100), 0.95) << "batch " << batch;
    EXPECT_GE(recall(*index, data, queries, 10, 40), 0.9) << "batch " << batch;
    for (std::size_t qi = 0; qi < queries.n; qi += 7) {
      expect_exact_sorted(*index, data, queries.row(qi), index->search(queries.row(qi), 10, 40));
    }
    // The vectors are kept exactly as given.
    std::vector<float> v(data.d);
    ASSERT_TRUE(index->get(label_of(17), v.data()));
    EXPECT_EQ(v, std::vector<float>(data.row(17), data.row(17) + data.d));
    EXPECT_FALSE(index->get(1, v.data()));
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, HnswCompressed,
    testing::Combine(testing::Values(Measure::l2, Measure::dot, Measure::cosine),
                     testing::Values(HnswStorage::sq8, HnswStorage::f16), testing::Bool()),
    [](const auto& info) {
      return name(std::get<0>(info.param)) + "_" + storage_name(std::get<1>(info.param)) +
             (std::get<2>(info.param) ? "_clustered" : "_random");
    });

// Groups of equal vectors larger than a node's links (here 6 vectors, each 60 times, with
// m = 4): every group must stay reachable and walkable, so a query equal to any of the 6 gets
// 10 copies of the best vector for it (itself, but under dot the longest one may beat it).
// (Each group once linked only among itself: islands that no search entered or left.)
class HnswDuplicates : public testing::TestWithParam<std::tuple<Measure, HnswStorage>> {};

TEST_P(HnswDuplicates, GroupsOfEqualVectorsStayReachable) {
  const auto [m, storage] = GetParam();
  constexpr std::size_t kGroups = 6, kCopies = 60, kDim = 8;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> u(0, 255);  // integers, so that u8 storage can hold them
  std::vector<std::vector<float>> distinct(kGroups, std::vector<float>(kDim));
  for (auto& v : distinct) {
    for (float& x : v) x = static_cast<float>(u(rng));
  }
  HnswOptions o;
  o.m = 4;
  o.ef_construction = 40;
  o.storage = storage;
  HnswIndex index(kDim, m, o);
  for (std::size_t i = 0; i < kGroups * kCopies; ++i) index.add(i, distinct[i % kGroups].data());
  for (std::size_t g = 0; g < kGroups; ++g) {
    std::size_t best = 0;
    for (std::size_t h = 1; h < kGroups; ++h) {
      if (ref_distance(m, distinct[g].data(), distinct[h].data(), kDim) <
          ref_distance(m, distinct[g].data(), distinct[best].data(), kDim)) {
        best = h;
      }
    }
    const Results got = index.search(distinct[g].data(), 10, 64);
    ASSERT_EQ(got.size(), 10u) << "group " << g;
    for (const auto& [label, distance] : got) {
      EXPECT_EQ(label % kGroups, best)
          << "query " << g << ": label " << label << " at " << distance;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, HnswDuplicates,
                         testing::Combine(testing::Values(Measure::l2, Measure::dot,
                                                          Measure::cosine),
                                          testing::Values(HnswStorage::f32, HnswStorage::u8,
                                                          HnswStorage::sq8, HnswStorage::f16)),
                         [](const auto& info) {
                           return name(std::get<0>(info.param)) + "_" +
                                  storage_name(std::get<1>(info.param));
                         });

TEST(Hnsw, CompressedStorageTakesRemovesAndUpdates) {
  for (HnswStorage storage : {HnswStorage::sq8, HnswStorage::f16}) {
    SCOPED_TRACE(storage_name(storage));
    const Data data = make_data(2000, 16, true, false, 8);
    auto index = build(data, Measure::l2, fast_options(storage));
    std::vector<bool> live(data.n, true);
    for (std::size_t i = 0; i < data.n; i += 3) {
      ASSERT_TRUE(index->remove(label_of(i)));
      live[i] = false;
    }
    for (std::size_t i = 0; i < data.n; i += 7) {
      const Results got = index->search(data.row(i), 10, 50);
      ASSERT_EQ(got.size(), 10u);
      for (const auto& [label, dist] : got) ASSERT_TRUE(live[(label - 3) / 7]);
    }
    const Data queries = make_data(50, 16, true, false, 9);
    EXPECT_GE(recall(*index, data, queries, 10, 100, &live), 0.95);
    // An update moves label 10 onto row 20's point: both are then at distance exactly 0.
    index->add(label_of(10), data.row(20));
    const Results at20 = index->search(data.row(20), 2, 50);
    ASSERT_EQ(at20.size(), 2u);
    EXPECT_EQ(at20[0].second, 0.0f);
    EXPECT_EQ(at20[1].second, 0.0f);
    EXPECT_EQ(std::set<std::uint64_t>({at20[0].first, at20[1].first}),
              std::set<std::uint64_t>({label_of(10), label_of(20)}));
  }
}

TEST(HnswKernels, HalfConversionRoundsToNearestEven) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float x = half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(x)) continue;
    ASSERT_EQ(float_to_half(x), h) << h;
  }
  EXPECT_EQ(half_to_float(float_to_half(2049.0f)), 2048.0f);  // a tie goes to the even one
  EXPECT_EQ(half_to_float(float_to_half(2051.0f)), 2052.0f);
  EXPECT_EQ(half_to_float(float_to_half(65504.0f)), 65504.0f);
  EXPECT_EQ(half_to_float(float_to_half(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(65520.0f))));
  EXPECT_EQ(half_to_float(float_to_half(3e-8f)), std::ldexp(1.0f, -24));  // subnormal
  EXPECT_EQ(half_to_float(float_to_half(1e-9f)), 0.0f);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000u);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1000.0f, 1000.0f);
  for (int i = 0; i < 10000; ++i) {
    const float x = u(rng);
    ASSERT_NEAR(half_to_float(float_to_half(x)), x, std::fabs(x) * (1.0f / 2048.0f)) << x;
  }
}

// --- kernels ---

void check_kernels(const HnswKernels& fast);

TEST(HnswKernels, EveryTableAgreesWithThePortableOne) {
  EXPECT_EQ(hnsw_available_kernels().back(), &hnsw_kernels());
  for (const HnswKernels* table : hnsw_available_kernels()) {
    SCOPED_TRACE(table->name);
    check_kernels(*table);
  }
}

void check_kernels(const HnswKernels& fast) {
  const HnswKernels& ref = hnsw_scalar_kernels();
  std::mt19937 rng(20);
  for (std::size_t dim : {1u, 15u, 16u, 33u, 64u, 100u, 784u}) {
    const std::size_t pf = (dim + 15) / 16 * 16, pu = (dim + 63) / 64 * 64;
    const std::size_t rows = 9;
    std::vector<float> f(rows * pf, 0.0f), q(pu, 0.0f);
    std::vector<std::uint8_t> u(rows * pu, 0);
    std::vector<std::int8_t> qs(pu, 0);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < dim; ++j) {
        u[r * pu + j] = static_cast<std::uint8_t>(rng() % 256);
        f[r * pf + j] = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 100.0f;
      }
    }
    for (std::size_t j = 0; j < dim; ++j) {
      qs[j] = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
      q[j] = static_cast<float>(rng() % 25500) / 100.0f;
    }
    const std::uint32_t ids[] = {3, 0, 8, 1, 7, 2, 6, 5, 4};
    std::vector<float> a(rows), b(rows);
    std::vector<std::int32_t> ia(rows), ib(rows);
    fast.u8_dot_shifted(qs.data(), u.data(), pu, pu, ids, rows, ia.data());
    ref.u8_dot_shifted(qs.data(), u.data(), pu, pu, ids, rows, ib.data());
    EXPECT_EQ(ia, ib) << fast.name << " dim " << dim;
    auto near = [&](const char* what) {
      for (std::size_t i = 0; i < rows; ++i) {
        EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::fabs(b[i]))) << what << " dim " << dim;
      }
    };
    fast.f32_l2(q.data(), f.data(), pf, pf, ids, rows, a.data());
    ref.f32_l2(q.data(), f.data(), pf, pf, ids, rows, b.data());
    near("f32_l2");
    // Bounded l2: rows within the bound get f32_l2's value exactly (the same additions), the
    // others some value above the bound; a small bound makes long rows give up part way.
    fast.f32_l2(q.data(), f.data(), pf, pf, ids, rows, b.data());
    std::vector<float> sorted = b;
    std::sort(sorted.begin(), sorted.end());
    for (float bound : {sorted[rows / 2], 0.3f * sorted[0]}) {
      fast.f32_l2_bounded(q.data(), f.data(), pf, pf, ids, rows, bound, a.data());
      std::size_t gave_up = 0;
      for (std::size_t i = 0; i < rows; ++i) {
        if (b[i] <= bound) {
          EXPECT_EQ(a[i], b[i]) << "f32_l2_bounded dim " << dim;
        } else {
          EXPECT_GT(a[i], bound) << "f32_l2_bounded dim " << dim;
          gave_up += a[i] < b[i];
        }
      }
      if (dim == 784 && bound < sorted[0]) {
        EXPECT_EQ(gave_up, rows) << "every row passes 0.3 of its distance before its end";
      }
    }
    fast.f32_dot(q.data(), f.data(), pf, pf, ids, rows, a.data());
    ref.f32_dot(q.data(), f.data(), pf, pf, ids, rows, b.data());
    near("f32_dot");
    fast.u8f_l2(q.data(), u.data(), pu, pu, ids, rows, a.data());
    ref.u8f_l2(q.data(), u.data(), pu, pu, ids, rows, b.data());
    near("u8f_l2");
    fast.u8f_dot(q.data(), u.data(), pu, pu, ids, rows, a.data());
    ref.u8f_dot(q.data(), u.data(), pu, pu, ids, rows, b.data());
    near("u8f_dot");
    // f16 rows of the f32 ones.
    std::vector<std::uint16_t> h(rows * pf, 0);
    for (std::size_t i = 0; i < rows * pf; ++i) h[i] = float_to_half(f[i]);
    fast.f16_l2(q.data(), h.data(), pf, pf, ids, rows, a.data());
    ref.f16_l2(q.data(), h.data(), pf, pf, ids, rows, b.data());
    near("f16_l2");
    // Dots cancel: their rounding is bounded by the sum of |products|, not by the result.
    std::vector<float> decoded(rows * pf);
    for (std::size_t i = 0; i < rows * pf; ++i) decoded[i] = half_to_float(h[i]);
    auto near_dot = [&](const char* what) {
      for (std::size_t i = 0; i < rows; ++i) {
        double mag = 0;
        for (std::size_t j = 0; j < dim; ++j) mag += std::fabs(q[j] * decoded[ids[i] * pf + j]);
        EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + mag)) << what << " dim " << dim;
      }
    };
    fast.f16_dot(q.data(), h.data(), pf, pf, ids, rows, a.data());
    ref.f16_dot(q.data(), h.data(), pf, pf, ids, rows, b.data());
    near_dot("f16_dot");
    fast.f32_dot(q.data(), decoded.data(), pf, pf, ids, rows, a.data());
    near_dot("f16_dot against the decoded rows");
  }
}

// --- u8 storage ---

TEST(Hnsw, U8IsChosenForIntegersAndItsDistancesAreExact) {
  const Data data = make_data(2000, 24, true, true, 3);
  const Data queries = make_data(20, 24, true, true, 4);
  for (Measure m : {Measure::l2, Measure::dot}) {
    auto index = build(data, m, fast_options());
    ASSERT_EQ(index->storage(), HnswStorage::u8) << name(m);
    for (std::size_t qi = 0; qi < queries.n; ++qi) {
      const Results got = index->search(queries.row(qi), 10, 200);
      ASSERT_EQ(got.size(), 10u);
      for (const auto& [label, dist] : got) {
        const double exact = ref_distance(m, queries.row(qi), data.row((label - 3) / 7), data.d);
        EXPECT_EQ(dist, static_cast<float>(exact)) << name(m);
      }
    }
    // A float query on u8 storage is served too (decoded kernel).
    std::vector<float> fq(queries.row(0), queries.row(0) + data.d);
    fq[0] += 0.25f;
    const Results got = index->search(fq.data(), 10, 200);
    EXPECT_EQ(got.size(), 10u);
    EXPECT_NEAR(got[0].second, ref_distance(m, fq.data(), data.row((got[0].first - 3) / 7), data.d),
                1e-2);
  }
}

TEST(Hnsw, AutoStorageSwitchesToF32AtTheFirstNonInteger) {
  Data data = make_data(500, 16, false, true, 5);
  auto index = build(data, Measure::l2, fast_options());
  EXPECT_EQ(index->storage(), HnswStorage::u8);
  std::vector<float> odd(16, 0.5f);
  index->add(999999, odd.data());
  EXPECT_EQ(index->storage(), HnswStorage::f32);
  const Results got = index->search(data.row(7), 1, 50);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, label_of(7));
  EXPECT_EQ(got[0].second, 0.0f);
}

TEST(Hnsw, ForcedU8RejectsOtherValues) {
  HnswIndex index(4, Measure::l2, fast_options(HnswStorage::u8));
  const float bad[4] = {1, 2, 3, 256};
  EXPECT_EQ(code_of([&] { index.add(1, bad); }), ErrorCode::invalid_argument);
  const float nan[4] = {1, 2, NAN, 4};
  HnswIndex f(4, Measure::l2);
  EXPECT_EQ(code_of([&] { f.add(1, nan); }), ErrorCode::invalid_argument);
  EXPECT_EQ(f.size(), 0u);
  EXPECT_EQ(code_of([] { HnswIndex(0, Measure::l2); }), ErrorCode::invalid_argument);
}

// --- filters ---

// How a test passes its allowed set: a predicate with or without the count, or the labels
// themselves (with repeats and labels the index does not hold, which count for nothing).
enum class Form { counted, uncounted, labels };
constexpr Form kForms[] = {Form::counted, Form::uncounted, Form::labels};
std::string form_name(Form f) {
  return f == Form::counted ? " counted" : f == Form::uncounted ? " uncounted" : " labels";
}

void check_filtered(const HnswIndex& index, const Data& data, const Data& queries,
                    const std::function<bool(std::size_t row, std::size_t query)>& allowed,
                    Form form, double min_recall, const std::string& what_first) {
  const std::string what = what_first + form_name(form);
  double h = 0, total = 0;
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    std::size_t count = 0;
    std::vector<std::uint64_t> labels{1, 2};  // never labels of rows (label_of is 3 + 7 i)
    for (std::size_t i = 0; i < data.n; ++i) {
      if (!allowed(i, qi)) continue;
      ++count;
      labels.push_back(label_of(i));
      if (i % 3 == 0) labels.push_back(label_of(i));
    }
    std::reverse(labels.begin(), labels.end());  // the engine must not rely on their order
    HnswFilter f;
    if (form == Form::labels) {
      f.labels = &labels;
    } else {
      f.allowed = [&](std::uint64_t label) { return allowed((label - 3) / 7, qi); };
      f.allowed_count = form == Form::counted ? count : 0;
    }
    const Results got = index.search(queries.row(qi), 10, 40, &f);
    ASSERT_EQ(got.size(), std::min<std::size_t>(10, count)) << what;
    for (const auto& [label, dist] : got) ASSERT_TRUE(allowed((label - 3) / 7, qi)) << what;
    auto truth = brute(data, index.measure(), queries.row(qi), 10,
                       [&](std::size_t i) { return allowed(i, qi); });
    h += hits(data, index.measure(), queries.row(qi), got, truth);
    total += truth.size();
  }
  EXPECT_GE(h / total, min_recall) << what;
}

class HnswFilters : public testing::TestWithParam<HnswStorage> {};

TEST_P(HnswFilters, ReturnOnlyAllowedAndExactlyMinKAllowed) {
  const Data data = make_data(5000, 16, true, false, 6);
  const Data queries = make_data(20, 16, true, false, 7);
  auto index = build(data, Measure::l2, fast_options(GetParam()));
  ASSERT_EQ(index->storage(), GetParam());
  for (double sel : {0.001, 0.01, 0.1, 0.5}) {
    const std::uint64_t cut = static_cast<std::uint64_t>(sel * 1e6);
    auto allowed = [cut](std::size_t row, std::size_t) {
      return (row * 2654435761u) % 1000000 < cut;
    };
    for (Form form : kForms) {
      check_filtered(*index, data, queries, allowed, form, 0.95,
                     "selectivity " + std::to_string(sel));
    }
  }
  // Anti-correlated: every cluster but the query's nearest point's.
  std::vector<int> query_cluster(queries.n);
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    auto nn = brute(data, Measure::l2, queries.row(qi), 1, [](std::size_t) { return true; });
    query_cluster[qi] = data.cluster[nn[0].second];
  }
  auto anti = [&](std::size_t row, std::size_t qi) {
    return data.cluster[row] != query_cluster[qi];
  };
  for (Form form : kForms) {
    check_filtered(*index, data, queries, anti, form, 0.95, "anti-correlated");
    // Fewer allowed than k.
    check_filtered(
        *index, data, queries, [](std::size_t row, std::size_t) { return row < 3; }, form, 1.0,
        "three allowed");
  }
  // None allowed.
  HnswFilter none{[](std::uint64_t) { return false; }, 0};
  EXPECT_TRUE(index->search(queries.row(0), 10, 0, &none).empty());
  const std::vector<std::uint64_t> unknown{1, 2, 4};
  HnswFilter none_known;
  none_known.labels = &unknown;
  EXPECT_TRUE(index->search(queries.row(0), 10, 0, &none_known).empty());
}

INSTANTIATE_TEST_SUITE_P(All, HnswFilters,
                         testing::Values(HnswStorage::f32, HnswStorage::sq8, HnswStorage::f16),
                         [](const auto& info) { return storage_name(info.param); });

TEST(Hnsw, FiltersSkipRemovedLabelsOnU8Storage) {
  const Data data = make_data(3000, 16, true, true, 21);
  auto index = build(data, Measure::l2, fast_options());
  ASSERT_EQ(index->storage(), HnswStorage::u8);
  // Fewer removals than a consolidation needs, so the removed nodes are still in the graph.
  std::vector<bool> live(data.n, true);
  for (std::size_t i = 0; i < data.n; i += 40) {
    index->remove(label_of(i));
    live[i] = false;
  }
  for (std::size_t every : {2u, 50u}) {
    HnswFilter f{[every](std::uint64_t l) { return ((l - 3) / 7) % every == 0; }, 0};
    // The same set as labels, removed ones included.
    std::vector<std::uint64_t> labels;
    for (std::size_t i = 0; i < data.n; i += every) labels.push_back(label_of(i));
    HnswFilter by_labels;
    by_labels.labels = &labels;
    for (const HnswFilter* filter : {&f, &by_labels}) {
      for (std::size_t qi = 0; qi < 20; ++qi) {
        const Results got = index->search(data.row(qi * 13), 10, 40, filter);
        ASSERT_EQ(got.size(), 10u);
        for (const auto& [label, dist] : got) {
          ASSERT_TRUE(live[(label - 3) / 7]);
          ASSERT_EQ((label - 3) / 7 % every, 0u);
        }
      }
    }
  }
}

// --- removal ---

TEST(Hnsw, RemovedLabelsAreNeverReturned) {
  const Data data = make_data(2000, 16, true, false, 8);
  auto index = build(data, Measure::l2, fast_options());
  std::vector<bool> live(data.n, true);
  for (std::size_t i = 0; i < data.n; i += 3) {
    ASSERT_TRUE(index->remove(label_of(i)));
    live[i] = false;
  }
  EXPECT_FALSE(index->remove(label_of(0)));
  EXPECT_FALSE(index->contains(label_of(0)));
  EXPECT_TRUE(index->contains(label_of(1)));
  for (std::size_t i = 0; i < data.n; i += 7) {
    for (const auto& [label, dist] : index->search(data.row(i), 10, 50)) {
      ASSERT_TRUE(live[(label - 3) / 7]);
    }
  }
  const Data queries = make_data(50, 16, true, false, 9);
  EXPECT_GE(recall(*index, data, queries, 10, 100, &live), 0.95);
  // Removing everything, then adding again.
  for (std::size_t i = 0; i < data.n; ++i) index->remove(label_of(i));
  EXPECT_EQ(index->size(), 0u);
  EXPECT_TRUE(index->search(data.row(0), 10).empty());
  index->add(label_of(5), data.row(5));
  const Results got = index->search(data.row(0), 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, label_of(5));
}

TEST(Hnsw, ChurnKeepsRecallAndMemory) {
  const Data data = make_data(5000, 32, true, false, 10);
  const Data queries = make_data(100, 32, true, false, 11);
  auto index = build(data, Measure::l2, fast_options());
  const double before = recall(*index, data, queries, 10, 100);
  const std::size_t bytes = index->memory_bytes();
  std::mt19937_64 rng(12);
  std::vector<std::size_t> order(data.n);
  for (std::size_t i = 0; i < data.n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(data.n / 2);
  for (std::size_t i : order) ASSERT_TRUE(index->remove(label_of(i)));
  for (std::size_t i : order) index->add(label_of(i), data.row(i));
  EXPECT_EQ(index->size(), data.n);
  const double after = recall(*index, data, queries, 10, 100);
  EXPECT_GE(after, before - 0.02) << "before " << before;
  // Slots are reused, so vectors and level-0 links do not grow; the free list's capacity and the
  // re-added nodes' new random levels move the rest by about 1 %.
  EXPECT_LE(index->memory_bytes(), bytes + bytes / 50);
}

TEST(Hnsw, ReplaceMovesTheLabel) {
  const Data data = make_data(1000, 8, false, false, 13);
  auto index = build(data, Measure::l2, fast_options());
  const std::size_t bytes = index->memory_bytes();
  index->add(label_of(10), data.row(20));  // label 10 now sits on row 20's point
  EXPECT_EQ(index->size(), data.n);
  const Results at20 = index->search(data.row(20), 2, 50);
  ASSERT_EQ(at20.size(), 2u);
  EXPECT_EQ(at20[0].second, 0.0f);
  EXPECT_EQ(at20[1].second, 0.0f);
  EXPECT_EQ(std::set<std::uint64_t>({at20[0].first, at20[1].first}),
            std::set<std::uint64_t>({label_of(10), label_of(20)}));
  for (const auto& [label, dist] : index->search(data.row(10), 1, 50)) {
    EXPECT_NE(dist, 0.0f);
  }
  EXPECT_EQ(index->memory_bytes(), bytes);
}

// --- persistence ---

TEST(Hnsw, SaveLoadGivesIdenticalResults) {
  for (int kind = 0; kind < 4; ++kind) {
    // Auto storage on floats (f32) and on integers (u8), then sq8 and f16 on floats.
    const bool ints = kind == 1;
    const std::optional<HnswStorage> storage = kind == 2   ? std::optional(HnswStorage::sq8)
                                               : kind == 3 ? std::optional(HnswStorage::f16)
                                                           : std::nullopt;
    const Data data = make_data(1500, 40, true, ints, 14);
    const Data queries = make_data(30, 40, true, ints, 15);
    for (Measure m : {Measure::l2, Measure::cosine}) {
      SCOPED_TRACE(std::to_string(kind) + " " + name(m));
      auto index = build(data, m, fast_options(storage));
      for (std::size_t i = 0; i < data.n; i += 5) index->remove(label_of(i));
      const std::string bytes = index->save();
      auto loaded = HnswIndex::load(bytes);
      EXPECT_EQ(loaded->size(), index->size());
      EXPECT_EQ(loaded->storage(), index->storage());
      EXPECT_EQ(loaded->measure(), m);
      EXPECT_EQ(loaded->save(), bytes);
      HnswFilter f{[](std::uint64_t l) { return l % 2 == 0; }, 0};
      for (std::size_t qi = 0; qi < queries.n; ++qi) {
        EXPECT_EQ(loaded->search(queries.row(qi), 10, 40), index->search(queries.row(qi), 10, 40));
        EXPECT_EQ(loaded->search(queries.row(qi), 10, 40, &f),
                  index->search(queries.row(qi), 10, 40, &f));
      }
      // Loaded indexes take adds (reusing the dead slots) like the original.
      index->add(label_of(0), data.row(0));
      loaded->add(label_of(0), data.row(0));
      EXPECT_EQ(loaded->search(data.row(0), 5), index->search(data.row(0), 5));
    }
  }
}

// Offset of the dimension order in a version 2 file: magic, version, four one-byte fields, six
// u64 (dim, m, ef_construction, ef_search, seed, slots) and the u32 entry point.
constexpr std::size_t kOrderOffset = 8 + 4 + 4 + 6 * 8 + 4;

std::uint32_t u32_at(const std::string& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

void put_checksum(std::string& b) {
  const std::uint64_t h = flat_index_checksum(std::string_view(b).substr(0, b.size() - 8));
  for (int k = 0; k < 8; ++k) b[b.size() - 8 + k] = static_cast<char>((h >> (8 * k)) & 0xff);
}

TEST(Hnsw, L2BatchesStoreDimensionsByVarianceAndKeepExactDistances) {
  // Dimensions of very different spread, so the order is not the identity.
  Data data = make_data(2000, 64, true, false, 30);
  Data queries = make_data(40, 64, true, false, 31);
  for (Data* d : {&data, &queries}) {
    for (std::size_t i = 0; i < d->n; ++i) {
      for (std::size_t j = 0; j < d->d; ++j) d->v[i * d->d + j] *= static_cast<float>(j % 7 + 1);
    }
  }
  HnswIndex index(64, Measure::l2, fast_options());
  std::vector<std::uint64_t> labels(data.n);
  for (std::size_t i = 0; i < data.n; ++i) labels[i] = label_of(i);
  index.add_batch(labels, data.v.data(), 1);
  const std::string bytes = index.save();
  ASSERT_EQ(u32_at(bytes, kOrderOffset), 64u) << "an l2 batch of 2000 rows sets an order";
  EXPECT_GE(recall(index, data, queries, 10, 100), 0.95);
  // The bounded kernel only rejects nodes that are too far: with ef covering every node the
  // search is exact.
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    const Results got = index.search(queries.row(qi), 10, data.n);
    const auto truth =
        brute(data, Measure::l2, queries.row(qi), 10, [](std::size_t) { return true; });
    ASSERT_EQ(got.size(), truth.size());
    EXPECT_EQ(hits(data, Measure::l2, queries.row(qi), got, truth), 10.0) << "query " << qi;
  }
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    for (const auto& [label, dist] : index.search(queries.row(qi), 10, 40)) {
      const double want = ref_distance(Measure::l2, queries.row(qi), data.row((label - 3) / 7), 64);
      EXPECT_NEAR(dist, want, 1e-4 * (1 + want));
    }
  }
  // Later adds and reads go through the same order.
  const Data extra = make_data(10, 64, true, false, 32);
  for (std::size_t i = 0; i < extra.n; ++i) index.add(1000000 + i, extra.row(i));
  for (std::size_t i = 0; i < extra.n; ++i) {
    const Results got = index.search(extra.row(i), 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, 1000000 + i);
    EXPECT_EQ(got[0].second, 0.0f);
  }
  auto loaded = HnswIndex::load(index.save());
  EXPECT_EQ(loaded->save(), index.save());
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    EXPECT_EQ(loaded->search(queries.row(qi), 10, 40), index.search(queries.row(qi), 10, 40));
  }
  // A dimension order that is not a permutation is refused, behind a valid checksum too.
  std::string bad = bytes;
  std::memcpy(bad.data() + kOrderOffset + 4, bad.data() + kOrderOffset + 8, 4);
  put_checksum(bad);
  EXPECT_EQ(code_of([&] { HnswIndex::load(bad); }), ErrorCode::invalid_argument);
}

TEST(Hnsw, SingleAddsChooseTheOrderOnceThereAreEnoughRows) {
  const Data data = make_data(1500, 64, true, false, 34);
  const Data queries = make_data(20, 64, true, false, 35);
  auto index = build(data, Measure::l2, fast_options(HnswStorage::f32));
  const std::string bytes = index->save();
  ASSERT_EQ(u32_at(bytes, kOrderOffset), 64u);
  for (std::size_t qi = 0; qi < queries.n; ++qi) {
    const Results got = index->search(queries.row(qi), 10, data.n);
    const auto truth =
        brute(data, Measure::l2, queries.row(qi), 10, [](std::size_t) { return true; });
    EXPECT_EQ(hits(data, Measure::l2, queries.row(qi), got, truth), 10.0) << "query " << qi;
    for (const auto& [label, dist] : got) {
      const double want = ref_distance(Measure::l2, queries.row(qi), data.row((label - 3) / 7), 64);
      EXPECT_NEAR(dist, want, 1e-4 * (1 + want));
    }
  }
  // Removals, replacements and a reload keep the order.
  for (std::size_t i = 0; i < data.n; i += 3) index->remove(label_of(i));
  index->add(label_of(1), data.row(2));
  auto loaded = HnswIndex::load(index->save());
  EXPECT_EQ(loaded->save(), index->save());
  const Results got = loaded->search(data.row(2), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second, 0.0f);
  EXPECT_EQ(got[1].second, 0.0f);
}

TEST(Hnsw, VersionOneFilesStillLoad) {
  const Data data = make_data(500, 16, true, false, 33);
  auto index = build(data, Measure::l2, fast_options());  // 500 one by one: no order yet
  std::string bytes = index->save();
  ASSERT_EQ(u32_at(bytes, kOrderOffset), 0u);
  // Version 1 is version 2 without the order's size field.
  std::string v1 = bytes.substr(0, kOrderOffset) + bytes.substr(kOrderOffset + 4);
  v1[8] = 1;
  put_checksum(v1);
  auto loaded = HnswIndex::load(v1);
  EXPECT_EQ(loaded->save(), bytes);
  EXPECT_EQ(loaded->search(data.row(7), 5), index->search(data.row(7), 5));
}

TEST(Hnsw, VersionTwoFilesStillLoad) {
  // Version 3 only added the sq8 and f16 storages: an f32 or u8 file is version 2 otherwise.
  for (bool ints : {false, true}) {
    const Data data = make_data(600, 40, true, ints, 34);
    auto index = build(data, Measure::l2, fast_options());
    std::string bytes = index->save();
    ASSERT_EQ(u32_at(bytes, 8), 3u);
    std::string v2 = bytes;
    v2[8] = 2;
    put_checksum(v2);
    auto loaded = HnswIndex::load(v2);
    EXPECT_EQ(loaded->save(), bytes);
    EXPECT_EQ(loaded->search(data.row(7), 5), index->search(data.row(7), 5));
  }
  // ... and a version 2 file cannot hold the new storages.
  const Data data = make_data(50, 8, false, false, 35);
  std::string bytes = build(data, Measure::l2, fast_options(HnswStorage::f16))->save();
  bytes[8] = 2;
  put_checksum(bytes);
  EXPECT_EQ(code_of([&] { HnswIndex::load(bytes); }), ErrorCode::invalid_argument);
}

class HnswDamagedBytes : public testing::TestWithParam<HnswStorage> {};

TEST_P(HnswDamagedBytes, AreRejectedOrLoadAnIndexThatAnswers) {
  const Data data = make_data(30, 4, false, false, 16);
  auto index = build(data, Measure::dot, fast_options(GetParam()));
  index->remove(label_of(3));
  const std::string bytes = index->save();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    ASSERT_EQ(code_of([&] { HnswIndex::load(std::string_view(bytes).substr(0, n)); }),
              ErrorCode::invalid_argument)
        << "truncated to " << n;
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0x5a);
    ASSERT_EQ(code_of([&] { HnswIndex::load(b); }), ErrorCode::invalid_argument) << "byte " << i;
    // The same flip behind a valid checksum reaches the structural checks: an error or an index
    // that answers.
    put_checksum(b);
    try {
      auto loaded = HnswIndex::load(b);
      const std::vector<float> q(loaded->dim(), 1.0f);
      const Results got = loaded->search(q.data(), 5);
      EXPECT_LE(got.size(), 5u);
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::invalid_argument) << e.what();
    }
  }
  std::string other = bytes;
  other[8] = 4;  // version 4
  const std::string msg = [&] {
    try {
      HnswIndex::load(other);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(msg.find("version"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(All, HnswDamagedBytes,
                         testing::Values(HnswStorage::f32, HnswStorage::sq8, HnswStorage::f16),
                         [](const auto& info) { return storage_name(info.param); });

// --- threads ---

TEST(Hnsw, SearchesRunDuringAdds) {
  const Data data = make_data(3000, 16, true, false, 17);
  HnswIndex index(16, Measure::l2, fast_options());
  index.add(label_of(0), data.row(0));
  std::atomic<bool> done{false};
  std::atomic<std::size_t> searches{0};
  std::thread reader([&] {
    std::size_t i = 0;
    while (!done.load()) {
      const Results got = index.search(data.row(i++ % data.n), 10, 32);
      ASSERT_FALSE(got.empty());
      for (std::size_t j = 0; j < got.size(); ++j) {
        ASSERT_EQ((got[j].first - 3) % 7, 0u);
        ASSERT_LT((got[j].first - 3) / 7, data.n);
        if (j > 0) {
          ASSERT_LE(got[j - 1].second, got[j].second);
        }
      }
      ++searches;
    }
  });
  for (std::size_t i = 1; i < data.n; ++i) {
    index.add(label_of(i), data.row(i));
    if (i % 5 == 0) index.remove(label_of(i - 3));
  }
  done = true;
  reader.join();
  EXPECT_GT(searches.load(), 0u);
}

TEST(Hnsw, AddBatchWithTwoThreadsReachesTheSameRecall) {
  const Data data = make_data(5000, 32, true, false, 18);
  const Data queries = make_data(100, 32, true, false, 19);
  std::vector<std::uint64_t> labels(data.n);
  for (std::size_t i = 0; i < data.n; ++i) labels[i] = label_of(i);
  HnswIndex one(32, Measure::l2, fast_options());
  one.add_batch(labels, data.v.data(), 1);
  HnswIndex two(32, Measure::l2, fast_options());
  two.add_batch(labels, data.v.data(), 2);
  EXPECT_EQ(two.size(), data.n);
  const double r1 = recall(one, data, queries, 10, 100);
  const double r2 = recall(two, data, queries, 10, 100);
  EXPECT_GE(r2, 0.95);
  EXPECT_GE(r2, r1 - 0.02);
}

TEST(Hnsw, AddBatchTakesReplacementsAndDuplicates) {
  const Data data = make_data(600, 8, false, false, 22);
  HnswIndex index(8, Measure::l2, fast_options());
  std::vector<std::uint64_t> labels(data.n);
  for (std::size_t i = 0; i < data.n; ++i) labels[i] = label_of(i % 400);  // 200 repeated
  index.add_batch(labels, data.v.data(), 2);
  EXPECT_EQ(index.size(), 400u);
  // The last row of a repeated label wins.
  const Results got = index.search(data.row(450), 1, 50);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, label_of(50));
  EXPECT_EQ(got[0].second, 0.0f);
  // Again, all replacements.
  index.add_batch(labels, data.v.data(), 2);
  EXPECT_EQ(index.size(), 400u);
  EXPECT_EQ(index.search(data.row(450), 1, 50)[0].first, label_of(50));
  const float bad[8] = {0, 0, 0, NAN, 0, 0, 0, 0};
  std::vector<float> rows(data.v.begin(), data.v.begin() + 16);
  rows.insert(rows.end(), bad, bad + 8);
  EXPECT_EQ(code_of([&] { index.add_batch({1, 2, 4}, rows.data()); }), ErrorCode::invalid_argument);
  EXPECT_FALSE(index.contains(1));
}

}  // namespace
}  // namespace sddb::detail
