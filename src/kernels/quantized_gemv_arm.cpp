// The ARM64 quantized GEMV: tokens quantized per group (quantized_rows.h), 16 packed bytes of
// codes at a time against them, integer sums per group scaled once. NEON multiply-accumulates
// int16 activations into int32 lanes; with the dot product (ARMv8.2) 4-bit codes meet int8 ones.
#include "kernels/quantized_rows.h"

#if FLOTILLA_ARM_KERNELS
#include <arm_neon.h>

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

template <int Bits>
void gemv_rows(const QuantizedMatrix& w, const QuantizedTokens& q, int64_t tokens, float* y, bool int8) {
  const int64_t G = groups_of(w), K = w.cols, N = w.rows, words = words_of(w);
  const int64_t group_bytes = w.group_size * Bits / 8, chunks = group_bytes / kChunkBytes;
  for_row_blocks(N, N * K * tokens, RowFactors::scratch_floats(w, tokens), [&](int64_t first, int64_t count, float* scratch) {
    RowFactors factors(w, q, tokens, scratch);
    for (int64_t r = first; r < first + count; ++r) {
      factors.load(r);
      const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed + r * words);
      for (int64_t t = 0; t < tokens; ++t) {
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
  });
}

}  // namespace

bool gemv_arm(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8) {
  if ((w.bits != 4 && w.bits != 8) || (w.group_size * w.bits / 8) % kChunkBytes != 0) return false;
  const auto q = quantize_tokens(x, tokens, w, kChunkBytes, int8);
  if (w.bits == 4) gemv_rows<4>(w, q, tokens, y, int8);
  else gemv_rows<8>(w, q, tokens, y, false);
  return true;
}

}  // namespace flotilla::kernels::detail
#endif  // FLOTILLA_ARM_KERNELS
