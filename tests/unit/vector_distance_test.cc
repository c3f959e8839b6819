// Every distance kernel this CPU can run against a double-precision reference and against the
// portable kernel, on random data of many lengths and at unaligned addresses.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "vector/distance.h"

namespace sddb::detail {
namespace {

struct Reference {
  double l2, ip, cosine;
  double l2_scale, ip_scale;  // sums of absolute terms: what rounding error is relative to
};

Reference reference(const float* a, const float* b, std::size_t n) {
  Reference r{};
  double na = 0, nb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    r.l2 += (x - y) * (x - y);
    r.ip += x * y;
    r.ip_scale += std::fabs(x * y);
    na += x * x;
    nb += y * y;
  }
  r.l2_scale = r.l2;
  r.cosine = (na == 0 || nb == 0) ? 1.0 : 1.0 - r.ip / std::sqrt(na * nb);
  r.cosine = std::min(2.0, std::max(0.0, r.cosine));
  return r;
}

// float32 sums of n terms err by at most about n * 2^-24 of the sum of absolute terms; the bound
// is loose enough for any summation order and tight enough to catch a wrong lane or tail.
double tolerance(double scale, std::size_t n) {
  return (static_cast<double>(n) + 8.0) * 1.2e-7 * scale + 1e-30;
}

std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<std::size_t> test_dims() {
  std::vector<std::size_t> dims;
  for (std::size_t d = 1; d <= 70; ++d) dims.push_back(d);
  dims.push_back(784);
  dims.push_back(1536);
  return dims;
}

TEST(DistanceTest, ScalarIsAlwaysAvailableAndFirst) {
  auto kernels = available_distance_kernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_STREQ(kernels[0]->name, "scalar");
  EXPECT_EQ(kernels[0], &scalar_distance_kernels());
  EXPECT_EQ(&distance_kernels(), kernels.back());
#if defined(__x86_64__) || defined(__i386__)
  // Every ISA the CPU has must be offered, or the comparisons below would test less than claimed.
  std::vector<std::string> expected = {"scalar"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) expected.push_back("avx2");
  if (__builtin_cpu_supports("avx512f")) expected.push_back("avx512");
  std::vector<std::string> names;
  for (const DistanceKernels* k : kernels) names.push_back(k->name);
  EXPECT_EQ(names, expected);
#endif
}

TEST(DistanceTest, EveryKernelMatchesReferenceAtEveryLengthAndOffset) {
  std::mt19937 rng(7);
  for (const DistanceKernels* k : available_distance_kernels()) {
    SCOPED_TRACE(k->name);
    for (std::size_t n : test_dims()) {
      // Offsets 0..3 floats from a 64-byte boundary: aligned, 4-, 8- and 12-byte misaligned.
      for (std::size_t off = 0; off < 4; ++off) {
        SCOPED_TRACE("n=" + std::to_string(n) + " offset=" + std::to_string(off));
        std::vector<float> a = random_floats(rng, n + 16, -2.0f, 2.0f);
        std::vector<float> b = random_floats(rng, n + 16, -2.0f, 2.0f);
        const float* pa = a.data() + off;
        const float* pb = b.data() + (3 - off);
        const Reference r = reference(pa, pb, n);
        const DistanceKernels& s = scalar_distance_kernels();

        const float l2 = k->l2_squared(pa, pb, n);
        EXPECT_NEAR(l2, r.l2, tolerance(r.l2_scale, n));
        EXPECT_NEAR(l2, s.l2_squared(pa, pb, n), 2 * tolerance(r.l2_scale, n));

        const float ip = k->inner_product(pa, pb, n);
        EXPECT_NEAR(ip, r.ip, tolerance(r.ip_scale, n));
        EXPECT_NEAR(ip, s.inner_product(pa, pb, n), 2 * tolerance(r.ip_scale, n));

        const float cos = k->cosine_distance(pa, pb, n);
        EXPECT_NEAR(cos, r.cosine, 1e-5);
        EXPECT_NEAR(cos, s.cosine_distance(pa, pb, n), 2e-5);
        EXPECT_GE(cos, 0.0f);
        EXPECT_LE(cos, 2.0f);
      }
    }
  }
}

// Fashion-MNIST pixels are integers 0..255 held as float32: large magnitudes, exact inputs.
TEST(DistanceTest, LargeIntegerValuedVectors) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> px(0, 255);
  for (const DistanceKernels* k : available_distance_kernels()) {
    SCOPED_TRACE(k->name);
    std::vector<float> a(784), b(784);
    for (std::size_t i = 0; i < 784; ++i) {
      a[i] = static_cast<float>(px(rng));
      b[i] = static_cast<float>(px(rng));
    }
    const Reference r = reference(a.data(), b.data(), 784);
    EXPECT_NEAR(k->l2_squared(a.data(), b.data(), 784), r.l2, tolerance(r.l2_scale, 784));
    EXPECT_NEAR(k->inner_product(a.data(), b.data(), 784), r.ip, tolerance(r.ip_scale, 784));
    EXPECT_NEAR(k->cosine_distance(a.data(), b.data(), 784), r.cosine, 1e-5);
  }
}

