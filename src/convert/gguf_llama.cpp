#include "convert/gguf_llama.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/family.h"

using namespace flotilla::convert;

namespace flotilla::convert {

namespace {

// llama.cpp's Gemma architectures: GELU gates, local/global layers with their own window keys.
bool has_gemma_windows(const std::string& arch) { return arch == "gemma2" || arch == "gemma3"; }

// Gemma's window and which layers it limits: a period p (every p-th layer global, llama.cpp's
// default reading) where the layers follow one, else one entry per layer. Without a window, one as
// long as the context, which limits nothing (llama.cpp's gemma2 needs local layers).
void add_window(GgufWriter& w, const model::ModelConfig& c, const std::string& arch) {
  const auto key = [&](const char* name) { return arch + "." + name; };
  w.add_f32(key("rope.freq_base_swa"), static_cast<float>(c.rope_local_theta > 0 ? c.rope_local_theta : c.rope_theta));
  if (c.sliding_window == 0) {
    w.add_u32(key("attention.sliding_window"), static_cast<uint32_t>(c.max_position_embeddings));
    w.add_u32(key("attention.sliding_window_pattern"), 2);
    return;
  }
  w.add_u32(key("attention.sliding_window"), static_cast<uint32_t>(c.sliding_window));
  int64_t period = 1;  // the first global layer's index + 1
  while (period <= c.num_hidden_layers && c.is_local(period - 1)) ++period;
  bool periodic = true;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) periodic &= c.is_local(layer) == ((layer + 1) % period != 0);
  if (periodic) {
    w.add_u32(key("attention.sliding_window_pattern"), static_cast<uint32_t>(period));
  } else {
    std::vector<int32_t> local;
    for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) local.push_back(c.is_local(layer) ? 1 : 0);
    w.add_i32s(key("attention.sliding_window_pattern"), local);
  }
}

}  // namespace

void check_llama_gguf_config(const model::ModelConfig& c, const std::string& source) {
  const auto& rope = c.rope_scaling.type;
  const std::string arch = gguf_architecture(c);
  if (rope != "default" && rope != "linear" && rope != "llama3" && !(rope == "longrope" && arch == "phi3"))
    fail("gguf", "'{}': rope_scaling '{}' has no GGUF {} equivalent; expected none, linear or llama3{}", source, rope, arch,
         arch == "phi3" ? " or longrope" : "");
  if (arch == "phi3" && c.num_attention_heads * c.head_dim != c.hidden_size)
    fail("gguf", "'{}': GGUF's phi3 needs heads x head_dim = hidden_size; got {} x {} and {}", source,
         c.num_attention_heads, c.head_dim, c.hidden_size);
  if (arch != "llama" && c.attention_bias)
    fail("gguf", "'{}': attention_bias=true has no place in GGUF's {} architecture", source, arch);
  const bool gemma = has_gemma_windows(arch);
  const std::string act = gemma ? "gelu_pytorch_tanh" : "silu";
  if (c.hidden_act != act) fail("gguf", "'{}': GGUF's {} architecture gates with {}, not {}", source, arch, act, c.hidden_act);
  if (arch == "gemma2" && (c.attn_logit_softcapping == 0 || c.final_logit_softcapping == 0))
    fail("gguf", "'{}': GGUF's gemma2 always soft-caps attention and logits; this config leaves one uncapped", source);
  if (c.num_experts > 0) {  // llama.cpp's qwen3moe: experts in every layer, their weights rescaled to sum to 1
    for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer)
      if (!c.is_sparse(layer)) fail("gguf", "'{}': layer {} has a dense MLP; GGUF's {} has experts in every layer", source, layer, arch);
    if (!c.norm_topk_prob) fail("gguf", "'{}': norm_topk_prob=false; GGUF's {} always normalises the chosen experts' weights", source, arch);
  }
  if (gemma) {  // llama.cpp scales queries by 1/√head_dim, or 1/√(hidden/heads) in the 27B shapes
    const bool shape_27b = c.num_hidden_layers == (arch == "gemma2" ? 46 : 62);
    const double expected = shape_27b ? static_cast<double>(c.hidden_size / c.num_attention_heads) : static_cast<double>(c.head_dim);
    if (c.query_pre_attn_scalar != expected)
      fail("gguf", "'{}': query_pre_attn_scalar={} differs from the {} that llama.cpp's {} uses for this shape", source,
           c.query_pre_attn_scalar, expected, arch);
  }
}

std::string gguf_architecture(const model::ModelConfig& c) { return model::family_of(c.model_type, "the model").gguf_architecture; }

bool gguf_interleaves_rotary(const model::ModelConfig& c) { return gguf_architecture(c) == "llama"; }


void add_llama_hparams(GgufWriter& w, const model::ModelConfig& c) {
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  const std::string arch = gguf_architecture(c);
  const auto key = [&](const char* name) { return arch + "." + name; };
  // GGUF's llama and phi3 have no sliding window: the file claims only the context where it computes the same.
  const int64_t context = c.sliding_window > 0 && !has_gemma_windows(arch) ? std::min(c.sliding_window, c.max_position_embeddings)
                                                                           : c.max_position_embeddings;
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
  w.add_u32(key("rope.dimension_count"), u32(c.rotated_dims()));
  w.add_f32(key("rope.freq_base"), static_cast<float>(c.rope_theta));
  w.add_f32(key("attention.layer_norm_rms_epsilon"), static_cast<float>(c.rms_norm_eps));
  if (c.num_experts > 0) {
    w.add_u32(key("expert_count"), u32(c.num_experts));
    w.add_u32(key("expert_used_count"), u32(c.num_experts_per_tok));
    w.add_u32(key("expert_feed_forward_length"), u32(c.moe_intermediate_size));
  }
  // Gemma 3 without a window has no local layers (llama.cpp's rotate those unscaled).
  if (arch == "gemma2" || (arch == "gemma3" && c.sliding_window > 0)) add_window(w, c, arch);
  if (c.attn_logit_softcapping > 0) w.add_f32(key("attn_logit_softcapping"), static_cast<float>(c.attn_logit_softcapping));
  if (c.final_logit_softcapping > 0) w.add_f32(key("final_logit_softcapping"), static_cast<float>(c.final_logit_softcapping));
  if (c.rope_scaling.type == "longrope") {  // the factors go in as tensors (rope_factor_tensors)
    w.add_f32(key("rope.scaling.attn_factor"), static_cast<float>(c.rope_scaling.attention_factor));
    w.add_u32(key("rope.scaling.original_context_length"), u32(c.rope_scaling.original_max_position_embeddings));
  }
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

std::vector<std::pair<std::string, std::vector<float>>> rope_factor_tensors(const model::ModelConfig& c) {
  const auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  if (c.rope_scaling.type == "llama3") return {{"rope_freqs.weight", llama3_rope_factors(c)}};
  if (c.rope_scaling.type == "longrope")
    return {{"rope_factors_long.weight", as_float(c.rope_scaling.long_factor)},
            {"rope_factors_short.weight", as_float(c.rope_scaling.short_factor)}};
  return {};
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
