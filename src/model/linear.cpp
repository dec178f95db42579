#include "model/linear.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "core/shape.h"

namespace flotilla {

LinearImpl::LinearImpl(std::string name, int64_t in_features, int64_t out_features, LinearWeights weights,
                       at::ScalarType compute_dtype)
    : name_(std::move(name)), in_features_(in_features), out_features_(out_features), dtype_(compute_dtype) {
  if (weights.quantized) {
    check_quantized_shapes(*weights.quantized, out_features, in_features, name_);
    quantized_ = std::move(weights.quantized);
    quantized_->packed = register_buffer("weight", quantized_->packed);
    quantized_->scales = register_buffer("scales", quantized_->scales);
    quantized_->biases = register_buffer("biases", quantized_->biases);
  } else {
    const auto& w = weights.weight;
    if (w.dim() != 2 || w.size(0) != out_features || w.size(1) != in_features)
      fail("model", "'{}.weight' has shape {}; expected [{}, {}]", name_, shape_string(w.sizes()), out_features,
           in_features);
    weight_ = register_parameter("weight", w.to(compute_dtype), /*requires_grad=*/false);
  }
  if (weights.bias.defined()) {
    if (weights.bias.dim() != 1 || weights.bias.size(0) != out_features)
      fail("model", "'{}.bias' has shape {}; expected [{}]", name_, shape_string(weights.bias.sizes()), out_features);
    bias_ = register_parameter("bias", weights.bias.to(compute_dtype), /*requires_grad=*/false);
  }
}

at::Tensor LinearImpl::dense_weight() const {
  return quantized_ ? mlx_dequantize(*quantized_, dtype_) : weight_;
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  // A quantized weight is dequantized for this call only, so the whole model never is at once.
  return at::linear(x, dense_weight(), bias_);
}

at::Tensor LinearImpl::embed(const at::Tensor& ids) {
  auto flat = ids.reshape({-1});
  auto rows = quantized_ ? mlx_dequantize_rows(*quantized_, flat, dtype_) : weight_.index_select(0, flat);
  auto shape = ids.sizes().vec();
  shape.push_back(in_features_);
  return rows.view(shape);
}

}  // namespace flotilla
