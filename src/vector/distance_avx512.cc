// AVX-512F kernels. Only these functions carry the target attribute, so the rest of the
// library stays portable; distance.cc calls them only after checking the CPU. Tails use masked
// loads, so there is no scalar remainder loop.

#include "vector/distance.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define SDDB_AVX512 __attribute__((target("avx512f")))

namespace sddb::detail {
namespace {

SDDB_AVX512 inline __mmask16 tail_mask(std::size_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

// GCC 12's unmasked 512-to-256 extracts (and so _mm512_reduce_add_ps and even
// _mm512_castps512_ps256) pass _mm256_undefined_pd() and trip -Wuninitialized inside its own
// header, so the halves come out through the masked form with a zero source. AVX-512F alone has
// no 256-bit float extract, hence the round trip through pd.
SDDB_AVX512 inline float hsum(__m512 v) {
  const __m512d d = _mm512_castps_pd(v);
  const __m256 lo = _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, d, 0));
  const __m256 hi = _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, d, 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four independent accumulators hide the FMA latency.
SDDB_AVX512 inline float l2_avx512(const float* a, const float* b, std::size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
    s2 = _mm512_fmadd_ps(d2, d2, s2);
    s3 = _mm512_fmadd_ps(d3, d3, s3);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 d =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

SDDB_AVX512 inline float ip_avx512(const float* a, const float* b, std::size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

// Dot product and |b|^2 in one pass; the batch form computes |query|^2 once.
SDDB_AVX512 inline void dot_norm_avx512(const float* a, const float* b, std::size_t n, float* dot,
                                        float* nb) {
  __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
  __m512 n0 = _mm512_setzero_ps(), n1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + i), a1 = _mm512_loadu_ps(a + i + 16);
    const __m512 b0 = _mm512_loadu_ps(b + i), b1 = _mm512_loadu_ps(b + i + 16);
    d0 = _mm512_fmadd_ps(a0, b0, d0);
    d1 = _mm512_fmadd_ps(a1, b1, d1);
    n0 = _mm512_fmadd_ps(b0, b0, n0);
    n1 = _mm512_fmadd_ps(b1, b1, n1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(n - i);
    const __m512 a0 = _mm512_maskz_loadu_ps(m, a + i), b0 = _mm512_maskz_loadu_ps(m, b + i);
    d0 = _mm512_fmadd_ps(a0, b0, d0);
    n0 = _mm512_fmadd_ps(b0, b0, n0);
  }
  *dot = hsum(_mm512_add_ps(d0, d1));
  *nb = hsum(_mm512_add_ps(n0, n1));
}

SDDB_AVX512 float l2(const float* a, const float* b, std::size_t n) { return l2_avx512(a, b, n); }

SDDB_AVX512 float ip(const float* a, const float* b, std::size_t n) { return ip_avx512(a, b, n); }

SDDB_AVX512 float cosine(const float* a, const float* b, std::size_t n) {
  float dot, nb;
  dot_norm_avx512(a, b, n, &dot, &nb);
  return cosine_from_parts(dot, ip_avx512(a, a, n), nb);
}

SDDB_AVX512 void l2_batch(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                          float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = l2_avx512(q, base + i * dim, dim);
}

SDDB_AVX512 void ip_batch(const float* q, const float* base, std::size_t n_vectors, std::size_t dim,
                          float* out) {
  for (std::size_t i = 0; i < n_vectors; ++i) out[i] = ip_avx512(q, base + i * dim, dim);
}

SDDB_AVX512 void cosine_batch(const float* q, const float* base, std::size_t n_vectors,
                              std::size_t dim, float* out) {
  const float nq = ip_avx512(q, q, dim);
  for (std::size_t i = 0; i < n_vectors; ++i) {
    float dot, nb;
    dot_norm_avx512(q, base + i * dim, dim, &dot, &nb);
    out[i] = cosine_from_parts(dot, nq, nb);
  }
}

constexpr DistanceKernels kAvx512 = {"avx512", l2, ip, cosine, l2_batch, ip_batch, cosine_batch};

}  // namespace

const DistanceKernels* const kAvx512DistanceKernels = &kAvx512;

}  // namespace sddb::detail

#else

namespace sddb::detail {
const DistanceKernels* const kAvx512DistanceKernels = nullptr;
}  // namespace sddb::detail

#endif
