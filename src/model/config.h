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
  std::string type = "default";  // "default", "linear", "llama3" or "longrope"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  // longrope (Phi-3): per-frequency divisors while positions fit the original context, and beyond
  // it; cos and sin scaled by attention_factor.
  std::vector<double> short_factor{}, long_factor{};
  double attention_factor = 1.0;
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
  int64_t sliding_window = 0;    // keys a query sees in local layers, itself included; 0: all
  std::vector<bool> local_layers;  // which layers the window limits (Gemma); empty: every layer
  double rope_local_theta = 0;   // local layers' RoPE base, unscaled (Gemma 3); 0: as global layers
  std::string hidden_act = "silu";  // the MLP's gate activation: silu or gelu_pytorch_tanh
  bool norm_plus_one = false;    // RMSNorm scales by 1 + weight (Gemma)
  bool sandwich_norms = false;   // norms after attention and after the MLP too (Gemma)
  bool scale_embeddings = false; // embeddings multiplied by √hidden (Gemma)
  double query_pre_attn_scalar = 0;    // attention scores scaled by 1/√this; 0: head_dim
  double attn_logit_softcapping = 0;   // scores → cap·tanh(scores/cap) (Gemma 2); 0: none
  double final_logit_softcapping = 0;  // the same on the logits
  bool fused_projections = false;  // one qkv_proj and one gate_up_proj (Phi-3)
  int64_t rotary_dim = 0;          // leading dims of each head that RoPE rotates; 0: head_dim
  // Mixture of experts (Qwen3-MoE): each sparse layer's router sends a token to its top
  // num_experts_per_tok of num_experts gated MLPs of width moe_intermediate_size.
  int64_t num_experts = 0;         // 0: every layer has one dense MLP
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;     // the chosen experts' probabilities rescaled to sum to 1
  int64_t decoder_sparse_step = 1; // every step-th layer is sparse...
  std::vector<int64_t> mlp_only_layers;  // ...except these, which keep a dense MLP
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "float32";
  QuantizationConfig quantization;

  bool is_local(int64_t layer) const;  // the window limits it
  int64_t window_of(int64_t layer) const { return is_local(layer) ? sliding_window : 0; }
  // Every layer windowed alike (Mistral), so a rotating cache of the window serves them all.
  bool uniform_window() const;
  int64_t rotated_dims() const { return rotary_dim > 0 ? rotary_dim : head_dim; }
  bool is_sparse(int64_t layer) const;  // its MLP is a mixture of experts

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
