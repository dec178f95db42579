// The pieces the quantized GEMV paths share (private to src/kernels): row scales, row-block
// scheduling, tokens quantized per group, per-row factors; and the x86 and ARM SIMD GEMVs' entry points.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/number_formats.h"
#include "kernels/quantized_matmul.h"
#include "kernels/row_blocks.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define FLOTILLA_X86_KERNELS 1
#endif
#if defined(__aarch64__) && defined(__GNUC__)
#define FLOTILLA_ARM_KERNELS 1
#endif

namespace flotilla::kernels::detail {

constexpr int kFactorPad = 16;         // a SIMD load of factors may read this far past the last group

inline int64_t groups_of(const QuantizedMatrix& w) { return w.cols / w.group_size; }
inline int64_t words_of(const QuantizedMatrix& w) { return w.cols * w.bits / 32; }

#define FLOTILLA_INLINE inline __attribute__((always_inline))

// Row r's scales and biases in float32 (inlined so that the SIMD paths' copies vectorise).
FLOTILLA_INLINE void row_scales(const QuantizedMatrix& w, int64_t r, float* scales, float* biases) {
  const int64_t G = groups_of(w), first = r * G;
  switch (w.scale_type) {
    case ScaleType::f32:
      std::memcpy(scales, static_cast<const float*>(w.scales) + first, G * sizeof(float));
      std::memcpy(biases, static_cast<const float*>(w.biases) + first, G * sizeof(float));
      return;
    case ScaleType::bf16:
      for (int64_t g = 0; g < G; ++g) {
        scales[g] = bf16_to_float(static_cast<const uint16_t*>(w.scales)[first + g]);
        biases[g] = bf16_to_float(static_cast<const uint16_t*>(w.biases)[first + g]);
      }
      return;
    case ScaleType::f16:
      for (int64_t g = 0; g < G; ++g) {
        scales[g] = f16_to_float(static_cast<const uint16_t*>(w.scales)[first + g]);
        biases[g] = f16_to_float(static_cast<const uint16_t*>(w.biases)[first + g]);
      }
      return;
  }
}

// --- SIMD paths: tokens quantized to int16 per group, laid out in the order codes unpack -------

// Each token as int16 codes with one step per group (x ≈ step·q), permuted so that SIMD chunks
// of `chunk_bytes` packed bytes meet their activations in the order they unpack: shift j of
// byte k holds input (k·per_byte + j), so segment j of a chunk lists those inputs for every k.
struct QuantizedTokens {
  std::vector<int16_t> codes;  // [tokens][cols], int16 precision
  std::vector<int8_t> codes8;  // [tokens][cols], int8 precision instead
  std::vector<float> steps;    // [tokens][groups]
  std::vector<float> sums;     // [tokens][groups]
};

// Each token as codes per group in the order the SIMD chunks unpack them (chunk_bytes packed bytes).
QuantizedTokens quantize_tokens(const float* x, int64_t tokens, const QuantizedMatrix& w, int chunk_bytes, bool int8);

// Per row and token, factor[g] = scale[g]·step[t][g] (padded for SIMD loads) and the bias term.
struct RowFactors {
  const QuantizedMatrix& w;
  const QuantizedTokens& q;
  int64_t tokens;
  float* scales;   // [G]
  float* biases;   // [G]
  float* factors;  // [tokens][G + kFactorPad]
  float* bias_terms;  // [tokens]

  static int64_t scratch_floats(const QuantizedMatrix& w, int64_t tokens) {
    const int64_t G = groups_of(w);
    return 2 * G + tokens * (G + kFactorPad) + tokens;
  }
  RowFactors(const QuantizedMatrix& w_, const QuantizedTokens& q_, int64_t tokens_, float* scratch)
      : w(w_), q(q_), tokens(tokens_) {
    const int64_t G = groups_of(w);
    scales = scratch;
    biases = scales + G;
    factors = biases + G;
    bias_terms = factors + tokens * (G + kFactorPad);
    std::fill(factors, bias_terms, 0.0f);
  }
  // Always inlined: each SIMD path calls it from code compiled for its own instruction set.
  FLOTILLA_INLINE void load(int64_t r) {
    constexpr int kLanes = 16;  // partial sums, so the bias dot product vectorises in order
    const int64_t G = groups_of(w);
    row_scales(w, r, scales, biases);
    for (int64_t t = 0; t < tokens; ++t) {
      const float *steps = q.steps.data() + t * G, *sums = q.sums.data() + t * G;
      float* f = factors + t * (G + kFactorPad);
      for (int64_t g = 0; g < G; ++g) f[g] = scales[g] * steps[g];
      float part[kLanes] = {};
      int64_t g = 0;
      for (; g + kLanes <= G; g += kLanes)
        for (int l = 0; l < kLanes; ++l) part[l] += biases[g + l] * sums[g + l];
      float bias = 0;
      for (; g < G; ++g) bias += biases[g] * sums[g];
      for (int l = 0; l < kLanes; ++l) bias += part[l];
      bias_terms[t] = bias;
    }
  }
  const float* of_token(int64_t t) const { return factors + t * (groups_of(w) + kFactorPad); }
};

#if FLOTILLA_X86_KERNELS
// The AVX-512 VNNI / AVX2 GEMV (quantized_gemv_x86.cpp); false when w's layout does not fit its
// chunks, and the caller takes the portable path.
bool gemv_x86(Isa isa, const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8);
#endif
#if FLOTILLA_ARM_KERNELS
// The NEON GEMV (quantized_gemv_arm.cpp), int8 activations through the dot product where `int8`,
// two rows by two tokens through the int8 matrix multiply where also `i8mm`; false when w's layout
// does not fit its chunks.
bool gemv_arm(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8, bool i8mm);
#endif

}  // namespace flotilla::kernels::detail
