#include "kernels/quantized_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/number_formats.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FLOTILLA_X86_KERNELS 1
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 flags _mm512_undefined_* inside intrinsics
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"  // vector values stay inside this file's target regions
#endif

namespace flotilla::kernels {

namespace {

constexpr int kTokenBlock = 4;         // tokens sharing one pass over a row's codes
constexpr int64_t kRowBlock = 16;      // rows per scheduling unit
constexpr int64_t kParallelWork = 1 << 16;  // fewer multiply-adds than this stay on one thread
constexpr int kFactorPad = 16;         // a SIMD load of factors may read this far past the last group

int64_t groups_of(const QuantizedMatrix& w) { return w.cols / w.group_size; }
int64_t words_of(const QuantizedMatrix& w) { return w.cols * w.bits / 32; }

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

// Runs body(first_row, row_count, scratch) over all rows in blocks, on every thread when the
// product is large enough; `scratch_floats` floats of per-thread scratch.
template <typename Body>
void for_row_blocks(int64_t rows, int64_t work, int64_t scratch_floats, const Body& body) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
#pragma omp parallel if (work >= kParallelWork)
  {
    std::vector<float> scratch(scratch_floats);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t first = b * kRowBlock;
      body(first, std::min(kRowBlock, rows - first), scratch.data());
    }
  }
}

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

// AVX-512 VNNI: 32 packed bytes widen to 32 int16 lanes; each shift's codes meet their int16
// activations in vpdpwssd, whose int32 lane i covers bytes 2i and 2i+1 (so lane i's group is
// 2i / group_bytes into the chunk); one float FMA per chunk applies scale·step.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")
// The group (counted from the chunk's first) of each int32 lane, whose bytes start at
// (i·bytes_per_lane) mod chunk_bytes; vector shifts, as a per-row division loop costs as much as a step.
FLOTILLA_INLINE __m512i lane_groups_avx512(int bytes_per_lane, int chunk_bytes, int group_shift) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i first_byte =
      _mm512_and_si512(_mm512_mullo_epi32(lanes, _mm512_set1_epi32(bytes_per_lane)), _mm512_set1_epi32(chunk_bytes - 1));
  return _mm512_srl_epi32(first_byte, _mm_cvtsi32_si128(group_shift));
}

template <int Bits, int Tokens>
void rows_avx512(
    const QuantizedMatrix& w, const QuantizedTokens& q, int64_t first_token, RowFactors& rf, int64_t r,
    float* y) {
  constexpr int kPerByte = 8 / Bits, kChunk = 32;
  const int64_t K = w.cols, N = w.rows, chunks = K * Bits / 8 / kChunk;
  const int group_bytes = w.group_size * Bits / 8, group_shift = __builtin_ctz(group_bytes);
  const __m512i lane_index = lane_groups_avx512(2, kChunk, group_shift);
  const __m512i mask = _mm512_set1_epi16((1 << Bits) - 1);
  const uint8_t* codes = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
  __m512 acc[2][Tokens];  // two chains per token, so consecutive chunks' FMAs overlap
  const int16_t* xq[Tokens];
  const float* factors[Tokens];
  for (int t = 0; t < Tokens; ++t) {
    acc[0][t] = acc[1][t] = _mm512_setzero_ps();
    xq[t] = q.codes.data() + (first_token + t) * K;
    factors[t] = rf.of_token(first_token + t);
  }
  auto chunk = [&](int64_t c, __m512* sums) {
    const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * kChunk)));
    __m512i unpacked[kPerByte];
    for (int j = 0; j < kPerByte; ++j)
      unpacked[j] = Bits == 8 ? bytes : _mm512_and_si512(_mm512_srli_epi16(bytes, j * Bits), mask);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const int16_t* xc = xq[t] + c * kChunk * kPerByte;
      __m512i dot = _mm512_setzero_si512();
      for (int j = 0; j < kPerByte; ++j) dot = _mm512_dpwssd_epi32(dot, unpacked[j], _mm512_loadu_si512(xc + j * kChunk));
      const __m512 factor = group_bytes >= kChunk ? _mm512_set1_ps(factors[t][group])
                                                  : _mm512_permutexvar_ps(lane_index, _mm512_loadu_ps(factors[t] + group));
      sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factor, sums[t]);
    }
  };
  int64_t c = 0;
  for (; c + 2 <= chunks; c += 2) {
    chunk(c, acc[0]);
    chunk(c + 1, acc[1]);
  }
  if (c < chunks) chunk(c, acc[0]);
  for (int t = 0; t < Tokens; ++t) acc[0][t] = _mm512_add_ps(acc[0][t], acc[1][t]);
  __m512* total = acc[0];
  for (int t = 0; t < Tokens; ++t) y[(first_token + t) * N + r] = _mm512_reduce_add_ps(total[t]) + rf.bias_terms[first_token + t];
}

