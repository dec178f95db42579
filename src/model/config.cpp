#include "model/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "data/jsonl.h"
#include "model/family.h"

namespace flotilla::model {

namespace {

using nlohmann::json;

struct Reader {
  const json& j;
  const std::string& source;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }

  int64_t positive_int(const char* key) const {
    if (!has(key)) fail("config", "'{}': missing required field '{}'", source, key);
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0)
      fail("config", "'{}': field '{}' must be a positive integer, got {}", source, key, v.dump());
    return v.get<int64_t>();
  }
  int64_t positive_int_or(const char* key, int64_t fallback) const { return has(key) ? positive_int(key) : fallback; }

  double number_or(const json& obj, const char* key, double fallback) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_number()) fail("config", "'{}': field '{}' must be a number, got {}", source, key, obj.at(key).dump());
    return obj.at(key).get<double>();
  }
  bool bool_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j.at(key).is_boolean()) fail("config", "'{}': field '{}' must be true or false, got {}", source, key, j.at(key).dump());
    return j.at(key).get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j.at(key).is_string()) fail("config", "'{}': field '{}' must be a string, got {}", source, key, j.at(key).dump());
    return j.at(key).get<std::string>();
  }
};

// Reads "rope_scaling" (transformers <5) or "rope_parameters" (transformers 5), same keys.
RopeScaling parse_rope(const json& r, const std::string& source, const Reader& reader) {
  RopeScaling rope;
  if (r.is_null()) return rope;
  if (!r.is_object()) fail("config", "'{}': rope scaling must be an object or null, got {}", source, r.dump());
  std::string type = r.value("rope_type", r.value("type", std::string("default")));
  if (type == "su") type = "longrope";  // Phi-3's first name for it
  if (type != "default" && type != "linear" && type != "llama3" && type != "longrope")
    fail("config", "'{}': unsupported rope type '{}'; supported: default, linear, llama3, longrope", source, type);
  rope.type = type;
  if (type == "longrope") {
    for (auto [key, factors] : {std::pair<const char*, std::vector<double>*>{"short_factor", &rope.short_factor}, {"long_factor", &rope.long_factor}}) {
      if (!r.contains(key) || !r.at(key).is_array())
        fail("config", "'{}': longrope needs '{}' as a list of numbers, got {}", source, key, r.value(key, json()).dump());
      for (const auto& v : r.at(key)) {
        if (!v.is_number() || v.get<double>() <= 0)
          fail("config", "'{}': longrope '{}' holds {}; expected positive numbers", source, key, v.dump());
        factors->push_back(v.get<double>());
      }
    }
    rope.attention_factor = reader.number_or(r, "attention_factor", 0.0);  // 0: derived from the context below
    if (rope.attention_factor < 0) fail("config", "'{}': longrope attention_factor must be positive, got {}", source, rope.attention_factor);
  }
  rope.factor = reader.number_or(r, "factor", 1.0);
  rope.low_freq_factor = reader.number_or(r, "low_freq_factor", 1.0);
  rope.high_freq_factor = reader.number_or(r, "high_freq_factor", 4.0);
  rope.original_max_position_embeddings =
      static_cast<int64_t>(reader.number_or(r, "original_max_position_embeddings", 8192));
  if (rope.factor <= 0) fail("config", "'{}': rope factor must be positive, got {}", source, rope.factor);
  return rope;
}

QuantSpec parse_quant_spec(const json& q, const std::string& source, const std::string& where) {
  QuantSpec spec;
  if (q.is_boolean()) {
    if (q.get<bool>()) fail("config", "'{}': quantization entry '{}' is true; expected false or {{bits, group_size}}", source, where);
    return spec;  // false: this layer stays dense
  }
  if (!q.is_object() || !q.contains("bits") || !q.contains("group_size"))
    fail("config", "'{}': quantization entry '{}' must hold bits and group_size, got {}", source, where, q.dump());
  spec.bits = q.at("bits").get<int>();
  spec.group_size = q.at("group_size").get<int>();
  if (spec.bits != 2 && spec.bits != 4 && spec.bits != 8)
    fail("config", "'{}': quantization '{}' has bits {}; supported: 2, 4, 8", source, where, spec.bits);
  if (spec.group_size != 32 && spec.group_size != 64 && spec.group_size != 128)
    fail("config", "'{}': quantization '{}' has group_size {}; supported: 32, 64, 128", source, where, spec.group_size);
  std::string mode = q.value("mode", std::string("affine"));
  if (mode != "affine") fail("config", "'{}': quantization mode '{}' is not supported; supported: affine", source, mode);
  return spec;
}

