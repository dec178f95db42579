#include "model/quantized_linear.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/quantized_matmul.h"

namespace flotilla::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kTileBytes = 4 << 20;  // one dequantized tile of W: ~4 MB, at least 64 rows

kernels::QuantizedMatrix matrix_of(const QuantizedWeight& w) {
  kernels::QuantizedMatrix m;
  m.packed = reinterpret_cast<const uint32_t*>(w.packed.data_ptr<int32_t>());
  m.scales = w.scales.data_ptr();
  m.biases = w.biases.data_ptr();
  switch (w.scales.scalar_type()) {
    case at::kFloat: m.scale_type = kernels::ScaleType::f32; break;
    case at::kBFloat16: m.scale_type = kernels::ScaleType::bf16; break;
    case at::kHalf: m.scale_type = kernels::ScaleType::f16; break;
    default: fail("quantized", "scales of dtype {} are not supported; expected float32, bfloat16 or float16",
                  at::toString(w.scales.scalar_type()));
  }
  m.rows = w.packed.size(0);
  m.cols = w.in_features();
  m.bits = w.spec.bits;
  m.group_size = w.spec.group_size;
  return m;
}

// Tiles come in the activations' dtype (float64 ones are dequantized in float32, then widened).
at::ScalarType tile_dtype(at::ScalarType x_dtype) {
  return x_dtype == at::kBFloat16 || x_dtype == at::kDouble ? x_dtype : at::kFloat;
}

// flat [T, in] -> [T, out] in flat's dtype.
at::Tensor forward_2d(const at::Tensor& flat, const QuantizedWeight& w) {
  const auto m = matrix_of(w);
  const int64_t T = flat.size(0);
  if (T <= kQuantizedGemvMaxTokens && flat.scalar_type() != at::kDouble) {
    auto x = flat.to(at::kFloat).contiguous();
    auto y = at::empty({T, m.rows}, x.options());
    // bfloat16 activations carry 8 significant bits: int8 per group loses no more than that.
    const auto precision = flat.scalar_type() == at::kBFloat16 ? kernels::ActivationPrecision::int8
                                                               : kernels::ActivationPrecision::int16;
    kernels::quantized_gemv(m, x.data_ptr<float>(), T, y.data_ptr<float>(), precision);
    return y.to(flat.scalar_type());
  }
  const auto dtype = tile_dtype(flat.scalar_type());
  auto x = flat.to(dtype).contiguous();
  auto y = at::empty({T, m.rows}, x.options());
  for_each_dequantized_tile(w, dtype, [&](int64_t first, const at::Tensor& tile) {
    y.narrow(1, first, tile.size(0)).copy_(at::mm(x, tile.t()));
  });
  return y.to(flat.scalar_type());
}

// grad_y [T, out] -> grad_x [T, in] = grad_y·W, accumulated over row tiles of W.
at::Tensor input_gradient_2d(const at::Tensor& grad_y, const QuantizedWeight& w, at::ScalarType x_dtype) {
  const auto m = matrix_of(w);
  const auto dtype = tile_dtype(x_dtype);
  auto g = grad_y.to(dtype).contiguous();
  auto grad_x = at::zeros({g.size(0), m.cols}, g.options().dtype(dtype == at::kDouble ? at::kDouble : at::kFloat));
  for_each_dequantized_tile(w, dtype, [&](int64_t first, const at::Tensor& tile) {
    auto part = at::mm(g.narrow(1, first, tile.size(0)), tile);
    grad_x.add_(part);
  });
  return grad_x.to(x_dtype);
}

at::Tensor flatten_tokens(const at::Tensor& x) { return x.reshape({-1, x.size(-1)}); }

std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  auto shape = sizes.vec();
  shape.back() = last;
  return shape;
}

QuantizedWeight from_saved(const variable_list& saved, int64_t bits, int64_t group_size) {
  return QuantizedWeight{saved[0], saved[1], saved[2], QuantSpec{static_cast<int>(bits), static_cast<int>(group_size)}};
}

class QuantizedLinearFunction : public torch::autograd::Function<QuantizedLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& packed,
                            const at::Tensor& scales, const at::Tensor& biases, int64_t bits, int64_t group_size) {
    ctx->save_for_backward({packed, scales, biases});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["group_size"] = group_size;
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    const auto w = QuantizedWeight{packed, scales, biases, QuantSpec{static_cast<int>(bits), static_cast<int>(group_size)}};
    return forward_2d(flatten_tokens(x), w).view(with_last(x.sizes(), packed.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto w = from_saved(ctx->get_saved_variables(), ctx->saved_data["bits"].toInt(),
                              ctx->saved_data["group_size"].toInt());
    const auto x_dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto& grad_y = grads[0];
    auto grad_x = input_gradient_2d(flatten_tokens(grad_y), w, x_dtype).view(with_last(grad_y.sizes(), w.in_features()));
    return {grad_x, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void for_each_dequantized_tile(const QuantizedWeight& w, at::ScalarType dtype,
                               const std::function<void(int64_t, const at::Tensor&)>& body) {
  const auto m = matrix_of(w);
  const bool bf16 = dtype == at::kBFloat16;
  const int64_t rows_per_tile = std::min(m.rows, std::max<int64_t>(64, kTileBytes / (m.cols * (bf16 ? 2 : 4))) / 16 * 16);
  auto buffer = at::empty({rows_per_tile, m.cols}, at::TensorOptions().dtype(bf16 ? at::kBFloat16 : at::kFloat));
  for (int64_t first = 0; first < m.rows; first += rows_per_tile) {
    const int64_t count = std::min(rows_per_tile, m.rows - first);
    auto tile = buffer.narrow(0, 0, count);
    if (bf16)
      kernels::dequantize_rows_bf16(m, first, count, reinterpret_cast<uint16_t*>(tile.data_ptr<at::BFloat16>()));
    else
      kernels::dequantize_rows(m, first, count, tile.data_ptr<float>());
    body(first, dtype == at::kDouble ? tile.to(at::kDouble) : tile);
  }
}

at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& w) {
  if (!x.device().is_cpu()) return at::linear(x, mlx_dequantize(w, x.scalar_type()));
  if (at::GradMode::is_enabled() && x.requires_grad())
    return QuantizedLinearFunction::apply(x, w.packed, w.scales, w.biases, w.spec.bits, w.spec.group_size);
  return forward_2d(flatten_tokens(x), w).view(with_last(x.sizes(), w.packed.size(0)));
}

}  // namespace flotilla::model
