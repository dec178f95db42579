// Matrix-vector products with a dense float32 or bfloat16 weight for decoding: the weight streams
// once from memory, all OpenMP threads split its rows. AVX-512, AVX2 or portable code (cpu_isa).
#pragma once
#include <cstdint>

namespace flotilla::kernels {

// y[t·rows + r] = Σ_c W[r][c]·x[t·cols + c] for t < tokens; W row-major [rows][cols].
void dense_gemv(const float* w, int64_t rows, int64_t cols, const float* x, int64_t tokens, float* y);
// W as bfloat16 bits; products and sums in float32.
void dense_gemv(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t tokens, float* y);

}  // namespace flotilla::kernels
