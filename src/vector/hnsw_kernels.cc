// HnswKernels: portable, AVX2+FMA and AVX-512 (F, BW, VNNI) versions. Only the functions below
// carry target attributes and they run only after the CPU check in hnsw_kernels(), so no ISA flag
// reaches the rest of the library. f32 loops keep four FMA accumulators (one is bound by FMA
// latency); the u8 loop is the dot form of ann-techniques.md §2: vpdpbusd multiplies the
// unsigned row bytes by the signed shifted query and sums four products per lane, exactly.

#include "vector/hnsw_kernels.h"

#include <cpuid.h>
#include <immintrin.h>

#include <bit>
#include <cmath>
#include <limits>

namespace sddb::detail {
namespace {

// Rows are prefetched whole, kAhead rows ahead, into L2 (prefetcht1) rather than L1. Measured on
// fashion-mnist (bench/RESULTS.md, "Prefetching into L2"): f32 search 1.5x faster than the
// same prefetches into L1, u8 and sq8 1.2x; L1 prefetches evict the query and the pool and hold
// the L1 miss buffers, while L2 takes many more lines in flight.
constexpr std::size_t kAhead = 4;
// Bounded l2 checks its partial sum against the bound every kBlock floats (512 bytes).
constexpr std::size_t kBlock = 128;

inline void prefetch_row(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 2);
}

// The first kAhead rows, before the loop that prefetches kAhead ahead.
template <typename T>
inline void prefetch_first(const T* base, std::size_t stride, std::size_t bytes,
                           const std::uint32_t* ids, std::size_t n) {
  for (std::size_t i = 0; i < n && i < kAhead; ++i) {
    prefetch_row(base + static_cast<std::size_t>(ids[i]) * stride, bytes);
  }
}

// --- portable ---------------------------------------------------------------------------------

void f32_l2_bounded_scalar(const float* q, const float* base, std::size_t stride,
                           std::size_t padded, const std::uint32_t* ids, std::size_t n, float bound,
                           float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = base + ids[i] * stride;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    bool over = false;
    for (std::size_t j = 0; j < padded && !over; j += 4) {
      const float d0 = q[j] - r[j], d1 = q[j + 1] - r[j + 1];
      const float d2 = q[j + 2] - r[j + 2], d3 = q[j + 3] - r[j + 3];
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
      over = (j + 4) % kBlock == 0 && (s0 + s1) + (s2 + s3) > bound;
    }
    out[i] = (s0 + s1) + (s2 + s3);
  }
}

void f32_l2_scalar(const float* q, const float* base, std::size_t stride, std::size_t padded,
                   const std::uint32_t* ids, std::size_t n, float* out) {
  f32_l2_bounded_scalar(q, base, stride, padded, ids, n, std::numeric_limits<float>::infinity(),
                        out);
}

void f32_dot_scalar(const float* q, const float* base, std::size_t stride, std::size_t padded,
                    const std::uint32_t* ids, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = base + ids[i] * stride;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (std::size_t j = 0; j < padded; j += 4) {
      s0 += q[j] * r[j];
      s1 += q[j + 1] * r[j + 1];
      s2 += q[j + 2] * r[j + 2];
      s3 += q[j + 3] * r[j + 3];
    }
    out[i] = (s0 + s1) + (s2 + s3);
  }
}

void u8_dot_shifted_scalar(const std::int8_t* qs, const std::uint8_t* base, std::size_t stride,
                           std::size_t padded, const std::uint32_t* ids, std::size_t n,
                           std::int32_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* r = base + ids[i] * stride;
    std::int32_t s = 0;
    for (std::size_t j = 0; j < padded; ++j) s += static_cast<std::int32_t>(r[j]) * qs[j];
    out[i] = s;
  }
}

void u8f_l2_scalar(const float* q, const std::uint8_t* base, std::size_t stride, std::size_t padded,
                   const std::uint32_t* ids, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* r = base + ids[i] * stride;
    float s = 0;
    for (std::size_t j = 0; j < padded; ++j) {
      const float d = q[j] - static_cast<float>(r[j]);
      s += d * d;
    }
    out[i] = s;
  }
}

