#include "kernels/quantized_matmul.h"

#include <cmath>
#include <cstring>

#include "kernels/quantized_rows.h"

#if FLOTILLA_X86_KERNELS
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 flags _mm512_undefined_* inside intrinsics
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"  // vector values stay inside this file's target regions
#endif
#if FLOTILLA_ARM_KERNELS
#include <arm_neon.h>
#endif

namespace flotilla::kernels {

namespace detail {

// Σx of each group of each token: the bias term of every row is Σ_g bias[g]·sum[g].
std::vector<float> group_sums(const float* x, int64_t tokens, int64_t cols, int group_size) {
  const int64_t G = cols / group_size;
  std::vector<float> sums(tokens * G);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t g = 0; g < G; ++g) {
      float s = 0;
      for (int i = 0; i < group_size; ++i) s += x[t * cols + g * group_size + i];
      sums[t * G + g] = s;
    }
  return sums;
}

// Nearest integer, ties to even, for |v| < 2^22, in plain float arithmetic so loops vectorise
// (adding 1.5·2^23 leaves the integer in the low mantissa bits).
inline int32_t round_small(float v) {
  constexpr float kShift = 12582912.0f;
  float shifted = v + kShift;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return bits - 0x4B400000;
}

QuantizedTokens quantize_tokens(const float* x, int64_t tokens, const QuantizedMatrix& w, int chunk_bytes, bool int8) {
  const int64_t K = w.cols, G = groups_of(w);
  const int per_byte = 8 / w.bits, chunk_inputs = chunk_bytes * per_byte;
  const float levels = int8 ? 127.0f : 32767.0f;
  QuantizedTokens q;
  (int8 ? q.codes8.resize(tokens * K) : q.codes.resize(tokens * K));
  q.steps.resize(tokens * G);
  q.sums = group_sums(x, tokens, K, w.group_size);
  std::vector<int16_t> natural(K);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * K;
    for (int64_t g = 0; g < G; ++g) {
      float largest = 0;
      for (int i = 0; i < w.group_size; ++i) largest = std::max(largest, std::fabs(xt[g * w.group_size + i]));
      const float inverse = largest > 0 ? levels / largest : 0.0f;
      q.steps[t * G + g] = largest / levels;
      for (int i = 0; i < w.group_size; ++i)
        natural[g * w.group_size + i] = static_cast<int16_t>(round_small(xt[g * w.group_size + i] * inverse));
    }
    for (int64_t base = 0; base < K; base += chunk_inputs)
      for (int j = 0; j < per_byte; ++j)
        for (int k = 0; k < chunk_bytes; ++k) {
          const int16_t v = natural[base + k * per_byte + j];
          if (int8) q.codes8[t * K + base + j * chunk_bytes + k] = static_cast<int8_t>(v);
          else q.codes[t * K + base + j * chunk_bytes + k] = v;
        }
  }
  return q;
}

}  // namespace detail

