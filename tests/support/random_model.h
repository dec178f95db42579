// Small models with random weights in the Hugging Face layout, one per family, with that family's
// real tokenizer from ../shared: what the family tests and the llama.cpp oracle tests run.
#pragma once
#include <filesystem>
#include <string>

#include "model/config.h"

namespace flotilla::test {

// Families: llama3 (Llama 3 RoPE factors), qwen2 (q/k/v biases), mistral, qwen3 (q/k norms, a
// head_dim that is not hidden/heads), mistral-window (Mistral with a 6-token sliding window),
// gemma2 (soft-caps that bite, local layers alternating) and gemma3 (q/k norms, two of three layers
// local with their own RoPE base, global ones linearly scaled), phi3 (fused projections, RoPE over
// half of each head, longrope with a 32-token original context); these borrow Mistral's tokenizer;
// qwen3_moe (Qwen3's attention, eight experts of which two per token, per-expert tensors as
// Hugging Face stores them).
model::ModelConfig random_family_config(const std::string& family);

// Writes config.json, model.safetensors and the tokenizer files into dir; returns dir.
std::filesystem::path random_family_model(const std::filesystem::path& dir, const std::string& family);

}  // namespace flotilla::test