// 4-bit codes against int8 activations: the 32 low and 32 high nibbles of a chunk side by side in
// one register meet 64 int8 activations in one vpdpbusd (unsigned × signed bytes, four per int32
// lane), so lane i reads chunk bytes 4i mod 32 onwards.
template <int Tokens>
void rows_avx512_int8(const QuantizedMatrix& w, const QuantizedTokens& q, int64_t first_token, RowFactors& rf,
                      int64_t r, float* y) {
  constexpr int kChunk = 32;
  const int64_t K = w.cols, N = w.rows, chunks = K / 2 / kChunk;
  const int group_bytes = w.group_size / 2, group_shift = __builtin_ctz(group_bytes);
  const __m512i lane_index = lane_groups_avx512(4, kChunk, group_shift);
  const __m256i mask = _mm256_set1_epi8(0x0f);
  const uint8_t* codes = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
  __m512 acc[2][Tokens];
  const int8_t* xq[Tokens];
  const float* factors[Tokens];
  for (int t = 0; t < Tokens; ++t) {
    acc[0][t] = acc[1][t] = _mm512_setzero_ps();
    xq[t] = q.codes8.data() + (first_token + t) * K;
    factors[t] = rf.of_token(first_token + t);
  }
  auto chunk = [&](int64_t c, __m512* sums) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * kChunk));
    const __m512i nibbles = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bytes, mask)),
                                               _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask), 1);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles, _mm512_loadu_si512(xq[t] + c * 2 * kChunk));
      const __m512 factor = group_bytes >= kChunk ? _mm512_set1_ps(factors[t][group])
                                                  : _mm512_permutexvar_ps(lane_index, _mm512_loadu_ps(factors[t] + group));
      sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factor, sums[t]);
    }
  };
  int64_t c = 0;
  for (; c + 2 <= chunks; c += 2) {
    chunk(c, acc[0]);
    chunk(c + 1, acc[1]);
  }
  if (c < chunks) chunk(c, acc[0]);
  for (int t = 0; t < Tokens; ++t)
    y[(first_token + t) * N + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t])) + rf.bias_terms[first_token + t];
}

// bfloat16 scales and biases straight from the row, 16 groups a step (a masked step at the end).
void load_factors_avx512(RowFactors& rf, int64_t r) {
  const auto& w = rf.w;
  if (w.scale_type != ScaleType::bf16) return rf.load(r);
  const int64_t G = groups_of(w);
  const auto* scales = static_cast<const uint16_t*>(w.scales) + r * G;
  const auto* biases = static_cast<const uint16_t*>(w.biases) + r * G;
  auto widen = [](__m256i bf16) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bf16), 16)); };
  for (int64_t t = 0; t < rf.tokens; ++t) {
    const float *steps = rf.q.steps.data() + t * G, *sums = rf.q.sums.data() + t * G;
    float* factors = rf.factors + t * (G + kFactorPad);
    __m512 bias = _mm512_setzero_ps();
    for (int64_t g = 0; g < G; g += 16) {
      const __mmask16 m = G - g >= 16 ? __mmask16(0xffff) : __mmask16((1u << (G - g)) - 1);
      const __m512 scale = widen(_mm256_maskz_loadu_epi16(m, scales + g));
      _mm512_mask_storeu_ps(factors + g, m, _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, steps + g)));
      bias = _mm512_fmadd_ps(widen(_mm256_maskz_loadu_epi16(m, biases + g)), _mm512_maskz_loadu_ps(m, sums + g), bias);
    }
    rf.bias_terms[t] = _mm512_reduce_add_ps(bias);
  }
}