namespace {

using namespace detail;

// --- portable path: float math, codes decoded word by word ------------------------------------

void gemv_portable(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y) {
  const int64_t G = groups_of(w), words = words_of(w), K = w.cols, N = w.rows;
  const int per_word = 32 / w.bits, words_per_group = w.group_size / per_word;
  const uint32_t mask = (1u << w.bits) - 1;
  const auto sums = group_sums(x, tokens, K, w.group_size);
  for_row_blocks(N, N * K * tokens, 2 * G, [&](int64_t first, int64_t count, float* scratch) {
    float *scales = scratch, *biases = scratch + G;
    for (int64_t r = first; r < first + count; ++r) {
      row_scales(w, r, scales, biases);
      const uint32_t* codes = w.packed + r * words;
      for (int64_t t = 0; t < tokens; ++t) {
        const float* xt = x + t * K;
        float total = 0;
        for (int64_t g = 0; g < G; ++g) {
          float dot = 0;
          for (int64_t i = g * words_per_group; i < (g + 1) * words_per_group; ++i) {
            const uint32_t word = codes[i];
            const float* xs = xt + i * per_word;
            for (int j = 0; j < per_word; ++j) dot += static_cast<float>((word >> (j * w.bits)) & mask) * xs[j];
          }
          total += scales[g] * dot + biases[g] * sums[t * G + g];
        }
        y[t * N + r] = total;
      }
    }
  });
}


// One row of codes into out[cols] through `convert(code·scale + bias)`, word by word.
template <typename Out, typename Convert>
void dequantize_row_portable(const QuantizedMatrix& w, const uint32_t* codes, const float* scales, const float* biases,
                             Out* out, const Convert& convert) {
  const int per_word = 32 / w.bits, words_per_group = w.group_size / per_word;
  const uint32_t mask = (1u << w.bits) - 1;
  for (int64_t g = 0; g < groups_of(w); ++g) {
    const float scale = scales[g], bias = biases[g];
    for (int64_t k = g * words_per_group; k < (g + 1) * words_per_group; ++k) {
      const uint32_t word = codes[k];
      for (int j = 0; j < per_word; ++j) out[k * per_word + j] = convert(static_cast<float>((word >> (j * w.bits)) & mask) * scale + bias);
    }
  }
}

// Calls chunk(bytes, first_output, scale, bias) for each 16 packed bytes of a row (32 four-bit or
// 16 eight-bit codes), with its group's scale and bias; the SIMD dequantizers below fill in chunk.
template <int Bits, typename Chunk>
FLOTILLA_INLINE void for_each_chunk(const QuantizedMatrix& w, const uint32_t* codes, const float* scales, const float* biases,
                                    const Chunk& chunk) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(codes);
  const int64_t steps_per_group = w.group_size * Bits / 8 / 16;
  for (int64_t g = 0; g < groups_of(w); ++g)
    for (int64_t step = g * steps_per_group; step < (g + 1) * steps_per_group; ++step)
      chunk(bytes + step * 16, step * 128 / Bits, scales[g], biases[g]);
}

#if FLOTILLA_X86_KERNELS
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")

// 16 floats to bfloat16 bits, rounding to nearest even as float_to_bf16 does (NaN aside).
inline __m256i to_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i rounding = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_add_epi32(u, rounding), 16));
}

inline void store16(float* out, __m512 v) { _mm512_storeu_ps(out, v); }
inline void store16(uint16_t* out, __m512 v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), to_bf16(v)); }

// 16 packed bytes at a time: 32 four-bit codes or 16 eight-bit codes, in input order. A byte's two
// nibbles go to the low and high int16 of one int32 lane, which read as int16 lanes are in order.
template <int Bits, typename Out>
void dequantize_row_avx512(const QuantizedMatrix& w, const uint32_t* codes, const float* scales, const float* biases, Out* out) {
  for_each_chunk<Bits>(w, codes, scales, biases, [&](const uint8_t* bytes, int64_t at, float s, float b) {
    const __m512 scale = _mm512_set1_ps(s), bias = _mm512_set1_ps(b);
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
    if (Bits == 8) return store16(out + at, _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), scale, bias));
    const __m512i pairs = _mm512_or_si512(_mm512_and_si512(v, _mm512_set1_epi32(0xf)),
                                          _mm512_and_si512(_mm512_slli_epi32(v, 12), _mm512_set1_epi32(0xf0000)));
    store16(out + at, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(pairs))), scale, bias));
    store16(out + at + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(pairs, 1))), scale, bias));
  });
}

#pragma GCC pop_options
#endif  // FLOTILLA_X86_KERNELS

#if FLOTILLA_ARM_KERNELS
// 4 floats to bfloat16 bits, rounding to nearest even as float_to_bf16 does (NaN aside).
inline uint16x4_t to_bf16(float32x4_t v) {
  const uint32x4_t u = vreinterpretq_u32_f32(v);
  const uint32x4_t rounding = vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1)));
  return vshrn_n_u32(vaddq_u32(u, rounding), 16);
}

inline void store4(float* out, float32x4_t v) { vst1q_f32(out, v); }
inline void store4(uint16_t* out, float32x4_t v) { vst1_u16(out, to_bf16(v)); }

// 8 codes (widened bytes, in input order) as code·scale + bias.
template <typename Out>
inline void store8(Out* out, uint16x8_t codes, float32x4_t scale, float32x4_t bias) {
  store4(out, vfmaq_f32(bias, vcvtq_f32_u32(vmovl_u16(vget_low_u16(codes))), scale));
  store4(out + 4, vfmaq_f32(bias, vcvtq_f32_u32(vmovl_high_u16(codes)), scale));
}

