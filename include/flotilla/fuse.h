// Merges an adapter into its base model and writes a Hugging Face / MLX model folder.
#pragma once
#include <string>

namespace flotilla {

struct FuseOptions {
  bool dequantize = false;  // write dense weights; otherwise quantized bases are re-quantized
};

// Tensors without an adapter are copied bit for bit; config and tokenizer files come along.
void fuse_model(const std::string& model_dir, const std::string& adapter_dir, const std::string& save_dir,
                const FuseOptions& options = {});

}  // namespace flotilla
