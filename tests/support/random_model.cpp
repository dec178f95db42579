#include "support/random_model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <tuple>
#include <vector>

#include "io/tensor_io.h"
#include "support/paths.h"

namespace flotilla::test {

namespace fs = std::filesystem;

model::ModelConfig random_family_config(const std::string& family) {
  const bool qwen = family.rfind("qwen", 0) == 0, mistral = family.rfind("mistral", 0) == 0;
  const bool gemma = family.rfind("gemma", 0) == 0, phi = family == "phi3";
  model::ModelConfig c;
  c.model_type = family == "llama3" ? "llama" : mistral ? "mistral" : family == "gemma3" ? "gemma3_text" : family;
  c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = family.rfind("qwen3", 0) == 0 ? 24 : 16;
  c.vocab_size = qwen ? 151936 : mistral || gemma || phi ? 32768 : 128256;  // Qwen pads beyond its 151665 tokens
  c.max_position_embeddings = 4096, c.rms_norm_eps = 1e-5, c.tie_word_embeddings = true;
  c.rope_theta = qwen || mistral ? 1e6 : 500000;
  if (family == "llama3") c.rope_scaling = {"llama3", 32.0, 1.0, 4.0, 8192};
  c.attention_bias = family == "qwen2";
  c.qk_norm = family.rfind("qwen3", 0) == 0;
  if (family == "qwen3_moe") {  // two of eight experts per token, their weights normalised
    c.num_hidden_layers = 3;
    c.num_experts = 8, c.num_experts_per_tok = 2, c.moe_intermediate_size = 32, c.norm_topk_prob = true;
  }
  if (family == "mistral-window") c.sliding_window = 6;
  if (gemma) {  // a 6-token window on local layers, soft-caps small enough to bite
    c.hidden_act = "gelu_pytorch_tanh";
    c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = true;
    c.sliding_window = 6;
    c.num_hidden_layers = family == "gemma3" ? 6 : 4;
    c.head_dim = family == "gemma3" ? 32 : 16;
    c.query_pre_attn_scalar = static_cast<double>(c.head_dim);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.local_layers.push_back((l + 1) % (family == "gemma3" ? 3 : 2) != 0);
  }
  if (family == "gemma2") c.attn_logit_softcapping = 5.0, c.final_logit_softcapping = 5.0;
  if (family == "gemma3") {  // global layers' RoPE scaled, local ones plain with their own base
    c.qk_norm = true;
    c.rope_scaling = {"linear", 8.0, 1.0, 4.0, 8192};
    c.rope_local_theta = 10000;
  }
  if (phi) {  // half of each head rotated; longrope's long factors from position 32 on
    c.fused_projections = true;
    c.rotary_dim = 8;
    c.rope_theta = 10000;
    c.rope_scaling.type = "longrope";
    c.rope_scaling.original_max_position_embeddings = 32;
    c.rope_scaling.short_factor = {1.0, 1.5, 2.0, 4.0};
    c.rope_scaling.long_factor = {1.0, 3.0, 8.0, 20.0};
    c.rope_scaling.attention_factor = std::sqrt(1 + std::log(4096.0 / 32) / std::log(32.0));
  }
  return c;
}

fs::path random_family_model(const fs::path& dir, const std::string& family) {
  const auto c = random_family_config(family);
  at::manual_seed(family == "qwen2" ? 2 : family == "qwen3" ? 4 : family == "mistral-window" ? 5 : family == "gemma2" ? 7 : family == "gemma3" ? 8 : family == "phi3" ? 10 : family == "qwen3_moe" ? 11 : 3);
  io::NamedTensors t;
  auto normal = [](std::vector<int64_t> shape, double std) { return at::randn(shape) * std; };
  const int64_t C = c.hidden_size, D = c.head_dim, q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  // Gemma multiplies embeddings by √hidden: smaller ones keep the blocks' share of the residual.
  t.emplace_back("model.embed_tokens.weight", normal({c.vocab_size, C}, c.scale_embeddings ? 0.2 : 0.5));
  // Norms scale by about 1: Gemma stores the weight less one.
  const double unit = c.norm_plus_one ? 0 : 1;
  t.emplace_back("model.norm.weight", unit + normal({C}, 0.1));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", unit + normal({C}, 0.1));
    t.emplace_back(p + "post_attention_layernorm.weight", unit + normal({C}, 0.1));
    if (c.sandwich_norms) {
      t.emplace_back(p + "pre_feedforward_layernorm.weight", unit + normal({C}, 0.1));
      t.emplace_back(p + "post_feedforward_layernorm.weight", unit + normal({C}, 0.1));
    }
    if (c.qk_norm) {  // far from 1, so that a norm applied wrongly shows
      t.emplace_back(p + "self_attn.q_norm.weight", unit + normal({D}, 0.5));
      t.emplace_back(p + "self_attn.k_norm.weight", unit + normal({D}, 0.5));
    }
    const int64_t F = c.intermediate_size;
    using Projections = std::vector<std::tuple<std::string, int64_t, int64_t>>;
    const auto projections = c.fused_projections
        ? Projections{{"self_attn.qkv_proj", q + 2 * kv, C}, {"self_attn.o_proj", C, q}, {"mlp.gate_up_proj", 2 * F, C}, {"mlp.down_proj", C, F}}
        : Projections{{"self_attn.q_proj", q, C}, {"self_attn.k_proj", kv, C}, {"self_attn.v_proj", kv, C}, {"self_attn.o_proj", C, q},
                      {"mlp.gate_proj", F, C}, {"mlp.up_proj", F, C}, {"mlp.down_proj", C, F}};
    for (const auto& [name, out, in] : projections) {
      if (name.rfind("mlp.", 0) == 0 && c.is_sparse(l)) continue;
      t.emplace_back(p + name + ".weight", normal({out, in}, 0.15));
      if (c.attention_bias && name.rfind("self_attn.", 0) == 0 && name != "self_attn.o_proj") t.emplace_back(p + name + ".bias", normal({out}, 0.5));
    }
    if (!c.is_sparse(l)) continue;
    // Hugging Face's layout: each expert's projections apart; a router spread enough that no two
    // experts tie for a token.
    t.emplace_back(p + "mlp.gate.weight", normal({c.num_experts, C}, 0.5));
    const int64_t M = c.moe_intermediate_size;
    for (int64_t e = 0; e < c.num_experts; ++e)
      for (const auto& [name, out, in] : Projections{{"gate_proj", M, C}, {"up_proj", M, C}, {"down_proj", C, M}})
        t.emplace_back(p + "mlp.experts." + std::to_string(e) + "." + name + ".weight", normal({out, in}, 0.15));
  }
  fs::create_directories(dir);
  io::save_safetensors((dir / "model.safetensors").string(), t);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  const bool qwen = c.model_type.rfind("qwen", 0) == 0, mistral = c.model_type == "mistral" || c.norm_plus_one || c.fused_projections;
  const auto tokenizer = shared_dir() / "tokenizers" /
                         (qwen ? "qwen2.5-0.5b-instruct" : mistral ? "mistral-7b-instruct-v0.3" : "llama-3.2");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(tokenizer / name, dir / name);
  return dir;
}

}  // namespace flotilla::test
