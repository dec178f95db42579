// Merges an adapter into its base model and writes a Hugging Face / MLX model folder, and on
// request a GGUF file of the fused model for llama.cpp and Ollama.
#pragma once
#include <cstdint>
#include <string>

namespace flotilla {

struct FuseOptions {
  bool dequantize = false;  // write dense weights; otherwise quantized bases are re-quantized
  bool export_gguf = false;
  // Relative paths are inside save_dir, as mlx_lm.fuse joins them; "" is ggml-model-<type>.gguf.
  std::string gguf_path;
  std::string gguf_type = "f16";  // f32, f16, bf16, q8_0 or q4_0
};

struct FuseResult {
  std::string gguf_path;  // "" without export_gguf
  uint64_t gguf_bytes = 0;
};

// Tensors without an adapter are copied bit for bit; config and tokenizer files come along. The GGUF
// holds the dense fusion (a quantized base dequantized); every reason it cannot be written is
// raised before the folder is.
FuseResult fuse_model(const std::string& model_dir, const std::string& adapter_dir, const std::string& save_dir,
                      const FuseOptions& options = {});

}  // namespace flotilla
