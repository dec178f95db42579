#include "model/linear.h"

#include <ATen/ATen.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "tensor/shape.h"
#include "kernels/dense_gemv.h"
#include "model/quantized_linear.h"

using namespace flotilla::tensor;

namespace flotilla::model {

namespace {

// Expert `expert` of stacked weights, or the weights themselves without experts.
QuantizedWeight expert_of(const QuantizedWeight& w, int64_t experts, int64_t expert) {
  if (experts == 0) return w;
  return {w.packed.select(0, expert), w.scales.select(0, expert), w.biases.select(0, expert), w.spec};
}

void check_expert_count(const at::Tensor& t, int64_t experts, const std::string& name) {
  if (t.dim() != 3 || t.size(0) != experts)
    fail("model", "'{}' has shape {}; expected {} stacked experts", name, shape_string(t.sizes()), experts);
}

}  // namespace

LinearImpl::LinearImpl(std::string name, int64_t in_features, int64_t out_features, LinearWeights weights,
                       at::ScalarType compute_dtype, int64_t experts)
    : name_(std::move(name)), in_features_(in_features), out_features_(out_features), experts_(experts), dtype_(compute_dtype) {
  if (weights.quantized) {
    if (const auto& q = *weights.quantized; experts_ > 0) {
      check_expert_count(q.packed, experts_, name_ + ".weight");
      check_expert_count(q.scales, experts_, name_ + ".scales");
      check_expert_count(q.biases, experts_, name_ + ".biases");
    }
    check_quantized_shapes(expert_of(*weights.quantized, experts_, 0), out_features, in_features, name_);
    quantized_ = std::move(weights.quantized);
    quantized_->packed = register_buffer("weight", quantized_->packed);
    quantized_->scales = register_buffer("scales", quantized_->scales);
    quantized_->biases = register_buffer("biases", quantized_->biases);
  } else {
    if (experts_ > 0) check_expert_count(weights.weight, experts_, name_ + ".weight");
    const auto w = experts_ > 0 ? weights.weight.select(0, 0) : weights.weight;
    if (w.dim() != 2 || w.size(0) != out_features || w.size(1) != in_features)
      fail("model", "'{}.weight' has shape {}; expected [{}, {}]", name_, shape_string(w.sizes()), out_features,
           in_features);
    weight_ = register_parameter("weight", weights.weight.to(compute_dtype), /*requires_grad=*/false);
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
  auto options = at::TensorOptions().dtype(at::kDouble);
  auto a = experts_ > 0 ? at::empty({experts_, spec.rank, in_features_}, options) : at::empty({in_features_, spec.rank}, options);
  std::mt19937_64 rng(seed ^ stable_hash(name_));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
  auto* data = a.data_ptr<double>();
  for (int64_t i = 0; i < a.numel(); ++i) data[i] = (2.0 * ((rng() >> 11) * 0x1.0p-53) - 1.0) * bound;
  // Factors train in at least float32 even over a bf16 or quantized base.
  const auto factor_dtype = at::promote_types(dtype_, at::kFloat);
  auto device = quantized_ ? quantized_->packed.device() : weight_.device();
  lora_a_ = register_parameter("lora_a", a.to(device, factor_dtype), /*requires_grad=*/true);
  const auto b_shape = experts_ > 0 ? std::vector<int64_t>{experts_, out_features_, spec.rank} : std::vector<int64_t>{spec.rank, out_features_};
  lora_b_ = register_parameter("lora_b", at::zeros(b_shape, at::TensorOptions().dtype(factor_dtype).device(device)),
                               /*requires_grad=*/true);
  if (spec.dora) {  // [out], or [E, out] for experts
    std::vector<at::Tensor> norms;
    for (int64_t expert = 0; expert < std::max<int64_t>(experts_, 1); ++expert) norms.push_back(row_norms(at::Tensor(), 0.0, expert));
    magnitude_ = register_parameter("m", (experts_ > 0 ? at::stack(norms) : norms.front()).to(factor_dtype), /*requires_grad=*/true);
  }
  adapter_ = spec;
}

at::Tensor LinearImpl::fused_weight() const {
  auto weight = dense_weight();
  if (!adapter_) return weight;
  auto wide = weight.to(lora_a_.scalar_type());
  const auto delta = experts_ > 0 ? at::matmul(lora_b_, lora_a_) : at::matmul(lora_b_.t(), lora_a_.t());
  auto adapted = wide + adapter_->scale * delta;
  if (adapter_->dora) adapted = adapted * (magnitude_ / adapted.norm(2, {-1})).unsqueeze(-1);
  return adapted.to(weight.scalar_type());
}

namespace {

// Decoding through the bandwidth-bound kernel: a frozen float32/bfloat16 weight on the CPU,
// a few tokens, nothing to differentiate.
bool gemv_fits(const at::Tensor& x, const at::Tensor& weight) {
  const auto dtype = weight.scalar_type();
  return x.device().is_cpu() && !weight.requires_grad() && (dtype == at::kFloat || dtype == at::kBFloat16) &&
         x.scalar_type() == dtype && weight.is_contiguous() && x.numel() / x.size(-1) <= kQuantizedGemvMaxTokens &&
         !(at::GradMode::is_enabled() && x.requires_grad());
}

at::Tensor dense_gemv(const at::Tensor& x, const at::Tensor& weight) {
  auto flat = x.reshape({-1, x.size(-1)}).to(at::kFloat).contiguous();
  const int64_t T = flat.size(0), N = weight.size(0), K = weight.size(1);
  auto y = at::empty({T, N}, flat.options());
  if (weight.scalar_type() == at::kBFloat16)
    kernels::dense_gemv(reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>()), N, K, flat.data_ptr<float>(), T,
                        y.data_ptr<float>());
  else
    kernels::dense_gemv(weight.data_ptr<float>(), N, K, flat.data_ptr<float>(), T, y.data_ptr<float>());
  auto shape = x.sizes().vec();
  shape.back() = N;
  return y.to(x.scalar_type()).view(shape);
}

}  // namespace

at::Tensor LinearImpl::base_forward(const at::Tensor& x, int64_t expert) const {
  if (quantized_) return quantized_linear(x, expert_of(*quantized_, experts_, expert));
  const auto weight = experts_ > 0 ? weight_.select(0, expert) : weight_;
  if (gemv_fits(x, weight)) return dense_gemv(x, weight);
  return at::linear(x, weight);
}

std::pair<at::Tensor, at::Tensor> LinearImpl::factors(int64_t expert) const {
  if (experts_ == 0) return {lora_a_, lora_b_};
  return {lora_a_.select(0, expert).t(), lora_b_.select(0, expert).t()};
}

at::Tensor LinearImpl::row_norms(const at::Tensor& delta, double scale, int64_t expert) const {
  auto norms_of = [&](int64_t first, const at::Tensor& w) {
    auto wide = w.to(delta.defined() ? delta.scalar_type() : at::promote_types(w.scalar_type(), at::kFloat));
    if (delta.defined()) wide = wide + scale * delta.narrow(0, first, w.size(0));
    return wide.norm(2, {1});
  };
  if (!quantized_) return norms_of(0, experts_ > 0 ? weight_.select(0, expert) : weight_);
  std::vector<at::Tensor> parts;  // a quantized W one dequantized tile of rows at a time
  const auto dtype = (delta.defined() ? delta.scalar_type() : dtype_) == at::kDouble ? at::kDouble : at::kFloat;
  for_each_dequantized_tile(expert_of(*quantized_, experts_, expert), dtype, [&](int64_t first, const at::Tensor& tile) {
    parts.push_back(norms_of(first, tile));
  });
  return at::cat(parts);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  if (experts_ > 0) fail("model", "'{}' holds {} experts; route each token to one", name_, experts_);
  return apply(x, 0);
}

at::Tensor LinearImpl::forward_expert(const at::Tensor& x, int64_t expert) {
  TORCH_CHECK(expert >= 0 && expert < experts_, name_, ": no expert ", expert, " among ", experts_);
  return apply(x, expert);
}

at::Tensor LinearImpl::apply(const at::Tensor& x, int64_t expert) {
  if (!adapter_) {
    auto y = base_forward(x, expert);
    return bias_.defined() ? y + bias_ : y;
  }
  auto y = base_forward(x, expert);
  auto h = adapter_->dropout > 0 && is_training() ? at::dropout(x, adapter_->dropout, /*train=*/true) : x;
  const auto [a, b] = factors(expert);
  auto low_rank = at::matmul(at::matmul(h.to(a.scalar_type()), a), b);
  y = y + (adapter_->scale * low_rank).to(y.scalar_type());
  if (adapter_->dora) {
    // mlx-lm's DoRA: the norm is a constant for the gradient (stop_gradient), the magnitude is learned.
    auto norms = row_norms(at::matmul(b.t(), a.t()).detach(), adapter_->scale, expert);
    y = y * ((experts_ > 0 ? magnitude_.select(0, expert) : magnitude_) / norms).to(y.scalar_type());
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

}  // namespace flotilla::model
