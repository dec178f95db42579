#include "model/family.h"

#include <fmt/format.h>

#include "core/error.h"

namespace flotilla::model {

namespace {

constexpr Family kFamilies[] = {
    // model_type, architecture, qkv_bias, qk_norm, sliding_window, gated_window, gguf, hidden_act,
    // gemma_layout, softcaps, local_period, local_rope_theta, fused_projections, experts
    {"llama", "LlamaForCausalLM", false, false, false, false, "llama", "silu", false, false, 0, 0, false, false},
    {"mistral", "MistralForCausalLM", false, false, true, false, "llama", "silu", false, false, 0, 0, false, false},
    {"qwen2", "Qwen2ForCausalLM", true, false, false, true, "llama", "silu", false, false, 0, 0, false, false},
    {"qwen3", "Qwen3ForCausalLM", false, true, false, true, "qwen3", "silu", false, false, 0, 0, false, false},
    {"qwen3_moe", "Qwen3MoeForCausalLM", false, true, false, true, "qwen3moe", "silu", false, false, 0, 0, false, true},
    {"gemma2", "Gemma2ForCausalLM", false, false, true, false, "gemma2", "gelu_pytorch_tanh", true, true, 2, 0, false, false},
    {"gemma3_text", "Gemma3ForCausalLM", false, true, true, false, "gemma3", "gelu_pytorch_tanh", true, false, 6, 10000, false, false},
    {"phi3", "Phi3ForCausalLM", false, false, true, false, "phi3", "silu", false, false, 0, 0, true, false},
};

}  // namespace

const Family& family_of(const std::string& model_type, const std::string& source) {
  std::string supported;
  for (const auto& family : kFamilies) {
    if (model_type == family.model_type) return family;
    supported += (supported.empty() ? "" : ", ") + std::string(family.model_type);
  }
  fail("config", "'{}': unsupported model_type '{}'; supported: {}", source, model_type, supported);
}

}  // namespace flotilla::model
