// Distance kernels of HnswIndex (hnsw.cc), one table per instruction set, chosen once per process.
//
// Every kernel takes one prepared query and a list of row ids into a row-major array whose rows
// are `stride` elements apart and zero-padded to `padded` elements (a multiple of 16 floats or
// 64 bytes), so the loops need no tail handling. Each call prefetches the rows a few ids ahead,
// which is why they work on id lists: the caller collects a node's unvisited neighbours first and
// makes one call for all of them (ann-techniques.md §3). Pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sddb::detail {

struct HnswKernels {
  const char* name;  // "scalar", "avx2", "avx512"
  // f32 rows: out[i] = squared l2 / dot product between q and row ids[i].
  void (*f32_l2)(const float* q, const float* base, std::size_t stride, std::size_t padded,
                 const std::uint32_t* ids, std::size_t n, float* out);
  void (*f32_dot)(const float* q, const float* base, std::size_t stride, std::size_t padded,
                  const std::uint32_t* ids, std::size_t n, float* out);
  // The same as f32_l2, except that a row whose partial sum exceeds `bound` (checked every 128
  // floats) is given up: out[i] is then that partial sum, some value > bound. Rows within the
  // bound get exactly f32_l2's value (the same additions in the same order), so a search that
  // rejects every distance > bound returns what it would have with f32_l2.
  void (*f32_l2_bounded)(const float* q, const float* base, std::size_t stride, std::size_t padded,
                         const std::uint32_t* ids, std::size_t n, float bound, float* out);
  // u8 rows and a query of integers in [0, 255] given shifted to signed bytes (q - 128), or any
  // int8 query (sq8):
  // out[i] = sum_j row[j] * qs[j], exact (|out| < 2^31 while dims <= 32000).
  void (*u8_dot_shifted)(const std::int8_t* qs, const std::uint8_t* base, std::size_t stride,
                         std::size_t padded, const std::uint32_t* ids, std::size_t n,
                         std::int32_t* out);
  // u8 rows and a float query (one that is not all integers in [0, 255]).
  void (*u8f_l2)(const float* q, const std::uint8_t* base, std::size_t stride, std::size_t padded,
                 const std::uint32_t* ids, std::size_t n, float* out);
  void (*u8f_dot)(const float* q, const std::uint8_t* base, std::size_t stride, std::size_t padded,
                  const std::uint32_t* ids, std::size_t n, float* out);
  // float16 rows (IEEE binary16 bits): squared l2 / dot product with a float query.
  void (*f16_l2)(const float* q, const std::uint16_t* base, std::size_t stride, std::size_t padded,
                 const std::uint32_t* ids, std::size_t n, float* out);
  void (*f16_dot)(const float* q, const std::uint16_t* base, std::size_t stride, std::size_t padded,
                  const std::uint32_t* ids, std::size_t n, float* out);
};

// IEEE binary16 conversions (portable; round to nearest even, overflow to infinity).
std::uint16_t float_to_half(float x);
float half_to_float(std::uint16_t h);

// The fastest table this CPU runs: AVX-512 with VNNI, else AVX2 with FMA, else portable.
const HnswKernels& hnsw_kernels();
// The portable table (the reference of the kernel tests).
const HnswKernels& hnsw_scalar_kernels();
// Every table this CPU runs, the portable one first (for tests and benchmarks).
std::vector<const HnswKernels*> hnsw_available_kernels();

}  // namespace sddb::detail
