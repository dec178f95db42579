#include "model/family.h"

#include <fmt/format.h>

#include "core/error.h"

namespace flotilla::model {

namespace {

constexpr Family kFamilies[] = {
    // model_type  architecture          qkv_bias qk_norm sliding_window gated_window gguf
    {"llama", "LlamaForCausalLM", false, false, false, false, "llama"},
    {"mistral", "MistralForCausalLM", false, false, true, false, "llama"},
    {"qwen2", "Qwen2ForCausalLM", true, false, false, true, "llama"},
    {"qwen3", "Qwen3ForCausalLM", false, true, false, true, "qwen3"},
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
