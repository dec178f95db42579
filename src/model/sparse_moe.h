// A mixture-of-experts MLP (Qwen3-MoE): a router scores every expert for each token, the top k
// run their gated MLPs on just the tokens routed to them, and their outputs add up weighted by the
// router's softmax probabilities (rescaled to sum to 1 where the family normalises them).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "model/config.h"
#include "model/linear.h"
#include "model/weight_reader.h"

namespace flotilla::model {

// The experts' stacked gate, up and down projections (mlx-lm's SwitchGLU, named switch_mlp).
class SwitchGLUImpl : public torch::nn::Module {
 public:
  SwitchGLUImpl(const ModelConfig& config, const std::string& prefix, WeightReader& weights, at::ScalarType dtype);
  at::Tensor forward(const at::Tensor& x, int64_t expert);  // [N, C] tokens routed to `expert` -> [N, C]

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwitchGLU);

class SparseMoeImpl : public torch::nn::Module {
 public:
  // `prefix` is the block's "model.layers.N.mlp".
  SparseMoeImpl(const ModelConfig& config, const std::string& prefix, WeightReader& weights, at::ScalarType dtype);
  at::Tensor forward(const at::Tensor& x);  // [..., C] -> [..., C]

  Linear gate{nullptr};  // the router: [num_experts, C]
  SwitchGLU switch_mlp{nullptr};

 private:
  int64_t experts_, top_k_;
  bool normalize_;
};
TORCH_MODULE(SparseMoe);

}  // namespace flotilla::model
