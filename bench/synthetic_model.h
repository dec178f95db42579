// A Llama with random weights written as a real model folder (~125M parameters), shared by the
// benchmarks so that it loads like any other model (weights stored in bfloat16, computed in float32
// unless a benchmark asks otherwise).
#pragma once
#include <filesystem>
#include <string>

#include "mission_models.h"

namespace flotilla {

inline model::ModelConfig synthetic_125m_config() {
  model::ModelConfig c;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 32000;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

inline std::string write_synthetic_model(const std::filesystem::path& dir) {
  write_random_model(dir, synthetic_125m_config(), /*bits=*/0);
  return dir.string();
}

}  // namespace flotilla
