// A Flotilla model config as llama.cpp's architecture metadata (src/llama-arch.cpp, gguf-py
// constants): "llama" for Llama, Mistral and Qwen2, "qwen3", "gemma2", "gemma3", "phi3"; the <arch>.*
// hyper-parameters, Llama 3's RoPE factors, general.file_type.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "convert/gguf_writer.h"
#include "model/config.h"

namespace flotilla::convert {

// Throws an Error naming `source` (the model folder) when llama.cpp's architecture cannot compute
// what Flotilla computes for this config (a RoPE scaling it lacks, say).
void check_llama_gguf_config(const model::ModelConfig& config, const std::string& source);

// llama.cpp's architecture for the config's family (model/family.cpp).
std::string gguf_architecture(const model::ModelConfig& config);

// Whether that architecture rotates interleaved pairs (llama.cpp's LLAMA_ROPE_TYPE_NORM), so that
// q/k rows in Hugging Face's half-rotation order must be reordered; NEOX architectures take them as they are.
bool gguf_interleaves_rotary(const model::ModelConfig& config);

// general.architecture and the <arch>.* keys.
void add_llama_hparams(GgufWriter& writer, const model::ModelConfig& config);

// Llama 3's per-frequency RoPE divisors, stored by llama.cpp as rope_freqs.weight (Meta's
// reference apply_scaling, llama3_1 models/llama3_1/reference_impl/model.py); empty unless llama3.
std::vector<float> llama3_rope_factors(const model::ModelConfig& config);

// The RoPE factor tensors the file carries: Llama 3's rope_freqs, or longrope's long and short
// factors (llama.cpp picks one by the context it runs with); none otherwise.
std::vector<std::pair<std::string, std::vector<float>>> rope_factor_tensors(const model::ModelConfig& config);

// llama_ftype (llama.h) of a file whose 2-D weights are mostly `type`.
uint32_t llama_file_type(GgmlType type);

}  // namespace flotilla::convert
