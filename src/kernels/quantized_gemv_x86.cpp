// The quantized GEMV in AVX-512 VNNI and AVX2, each function compiled for its own instruction set.
#include "kernels/quantized_rows.h"

#if FLOTILLA_X86_KERNELS
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 flags _mm512_undefined_* inside intrinsics
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"  // vector values stay inside this file's target regions

namespace flotilla::kernels::detail {

namespace {

// Runs chunk(c, chain) over a row's chunks on two alternating accumulator chains, so that
// consecutive chunks' FMAs overlap. Target-neutral: it inlines into each ISA's kernel.
template <typename Chunk>
FLOTILLA_INLINE void over_chunks_in_two_chains(int64_t chunks, Chunk&& chunk) {
  int64_t c = 0;
  for (; c + 2 <= chunks; c += 2) {
    chunk(c, 0);
    chunk(c + 1, 1);
  }
  if (c < chunks) chunk(c, 0);
}

// A block of tokens' quantized activations and this row's factors for each of them.
template <typename Code, int Tokens>
struct TokenBlock {
  const Code* codes[Tokens];
  const float* factors[Tokens];
  FLOTILLA_INLINE TokenBlock(const std::vector<Code>& all_codes, int64_t K, int64_t first_token, const RowFactors& rf) {
    for (int t = 0; t < Tokens; ++t) {
      codes[t] = all_codes.data() + (first_token + t) * K;
      factors[t] = rf.of_token(first_token + t);
    }
  }
};

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

// The 16 lanes' factors: one group's for chunks inside a group, else each lane's own group's.
FLOTILLA_INLINE __m512 factor_avx512(const float* factors, int64_t group, int group_bytes, __m512i lane_index) {
  constexpr int kChunk = 32;
  return group_bytes >= kChunk ? _mm512_set1_ps(factors[group])
                               : _mm512_permutexvar_ps(lane_index, _mm512_loadu_ps(factors + group));
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
  __m512 acc[2][Tokens];
  for (int t = 0; t < Tokens; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  const TokenBlock<int16_t, Tokens> block(q.codes, K, first_token, rf);
  over_chunks_in_two_chains(chunks, [&](int64_t c, int chain) {
    const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * kChunk)));
    __m512i unpacked[kPerByte];
    for (int j = 0; j < kPerByte; ++j)
      unpacked[j] = Bits == 8 ? bytes : _mm512_and_si512(_mm512_srli_epi16(bytes, j * Bits), mask);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const int16_t* xc = block.codes[t] + c * kChunk * kPerByte;
      __m512i dot = _mm512_setzero_si512();
      for (int j = 0; j < kPerByte; ++j) dot = _mm512_dpwssd_epi32(dot, unpacked[j], _mm512_loadu_si512(xc + j * kChunk));
      acc[chain][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factor_avx512(block.factors[t], group, group_bytes, lane_index), acc[chain][t]);
    }
  });
  for (int t = 0; t < Tokens; ++t)
    y[(first_token + t) * N + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t])) + rf.bias_terms[first_token + t];
}

// A chunk's 32 low nibbles, then its 32 high ones, as unsigned bytes in one register.
FLOTILLA_INLINE __m512i nibbles_side_by_side(const uint8_t* chunk) {
  const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk));
  const __m256i mask = _mm256_set1_epi8(0x0f);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bytes, mask)),
                            _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask), 1);
}

// 16 bfloat16 values (raw bits) as floats.
FLOTILLA_INLINE __m512 bf16_to_floats(__m256i bf16) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bf16), 16));
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
  const uint8_t* codes = reinterpret_cast<const uint8_t*>(w.packed + r * words_of(w));
  __m512 acc[2][Tokens];
  for (int t = 0; t < Tokens; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  const TokenBlock<int8_t, Tokens> block(q.codes8, K, first_token, rf);
  over_chunks_in_two_chains(chunks, [&](int64_t c, int chain) {
    const __m512i nibbles = nibbles_side_by_side(codes + c * kChunk);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles, _mm512_loadu_si512(block.codes[t] + c * 2 * kChunk));
      acc[chain][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factor_avx512(block.factors[t], group, group_bytes, lane_index), acc[chain][t]);
    }
  });
  for (int t = 0; t < Tokens; ++t)
    y[(first_token + t) * N + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t])) + rf.bias_terms[first_token + t];
}

