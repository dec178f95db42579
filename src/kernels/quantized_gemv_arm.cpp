// The ARM64 quantized GEMV: tokens quantized per group (quantized_rows.h), 16 packed bytes of
// codes at a time against them, integer sums per group scaled once. NEON multiply-accumulates
// int16 activations into int32 lanes; with the dot product (ARMv8.2) 4-bit codes meet int8 ones,
// and with the int8 matrix multiply (i8mm) two rows meet two tokens in one instruction.
#include "kernels/quantized_rows.h"

#if FLOTILLA_ARM_KERNELS
#include <arm_neon.h>

#include <cstring>

namespace flotilla::kernels::detail {

namespace {

constexpr int kChunkBytes = 16;

// Adds the products of 8 codes (widened bytes) and 8 int16 activations into two int32x4 sums.
FLOTILLA_INLINE void multiply_add(int32x4_t& low, int32x4_t& high, uint16x8_t codes, const int16_t* x) {
  const int16x8_t c = vreinterpretq_s16_u16(codes), a = vld1q_s16(x);
  low = vmlal_s16(low, vget_low_s16(c), vget_low_s16(a));
  high = vmlal_high_s16(high, c, a);
}

// Σ code·activation over `chunks` chunks of one group: a 4-bit chunk's low nibbles meet the first
// 16 activations and its high nibbles the next 16 (quantize_tokens' order), an 8-bit chunk's bytes 16.
template <int Bits>
FLOTILLA_INLINE int32_t group_dot(const uint8_t* bytes, const int16_t* x, int64_t chunks) {
  int32x4_t low = vdupq_n_s32(0), high = vdupq_n_s32(0);
  for (int64_t c = 0; c < chunks; ++c, bytes += kChunkBytes) {
    const uint8x16_t v = vld1q_u8(bytes);
    if (Bits == 8) {
      multiply_add(low, high, vmovl_u8(vget_low_u8(v)), x);
      multiply_add(low, high, vmovl_high_u8(v), x + 8);
      x += 16;
      continue;
    }
    const uint8x16_t lo = vandq_u8(v, vdupq_n_u8(0xf)), hi = vshrq_n_u8(v, 4);
    multiply_add(low, high, vmovl_u8(vget_low_u8(lo)), x);
    multiply_add(low, high, vmovl_high_u8(lo), x + 8);
    multiply_add(low, high, vmovl_u8(vget_low_u8(hi)), x + 16);
    multiply_add(low, high, vmovl_high_u8(hi), x + 24);
    x += 32;
  }
  return vaddvq_s32(vaddq_s32(low, high));
}

// The same for 4-bit codes and int8 activations through SDOT (4 products per int32 lane).
__attribute__((target("arch=armv8.2-a+dotprod"))) int32_t group_dot_int8(const uint8_t* bytes, const int8_t* x, int64_t chunks) {
  int32x4_t sum = vdupq_n_s32(0);
  for (int64_t c = 0; c < chunks; ++c, bytes += kChunkBytes, x += 32) {
    const uint8x16_t v = vld1q_u8(bytes);
    sum = vdotq_s32(sum, vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0xf))), vld1q_s8(x));
    sum = vdotq_s32(sum, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vld1q_s8(x + 16));
  }
  return vaddvq_s32(sum);
}

// Row r's outputs for tokens [first_token, end_token), one group's integer sum at a time.
template <int Bits>
FLOTILLA_INLINE void row_outputs(const QuantizedMatrix& w, const QuantizedTokens& q, const RowFactors& factors, int64_t r,
                                 int64_t first_token, int64_t end_token, float* y, bool int8) {
  const int64_t G = groups_of(w), K = w.cols, N = w.rows;
  const int64_t group_bytes = w.group_size * Bits / 8, chunks = group_bytes / kChunkBytes;
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
  for (int64_t t = first_token; t < end_token; ++t) {
    const float* factor = factors.of_token(t);
    float total = factors.bias_terms[t];
    for (int64_t g = 0; g < G; ++g) {
      const int32_t dot = int8 ? group_dot_int8(bytes + g * group_bytes, q.codes8.data() + t * K + g * w.group_size, chunks)
                               : group_dot<Bits>(bytes + g * group_bytes, q.codes.data() + t * K + g * w.group_size, chunks);
      total += factor[g] * static_cast<float>(dot);
    }
    y[t * N + r] = total;
  }
}

template <int Bits>
void gemv_rows(const QuantizedMatrix& w, const QuantizedTokens& q, int64_t tokens, float* y, bool int8) {
  for_row_blocks(w.rows, w.rows * w.cols * tokens, RowFactors::scratch_floats(w, tokens), [&](int64_t first, int64_t count, float* scratch) {
    RowFactors factors(w, q, tokens, scratch);
    for (int64_t r = first; r < first + count; ++r) {
      factors.load(r);
      row_outputs<Bits>(w, q, factors, r, 0, tokens, y, int8);
    }
  });
}

// --- i8mm: USMMLA multiplies a 2×8 block of unsigned codes (two rows) by a 2×8 block of int8
// activations (two tokens) into a 2×2 block of int32 sums ------------------------------------------

// Token pairs' activations interleaved 8 at a time ([t0: 8][t1: 8] ...), the operand USMMLA takes.
std::vector<int8_t> paired_tokens(const QuantizedTokens& q, int64_t pairs, int64_t K) {
  std::vector<int8_t> paired(pairs * 2 * K);
  for (int64_t p = 0; p < pairs; ++p)
    for (int64_t k = 0; k < K; k += 8)
      for (int t = 0; t < 2; ++t) std::memcpy(&paired[p * 2 * K + 2 * k + 8 * t], &q.codes8[(2 * p + t) * K + k], 8);
  return paired;
}

