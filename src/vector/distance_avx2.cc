// AVX2 + FMA kernels. Only these functions carry the target attribute, so the rest of the
// library stays portable; distance.cc calls them only after checking the CPU.

#include "vector/distance.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define SDDB_AVX2 __attribute__((target("avx2,fma")))

namespace sddb::detail {
namespace {

SDDB_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four independent accumulators hide the FMA latency (4 cycles, 2 per cycle).
SDDB_AVX2 inline float l2_avx2(const float* a, const float* b, std::size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
    s2 = _mm256_fmadd_ps(d2, d2, s2);
    s3 = _mm256_fmadd_ps(d3, d3, s3);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

SDDB_AVX2 inline float ip_avx2(const float* a, const float* b, std::size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Dot product and |b|^2 in one pass; the batch form computes |query|^2 once.
SDDB_AVX2 inline void dot_norm_avx2(const float* a, const float* b, std::size_t n, float* dot,
                                    float* nb) {
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
  __m256 n0 = _mm256_setzero_ps(), n1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
    const __m256 b0 = _mm256_loadu_ps(b + i), b1 = _mm256_loadu_ps(b + i + 8);
    d0 = _mm256_fmadd_ps(a0, b0, d0);
    d1 = _mm256_fmadd_ps(a1, b1, d1);
    n0 = _mm256_fmadd_ps(b0, b0, n0);
    n1 = _mm256_fmadd_ps(b1, b1, n1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + i), b0 = _mm256_loadu_ps(b + i);
    d0 = _mm256_fmadd_ps(a0, b0, d0);
    n0 = _mm256_fmadd_ps(b0, b0, n0);
  }
  float sd = hsum(_mm256_add_ps(d0, d1)), sn = hsum(_mm256_add_ps(n0, n1));
  for (; i < n; ++i) {
    sd += a[i] * b[i];
    sn += b[i] * b[i];
  }
  *dot = sd;
  *nb = sn;
}

SDDB_AVX2 float l2(const float* a, const float* b, std::size_t n) { return l2_avx2(a, b, n); }

SDDB_AVX2 float ip(const float* a, const float* b, std::size_t n) { return ip_avx2(a, b, n); }

SDDB_AVX2 float cosine(const float* a, const float* b, std::size_t n) {
  float dot, nb;
  dot_norm_avx2(a, b, n, &dot, &nb);
  return cosine_from_parts(dot, ip_avx2(a, a, n), nb);
}

SDDB_AVX2 void l2_batch(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                        float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = l2_avx2(q, base + i * dim, dim);
}

SDDB_AVX2 void ip_batch(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                        float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = ip_avx2(q, base + i * dim, dim);
}

SDDB_AVX2 void cosine_batch(const float* q, const float* base, std::size_t n_vectors,
                            std::size_t dim, float* out) {
  const float nq = ip_avx2(q, q, dim);
  for (std::size_t i = 0; i < n_vectors; ++i) {
    float dot, nb;
    dot_norm_avx2(q, base + i * dim, dim, &dot, &nb);
    out[i] = cosine_from_parts(dot, nq, nb);
  }
}

constexpr DistanceKernels kAvx2 = {"avx2", l2, ip, cosine, l2_batch, ip_batch, cosine_batch};

}  // namespace

const DistanceKernels* const kAvx2DistanceKernels = &kAvx2;

}  // namespace sddb::detail

#else

namespace sddb::detail {
const DistanceKernels* const kAvx2DistanceKernels = nullptr;
}  // namespace sddb::detail

#endif