void u8f_dot_scalar(const float* q, const std::uint8_t* base, std::size_t stride,
                    std::size_t padded, const std::uint32_t* ids, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* r = base + ids[i] * stride;
    float s = 0;
    for (std::size_t j = 0; j < padded; ++j) s += q[j] * static_cast<float>(r[j]);
    out[i] = s;
  }
}

template <bool kL2>
void f16_scalar(const float* q, const std::uint16_t* base, std::size_t stride, std::size_t padded,
                const std::uint32_t* ids, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t* r = base + ids[i] * stride;
    float s = 0;
    for (std::size_t j = 0; j < padded; ++j) {
      const float x = half_to_float(r[j]);
      s += kL2 ? (q[j] - x) * (q[j] - x) : q[j] * x;
    }
    out[i] = s;
  }
}

void f16_l2_scalar(const float* q, const std::uint16_t* base, std::size_t stride,
                   std::size_t padded, const std::uint32_t* ids, std::size_t n, float* out) {
  f16_scalar<true>(q, base, stride, padded, ids, n, out);
}
void f16_dot_scalar(const float* q, const std::uint16_t* base, std::size_t stride,
                    std::size_t padded, const std::uint32_t* ids, std::size_t n, float* out) {
  f16_scalar<false>(q, base, stride, padded, ids, n, out);
}

constexpr HnswKernels kScalar = {
    "scalar",      f32_l2_scalar,  f32_dot_scalar, f32_l2_bounded_scalar, u8_dot_shifted_scalar,
    u8f_l2_scalar, u8f_dot_scalar, f16_l2_scalar,  f16_dot_scalar};

// --- AVX2 + FMA -------------------------------------------------------------------------------

#define SDDB_HNSW_AVX2 __attribute__((target("avx2,fma,f16c")))

SDDB_HNSW_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SDDB_HNSW_AVX2 inline std::int32_t hsum256i(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <bool kL2, bool kBounded = false>
SDDB_HNSW_AVX2 inline void f32_avx2(const float* q, const float* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float bound, float* out) {
  const std::size_t ahead = padded * 4;
  prefetch_first(base, stride, ahead, ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, ahead);
    const float* r = base + ids[i] * stride;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t j = 0;
    for (; j + 32 <= padded; j += 32) {
      __m256 a0 = _mm256_loadu_ps(q + j), a1 = _mm256_loadu_ps(q + j + 8);
      __m256 a2 = _mm256_loadu_ps(q + j + 16), a3 = _mm256_loadu_ps(q + j + 24);
      const __m256 b0 = _mm256_loadu_ps(r + j), b1 = _mm256_loadu_ps(r + j + 8);
      const __m256 b2 = _mm256_loadu_ps(r + j + 16), b3 = _mm256_loadu_ps(r + j + 24);
      if constexpr (kL2) {
        a0 = _mm256_sub_ps(a0, b0);
        a1 = _mm256_sub_ps(a1, b1);
        a2 = _mm256_sub_ps(a2, b2);
        a3 = _mm256_sub_ps(a3, b3);
        s0 = _mm256_fmadd_ps(a0, a0, s0);
        s1 = _mm256_fmadd_ps(a1, a1, s1);
        s2 = _mm256_fmadd_ps(a2, a2, s2);
        s3 = _mm256_fmadd_ps(a3, a3, s3);
      } else {
        s0 = _mm256_fmadd_ps(a0, b0, s0);
        s1 = _mm256_fmadd_ps(a1, b1, s1);
        s2 = _mm256_fmadd_ps(a2, b2, s2);
        s3 = _mm256_fmadd_ps(a3, b3, s3);
      }
      if constexpr (kBounded) {
        if ((j + 32) % kBlock == 0) {
          if (hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) > bound) {
            j = padded;  // given up: the partial sum, already > bound, is the result
            break;
          }
        }
      }
    }
    for (; j < padded; j += 16) {
      __m256 a0 = _mm256_loadu_ps(q + j), a1 = _mm256_loadu_ps(q + j + 8);
      const __m256 b0 = _mm256_loadu_ps(r + j), b1 = _mm256_loadu_ps(r + j + 8);
      if constexpr (kL2) {
        a0 = _mm256_sub_ps(a0, b0);
        a1 = _mm256_sub_ps(a1, b1);
        s0 = _mm256_fmadd_ps(a0, a0, s0);
        s1 = _mm256_fmadd_ps(a1, a1, s1);
      } else {
        s0 = _mm256_fmadd_ps(a0, b0, s0);
        s1 = _mm256_fmadd_ps(a1, b1, s1);
      }
    }
    out[i] = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  }
}