// One group's sums for rows (row0, row1) × a token pair: [r0·t0, r0·t1, r1·t0, r1·t1]. A chunk's low
// nibbles are activations 0-15 of its 32 and its high nibbles 16-31 (quantize_tokens' order).
__attribute__((target("arch=armv8.2-a+dotprod+i8mm"))) int32x4_t pair_group_dot(const uint8_t* row0, const uint8_t* row1,
                                                                                  const int8_t* paired, int64_t chunks) {
  int32x4_t sum = vdupq_n_s32(0);
  for (int64_t c = 0; c < chunks; ++c, row0 += kChunkBytes, row1 += kChunkBytes, paired += 4 * kChunkBytes) {
    const uint8x16_t v0 = vld1q_u8(row0), v1 = vld1q_u8(row1);
    const uint64x2_t lo0 = vreinterpretq_u64_u8(vandq_u8(v0, vdupq_n_u8(0xf))), lo1 = vreinterpretq_u64_u8(vandq_u8(v1, vdupq_n_u8(0xf)));
    const uint64x2_t hi0 = vreinterpretq_u64_u8(vshrq_n_u8(v0, 4)), hi1 = vreinterpretq_u64_u8(vshrq_n_u8(v1, 4));
    sum = vusmmlaq_s32(sum, vreinterpretq_u8_u64(vzip1q_u64(lo0, lo1)), vld1q_s8(paired));
    sum = vusmmlaq_s32(sum, vreinterpretq_u8_u64(vzip2q_u64(lo0, lo1)), vld1q_s8(paired + 16));
    sum = vusmmlaq_s32(sum, vreinterpretq_u8_u64(vzip1q_u64(hi0, hi1)), vld1q_s8(paired + 32));
    sum = vusmmlaq_s32(sum, vreinterpretq_u8_u64(vzip2q_u64(hi0, hi1)), vld1q_s8(paired + 48));
  }
  return sum;
}

// 4-bit codes, int8 activations, two or more tokens: rows and tokens in pairs through USMMLA; an odd
// row or token left over takes the dot-product path.
void gemv_rows_i8mm(const QuantizedMatrix& w, const QuantizedTokens& q, int64_t tokens, float* y) {
  const int64_t G = groups_of(w), K = w.cols, N = w.rows, pairs = tokens / 2;
  const int64_t group_bytes = w.group_size / 2, chunks = group_bytes / kChunkBytes;
  const auto paired = paired_tokens(q, pairs, K);
  const int64_t scratch = RowFactors::scratch_floats(w, tokens);
  for_row_blocks(N, N * K * tokens, 2 * scratch, [&](int64_t first, int64_t count, float* scratch_floats) {
    RowFactors f0(w, q, tokens, scratch_floats), f1(w, q, tokens, scratch_floats + scratch);
    int64_t r = first;
    for (; r + 2 <= first + count; r += 2) {
      f0.load(r);
      f1.load(r + 1);
      const auto* row0 = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
      const auto* row1 = row0 + K / 2;
      for (int64_t p = 0; p < pairs; ++p) {
        const float *a0 = f0.of_token(2 * p), *a1 = f0.of_token(2 * p + 1), *b0 = f1.of_token(2 * p), *b1 = f1.of_token(2 * p + 1);
        float32x4_t total = vdupq_n_f32(0);
        for (int64_t g = 0; g < G; ++g) {
          const int32x4_t dot = pair_group_dot(row0 + g * group_bytes, row1 + g * group_bytes,
                                               paired.data() + p * 2 * K + 2 * g * w.group_size, chunks);
          const float factor[4] = {a0[g], a1[g], b0[g], b1[g]};
          total = vfmaq_f32(total, vcvtq_f32_s32(dot), vld1q_f32(factor));
        }
        y[2 * p * N + r] = vgetq_lane_f32(total, 0) + f0.bias_terms[2 * p];
        y[(2 * p + 1) * N + r] = vgetq_lane_f32(total, 1) + f0.bias_terms[2 * p + 1];
        y[2 * p * N + r + 1] = vgetq_lane_f32(total, 2) + f1.bias_terms[2 * p];
        y[(2 * p + 1) * N + r + 1] = vgetq_lane_f32(total, 3) + f1.bias_terms[2 * p + 1];
      }
      row_outputs<4>(w, q, f0, r, 2 * pairs, tokens, y, true);
      row_outputs<4>(w, q, f1, r + 1, 2 * pairs, tokens, y, true);
    }
    if (r < first + count) {
      f0.load(r);
      row_outputs<4>(w, q, f0, r, 0, tokens, y, true);
    }
  });
}

}  // namespace

bool gemv_arm(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8, bool i8mm) {
  if ((w.bits != 4 && w.bits != 8) || (w.group_size * w.bits / 8) % kChunkBytes != 0) return false;
  const auto q = quantize_tokens(x, tokens, w, kChunkBytes, int8);
  if (int8 && i8mm && tokens >= 2) gemv_rows_i8mm(w, q, tokens, y);
  else if (w.bits == 4) gemv_rows<4>(w, q, tokens, y, int8);
  else gemv_rows<8>(w, q, tokens, y, false);
  return true;
}

}  // namespace flotilla::kernels::detail
#endif  // FLOTILLA_ARM_KERNELS