QuantizationConfig parse_quantization(const json& q, const std::string& source) {
  QuantizationConfig config;
  if (q.is_null()) return config;
  config.defaults = parse_quant_spec(q, source, "quantization");
  for (const auto& [key, value] : q.items()) {
    if (value.is_object() || value.is_boolean()) config.per_layer[key] = parse_quant_spec(value, source, key);
  }
  return config;
}

std::vector<int64_t> parse_token_ids(const json& v, const std::string& source, const char* key) {
  if (v.is_null()) return {};
  if (v.is_number_integer()) return {v.get<int64_t>()};
  if (v.is_array()) {
    std::vector<int64_t> ids;
    for (const auto& id : v) {
      if (!id.is_number_integer()) fail("config", "'{}': '{}' must hold integers, got {}", source, key, v.dump());
      ids.push_back(id.get<int64_t>());
    }
    return ids;
  }
  fail("config", "'{}': '{}' must be an integer or a list of integers, got {}", source, key, v.dump());
}

// Options of attention or the MLP that the family does not implement: refused by key and value,
// never approximated.
void refuse_unimplemented_options(const Reader& r, const Family& family) {
  const auto refuse = [&](const char* key, const char* why) {
    fail("config", "'{}': {}={} is not implemented: {}", r.source, key, r.j.at(key).dump(), why);
  };
  if (r.bool_or("rope_interleaved", false)) refuse("rope_interleaved", "convert to Hugging Face half rotation");
  if (r.number_or(r.j, "partial_rotary_factor", 1.0) != 1.0 && !family.fused_projections)
    refuse("partial_rotary_factor", "rotary embeddings span whole heads in this family");
  if (!family.softcaps)
    for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"})
      if (r.has(key)) refuse(key, "soft-capping belongs to Gemma 2");
  for (const char* key : {"num_local_experts", "num_experts"})
    if (r.has(key) && r.j.at(key) != 0 && !family.experts) refuse(key, "this family has no mixture-of-experts layers");
  if (r.bool_or("use_qk_norm", false) && !family.qk_norm) refuse("use_qk_norm", "this family has no q/k norms");
  if (r.bool_or("use_bidirectional_attention", false)) refuse("use_bidirectional_attention", "attention is causal");
  if (r.has("layer_types") && family.local_period == 0) {
    for (const auto& type : r.j.at("layer_types"))
      if (type != "full_attention") refuse("layer_types", "every layer must be full_attention");
  }
}

// The MLP's activation: Gemma names it hidden_activation, the others hidden_act.
std::string parse_activation(const Reader& r, const Family& family) {
  const std::string act = r.string_or("hidden_activation", r.string_or("hidden_act", family.hidden_act));
  if (act != "silu" && act != "gelu_pytorch_tanh")
    fail("config", "'{}': unsupported hidden_act '{}'; supported: silu, gelu_pytorch_tanh", r.source, act);
  return act;
}

