// The one projection every model layer goes through: y = x·Wᵀ + b, with W dense (fp32/bf16)
// or MLX-quantized. LoRA adapters will attach here, so all fine-tuning has one choke point.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>

#include "model/quantized.h"

namespace flotilla {

struct LinearWeights {
  at::Tensor weight;                         // dense [out, in]; undefined when quantized
  std::optional<QuantizedWeight> quantized;  // MLX packed weight
  at::Tensor bias;                           // [out] or undefined
};

class LinearImpl : public torch::nn::Module {
 public:
  // `name` is the Hugging Face prefix (e.g. "model.layers.0.self_attn.q_proj"), kept for messages.
  LinearImpl(std::string name, int64_t in_features, int64_t out_features, LinearWeights weights,
             at::ScalarType compute_dtype);

  at::Tensor forward(const at::Tensor& x);  // [..., in] -> [..., out]
  at::Tensor embed(const at::Tensor& ids);  // rows of W for integer ids: [...] -> [..., in]
  at::Tensor dense_weight() const;          // W as [out, in] in the compute dtype

  bool is_quantized() const { return quantized_.has_value(); }
  const std::string& name() const { return name_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  std::string name_;
  int64_t in_features_;
  int64_t out_features_;
  at::ScalarType dtype_;
  at::Tensor weight_;
  std::optional<QuantizedWeight> quantized_;
  at::Tensor bias_;
};
TORCH_MODULE(Linear);

}  // namespace flotilla