TEST(DistanceTest, ZeroVectors) {
  for (const DistanceKernels* k : available_distance_kernels()) {
    SCOPED_TRACE(k->name);
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{784}}) {
      std::vector<float> zero(n, 0.0f), ones(n, 1.0f);
      EXPECT_EQ(k->l2_squared(zero.data(), zero.data(), n), 0.0f);
      EXPECT_EQ(k->l2_squared(zero.data(), ones.data(), n), static_cast<float>(n));
      EXPECT_EQ(k->inner_product(zero.data(), ones.data(), n), 0.0f);
      // The documented rule: a zero vector is at cosine distance 1 from everything, itself too.
      EXPECT_EQ(k->cosine_distance(zero.data(), ones.data(), n), 1.0f);
      EXPECT_EQ(k->cosine_distance(ones.data(), zero.data(), n), 1.0f);
      EXPECT_EQ(k->cosine_distance(zero.data(), zero.data(), n), 1.0f);
      float out = -1;
      k->cosine_distance_batch(zero.data(), ones.data(), 1, n, &out);
      EXPECT_EQ(out, 1.0f);
      k->cosine_distance_batch(ones.data(), zero.data(), 1, n, &out);
      EXPECT_EQ(out, 1.0f);
    }
    EXPECT_EQ(k->l2_squared(nullptr, nullptr, 0), 0.0f);
    EXPECT_EQ(k->inner_product(nullptr, nullptr, 0), 0.0f);
    EXPECT_EQ(k->cosine_distance(nullptr, nullptr, 0), 1.0f);
  }
}

TEST(DistanceTest, IdenticalAndOppositeVectorsUnderCosine) {
  std::mt19937 rng(5);
  for (const DistanceKernels* k : available_distance_kernels()) {
    SCOPED_TRACE(k->name);
    std::vector<float> a = random_floats(rng, 100, -1.0f, 1.0f), neg(100);
    for (std::size_t i = 0; i < 100; ++i) neg[i] = -a[i];
    EXPECT_NEAR(k->cosine_distance(a.data(), a.data(), 100), 0.0f, 1e-6);
    EXPECT_NEAR(k->cosine_distance(a.data(), neg.data(), 100), 2.0f, 1e-6);
  }
}

TEST(DistanceTest, BatchEqualsSingle) {
  std::mt19937 rng(3);
  for (const DistanceKernels* k : available_distance_kernels()) {
    SCOPED_TRACE(k->name);
    for (std::size_t dim :
         {std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{784}, std::size_t{1536}}) {
      SCOPED_TRACE("dim=" + std::to_string(dim));
      const std::size_t count = 13;
      std::vector<float> q = random_floats(rng, dim + 1, -1.0f, 1.0f);
      std::vector<float> base = random_floats(rng, count * dim + 1, -1.0f, 1.0f);
      const float* pq = q.data() + 1;  // unaligned
      const float* pb = base.data() + 1;
      std::vector<float> out(count + 1, -7.0f);
      k->l2_squared_batch(pq, pb, count, dim, out.data());
      for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(out[i], k->l2_squared(pq, pb + i * dim, dim));
      }
      EXPECT_EQ(out[count], -7.0f);  // nothing written past n_vectors
      k->inner_product_batch(pq, pb, count, dim, out.data());
      for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(out[i], k->inner_product(pq, pb + i * dim, dim));
      }
      // The batch computes |query| once, possibly in another summation order: near, not equal.
      k->cosine_distance_batch(pq, pb, count, dim, out.data());
      for (std::size_t i = 0; i < count; ++i) {
        EXPECT_NEAR(out[i], k->cosine_distance(pq, pb + i * dim, dim), 1e-6);
      }
      EXPECT_EQ(out[count], -7.0f);
    }
  }
}

TEST(DistanceTest, DispatchedFunctionsUseTheChosenKernel) {
  const float a[] = {1, 2, 3}, b[] = {4, 6, 3};
  EXPECT_EQ(l2_squared(a, b, 3), 25.0f);
  EXPECT_EQ(inner_product(a, b, 3), 25.0f);
  EXPECT_NEAR(cosine_distance(a, b, 3), 1.0 - 25.0 / std::sqrt(14.0 * 61.0), 1e-6);
}

}  // namespace
}  // namespace sddb::detail
