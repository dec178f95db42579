// The one projection every model layer goes through: y = x·Wᵀ + b, with W dense (fp32/bf16)
// or MLX-quantized. LoRA adapters will attach here, so all fine-tuning has one choke point.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>

#include "model/quantized.h"

namespace flotilla::model {

// LoRA / DoRA factors as mlx-lm defines them: y = W·x + scale·(dropout(x)·A)·B, A [in, r], B [r, out].
struct AdapterSpec {
  int64_t rank = 8;
  double scale = 20.0;
  double dropout = 0.0;
  bool dora = false;  // DoRA: the output is rescaled per row by a learned magnitude m / |W + scale·(A·B)ᵀ|
};

struct LinearWeights {
  at::Tensor weight;                         // dense [out, in] ([E, out, in] for E experts); undefined when quantized
  std::optional<QuantizedWeight> quantized;  // MLX packed weight, stacked likewise
  at::Tensor bias;                           // [out] or undefined
};

// With `experts` > 0 the layer stacks that many projections of one shape (mlx-lm's SwitchLinear):
// each token goes through the expert it is routed to, and adapters are per expert, A [E, r, in] and
// B [E, out, r] as mlx-lm's LoRASwitchLinear stores them; DoRA's magnitude is [E, out] (mlx-lm has
// no DoRA on experts: Flotilla's extension).
class LinearImpl : public torch::nn::Module {
 public:
  // `name` is the Hugging Face prefix (e.g. "model.layers.0.self_attn.q_proj"), kept for messages.
  LinearImpl(std::string name, int64_t in_features, int64_t out_features, LinearWeights weights,
             at::ScalarType compute_dtype, int64_t experts = 0);

  at::Tensor forward(const at::Tensor& x);  // [..., in] -> [..., out]
  at::Tensor forward_expert(const at::Tensor& x, int64_t expert);  // the same through one expert
  at::Tensor embed(const at::Tensor& ids);  // rows of W for integer ids: [...] -> [..., in]
  at::Tensor dense_weight() const;          // W as [out, in] ([E, out, in]) in the compute dtype

  // Adds trainable factors: A ~ U(±1/√in) drawn from `seed` and the name, B = 0 (output unchanged).
  void attach_adapter(const AdapterSpec& spec, uint64_t seed);
  bool has_adapter() const { return adapter_.has_value(); }
  const std::optional<AdapterSpec>& adapter() const { return adapter_; }
  // W with the adapter merged in: what `fuse` writes. Equal to W without an adapter.
  at::Tensor fused_weight() const;

  bool is_quantized() const { return quantized_.has_value(); }
  const std::string& name() const { return name_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  int64_t experts() const { return experts_; }  // 0 for a plain projection

 private:
  at::Tensor apply(const at::Tensor& x, int64_t expert);  // forward through W, or expert `expert` of W
  at::Tensor base_forward(const at::Tensor& x, int64_t expert) const;  // x·Wᵀ without bias or adapter
  // The adapter's A [in, r] and B [r, out] (of one expert).
  std::pair<at::Tensor, at::Tensor> factors(int64_t expert) const;
  // Row norms of W (of one expert) + scale·delta (delta [out, in] or undefined), never a dense copy of a quantized W.
  at::Tensor row_norms(const at::Tensor& delta, double scale, int64_t expert = 0) const;

  std::string name_;
  int64_t in_features_;
  int64_t out_features_;
  int64_t experts_;
  at::ScalarType dtype_;
  at::Tensor weight_;
  std::optional<QuantizedWeight> quantized_;
  at::Tensor bias_;
  std::optional<AdapterSpec> adapter_;
  at::Tensor lora_a_, lora_b_, magnitude_;  // registered as "lora_a", "lora_b", "m" (mlx-lm names)
};
TORCH_MODULE(Linear);

}  // namespace flotilla::model
