// Products with MLX affine-quantized matrices on the CPU, on raw buffers (no libtorch): a GEMV
// that streams the packed codes once for decoding, and row-tile dequantization for the many-token
// GEMMs (model/quantized_linear feeds the tiles to BLAS). Paths: AVX-512 VNNI, AVX2, NEON (with the
// int8 dot product where present), portable.
#pragma once
#include <cstdint>

namespace flotilla::kernels {

enum class ScaleType { f32, bf16, f16 };

// W [rows, cols] with w = scale·q + bias per group of `group_size` columns; q are unsigned
// `bits`-bit codes packed lowest bits first into 32-bit words; rows are contiguous.
struct QuantizedMatrix {
  const uint32_t* packed = nullptr;  // [rows][cols * bits / 32]
  const void* scales = nullptr;      // [rows][cols / group_size] of scale_type
  const void* biases = nullptr;      // likewise
  ScaleType scale_type = ScaleType::bf16;
  int64_t rows = 0, cols = 0;
  int bits = 4, group_size = 64;
};

// How finely the SIMD paths quantize each token per group before multiplying integers: int16
// (~2e-5 of the group's largest |x|) or int8 (~4e-3, as fine as bfloat16 activations already are;
// 4-bit weights on AVX-512 VNNI or ARM's dot product only, elsewhere int16). The portable path stays in float.
enum class ActivationPrecision { int16, int8 };

// y[t·rows + r] = Σ_c W[r][c]·x[t·cols + c] for t < tokens, over all OpenMP threads by rows.
// For few tokens (decoding): the packed codes stream once.
void quantized_gemv(const QuantizedMatrix& w, const float* x, int64_t tokens, float* y,
                    ActivationPrecision precision = ActivationPrecision::int16);

// Rows [first, first + count) of W, [count][cols], in parallel over rows.
void dequantize_rows(const QuantizedMatrix& w, int64_t first, int64_t count, float* out);
// The same rounded to bfloat16 (nearest even), as raw bits.
void dequantize_rows_bf16(const QuantizedMatrix& w, int64_t first, int64_t count, uint16_t* out);

}  // namespace flotilla::kernels
