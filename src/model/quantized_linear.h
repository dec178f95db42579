// x·Wᵀ for an MLX-quantized W without a dense copy of W: few tokens go through the streaming
// GEMV kernel, many through row tiles dequantized into cache-sized blocks and handed to BLAS.
// Differentiable in x (dY·W, tile by tile); the frozen quantized weight gets no gradient.
#pragma once
#include <ATen/Tensor.h>

#include <functional>

#include "model/quantized.h"

namespace flotilla::model {

// x [..., in] -> [..., out] in x's dtype (float32, bfloat16 or float64; float64 is computed
// through float32 tiles of W). Other devices dequantize W whole, as before.
at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& w);

// Calls body(first_row, tile) for consecutive row tiles of W (~4 MB each, one reused buffer, so
// body must not keep the tile) in `dtype`: float32, bfloat16, or float64 (dequantized in float32).
void for_each_dequantized_tile(const QuantizedWeight& w, at::ScalarType dtype,
                               const std::function<void(int64_t, const at::Tensor&)>& body);

// Up to this many rows of x (tokens) take the GEMV kernel; more take dequantized tiles.
constexpr int64_t kQuantizedGemvMaxTokens = 4;

}  // namespace flotilla::model