#pragma GCC pop_options

// AVX2: the same with 16-byte chunks, vpmaddwd + vpaddd for the integer dot.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
template <int Bits, int Tokens>
void rows_avx2(const QuantizedMatrix& w, const QuantizedTokens& q,
                                                    int64_t first_token, RowFactors& rf, int64_t r, float* y) {
  constexpr int kPerByte = 8 / Bits, kChunk = 16;
  const int64_t K = w.cols, N = w.rows, chunks = K * Bits / 8 / kChunk;
  const int group_bytes = w.group_size * Bits / 8, group_shift = __builtin_ctz(group_bytes);
  const __m256i lane_index =
      _mm256_srl_epi32(_mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), _mm_cvtsi32_si128(group_shift));
  const __m256i mask = _mm256_set1_epi16((1 << Bits) - 1);
  const uint8_t* codes = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
  __m256 acc[2][Tokens];  // two chains per token, so consecutive chunks' FMAs overlap
  const int16_t* xq[Tokens];
  const float* factors[Tokens];
  for (int t = 0; t < Tokens; ++t) {
    acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    xq[t] = q.codes.data() + (first_token + t) * K;
    factors[t] = rf.of_token(first_token + t);
  }
  auto chunk = [&](int64_t c, __m256* sums) {
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * kChunk)));
    __m256i unpacked[kPerByte];
    for (int j = 0; j < kPerByte; ++j)
      unpacked[j] = Bits == 8 ? bytes : _mm256_and_si256(_mm256_srli_epi16(bytes, j * Bits), mask);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const int16_t* xc = xq[t] + c * kChunk * kPerByte;
      __m256i dot = _mm256_setzero_si256();
      for (int j = 0; j < kPerByte; ++j)
        dot = _mm256_add_epi32(dot, _mm256_madd_epi16(unpacked[j], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + j * kChunk))));
      const __m256 factor = group_bytes >= kChunk ? _mm256_set1_ps(factors[t][group])
                                                  : _mm256_permutevar8x32_ps(_mm256_loadu_ps(factors[t] + group), lane_index);
      sums[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), factor, sums[t]);
    }
  };
  int64_t c = 0;
  for (; c + 2 <= chunks; c += 2) {
    chunk(c, acc[0]);
    chunk(c + 1, acc[1]);
  }
  if (c < chunks) chunk(c, acc[0]);
  for (int t = 0; t < Tokens; ++t) acc[0][t] = _mm256_add_ps(acc[0][t], acc[1][t]);
  __m256* total = acc[0];
  for (int t = 0; t < Tokens; ++t) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(total[t]), _mm256_extractf128_ps(total[t], 1));
    const __m128 pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
    const float sum = _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
    y[(first_token + t) * N + r] = sum + rf.bias_terms[first_token + t];
  }
}

void load_factors_avx2(RowFactors& rf, int64_t r) { rf.load(r); }

#pragma GCC pop_options

using RowKernel = void (*)(const QuantizedMatrix&, const QuantizedTokens&, int64_t, RowFactors&, int64_t, float*);

template <int Bits>
RowKernel pick_kernel(Isa isa, int tokens) {
  const bool wide = isa == Isa::avx512_vnni;
  switch (tokens) {
    case 1: return wide ? rows_avx512<Bits, 1> : rows_avx2<Bits, 1>;
    case 2: return wide ? rows_avx512<Bits, 2> : rows_avx2<Bits, 2>;
    case 3: return wide ? rows_avx512<Bits, 3> : rows_avx2<Bits, 3>;
    default: return wide ? rows_avx512<Bits, 4> : rows_avx2<Bits, 4>;
  }
}