SDDB_HNSW_AVX2 void f32_l2_avx2(const float* q, const float* base, std::size_t stride,
                                std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                float* out) {
  f32_avx2<true>(q, base, stride, padded, ids, n, 0.0f, out);
}
SDDB_HNSW_AVX2 void f32_l2_bounded_avx2(const float* q, const float* base, std::size_t stride,
                                        std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                        float bound, float* out) {
  f32_avx2<true, true>(q, base, stride, padded, ids, n, bound, out);
}
SDDB_HNSW_AVX2 void f32_dot_avx2(const float* q, const float* base, std::size_t stride,
                                 std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                 float* out) {
  f32_avx2<false>(q, base, stride, padded, ids, n, 0.0f, out);
}

// maddubs would saturate (255 * 127 * 2 > 2^15), so bytes are widened to 16 bits and madd sums
// pairs into 32-bit lanes, exactly.
SDDB_HNSW_AVX2 void u8_dot_shifted_avx2(const std::int8_t* qs, const std::uint8_t* base,
                                        std::size_t stride, std::size_t padded,
                                        const std::uint32_t* ids, std::size_t n,
                                        std::int32_t* out) {
  prefetch_first(base, stride, padded, ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, padded);
    const std::uint8_t* r = base + ids[i] * stride;
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    for (std::size_t j = 0; j < padded; j += 32) {
      const __m256i x0 =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + j)));
      const __m256i x1 =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + j + 16)));
      const __m256i y0 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + j)));
      const __m256i y1 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + j + 16)));
      s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, y0));
      s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x1, y1));
    }
    out[i] = hsum256i(_mm256_add_epi32(s0, s1));
  }
}

// Rows of codes decoded to floats 16 at a time by Decode (two __m256), against a float query.
template <bool kL2, typename Code, typename Decode>
SDDB_HNSW_AVX2 inline void decoded_avx2(const float* q, const Code* base, std::size_t stride,
                                        std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                        float* out, Decode decode) {
  prefetch_first(base, stride, padded * sizeof(Code), ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, padded * sizeof(Code));
    const Code* r = base + ids[i] * stride;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (std::size_t j = 0; j < padded; j += 16) {
      __m256 x0, x1;
      decode(r + j, x0, x1);
      __m256 a0 = _mm256_loadu_ps(q + j), a1 = _mm256_loadu_ps(q + j + 8);
      if constexpr (kL2) {
        a0 = _mm256_sub_ps(a0, x0);
        a1 = _mm256_sub_ps(a1, x1);
        s0 = _mm256_fmadd_ps(a0, a0, s0);
        s1 = _mm256_fmadd_ps(a1, a1, s1);
      } else {
        s0 = _mm256_fmadd_ps(a0, x0, s0);
        s1 = _mm256_fmadd_ps(a1, x1, s1);
      }
    }
    out[i] = hsum256(_mm256_add_ps(s0, s1));
  }
}

SDDB_HNSW_AVX2 inline void u8_decode_avx2(const std::uint8_t* p, __m256& x0, __m256& x1) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  x0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
  x1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
}

SDDB_HNSW_AVX2 inline void f16_decode_avx2(const std::uint16_t* p, __m256& x0, __m256& x1) {
  x0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  x1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
}