// Which layers are local: layer_types where given, else every period-th layer global.
std::vector<bool> parse_local_layers(const Reader& r, const Family& family, int64_t layers) {
  std::vector<bool> local;
  if (r.has("layer_types")) {
    const json& types = r.j.at("layer_types");
    if (!types.is_array() || static_cast<int64_t>(types.size()) != layers)
      fail("config", "'{}': layer_types must list {} layers, got {}", r.source, layers, types.dump());
    for (const auto& type : types) {
      if (type != "sliding_attention" && type != "full_attention")
        fail("config", "'{}': layer_types holds {}; expected sliding_attention or full_attention", r.source, type.dump());
      local.push_back(type == "sliding_attention");
    }
    return local;
  }
  const char* key = r.has("sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
  const int64_t period = r.positive_int_or(key, family.local_period);
  for (int64_t layer = 0; layer < layers; ++layer) local.push_back((layer + 1) % period != 0);
  return local;
}

// Qwen3-MoE's experts: how many, how many per token, their width and which layers have them.
void parse_experts(const Reader& r, ModelConfig& c) {
  c.num_experts = r.has("num_experts") && r.j.at("num_experts") == 0 ? 0 : r.positive_int("num_experts");
  if (c.num_experts == 0) return;
  c.num_experts_per_tok = r.positive_int("num_experts_per_tok");
  if (c.num_experts_per_tok > c.num_experts)
    fail("config", "'{}': num_experts_per_tok {} exceeds num_experts {}", r.source, c.num_experts_per_tok, c.num_experts);
  c.moe_intermediate_size = r.positive_int("moe_intermediate_size");
  c.norm_topk_prob = r.bool_or("norm_topk_prob", false);  // Hugging Face's default
  c.decoder_sparse_step = r.positive_int_or("decoder_sparse_step", 1);
  if (!r.has("mlp_only_layers")) return;
  const json& dense = r.j.at("mlp_only_layers");
  const auto is_layer = [&](const json& l) { return l.is_number_integer() && l.get<int64_t>() >= 0 && l.get<int64_t>() < c.num_hidden_layers; };
  if (!dense.is_array() || !std::all_of(dense.begin(), dense.end(), is_layer))
    fail("config", "'{}': mlp_only_layers must list layer indices below {}, got {}", r.source, c.num_hidden_layers, dense.dump());
  c.mlp_only_layers = dense.get<std::vector<int64_t>>();
}

}  // namespace

bool ModelConfig::is_sparse(int64_t layer) const {
  return num_experts > 0 && (layer + 1) % decoder_sparse_step == 0 &&
         std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) == mlp_only_layers.end();
}

bool ModelConfig::is_local(int64_t layer) const {
  return sliding_window > 0 && (local_layers.empty() || local_layers.at(static_cast<size_t>(layer)));
}

bool ModelConfig::uniform_window() const {
  return sliding_window > 0 && std::all_of(local_layers.begin(), local_layers.end(), [](bool local) { return local; });
}

QuantSpec QuantizationConfig::for_layer(const std::string& prefix) const {
  auto it = per_layer.find(prefix);
  return it == per_layer.end() ? defaults : it->second;
}