// 16 scales or biases from `first` on as floats, lanes past `m` zero.
template <ScaleType S>
FLOTILLA_INLINE __m512 factors_avx512(const void* values, int64_t first, __mmask16 m) {
  if constexpr (S == ScaleType::f32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(values) + first);
  const __m256i half = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(values) + first);
  if constexpr (S == ScaleType::bf16) return bf16_to_floats(half);
  else return _mm512_cvtph_ps(half);
}

// One token, 4-bit codes, 64 packed bytes a step: their 64 low nibbles meet one register of int8
// activations and their 64 high nibbles the next (tokens quantized in 64-byte chunks), so int32
// lane i sums bytes 4i.. of both, which lie in group 4i / GroupBytes of the step. The factors
// scale·step and the bias term are formed inside the pass, so a row's scales and biases are read once.
template <int GroupBytes, ScaleType S>
void rows_avx512_int8_one_pass(const QuantizedMatrix& w, const QuantizedTokens& q, int64_t first, int64_t count, float* y) {
  constexpr int kStepBytes = 64, kBlockGroups = 16, kGroupsPerStep = kStepBytes / GroupBytes;
  constexpr int kBlockSteps = kBlockGroups / kGroupsPerStep;
  constexpr int kPrefetchBytes = 2048;  // the hardware prefetcher alone left ~10% of the read bandwidth unused
  const int64_t G = groups_of(w), row_bytes = G * GroupBytes;
  const int8_t* xq = q.codes8.data();
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
  __m512i factor_index[kBlockSteps];  // the lanes' groups within a block, step by step
  for (int s = 0; s < kBlockSteps; ++s) {
    alignas(64) int32_t index[16];
    for (int i = 0; i < 16; ++i) index[i] = s * kGroupsPerStep + 4 * i / GroupBytes;
    factor_index[s] = _mm512_load_si512(index);
  }
  for (int64_t r = first; r < first + count; ++r) {
    const uint8_t* codes = reinterpret_cast<const uint8_t*>(w.packed) + r * row_bytes;
    auto step = [&](int64_t at, __m512 factor, __m512 sum) {
      _mm_prefetch(reinterpret_cast<const char*>(codes + at + kPrefetchBytes), _MM_HINT_T0);
      const __m512i bytes = _mm512_loadu_si512(codes + at);
      const int8_t* x = xq + 2 * at;
      __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(bytes, low_nibbles), _mm512_loadu_si512(x));
      dot = _mm512_dpbusd_epi32(dot, _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low_nibbles), _mm512_loadu_si512(x + kStepBytes));
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factor, sum);
    };
    __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps(), bias = _mm512_setzero_ps();
    for (int64_t g0 = 0; g0 < G; g0 += kBlockGroups) {
      const int64_t groups = std::min<int64_t>(kBlockGroups, G - g0);
      const __mmask16 m = static_cast<__mmask16>((1u << groups) - 1);
      const __m512 factors = _mm512_mul_ps(factors_avx512<S>(w.scales, r * G + g0, m), _mm512_maskz_loadu_ps(m, q.steps.data() + g0));
      bias = _mm512_fmadd_ps(factors_avx512<S>(w.biases, r * G + g0, m), _mm512_maskz_loadu_ps(m, q.sums.data() + g0), bias);
      const int64_t at = g0 * GroupBytes;
      if (groups == kBlockGroups) {
#pragma GCC unroll 16
        for (int s = 0; s < kBlockSteps; s += 2) {
          even = step(at + s * kStepBytes, _mm512_permutexvar_ps(factor_index[s], factors), even);
          odd = step(at + (s + 1) * kStepBytes, _mm512_permutexvar_ps(factor_index[s + 1], factors), odd);
        }
      } else {  // the row's last groups (whole steps: rows are a multiple of 64 bytes)
        for (int s = 0; s < groups / kGroupsPerStep; ++s)
          even = step(at + s * kStepBytes, _mm512_permutexvar_ps(factor_index[s], factors), even);
      }
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(even, odd), bias));
  }
}