template <bool kL2>
SDDB_HNSW_AVX2 inline void u8f_avx2(const float* q, const std::uint8_t* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float* out) {
  decoded_avx2<kL2>(q, base, stride, padded, ids, n, out, u8_decode_avx2);
}

SDDB_HNSW_AVX2 void u8f_l2_avx2(const float* q, const std::uint8_t* base, std::size_t stride,
                                std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                float* out) {
  u8f_avx2<true>(q, base, stride, padded, ids, n, out);
}
SDDB_HNSW_AVX2 void u8f_dot_avx2(const float* q, const std::uint8_t* base, std::size_t stride,
                                 std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                 float* out) {
  u8f_avx2<false>(q, base, stride, padded, ids, n, out);
}

template <bool kL2>
SDDB_HNSW_AVX2 inline void f16_avx2(const float* q, const std::uint16_t* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float* out) {
  decoded_avx2<kL2>(q, base, stride, padded, ids, n, out, f16_decode_avx2);
}

SDDB_HNSW_AVX2 void f16_l2_avx2(const float* q, const std::uint16_t* base, std::size_t stride,
                                std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                float* out) {
  f16_avx2<true>(q, base, stride, padded, ids, n, out);
}
SDDB_HNSW_AVX2 void f16_dot_avx2(const float* q, const std::uint16_t* base, std::size_t stride,
                                 std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                 float* out) {
  f16_avx2<false>(q, base, stride, padded, ids, n, out);
}

constexpr HnswKernels kAvx2 = {
    "avx2",      f32_l2_avx2,  f32_dot_avx2, f32_l2_bounded_avx2, u8_dot_shifted_avx2,
    u8f_l2_avx2, u8f_dot_avx2, f16_l2_avx2,  f16_dot_avx2};

// --- AVX-512 F + BW + VNNI --------------------------------------------------------------------

#define SDDB_HNSW_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vnni")))

// GCC 12's unmasked forms of these (and _mm512_reduce_add_*) pass _mm*_undefined_*() and trip
// -Wmaybe-uninitialized inside its own headers, hence the masked forms with zero sources.
SDDB_HNSW_AVX512 inline float hsum512(__m512 v) {
  const __m512d d = _mm512_castps_pd(v);
  const __m256 lo = _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, d, 0));
  const __m256 hi = _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, d, 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SDDB_HNSW_AVX512 inline std::int32_t hsum512i(__m512i v) {
  const __m256i lo = _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, v, 0);
  const __m256i hi = _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, v, 1);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
  s = _mm_add_epi32(s, _mm_add_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

SDDB_HNSW_AVX512 inline __m512 u8_to_f32(const std::uint8_t* p) {
  const __m512i w =
      _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm512_maskz_cvtepi32_ps(0xFFFF, w);
}

template <bool kL2, bool kBounded = false>
SDDB_HNSW_AVX512 inline void f32_avx512(const float* q, const float* base, std::size_t stride,
                                        std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                        float bound, float* out) {
  const std::size_t ahead = padded * 4;
  prefetch_first(base, stride, ahead, ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, ahead);
    const float* r = base + ids[i] * stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    std::size_t j = 0;
    for (; j + 64 <= padded; j += 64) {
      __m512 a0 = _mm512_loadu_ps(q + j), a1 = _mm512_loadu_ps(q + j + 16);
      __m512 a2 = _mm512_loadu_ps(q + j + 32), a3 = _mm512_loadu_ps(q + j + 48);
      const __m512 b0 = _mm512_loadu_ps(r + j), b1 = _mm512_loadu_ps(r + j + 16);
      const __m512 b2 = _mm512_loadu_ps(r + j + 32), b3 = _mm512_loadu_ps(r + j + 48);
      if constexpr (kL2) {
        a0 = _mm512_sub_ps(a0, b0);
        a1 = _mm512_sub_ps(a1, b1);
        a2 = _mm512_sub_ps(a2, b2);
        a3 = _mm512_sub_ps(a3, b3);
        s0 = _mm512_fmadd_ps(a0, a0, s0);
        s1 = _mm512_fmadd_ps(a1, a1, s1);
        s2 = _mm512_fmadd_ps(a2, a2, s2);
        s3 = _mm512_fmadd_ps(a3, a3, s3);
      } else {
        s0 = _mm512_fmadd_ps(a0, b0, s0);
        s1 = _mm512_fmadd_ps(a1, b1, s1);
        s2 = _mm512_fmadd_ps(a2, b2, s2);
        s3 = _mm512_fmadd_ps(a3, b3, s3);
      }
      if constexpr (kBounded) {
        if ((j + 64) % kBlock == 0) {
          if (hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) > bound) {
            j = padded;  // given up: the partial sum, already > bound, is the result
            break;
          }
        }
      }
    }
    for (; j < padded; j += 16) {
      __m512 a0 = _mm512_loadu_ps(q + j);
      const __m512 b0 = _mm512_loadu_ps(r + j);
      if constexpr (kL2) {
        a0 = _mm512_sub_ps(a0, b0);
        s0 = _mm512_fmadd_ps(a0, a0, s0);
      } else {
        s0 = _mm512_fmadd_ps(a0, b0, s0);
      }
    }
    out[i] = hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  }
}

