#include "model/sparse_moe.h"

#include <ATen/ATen.h>

#include <vector>

namespace flotilla::model {

SwitchGLUImpl::SwitchGLUImpl(const ModelConfig& c, const std::string& prefix, WeightReader& w, at::ScalarType dtype) {
  const int64_t C = c.hidden_size, F = c.moe_intermediate_size, E = c.num_experts;
  const auto projection = [&](const char* name, int64_t in, int64_t out) {
    const std::string stacked = prefix + ".switch_mlp." + name;
    return register_module(name, Linear(stacked, in, out, w.experts(prefix, name, E), dtype, E));
  };
  gate_proj = projection("gate_proj", C, F);
  up_proj = projection("up_proj", C, F);
  down_proj = projection("down_proj", F, C);
}

at::Tensor SwitchGLUImpl::forward(const at::Tensor& x, int64_t expert) {
  return down_proj->forward_expert(at::silu(gate_proj->forward_expert(x, expert)) * up_proj->forward_expert(x, expert), expert);
}

SparseMoeImpl::SparseMoeImpl(const ModelConfig& c, const std::string& prefix, WeightReader& w, at::ScalarType dtype)
    : experts_(c.num_experts), top_k_(c.num_experts_per_tok), normalize_(c.norm_topk_prob) {
  gate = register_module("gate", Linear(prefix + ".gate", c.hidden_size, c.num_experts, w.linear(prefix + ".gate", false), dtype));
  switch_mlp = register_module("switch_mlp", SwitchGLU(c, prefix, w, dtype));
}

at::Tensor SparseMoeImpl::forward(const at::Tensor& x) {
  const auto flat = x.reshape({-1, x.size(-1)});
  // Probabilities in at least float32, as Hugging Face's softmax(dtype=float) and MLX's precise softmax.
  const auto probs = at::softmax(gate->forward(flat), -1, at::promote_types(x.scalar_type(), at::kFloat));
  auto [weights, chosen] = probs.topk(top_k_, -1);
  if (normalize_) weights = weights / weights.sum(-1, /*keepdim=*/true);
  // The (token, slot) pairs grouped by expert: each expert runs once, on its own tokens only.
  const auto by_expert = std::get<1>(at::sort(chosen.reshape({-1}), /*stable=*/true, /*dim=*/0, /*descending=*/false));
  const auto tokens = at::div(by_expert, top_k_, "floor");
  const auto slot_weights = weights.reshape({-1}).index_select(0, by_expert).to(x.scalar_type()).unsqueeze(1);
  const auto counts = at::bincount(chosen.reshape({-1}), {}, experts_).cpu();
  const auto* count = counts.data_ptr<int64_t>();
  std::vector<at::Tensor> outputs;
  for (int64_t expert = 0, first = 0; expert < experts_; first += count[expert++]) {
    if (count[expert] == 0) continue;
    const auto rows = tokens.narrow(0, first, count[expert]);
    outputs.push_back(switch_mlp->forward(flat.index_select(0, rows), expert) * slot_weights.narrow(0, first, count[expert]));
  }
  return at::zeros_like(flat).index_add(0, tokens, at::cat(outputs)).view(x.sizes());
}

}  // namespace flotilla::model
