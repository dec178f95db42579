// Llama-family decoder (the families of model/family.h): RMSNorm, rotary embeddings, grouped-query
// causal attention with a padding mask and an optional sliding window, gated MLP, optional KV cache;
// Gemma's (1 + weight) norms, sandwich norms, soft-caps and local/global layers where configured.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/linear.h"
#include "model/rope.h"
#include "model/sparse_moe.h"
#include "model/weight_reader.h"

namespace flotilla::model {

struct ForwardOptions {
  KVCache* cache = nullptr;   // appended to and advanced when given
  at::Tensor positions;       // int64 [B, T]; default: cache length + 0..T-1
  at::Tensor attention_mask;  // [B, S] with 1 for tokens and 0 for padding, S = cached + T
  at::Tensor visible;         // bool [T, S]: keys each query may see besides causality (a sliding window)
  bool last_only = false;     // logits of the last position only: [B, 1, V]
};

class RMSNormImpl : public torch::nn::Module {
 public:
  // plus_one: scale by 1 + weight, in float32 (Gemma).
  RMSNormImpl(at::Tensor weight, double eps, bool plus_one = false);
  at::Tensor forward(const at::Tensor& x);

 private:
  at::Tensor weight_;
  double eps_;
  bool plus_one_;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& config, int64_t layer, WeightReader& weights, at::ScalarType dtype);
  // x [B, T, C]; mask additive [B, 1, 1, T, S], or undefined for plain causal attention.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     KVCache* cache, int64_t layer);

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Linear qkv_proj{nullptr};  // q, k and v in one (Phi-3), the three above null
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // per-head norms (Qwen3, Gemma 3), else null

 private:
  int64_t heads_, kv_heads_, head_dim_, window_;
  double scale_, softcap_;  // scores are softcap·tanh(scale·q·k / softcap) where softcap > 0
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(const ModelConfig& config, const std::string& prefix, WeightReader& weights, at::ScalarType dtype);
  at::Tensor forward(const at::Tensor& x);

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  Linear gate_up_proj{nullptr};  // gate then up in one (Phi-3), the two above null

 private:
  bool gelu_;  // GELU (tanh approximation) gates instead of SiLU
};
TORCH_MODULE(MLP);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& config, int64_t layer, WeightReader& weights, at::ScalarType dtype);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     KVCache* cache);

  // post_attention_layernorm comes before the MLP, or, with sandwich norms, after attention; then
  // pre_feedforward_layernorm comes before the MLP and post_feedforward_layernorm after it.
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  SparseMoe moe{nullptr};  // in place of mlp (and registered as "mlp") in sparse layers

 private:
  int64_t layer_;
};
TORCH_MODULE(Block);

class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const ModelConfig& config, WeightReader& weights, at::ScalarType dtype);

  // tokens int64 [B, T] -> logits [B, T, V] (or [B, 1, V] with last_only), in the compute dtype.
  at::Tensor forward(const at::Tensor& tokens, const ForwardOptions& options = {});

  // Recompute each trainable block's activations in backward instead of keeping them (training only).
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }

  const ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const;

  Linear embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};  // the embedding itself when tied

 private:
  ModelConfig config_;
  at::ScalarType dtype_;
  std::shared_ptr<RotaryTable> rotary_, local_rotary_;  // local layers' own table where their base differs
  bool gradient_checkpointing_ = false;
};
TORCH_MODULE(LlamaModel);

}  // namespace flotilla::model
