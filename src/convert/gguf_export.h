// A Flotilla model (Hugging Face / MLX tensors) as a llama.cpp GGUF file of the "llama"
// architecture: tensor names of llama-arch.cpp, q/k rows reordered from rotate-half to interleaved
// pairs, MLX-quantized weights dequantized, 2-D weights in the chosen type and the rest in F32.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>

#include "convert/gguf_writer.h"
#include "model/config.h"

namespace flotilla::convert {

class LlamaGgufExport {
 public:
  // Checks that llama.cpp can represent the model and reads model_dir's tokenizer and chat
  // template, so that every refusal comes before anything is written.
  LlamaGgufExport(const std::string& model_dir, model::ModelConfig config, GgmlType type);

  // Writes path atomically and returns its size. tensors: Hugging Face names; a quantized linear
  // is its MLX .weight/.scales/.biases. Q8_0/Q4_0 rows that are not whole 32-value blocks are
  // written F16, as llama.cpp's converter falls back; under Q4_0 the output matrix is Q8_0
  // (llama-quantize keeps it at a higher precision too).
  uint64_t write(const std::map<std::string, at::Tensor>& tensors, const std::string& path) const;

 private:
  std::string model_dir_;
  model::ModelConfig config_;
  GgmlType type_;
  GgufWriter metadata_;
};

}  // namespace flotilla::convert
