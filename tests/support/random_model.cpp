#include "support/random_model.h"

#include <ATen/ATen.h>

#include <fstream>
#include <tuple>
#include <vector>

#include "io/tensor_io.h"
#include "support/paths.h"

namespace flotilla::test {

namespace fs = std::filesystem;

model::ModelConfig random_family_config(const std::string& family) {
  const bool qwen = family == "qwen2" || family == "qwen3", mistral = family.rfind("mistral", 0) == 0;
  model::ModelConfig c;
  c.model_type = family == "llama3" ? "llama" : mistral ? "mistral" : family;
  c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = family == "qwen3" ? 24 : 16;
  c.vocab_size = qwen ? 151936 : mistral ? 32768 : 128256;  // Qwen pads beyond its 151665 tokens
  c.max_position_embeddings = 4096, c.rms_norm_eps = 1e-5, c.tie_word_embeddings = true;
  c.rope_theta = qwen || mistral ? 1e6 : 500000;
  if (family == "llama3") c.rope_scaling = {"llama3", 32.0, 1.0, 4.0, 8192};
  c.attention_bias = family == "qwen2";
  c.qk_norm = family == "qwen3";
  if (family == "mistral-window") c.sliding_window = 6;
  return c;
}

fs::path random_family_model(const fs::path& dir, const std::string& family) {
  const auto c = random_family_config(family);
  at::manual_seed(family == "qwen2" ? 2 : family == "qwen3" ? 4 : family == "mistral-window" ? 5 : 3);
  io::NamedTensors t;
  auto normal = [](std::vector<int64_t> shape, double std) { return at::randn(shape) * std; };
  const int64_t C = c.hidden_size, D = c.head_dim, q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  t.emplace_back("model.embed_tokens.weight", normal({c.vocab_size, C}, 0.5));
  t.emplace_back("model.norm.weight", 1 + normal({C}, 0.1));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", 1 + normal({C}, 0.1));
    t.emplace_back(p + "post_attention_layernorm.weight", 1 + normal({C}, 0.1));
    if (c.qk_norm) {  // far from 1, so that a norm applied wrongly shows
      t.emplace_back(p + "self_attn.q_norm.weight", 1 + normal({D}, 0.5));
      t.emplace_back(p + "self_attn.k_norm.weight", 1 + normal({D}, 0.5));
    }
    for (const auto& [name, out, in] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
             {"self_attn.q_proj", q, C}, {"self_attn.k_proj", kv, C}, {"self_attn.v_proj", kv, C}, {"self_attn.o_proj", C, q},
             {"mlp.gate_proj", c.intermediate_size, C}, {"mlp.up_proj", c.intermediate_size, C}, {"mlp.down_proj", C, c.intermediate_size}}) {
      t.emplace_back(p + name + ".weight", normal({out, in}, 0.15));
      if (c.attention_bias && name.rfind("self_attn.", 0) == 0 && name != "self_attn.o_proj") t.emplace_back(p + name + ".bias", normal({out}, 0.5));
    }
  }
  fs::create_directories(dir);
  io::save_safetensors((dir / "model.safetensors").string(), t);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  const bool qwen = c.model_type.rfind("qwen", 0) == 0, mistral = c.model_type == "mistral";
  const auto tokenizer = shared_dir() / "tokenizers" /
                         (qwen ? "qwen2.5-0.5b-instruct" : mistral ? "mistral-7b-instruct-v0.3" : "llama-3.2");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(tokenizer / name, dir / name);
  return dir;
}

}  // namespace flotilla::test
