// Where experts' weights live: Hugging Face keeps each expert's projection apart
// ("model.layers.N.mlp.experts.E.gate_proj.weight"), mlx-lm and Flotilla stack them
// ("model.layers.N.mlp.switch_mlp.gate_proj.weight", [E, out, in]).
#pragma once
#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace flotilla::model {

// "<mlp>.switch_mlp.<proj>.<kind>" -> "<mlp>.experts.<expert>.<proj>.<kind>".
std::string per_expert_name(const std::string& stacked, int64_t expert);

// Tensor `name` of a folder read through `get`, with per-expert tensors stacked: expert 0's name
// gives the stacked name and all `experts` of them; the other experts' names give nothing (they
// went with expert 0); any other name gives itself and its tensor.
std::optional<std::pair<std::string, at::Tensor>> read_stacking_experts(
    const std::string& name, int64_t experts, const std::function<at::Tensor(const std::string&)>& get);

}  // namespace flotilla::model
