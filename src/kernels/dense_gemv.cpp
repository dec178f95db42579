#include "kernels/dense_gemv.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu_isa.h"
#include "kernels/number_formats.h"
#include "kernels/row_blocks.h"

#define FLOTILLA_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"  // vector types passed inside always-inlined helpers only

namespace flotilla::kernels {

namespace {

using detail::kTokenBlock;
constexpr int kLanes = 16;

typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef uint16_t Halves __attribute__((vector_size(kLanes * sizeof(uint16_t))));
typedef uint32_t Words __attribute__((vector_size(kLanes * sizeof(uint32_t))));

FLOTILLA_INLINE Floats load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// bfloat16 bits are the top half of a float32.
FLOTILLA_INLINE Floats load(const uint16_t* p) {
  Halves h;
  std::memcpy(&h, p, sizeof h);
  const Words widened = __builtin_convertvector(h, Words) << 16;
  Floats v;
  std::memcpy(&v, &widened, sizeof v);
  return v;
}

FLOTILLA_INLINE float widen(float v) { return v; }
FLOTILLA_INLINE float widen(uint16_t v) { return bf16_to_float(v); }

FLOTILLA_INLINE float sum_lanes(Floats v) {
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += v[l];
  return s;
}

// Rows [first, last) for up to kTokenBlock tokens starting at `token`; two chains per token.
template <typename W, int Tokens>
FLOTILLA_INLINE void rows_generic(const W* w, int64_t first, int64_t last, int64_t rows, int64_t cols, const float* x,
                                  int64_t token, float* y) {
  for (int64_t r = first; r < last; ++r) {
    const W* row = w + r * cols;
    Floats acc[2][Tokens] = {};
    int64_t c = 0;
    for (; c + 2 * kLanes <= cols; c += 2 * kLanes) {
      const Floats w0 = load(row + c), w1 = load(row + c + kLanes);
      for (int t = 0; t < Tokens; ++t) {
        const float* xt = x + (token + t) * cols + c;
        acc[0][t] += w0 * load(xt);
        acc[1][t] += w1 * load(xt + kLanes);
      }
    }
    for (int t = 0; t < Tokens; ++t) {
      const float* xt = x + (token + t) * cols;
      float s = sum_lanes(acc[0][t] + acc[1][t]);
      for (int64_t k = c; k < cols; ++k) s += widen(row[k]) * xt[k];
      y[(token + t) * rows + r] = s;
    }
  }
}

template <typename W>
using RowsFn = void (*)(const W*, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, float*);

#define FLOTILLA_DENSE_ROWS(NAME, TARGET)                                                                          \
  template <typename W, int Tokens>                                                                                \
  TARGET void NAME(const W* w, int64_t first, int64_t last, int64_t rows, int64_t cols, const float* x, int64_t token, \
                   float* y) {                                                                                     \
    rows_generic<W, Tokens>(w, first, last, rows, cols, x, token, y);                                              \
  }

FLOTILLA_DENSE_ROWS(rows_portable, )
#if defined(__x86_64__) && defined(__GNUC__)
FLOTILLA_DENSE_ROWS(rows_avx2, __attribute__((target("avx2,fma"))))
FLOTILLA_DENSE_ROWS(rows_avx512, __attribute__((target("avx512f,avx512bw,avx512vl,fma"))))
#endif

template <typename W, int Tokens>
RowsFn<W> pick(Isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa >= Isa::avx512) return rows_avx512<W, Tokens>;
  if (isa == Isa::avx2) return rows_avx2<W, Tokens>;
#endif
  (void)isa;
  return rows_portable<W, Tokens>;
}

template <typename W>
void gemv(const W* w, int64_t rows, int64_t cols, const float* x, int64_t tokens, float* y) {
  const Isa isa = active_isa();
  const RowsFn<W> kernels[kTokenBlock] = {pick<W, 1>(isa), pick<W, 2>(isa), pick<W, 3>(isa), pick<W, 4>(isa)};
  detail::for_row_blocks(rows, rows * cols * tokens, 0, [&](int64_t first, int64_t count, float*) {
    for (int64_t t = 0; t < tokens; t += kTokenBlock) {
      const int64_t n = std::min<int64_t>(kTokenBlock, tokens - t);
      kernels[n - 1](w, first, first + count, rows, cols, x, t, y);
    }
  });
}

}  // namespace

void dense_gemv(const float* w, int64_t rows, int64_t cols, const float* x, int64_t tokens, float* y) {
  gemv(w, rows, cols, x, tokens, y);
}

void dense_gemv(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t tokens, float* y) {
  gemv(w, rows, cols, x, tokens, y);
}

}  // namespace flotilla::kernels