ModelConfig parse_model_config(const json& j, const std::string& source) {
  if (!j.is_object()) fail("config", "'{}': expected a JSON object", source);
  Reader r{j, source};
  ModelConfig c;
  c.model_type = r.string_or("model_type", "");
  const Family& family = family_of(c.model_type, source);
  refuse_unimplemented_options(r, family);

  c.hidden_size = r.positive_int("hidden_size");
  c.intermediate_size = r.positive_int("intermediate_size");
  c.num_hidden_layers = r.positive_int("num_hidden_layers");
  c.num_attention_heads = r.positive_int("num_attention_heads");
  c.num_key_value_heads = r.positive_int_or("num_key_value_heads", c.num_attention_heads);
  c.vocab_size = r.positive_int("vocab_size");
  c.max_position_embeddings = r.positive_int_or("max_position_embeddings", 2048);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("config", "'{}': num_attention_heads {} is not a multiple of num_key_value_heads {}", source,
         c.num_attention_heads, c.num_key_value_heads);
  if (!r.has("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    fail("config", "'{}': hidden_size {} is not a multiple of num_attention_heads {}", source, c.hidden_size,
         c.num_attention_heads);
  c.head_dim = r.positive_int_or("head_dim", c.hidden_size / c.num_attention_heads);
  if (c.head_dim % 2 != 0) fail("config", "'{}': head_dim {} must be even for rotary embeddings", source, c.head_dim);
  c.rms_norm_eps = r.number_or(j, "rms_norm_eps", 1e-6);

  const json rope_json = r.has("rope_parameters") ? j.at("rope_parameters") : (r.has("rope_scaling") ? j.at("rope_scaling") : json());
  // Transformers 5 gives Gemma's two RoPEs by layer type.
  const bool rope_by_layer_type = rope_json.is_object() && rope_json.contains("full_attention");
  const json rope = rope_by_layer_type ? rope_json.at("full_attention") : rope_json;
  c.rope_scaling = parse_rope(rope, source, r);
  c.rope_theta = r.number_or(j, "rope_theta", rope.is_object() ? r.number_or(rope, "rope_theta", 10000.0) : 10000.0);

  // Gemma's configs leave the key out: its embeddings are tied.
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", family.gemma_layout);
  c.attention_bias = family.qkv_bias || r.bool_or("attention_bias", false);
  c.o_proj_bias = !family.qkv_bias && c.attention_bias;
  c.mlp_bias = r.bool_or("mlp_bias", false);
  c.qk_norm = family.qk_norm;
  if (family.gated_window && r.bool_or("use_sliding_window", false))
    fail("config", "'{}': use_sliding_window=true (a window on layers past max_window_layers) is not implemented", source);
  if (family.sliding_window) c.sliding_window = r.positive_int_or("sliding_window", 0);
  if (family.local_period > 0 && c.sliding_window > 0) {
    c.local_layers = parse_local_layers(r, family, c.num_hidden_layers);
    if (rope_by_layer_type && rope_json.contains("sliding_attention")) {
      const json& local = rope_json.at("sliding_attention");
      if (parse_rope(local, source, r).type != "default")
        fail("config", "'{}': local layers' RoPE {} is not implemented: they rotate unscaled", source, local.dump());
      c.rope_local_theta = r.number_or(local, "rope_theta", family.local_rope_theta);
    } else {
      c.rope_local_theta = r.number_or(j, "rope_local_base_freq", family.local_rope_theta);
    }
  }
  c.hidden_act = parse_activation(r, family);
  c.fused_projections = family.fused_projections;
  if (family.fused_projections) {
    const double partial = r.number_or(j, "partial_rotary_factor", 1.0);
    c.rotary_dim = static_cast<int64_t>(std::llround(partial * static_cast<double>(c.head_dim)));
    if (partial <= 0 || partial > 1 || c.rotary_dim % 2 != 0)
      fail("config", "'{}': partial_rotary_factor {} must rotate an even number of each head's {} dims", source, partial, c.head_dim);
    if (c.rotary_dim == c.head_dim) c.rotary_dim = 0;
  }
  if (c.rope_scaling.type == "longrope") {
    auto& rope = c.rope_scaling;
    // Phi-3 keeps the original context beside rope_scaling, not in it.
    rope.original_max_position_embeddings = static_cast<int64_t>(r.number_or(
        rope_json, "original_max_position_embeddings", r.number_or(j, "original_max_position_embeddings", 0.0)));
    if (rope.original_max_position_embeddings <= 0)
      fail("config", "'{}': longrope needs original_max_position_embeddings", source);
    const size_t half = static_cast<size_t>(c.rotated_dims() / 2);
    if (rope.short_factor.size() != half || rope.long_factor.size() != half)
      fail("config", "'{}': longrope factors hold {} and {} values; expected {} (half the rotated dims)", source,
           rope.short_factor.size(), rope.long_factor.size(), half);
    const double scale = static_cast<double>(c.max_position_embeddings) / static_cast<double>(rope.original_max_position_embeddings);
    if (rope.attention_factor == 0)
      rope.attention_factor = scale <= 1 ? 1.0 : std::sqrt(1 + std::log(scale) / std::log(static_cast<double>(rope.original_max_position_embeddings)));
  }
  if (family.experts) parse_experts(r, c);
  c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = family.gemma_layout;
  if (family.gemma_layout) c.query_pre_attn_scalar = r.number_or(j, "query_pre_attn_scalar", 256.0);  // Gemma's default
  if (family.softcaps) {
    c.attn_logit_softcapping = r.number_or(j, "attn_logit_softcapping", 0.0);
    c.final_logit_softcapping = r.number_or(j, "final_logit_softcapping", 0.0);
  }
  for (const auto& [key, value] : {std::pair<const char*, double>{"query_pre_attn_scalar", c.query_pre_attn_scalar},
                                   {"attn_logit_softcapping", c.attn_logit_softcapping},
                                   {"final_logit_softcapping", c.final_logit_softcapping}})
    if (value < 0) fail("config", "'{}': field '{}' must be positive, got {}", source, key, value);
  if (j.contains("bos_token_id")) {
    auto bos = parse_token_ids(j.at("bos_token_id"), source, "bos_token_id");
    c.bos_token_id = bos.empty() ? -1 : bos.front();
  }
  if (j.contains("eos_token_id")) c.eos_token_ids = parse_token_ids(j.at("eos_token_id"), source, "eos_token_id");
  c.torch_dtype = r.string_or("torch_dtype", r.string_or("dtype", "float32"));
  if (r.has("quantization")) c.quantization = parse_quantization(j.at("quantization"), source);
  return c;
}

json read_config_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("config", "cannot open '{}'", path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail("config", "'{}': invalid JSON: {}", path, e.what());
  }
}

