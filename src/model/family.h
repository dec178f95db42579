// The model families Flotilla runs, one row each: what config.json's model_type stands for and
// what that family changes in the Llama block. Family-specific behaviour is read from here only.
#pragma once
#include <string>

namespace flotilla::model {

struct Family {
  const char* model_type;    // config.json's
  const char* architecture;  // the Hugging Face class that convert and fuse write back
  bool qkv_bias;             // q/k/v biases always, the output projection none (Qwen2)
  bool qk_norm;              // RMSNorm over each head's q and k before RoPE (Qwen3, Gemma 3)
  bool sliding_window;       // "sliding_window" limits attention (Mistral: every layer; Gemma: local layers)
  bool gated_window;         // "sliding_window" applies only with use_sliding_window (Qwen)
  const char* gguf_architecture;  // llama.cpp's architecture for `fuse --export-gguf`
  const char* hidden_act;    // the MLP's activation where config.json names none
  bool gemma_layout;         // norms scale by 1 + weight and follow attention and MLP too; embeddings × √hidden
  bool softcaps;             // attention and final logits soft-capped (Gemma 2)
  int local_period;          // without layer_types, every period-th layer is global and the rest local
  double local_rope_theta;   // local layers' RoPE base where rope_local_base_freq is absent; 0: the global one
  bool fused_projections;    // one qkv_proj and one gate_up_proj, RoPE over part of each head allowed (Phi-3)
  bool experts;              // mixture-of-experts MLPs from num_experts (Qwen3-MoE)
};

// Throws naming `source` and the supported types when model_type is none of them.
const Family& family_of(const std::string& model_type, const std::string& source);

}  // namespace flotilla::model