SDDB_HNSW_AVX512 void f32_l2_avx512(const float* q, const float* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float* out) {
  f32_avx512<true>(q, base, stride, padded, ids, n, 0.0f, out);
}
SDDB_HNSW_AVX512 void f32_l2_bounded_avx512(const float* q, const float* base, std::size_t stride,
                                            std::size_t padded, const std::uint32_t* ids,
                                            std::size_t n, float bound, float* out) {
  f32_avx512<true, true>(q, base, stride, padded, ids, n, bound, out);
}
SDDB_HNSW_AVX512 void f32_dot_avx512(const float* q, const float* base, std::size_t stride,
                                     std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                     float* out) {
  f32_avx512<false>(q, base, stride, padded, ids, n, 0.0f, out);
}

SDDB_HNSW_AVX512 void u8_dot_shifted_avx512(const std::int8_t* qs, const std::uint8_t* base,
                                            std::size_t stride, std::size_t padded,
                                            const std::uint32_t* ids, std::size_t n,
                                            std::int32_t* out) {
  prefetch_first(base, stride, padded, ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, padded);
    const std::uint8_t* r = base + ids[i] * stride;
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    std::size_t j = 0;
    for (; j + 128 <= padded; j += 128) {
      s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(r + j), _mm512_loadu_si512(qs + j));
      s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(r + j + 64), _mm512_loadu_si512(qs + j + 64));
    }
    if (j < padded) {
      s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(r + j), _mm512_loadu_si512(qs + j));
    }
    out[i] = hsum512i(_mm512_add_epi32(s0, s1));
  }
}

template <bool kL2>
SDDB_HNSW_AVX512 inline __m512 accumulate512(__m512 s, __m512 a, __m512 x) {
  if constexpr (kL2) {
    a = _mm512_sub_ps(a, x);
    return _mm512_fmadd_ps(a, a, s);
  } else {
    return _mm512_fmadd_ps(a, x, s);
  }
}

// Rows of codes decoded to floats 16 at a time by Decode, against a float query; padded is a
// multiple of 16, so an odd block is finished after the loop of pairs.
template <bool kL2, typename Code, typename Decode>
SDDB_HNSW_AVX512 inline void decoded_avx512(const float* q, const Code* base, std::size_t stride,
                                            std::size_t padded, const std::uint32_t* ids,
                                            std::size_t n, float* out, Decode decode) {
  prefetch_first(base, stride, padded * sizeof(Code), ids, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch_row(base + ids[i + kAhead] * stride, padded * sizeof(Code));
    const Code* r = base + ids[i] * stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    std::size_t j = 0;
    for (; j + 32 <= padded; j += 32) {
      s0 = accumulate512<kL2>(s0, _mm512_loadu_ps(q + j), decode(r + j));
      s1 = accumulate512<kL2>(s1, _mm512_loadu_ps(q + j + 16), decode(r + j + 16));
    }
    if (j < padded) s0 = accumulate512<kL2>(s0, _mm512_loadu_ps(q + j), decode(r + j));
    out[i] = hsum512(_mm512_add_ps(s0, s1));
  }
}

