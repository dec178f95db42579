#include "convert/gguf_llama.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/family.h"

using namespace flotilla::convert;

namespace flotilla::convert {

void check_llama_gguf_config(const model::ModelConfig& c, const std::string& source) {
  const auto& rope = c.rope_scaling.type;
  if (rope != "default" && rope != "linear" && rope != "llama3")
    fail("gguf", "'{}': rope_scaling '{}' has no GGUF llama equivalent; expected none, linear or llama3", source, rope);
  if (gguf_architecture(c) == "qwen3" && c.attention_bias)
    fail("gguf", "'{}': attention_bias=true has no place in GGUF's qwen3 architecture", source);
}

std::string gguf_architecture(const model::ModelConfig& c) { return model::family_of(c.model_type, "the model").gguf_architecture; }

bool gguf_interleaves_rotary(const model::ModelConfig& c) { return gguf_architecture(c) == "llama"; }

void add_llama_hparams(GgufWriter& w, const model::ModelConfig& c) {
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  const std::string arch = gguf_architecture(c);
  const auto key = [&](const char* name) { return arch + "." + name; };
  // GGUF's llama has no sliding window: the file claims only the context where it computes the same.
  const int64_t context = c.sliding_window > 0 ? std::min(c.sliding_window, c.max_position_embeddings) : c.max_position_embeddings;
  w.add_string("general.architecture", arch);
  w.add_u32(key("vocab_size"), u32(c.vocab_size));
  w.add_u32(key("context_length"), u32(context));
  w.add_u32(key("embedding_length"), u32(c.hidden_size));
  w.add_u32(key("block_count"), u32(c.num_hidden_layers));
  w.add_u32(key("feed_forward_length"), u32(c.intermediate_size));
  w.add_u32(key("attention.head_count"), u32(c.num_attention_heads));
  w.add_u32(key("attention.head_count_kv"), u32(c.num_key_value_heads));
  w.add_u32(key("attention.key_length"), u32(c.head_dim));
  w.add_u32(key("attention.value_length"), u32(c.head_dim));
  w.add_u32(key("rope.dimension_count"), u32(c.head_dim));
  w.add_f32(key("rope.freq_base"), static_cast<float>(c.rope_theta));
  w.add_f32(key("attention.layer_norm_rms_epsilon"), static_cast<float>(c.rms_norm_eps));
  if (c.rope_scaling.type == "linear") {
    w.add_string(key("rope.scaling.type"), "linear");
    w.add_f32(key("rope.scaling.factor"), static_cast<float>(c.rope_scaling.factor));
  }
}

std::vector<float> llama3_rope_factors(const model::ModelConfig& c) {
  const auto& s = c.rope_scaling;
  if (s.type != "llama3") return {};
  const double pi = 3.14159265358979323846;
  const double original = static_cast<double>(s.original_max_position_embeddings);
  const double low_wavelen = original / s.low_freq_factor, high_wavelen = original / s.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < c.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(c.rope_theta, static_cast<double>(i) / c.head_dim);
    const double wavelen = 2 * pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(static_cast<float>(s.factor));
    } else {
      const double smooth = (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      factors.push_back(static_cast<float>(1 / ((1 - smooth) / s.factor + smooth)));
    }
  }
  return factors;
}

uint32_t llama_file_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 0;    // LLAMA_FTYPE_ALL_F32
    case GgmlType::F16: return 1;    // LLAMA_FTYPE_MOSTLY_F16
    case GgmlType::Q4_0: return 2;   // LLAMA_FTYPE_MOSTLY_Q4_0
    case GgmlType::Q8_0: return 7;   // LLAMA_FTYPE_MOSTLY_Q8_0
    case GgmlType::BF16: return 32;  // LLAMA_FTYPE_MOSTLY_BF16
  }
  fail("gguf", "no llama file type for ggml type id {}", static_cast<uint32_t>(type));
}

}  // namespace flotilla::convert
