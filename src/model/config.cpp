#include "model/config.h"

#include <fmt/format.h>

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
  if (type != "default" && type != "linear" && type != "llama3")
    fail("config", "'{}': unsupported rope type '{}'; supported: default, linear, llama3", source, type);
  rope.type = type;
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

// Options of attention or the MLP that no supported family implements: refused by key and value,
// never approximated.
void refuse_unimplemented_options(const Reader& r) {
  const auto refuse = [&](const char* key, const char* why) {
    fail("config", "'{}': {}={} is not implemented: {}", r.source, key, r.j.at(key).dump(), why);
  };
  const std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu") fail("config", "'{}': unsupported hidden_act '{}'; supported: silu", r.source, act);
  if (r.bool_or("rope_interleaved", false)) refuse("rope_interleaved", "convert to Hugging Face half rotation");
  if (r.number_or(r.j, "partial_rotary_factor", 1.0) != 1.0) refuse("partial_rotary_factor", "rotary embeddings span whole heads");
  for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"})
    if (r.has(key)) refuse(key, "soft-capping belongs to Gemma 2");
  for (const char* key : {"num_local_experts", "num_experts"})
    if (r.has(key) && r.j.at(key) != 0) refuse(key, "mixture-of-experts layers");
  if (r.bool_or("use_qk_norm", false)) refuse("use_qk_norm", "this family has no q/k norms");
  if (r.has("layer_types")) {
    for (const auto& type : r.j.at("layer_types"))
      if (type != "full_attention") refuse("layer_types", "every layer must be full_attention");
  }
}

}  // namespace

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
  refuse_unimplemented_options(r);

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

  const json rope = r.has("rope_parameters") ? j.at("rope_parameters") : (r.has("rope_scaling") ? j.at("rope_scaling") : json());
  c.rope_scaling = parse_rope(rope, source, r);
  c.rope_theta = r.number_or(j, "rope_theta", rope.is_object() ? r.number_or(rope, "rope_theta", 10000.0) : 10000.0);

  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);
  c.attention_bias = family.qkv_bias || r.bool_or("attention_bias", false);
  c.o_proj_bias = !family.qkv_bias && c.attention_bias;
  c.mlp_bias = r.bool_or("mlp_bias", false);
  c.qk_norm = family.qk_norm;
  if (family.gated_window && r.bool_or("use_sliding_window", false))
    fail("config", "'{}': use_sliding_window=true (a window on layers past max_window_layers) is not implemented", source);
  if (family.sliding_window) c.sliding_window = r.positive_int_or("sliding_window", 0);
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
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  }
  j["hidden_act"] = "silu";
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
