// A model folder loaded to generate with: its weights (dense, or MLX-quantized and read by the
// quantized kernels), tokenizer and chat template, and optionally trained adapters on top.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "flotilla/tokenizer.h"

namespace flotilla {

struct ModelLoadSettings {
  std::string dtype;           // "float32", "bfloat16" or "float16"; empty: the model's torch_dtype
  std::string device = "auto";  // auto (MPS on Apple Silicon, else cpu), cpu, cuda, cuda:N or mps
  std::string adapter_path;    // folder with adapters.safetensors and adapter_config.json; empty: none
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

class Model {
 public:
  // Reads config.json and the weights in `dir` (tokenizer.json and the chat template when present).
  static Model load(const std::string& dir, const ModelLoadSettings& settings = {});

  const std::string& dir() const;
  // "Compute dtype: bfloat16 (the model's torch_dtype; --dtype changes it)" or "... (--dtype)".
  const std::string& compute_dtype_line() const;
  bool has_tokenizer() const;
  const Tokenizer& tokenizer() const;  // throws when the folder has no tokenizer.json
  // The conversation as the model's chat template renders it with the generation prompt (or
  // `chat_template`'s Jinja source instead), encoded; without a template, role: content lines.
  std::vector<int64_t> encode_chat(const std::vector<ChatMessage>& messages, const std::string& chat_template = "") const;
  // Whether the folder (or a non-empty override) has a chat template.
  bool has_chat_template(const std::string& chat_template = "") const;

  struct State;  // the loaded model; defined inside the library
  State& state() const { return *state_; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace flotilla