RowKernel row_kernel(Isa isa, int bits, int tokens, bool int8) {
  if (int8) {
    switch (tokens) {
      case 1: return rows_avx512_int8<1>;
      case 2: return rows_avx512_int8<2>;
      case 3: return rows_avx512_int8<3>;
      default: return rows_avx512_int8<4>;
    }
  }
  switch (bits) {
    case 2: return pick_kernel<2>(isa, tokens);
    case 4: return pick_kernel<4>(isa, tokens);
    default: return pick_kernel<8>(isa, tokens);
  }
}

void gemv_simd(Isa isa, const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8) {
  const int chunk_bytes = isa == Isa::avx512_vnni ? 32 : 16;
  const auto q = quantize_tokens(x, tokens, w, chunk_bytes, int8);
  const int64_t N = w.rows, K = w.cols;
  for_row_blocks(N, N * K * tokens, RowFactors::scratch_floats(w, tokens), [&](int64_t first, int64_t count, float* scratch) {
    RowFactors rf(w, q, tokens, scratch);
    const auto load = isa == Isa::avx512_vnni ? load_factors_avx512 : load_factors_avx2;
    for (int64_t r = first; r < first + count; ++r) {
      load(rf, r);
      for (int64_t t = 0; t < tokens; t += kTokenBlock) {
        const int n = static_cast<int>(std::min<int64_t>(kTokenBlock, tokens - t));
        row_kernel(isa, w.bits, n, int8)(w, q, t, rf, r, y);
      }
    }
  });
}

// Chunks must tile each row and each group must fill whole chunks or split one evenly.
bool simd_fits(Isa isa, const QuantizedMatrix& w) {
  if (isa == Isa::portable) return false;
  const int64_t chunk = isa == Isa::avx512_vnni ? 32 : 16, row_bytes = w.cols * w.bits / 8;
  const int64_t group_bytes = w.group_size * w.bits / 8;
  const bool power_of_two = (group_bytes & (group_bytes - 1)) == 0;
  return (w.bits == 2 || w.bits == 4 || w.bits == 8) && power_of_two && row_bytes % chunk == 0 &&
         (chunk % group_bytes == 0 || group_bytes % chunk == 0);
}

#endif  // FLOTILLA_X86_KERNELS

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
  const auto* bytes = reinterpret_cast<const uint8_t*>(codes);
  const int64_t steps_per_group = w.group_size * Bits / 8 / 16;
  for (int64_t g = 0; g < groups_of(w); ++g) {
    const __m512 scale = _mm512_set1_ps(scales[g]), bias = _mm512_set1_ps(biases[g]);
    for (int64_t step = g * steps_per_group; step < (g + 1) * steps_per_group; ++step) {
      const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + step * 16)));
      if (Bits == 8) {
        store16(out + step * 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), scale, bias));
        continue;
      }
      const __m512i pairs = _mm512_or_si512(_mm512_and_si512(v, _mm512_set1_epi32(0xf)),
                                            _mm512_and_si512(_mm512_slli_epi32(v, 12), _mm512_set1_epi32(0xf0000)));
      const __m512i low = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(pairs));
      const __m512i high = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(pairs, 1));
      store16(out + step * 32, _mm512_fmadd_ps(_mm512_cvtepi32_ps(low), scale, bias));
      store16(out + step * 32 + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(high), scale, bias));
    }
  }
}

#pragma GCC pop_options
#endif  // FLOTILLA_X86_KERNELS

template <typename Out, typename Convert>
void dequantize_into(const QuantizedMatrix& w, int64_t first, int64_t count, Out* out, const Convert& convert) {
  const int64_t G = groups_of(w), words = words_of(w), K = w.cols;
#if FLOTILLA_X86_KERNELS
  // Whole 16-byte steps per group: 4-bit groups of 32+, 8-bit groups of 16+.
  const bool wide = active_isa() >= Isa::avx512 && (w.bits == 4 || w.bits == 8) && (w.group_size * w.bits / 8) % 16 == 0;
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
  if (simd_fits(isa, w)) return gemv_simd(isa, w, x, tokens, y, int8);
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