// A byte's low nibble comes first: the two nibble vectors zipped are in input order.
template <int Bits, typename Out>
void dequantize_row_neon(const QuantizedMatrix& w, const uint32_t* codes, const float* scales, const float* biases, Out* out) {
  for_each_chunk<Bits>(w, codes, scales, biases, [&](const uint8_t* bytes, int64_t at, float s, float b) {
    const float32x4_t scale = vdupq_n_f32(s), bias = vdupq_n_f32(b);
    const uint8x16_t v = vld1q_u8(bytes);
    if (Bits == 8) {
      store8(out + at, vmovl_u8(vget_low_u8(v)), scale, bias);
      return store8(out + at + 8, vmovl_high_u8(v), scale, bias);
    }
    const uint8x16_t lo = vandq_u8(v, vdupq_n_u8(0xf)), hi = vshrq_n_u8(v, 4);
    const uint8x16_t first = vzip1q_u8(lo, hi), second = vzip2q_u8(lo, hi);
    store8(out + at, vmovl_u8(vget_low_u8(first)), scale, bias);
    store8(out + at + 8, vmovl_high_u8(first), scale, bias);
    store8(out + at + 16, vmovl_u8(vget_low_u8(second)), scale, bias);
    store8(out + at + 24, vmovl_high_u8(second), scale, bias);
  });
}
#endif  // FLOTILLA_ARM_KERNELS

template <typename Out, typename Convert>
void dequantize_into(const QuantizedMatrix& w, int64_t first, int64_t count, Out* out, const Convert& convert) {
  const int64_t G = groups_of(w), words = words_of(w), K = w.cols;
  // Whole 16-byte steps per group: 4-bit groups of 32+, 8-bit groups of 16+.
  const bool whole_steps = (w.bits == 4 || w.bits == 8) && (w.group_size * w.bits / 8) % 16 == 0;
#if FLOTILLA_X86_KERNELS
  const bool wide = active_isa() >= Isa::avx512 && whole_steps;
#elif FLOTILLA_ARM_KERNELS
  const bool wide = active_isa() >= Isa::neon && whole_steps;
#else
  (void)whole_steps;
#endif
  for_row_blocks(count, count * K, 2 * G, [&](int64_t block_first, int64_t block_count, float* scratch) {
    float *scales = scratch, *biases = scratch + G;
    for (int64_t i = block_first; i < block_first + block_count; ++i) {
      const int64_t r = first + i;
      row_scales(w, r, scales, biases);
      const uint32_t* codes = w.packed + r * words;
#if FLOTILLA_X86_KERNELS
      if (wide) {
        if (w.bits == 4) dequantize_row_avx512<4>(w, codes, scales, biases, out + i * K);
        else dequantize_row_avx512<8>(w, codes, scales, biases, out + i * K);
        continue;
      }
#elif FLOTILLA_ARM_KERNELS
      if (wide) {
        if (w.bits == 4) dequantize_row_neon<4>(w, codes, scales, biases, out + i * K);
        else dequantize_row_neon<8>(w, codes, scales, biases, out + i * K);
        continue;
      }
#endif
      dequantize_row_portable(w, codes, scales, biases, out + i * K, convert);
    }
  });
}

}  // namespace

void quantized_gemv(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, ActivationPrecision precision) {
#if FLOTILLA_X86_KERNELS
  Isa isa = active_isa();
  if (isa == Isa::avx512) isa = Isa::avx2;  // AVX-512 without VNNI runs the AVX2 code
  const bool int8 = precision == ActivationPrecision::int8 && isa == Isa::avx512_vnni && w.bits == 4;
  if (gemv_x86(isa, w, x, tokens, y, int8)) return;
#elif FLOTILLA_ARM_KERNELS
  const Isa isa = active_isa();
  const bool int8 = precision == ActivationPrecision::int8 && isa >= Isa::neon_dotprod && w.bits == 4;
  if (isa >= Isa::neon && gemv_arm(w, x, tokens, y, int8, isa == Isa::neon_i8mm)) return;
#else
  (void)precision;
#endif
  gemv_portable(w, x, tokens, y);
}

void dequantize_rows(const QuantizedMatrix& w, int64_t first, int64_t count, float* out) {
  dequantize_into(w, first, count, out, [](float v) { return v; });
}

void dequantize_rows_bf16(const QuantizedMatrix& w, int64_t first, int64_t count, uint16_t* out) {
  dequantize_into(w, first, count, out, [](float v) { return float_to_bf16(v); });
}

}  // namespace flotilla::kernels
