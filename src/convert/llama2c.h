// Import of Karpathy's llama2.c checkpoints (.bin) and tokenizers (tok*.bin) into Hugging Face form.
// Checkpoint: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; negative vocab = untied classifier), then float32 weight arrays (see llama2.c run.c).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "flotilla/convert.h"
#include "io/tensor_io.h"
#include "model/config.h"

namespace flotilla::convert {

struct Llama2cCheckpoint {
  model::ModelConfig config;
  io::NamedTensors tensors;  // Hugging Face names, q/k rows permuted to the rotate-half layout
};

// Validates the header and the exact file size before reading any weight.
Llama2cCheckpoint read_llama2c_checkpoint(const std::string& path);

struct Llama2cTokenizer {
  int32_t max_token_length = 0;
  std::vector<std::string> pieces;  // raw bytes as stored: ' ' where SentencePiece has '▁'
  std::vector<float> scores;        // llama2.c merges the adjacent pair whose piece scores highest
};

// Reads exactly vocab_size entries and requires the file to end there.
Llama2cTokenizer read_llama2c_tokenizer(const std::string& path, int64_t vocab_size);

// A SentencePiece-style BPE tokenizer.json (the TinyLlama/Llama-2 structure) that encodes like
// llama2.c: merges are every split of every merged piece, ranked by that piece's score.
nlohmann::ordered_json llama2c_tokenizer_json(const Llama2cTokenizer& tokenizer);
nlohmann::ordered_json llama2c_tokenizer_config_json(int64_t model_max_length);

}  // namespace flotilla::convert