// bfloat16 scales and biases straight from the row, 16 groups a step (a masked step at the end).
void load_factors_avx512(RowFactors& rf, int64_t r) {
  const auto& w = rf.w;
  if (w.scale_type != ScaleType::bf16) return rf.load(r);
  const int64_t G = groups_of(w);
  const auto* scales = static_cast<const uint16_t*>(w.scales) + r * G;
  const auto* biases = static_cast<const uint16_t*>(w.biases) + r * G;
  for (int64_t t = 0; t < rf.tokens; ++t) {
    const float *steps = rf.q.steps.data() + t * G, *sums = rf.q.sums.data() + t * G;
    float* factors = rf.factors + t * (G + kFactorPad);
    __m512 bias = _mm512_setzero_ps();
    for (int64_t g = 0; g < G; g += 16) {
      const __mmask16 m = G - g >= 16 ? __mmask16(0xffff) : __mmask16((1u << (G - g)) - 1);
      const __m512 scale = bf16_to_floats(_mm256_maskz_loadu_epi16(m, scales + g));
      _mm512_mask_storeu_ps(factors + g, m, _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, steps + g)));
      bias = _mm512_fmadd_ps(bf16_to_floats(_mm256_maskz_loadu_epi16(m, biases + g)), _mm512_maskz_loadu_ps(m, sums + g), bias);
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
  __m256 acc[2][Tokens];
  for (int t = 0; t < Tokens; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
  const TokenBlock<int16_t, Tokens> block(q.codes, K, first_token, rf);
  over_chunks_in_two_chains(chunks, [&](int64_t c, int chain) {
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * kChunk)));
    __m256i unpacked[kPerByte];
    for (int j = 0; j < kPerByte; ++j)
      unpacked[j] = Bits == 8 ? bytes : _mm256_and_si256(_mm256_srli_epi16(bytes, j * Bits), mask);
    const int64_t group = (c * kChunk) >> group_shift;
    for (int t = 0; t < Tokens; ++t) {
      const int16_t* xc = block.codes[t] + c * kChunk * kPerByte;
      __m256i dot = _mm256_setzero_si256();
      for (int j = 0; j < kPerByte; ++j)
        dot = _mm256_add_epi32(dot, _mm256_madd_epi16(unpacked[j], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + j * kChunk))));
      const __m256 factor = group_bytes >= kChunk ? _mm256_set1_ps(block.factors[t][group])
                                                  : _mm256_permutevar8x32_ps(_mm256_loadu_ps(block.factors[t] + group), lane_index);
      acc[chain][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), factor, acc[chain][t]);
    }
  });
  for (int t = 0; t < Tokens; ++t) {
    const __m256 total = _mm256_add_ps(acc[0][t], acc[1][t]);
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
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

using OnePassKernel = void (*)(const QuantizedMatrix&, const QuantizedTokens&, int64_t, int64_t, float*);

template <int GroupBytes>
OnePassKernel one_pass_for_scales(ScaleType scale_type) {
  switch (scale_type) {
    case ScaleType::f32: return rows_avx512_int8_one_pass<GroupBytes, ScaleType::f32>;
    case ScaleType::f16: return rows_avx512_int8_one_pass<GroupBytes, ScaleType::f16>;
    default: return rows_avx512_int8_one_pass<GroupBytes, ScaleType::bf16>;
  }
}

// Groups of 32, 64 or 128 4-bit codes (16, 32 or 64 bytes); null for other sizes.
OnePassKernel one_pass_kernel(const QuantizedMatrix& w) {
  switch (w.group_size) {
    case 32: return one_pass_for_scales<16>(w.scale_type);
    case 64: return one_pass_for_scales<32>(w.scale_type);
    case 128: return one_pass_for_scales<64>(w.scale_type);
    default: return nullptr;
  }
}

void gemv_simd(Isa isa, const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8) {
  // Decoding a 4-bit matrix with int8 activations reads each row in one pass, scales and biases included.
  const auto one_pass = int8 && tokens == 1 && w.cols % 128 == 0 ? one_pass_kernel(w) : nullptr;
  const int chunk_bytes = one_pass ? 64 : isa == Isa::avx512_vnni ? 32 : 16;
  const auto q = quantize_tokens(x, tokens, w, chunk_bytes, int8);
  const int64_t N = w.rows, K = w.cols;
  if (one_pass) {
    for_row_blocks(N, N * K, 0, [&](int64_t first, int64_t count, float*) { one_pass(w, q, first, count, y); });
    return;
  }
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


}  // namespace

bool gemv_x86(Isa isa, const QuantizedMatrix& w, const float* x, int64_t tokens, float* y, bool int8) {
  if (!simd_fits(isa, w)) return false;
  gemv_simd(isa, w, x, tokens, y, int8);
  return true;
}

}  // namespace flotilla::kernels::detail

#endif  // FLOTILLA_X86_KERNELS
