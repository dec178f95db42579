#include "model/linear.h"

#include <ATen/ATen.h>

#include <cmath>
#include <random>

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

namespace {

// FNV-1a: a platform-independent hash so the same seed gives the same factors everywhere.
uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

void LinearImpl::attach_adapter(const AdapterSpec& spec, uint64_t seed) {
  if (adapter_) fail("lora", "'{}' already has an adapter", name_);
  if (spec.rank <= 0) fail("lora", "rank must be positive, got {}", spec.rank);
  if (spec.dropout < 0 || spec.dropout >= 1) fail("lora", "dropout must be in [0, 1), got {}", spec.dropout);
  const auto weight = dense_weight();
  auto options = at::TensorOptions().dtype(at::kDouble);
  auto a = at::empty({in_features_, spec.rank}, options);
  std::mt19937_64 rng(seed ^ stable_hash(name_));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
  auto* data = a.data_ptr<double>();
  for (int64_t i = 0; i < a.numel(); ++i) data[i] = (2.0 * ((rng() >> 11) * 0x1.0p-53) - 1.0) * bound;
  // Factors train in at least float32 even over a bf16 or quantized base.
  const auto factor_dtype = at::promote_types(dtype_, at::kFloat);
  auto device = weight.device();
  lora_a_ = register_parameter("lora_a", a.to(device, factor_dtype), /*requires_grad=*/true);
  lora_b_ = register_parameter("lora_b", at::zeros({spec.rank, out_features_}, at::TensorOptions().dtype(factor_dtype).device(device)),
                               /*requires_grad=*/true);
  if (spec.dora) magnitude_ = register_parameter("m", weight.to(factor_dtype).norm(2, {1}), /*requires_grad=*/true);
  adapter_ = spec;
}

at::Tensor LinearImpl::fused_weight() const {
  auto weight = dense_weight();
  if (!adapter_) return weight;
  auto wide = weight.to(lora_a_.scalar_type());
  auto adapted = wide + adapter_->scale * at::matmul(lora_b_.t(), lora_a_.t());
  if (adapter_->dora) adapted = adapted * (magnitude_ / adapted.norm(2, {1})).unsqueeze(1);
  return adapted.to(weight.scalar_type());
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  // A quantized weight is dequantized for this call only, so the whole model never is at once.
  const auto weight = dense_weight();
  if (!adapter_) return at::linear(x, weight, bias_);
  auto y = at::linear(x, weight);
  auto h = adapter_->dropout > 0 && is_training() ? at::dropout(x, adapter_->dropout, /*train=*/true) : x;
  auto low_rank = at::matmul(at::matmul(h.to(lora_a_.scalar_type()), lora_a_), lora_b_);
  y = y + (adapter_->scale * low_rank).to(y.scalar_type());
  if (adapter_->dora) {
    // mlx-lm's DoRA: the norm is a constant for the gradient (stop_gradient), the magnitude is learned.
    auto adapted = weight.to(lora_a_.scalar_type()) + adapter_->scale * at::matmul(lora_b_.t(), lora_a_.t());
    y = y * (magnitude_ / adapted.norm(2, {1}).detach()).to(y.scalar_type());
  }
  return bias_.defined() ? y + bias_ : y;
}

at::Tensor LinearImpl::embed(const at::Tensor& ids) {
  auto flat = ids.reshape({-1});
  auto rows = quantized_ ? mlx_dequantize_rows(*quantized_, flat, dtype_) : weight_.index_select(0, flat);
  auto shape = ids.sizes().vec();
  shape.push_back(in_features_);
  return rows.view(shape);
}

}  // namespace flotilla
