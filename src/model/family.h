// The model families Flotilla runs, one row each: what config.json's model_type stands for and
// what that family changes in the Llama block. Family-specific behaviour is read from here only.
#pragma once
#include <string>

namespace flotilla::model {

struct Family {
  const char* model_type;    // config.json's
  const char* architecture;  // the Hugging Face class that convert and fuse write back
  bool qkv_bias;             // q/k/v biases always, the output projection none (Qwen2)
  bool qk_norm;              // RMSNorm over each head's q and k before RoPE (Qwen3)
  bool sliding_window;       // "sliding_window" limits every layer's attention (Mistral)
  bool gated_window;         // "sliding_window" applies only with use_sliding_window (Qwen)
  const char* gguf_architecture;  // llama.cpp's architecture for `fuse --export-gguf`
};

// Throws naming `source` and the supported types when model_type is none of them.
const Family& family_of(const std::string& model_type, const std::string& source);

}  // namespace flotilla::model
