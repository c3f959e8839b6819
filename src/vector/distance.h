// Distance kernels over float32 vectors, chosen once per process by what the CPU supports.
//
// Internal to the library (not in include/sddb/). Every function is pure and thread-safe; the
// pointers need no particular alignment, and a, b and out are only read or written for the
// lengths given. n == 0 is allowed (distances are then 0, the cosine distance is 1).
#pragma once

#include <cstddef>
#include <span>

namespace sddb::detail {

// dist(a, b) over n floats.
using DistanceFn = float (*)(const float* a, const float* b, std::size_t n);
// out[i] = dist(query, base + i * dim) for i in [0, n_vectors); base is n_vectors rows of dim
// floats laid out contiguously.
using BatchDistanceFn = void (*)(const float* query, const float* base, std::size_t n_vectors,
                                 std::size_t dim, float* out);

// One implementation of every measure. Cosine distance is 1 - a·b / (|a| |b|), clamped to
// [0, 2]; when either vector has norm zero the cosine is taken as 0, so the distance is 1 (a zero
// vector is neither near nor far from anything, and no NaN ever reaches a ranking).
struct DistanceKernels {
  const char* name;  // "scalar", "avx2", "avx512"
  DistanceFn l2_squared;
  DistanceFn inner_product;
  DistanceFn cosine_distance;
  BatchDistanceFn l2_squared_batch;
  BatchDistanceFn inner_product_batch;
  BatchDistanceFn cosine_distance_batch;
};

// The portable implementation; the reference the others are tested against.
const DistanceKernels& scalar_distance_kernels();

// Every implementation this CPU can run, the portable one first. For tests and benchmarks.
std::span<const DistanceKernels* const> available_distance_kernels();

// The fastest implementation this CPU can run (AVX-512F, else AVX2 with FMA, else portable),
// chosen on the first call.
const DistanceKernels& distance_kernels();

inline float l2_squared(const float* a, const float* b, std::size_t n) {
  return distance_kernels().l2_squared(a, b, n);
}
inline float inner_product(const float* a, const float* b, std::size_t n) {
  return distance_kernels().inner_product(a, b, n);
}
inline float cosine_distance(const float* a, const float* b, std::size_t n) {
  return distance_kernels().cosine_distance(a, b, n);
}

// Per-ISA tables, defined in distance_avx2.cc and distance_avx512.cc; null where the compiler
// cannot target the ISA. Call only when the CPU supports it (available_distance_kernels checks).
extern const DistanceKernels* const kAvx2DistanceKernels;
extern const DistanceKernels* const kAvx512DistanceKernels;

// The cosine distance from a dot product and two squared norms, with the zero-vector rule above.
float cosine_from_parts(float dot, float norm_a_sq, float norm_b_sq);

}  // namespace sddb::detail
