// A Llama with random weights written as a real model folder (~125M parameters by default),
// shared by the benchmarks so that it loads like any other model.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "io/tensor_io.h"
#include "model/config.h"

namespace flotilla {

inline std::string write_synthetic_model(const std::filesystem::path& dir) {
  ModelConfig c;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 32000;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  at::manual_seed(0);
  auto normal = [](int64_t out, int64_t in) { return at::randn({out, in}) * 0.02; };
  NamedTensors t;
  t.emplace_back("model.embed_tokens.weight", normal(c.vocab_size, c.hidden_size));
  t.emplace_back("lm_head.weight", normal(c.vocab_size, c.hidden_size));
  t.emplace_back("model.norm.weight", at::ones({c.hidden_size}));
  const int64_t kv = c.num_key_value_heads * c.head_dim;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    t.emplace_back(p + ".input_layernorm.weight", at::ones({c.hidden_size}));
    t.emplace_back(p + ".post_attention_layernorm.weight", at::ones({c.hidden_size}));
    t.emplace_back(p + ".self_attn.q_proj.weight", normal(c.hidden_size, c.hidden_size));
    t.emplace_back(p + ".self_attn.k_proj.weight", normal(kv, c.hidden_size));
    t.emplace_back(p + ".self_attn.v_proj.weight", normal(kv, c.hidden_size));
    t.emplace_back(p + ".self_attn.o_proj.weight", normal(c.hidden_size, c.hidden_size));
    t.emplace_back(p + ".mlp.gate_proj.weight", normal(c.intermediate_size, c.hidden_size));
    t.emplace_back(p + ".mlp.up_proj.weight", normal(c.intermediate_size, c.hidden_size));
    t.emplace_back(p + ".mlp.down_proj.weight", normal(c.hidden_size, c.intermediate_size));
  }
  save_safetensors((dir / "model.safetensors").string(), t);
  return dir.string();
}

}  // namespace flotilla