template <bool kL2>
SDDB_HNSW_AVX512 inline void u8f_avx512(const float* q, const std::uint8_t* base,
                                        std::size_t stride, std::size_t padded,
                                        const std::uint32_t* ids, std::size_t n, float* out) {
  decoded_avx512<kL2>(q, base, stride, padded, ids, n, out, u8_to_f32);
}

SDDB_HNSW_AVX512 void u8f_l2_avx512(const float* q, const std::uint8_t* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float* out) {
  u8f_avx512<true>(q, base, stride, padded, ids, n, out);
}
SDDB_HNSW_AVX512 void u8f_dot_avx512(const float* q, const std::uint8_t* base, std::size_t stride,
                                     std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                     float* out) {
  u8f_avx512<false>(q, base, stride, padded, ids, n, out);
}

SDDB_HNSW_AVX512 inline __m512 f16_to_f32(const std::uint16_t* p) {
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

template <bool kL2>
SDDB_HNSW_AVX512 inline void f16_avx512(const float* q, const std::uint16_t* base,
                                        std::size_t stride, std::size_t padded,
                                        const std::uint32_t* ids, std::size_t n, float* out) {
  decoded_avx512<kL2>(q, base, stride, padded, ids, n, out, f16_to_f32);
}

SDDB_HNSW_AVX512 void f16_l2_avx512(const float* q, const std::uint16_t* base, std::size_t stride,
                                    std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                    float* out) {
  f16_avx512<true>(q, base, stride, padded, ids, n, out);
}
SDDB_HNSW_AVX512 void f16_dot_avx512(const float* q, const std::uint16_t* base, std::size_t stride,
                                     std::size_t padded, const std::uint32_t* ids, std::size_t n,
                                     float* out) {
  f16_avx512<false>(q, base, stride, padded, ids, n, out);
}

constexpr HnswKernels kAvx512 = {
    "avx512",      f32_l2_avx512,  f32_dot_avx512, f32_l2_bounded_avx512, u8_dot_shifted_avx512,
    u8f_l2_avx512, u8f_dot_avx512, f16_l2_avx512,  f16_dot_avx512};

// F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}

bool avx2_ok() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
}

const HnswKernels& choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni")) {
    return kAvx512;
  }
  if (avx2_ok()) return kAvx2;
  return kScalar;
}

}  // namespace

std::uint16_t float_to_half(float x) {
  const auto f = std::bit_cast<std::uint32_t>(x);
  const auto sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
  const std::uint32_t a = f & 0x7fffffffu;
  if (a >= 0x7f800000u) return sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // from 65520 on, rounds to infinity
  if (a < 0x38800000u) {                        // below 2^-14: subnormal (exact scaling)
    const float scaled = std::bit_cast<float>(a) * 16777216.0f;  // in units of 2^-24
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));
  }
  std::uint32_t h = (((a >> 23) - 112) << 10) | ((a >> 13) & 0x3ffu);
  const std::uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry moves the exponent up
  return sign | static_cast<std::uint16_t>(h);
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

const HnswKernels& hnsw_kernels() {
  static const HnswKernels& k = choose();
  return k;
}

const HnswKernels& hnsw_scalar_kernels() { return kScalar; }

std::vector<const HnswKernels*> hnsw_available_kernels() {
  __builtin_cpu_init();
  std::vector<const HnswKernels*> out = {&kScalar};
  if (avx2_ok()) out.push_back(&kAvx2);
  if (&hnsw_kernels() == &kAvx512) out.push_back(&kAvx512);
  return out;
}

}  // namespace sddb::detail
