// Hyperparameters of a Llama-family model, read from a Hugging Face config.json.
// Shape letters used across src/model: B batch, T time, C channels (hidden), H heads,
// Hkv key/value heads, D head dim, V vocab, r LoRA rank.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flotilla::model {

struct RopeScaling {
  std::string type = "default";  // "default", "linear" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct QuantSpec {
  int bits = 0;  // 0 means dense
  int group_size = 0;
  bool enabled() const { return bits != 0; }
};

// MLX's "quantization" entry: defaults plus per-layer overrides ("model.layers.0.mlp.down_proj").
struct QuantizationConfig {
  QuantSpec defaults;
  std::map<std::string, QuantSpec> per_layer;
  QuantSpec for_layer(const std::string& prefix) const;
};

struct ModelConfig {
  std::string model_type = "llama";  // a row of model/family.cpp
  int64_t hidden_size = 0;           // C
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;   // H
  int64_t num_key_value_heads = 0;   // Hkv
  int64_t head_dim = 0;              // D
  int64_t vocab_size = 0;            // V
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v/o biases (Llama); Qwen2 has q/k/v biases only
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;          // RMSNorm over each head's q and k before RoPE (Qwen3)
  int64_t sliding_window = 0;    // keys a query sees, itself included (Mistral v0.1); 0: all
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "float32";
  QuantizationConfig quantization;

  // Writes the fields back in Hugging Face form (used by convert and fuse).
  nlohmann::json to_json() const;
};

// `source` names the file in error messages.
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& source);
ModelConfig load_model_config(const std::string& path);
nlohmann::json read_config_json(const std::string& path);  // errors name the file

// What identifies a model in files made from it (training states, prompt caches): a hash of its
// configuration (shapes, vocabulary, quantization, RoPE), the same wherever its folder lies.
std::string model_fingerprint(const ModelConfig& config);

}  // namespace flotilla::model