ModelConfig load_model_config(const std::string& path) { return parse_model_config(read_config_json(path), path); }

json ModelConfig::to_json() const {
  json j;
  const Family& family = family_of(model_type, "the model");
  j["architectures"] = {family.architecture};
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling.type == "default") {
    j["rope_scaling"] = nullptr;
  } else if (rope_scaling.type == "longrope") {
    j["rope_scaling"] = {{"rope_type", "longrope"},
                         {"short_factor", rope_scaling.short_factor},
                         {"long_factor", rope_scaling.long_factor},
                         {"attention_factor", rope_scaling.attention_factor}};
    j["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  }
  j["hidden_act"] = hidden_act;
  if (family.gemma_layout) {
    j["hidden_activation"] = hidden_act;
    j["query_pre_attn_scalar"] = query_pre_attn_scalar;
  }
  if (family.softcaps) {
    j["attn_logit_softcapping"] = attn_logit_softcapping > 0 ? json(attn_logit_softcapping) : json(nullptr);
    j["final_logit_softcapping"] = final_logit_softcapping > 0 ? json(final_logit_softcapping) : json(nullptr);
  }
  if (!local_layers.empty()) {
    j["layer_types"] = json::array();
    for (const bool local : local_layers) j["layer_types"].push_back(local ? "sliding_attention" : "full_attention");
  }
  if (rope_local_theta > 0) j["rope_local_base_freq"] = rope_local_theta;
  if (rotary_dim > 0) j["partial_rotary_factor"] = static_cast<double>(rotary_dim) / static_cast<double>(head_dim);
  if (family.experts) {
    j["num_experts"] = num_experts;
    j["num_experts_per_tok"] = num_experts_per_tok;
    j["moe_intermediate_size"] = moe_intermediate_size;
    j["norm_topk_prob"] = norm_topk_prob;
    j["decoder_sparse_step"] = decoder_sparse_step;
    j["mlp_only_layers"] = mlp_only_layers;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (!family.qkv_bias) j["attention_bias"] = attention_bias;
  j["mlp_bias"] = mlp_bias;
  if (family.sliding_window) j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids.front();
  else j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  if (quantization.defaults.enabled()) {
    json q = {{"bits", quantization.defaults.bits}, {"group_size", quantization.defaults.group_size}};
    for (const auto& [layer, spec] : quantization.per_layer) {
      q[layer] = spec.enabled() ? json{{"bits", spec.bits}, {"group_size", spec.group_size}} : json(false);
    }
    j["quantization"] = q;
  }
  return j;
}

std::string model_fingerprint(const ModelConfig& config) {
  return fmt::format("{:016x}", data::hash64(config.to_json().dump()));
}

}  // namespace flotilla::model
