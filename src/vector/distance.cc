// The portable kernels and the run-time choice among the per-ISA ones.

#include "vector/distance.h"

#include <algorithm>
#include <cmath>

namespace sddb::detail {

float cosine_from_parts(float dot, float norm_a_sq, float norm_b_sq) {
  if (norm_a_sq == 0.0f || norm_b_sq == 0.0f) return 1.0f;
  const float cos = dot / std::sqrt(norm_a_sq * norm_b_sq);
  return std::clamp(1.0f - cos, 0.0f, 2.0f);
}

namespace {

// Four accumulators break the add dependency chain; without -ffast-math the compiler keeps
// this order, so the result is the same on every machine.
float l2_scalar(const float* a, const float* b, std::size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    const float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

float ip_scalar(const float* a, const float* b, std::size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

float cosine_scalar(const float* a, const float* b, std::size_t n) {
  float dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return cosine_from_parts(dot, na, nb);
}

void l2_batch_scalar(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                     float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = l2_scalar(q, base + i * dim, dim);
}

void ip_batch_scalar(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                     float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = ip_scalar(q, base + i * dim, dim);
}

void cosine_batch_scalar(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                         float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = cosine_scalar(q, base + i * dim, dim);
}

constexpr DistanceKernels kScalar = {"scalar",           l2_scalar,       ip_scalar,
                                     cosine_scalar,      l2_batch_scalar, ip_batch_scalar,
                                     cosine_batch_scalar};

struct Available {
  const DistanceKernels* list[3];
  std::size_t size = 0;
};

Available detect() {
  Available a;
  a.list[a.size++] = &kScalar;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (kAvx2DistanceKernels && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    a.list[a.size++] = kAvx2DistanceKernels;
  }
  if (kAvx512DistanceKernels && __builtin_cpu_supports("avx512f")) {
    a.list[a.size++] = kAvx512DistanceKernels;
  }
#endif
  return a;
}

const Available& available() {
  static const Available a = detect();
  return a;
}

}  // namespace

const DistanceKernels& scalar_distance_kernels() { return kScalar; }

std::span<const DistanceKernels* const> available_distance_kernels() {
  const Available& a = available();
  return {a.list, a.size};
}

const DistanceKernels& distance_kernels() {
  static const DistanceKernels& best = *available().list[available().size - 1];
  return best;
}

}  // namespace sddb::detail
