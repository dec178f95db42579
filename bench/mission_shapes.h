// The two model shapes bench_mission measures, as GGUF files with random weights for the llama.cpp
// peer (bench/llama_peer): Mistral-7B-v0.3 in Q4_0 and Llama-3.2-1B in BF16. Shapes, tensor names
// and metadata are those of llama.cpp's "llama" architecture (src/llama-arch.cpp, gguf-py
// constants); the vocabulary is the real tokenizer's. Weights stream to disk in 4 MiB chunks.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/timer.h"
#include "convert/gguf_writer.h"
#include "mission_models.h"

namespace flotilla {

struct MissionShape {
  std::string name;   // what bench_mission and llama_peer call it: "mistral-7b-q4_0"
  std::string title;  // general.name
  uint32_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  uint32_t context_length = 0;
  float rope_theta = 10000, rms_eps = 1e-5f;
  bool tied_embeddings = false;
  convert::GgmlType weight_type = convert::GgmlType::F32;  // every 2-D weight, token_embd and output included
  uint32_t file_type = 0;                // general.file_type: llama_ftype (llama.h)
  // Llama 3 RoPE scaling (rope_scaling.rope_type "llama3"); factor 0 means none.
  float rope_factor = 0, rope_low_freq_factor = 1, rope_high_freq_factor = 4;
  uint32_t rope_original_context = 8192;
  std::string tokenizer;        // its folder under shared/tokenizers
  std::string tokenizer_model;  // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string tokenizer_pre;    // llama.cpp's pre-tokenizer name for "gpt2" vocabularies
};

// A Flotilla model config's sizes in llama.cpp's terms.
inline MissionShape gguf_shape_of(const model::ModelConfig& c) {
  MissionShape s;
  s.hidden = c.hidden_size, s.intermediate = c.intermediate_size, s.layers = c.num_hidden_layers;
  s.heads = c.num_attention_heads, s.kv_heads = c.num_key_value_heads, s.head_dim = c.head_dim;
  s.vocab = c.vocab_size, s.context_length = c.max_position_embeddings;
  s.rope_theta = static_cast<float>(c.rope_theta), s.rms_eps = static_cast<float>(c.rms_norm_eps);
  s.tied_embeddings = c.tie_word_embeddings;
  if (c.rope_scaling.type == "llama3") {
    s.rope_factor = c.rope_scaling.factor, s.rope_low_freq_factor = c.rope_scaling.low_freq_factor;
    s.rope_high_freq_factor = c.rope_scaling.high_freq_factor;
    s.rope_original_context = c.rope_scaling.original_max_position_embeddings;
  }
  return s;
}

// Q4_0 for all linear weights, output.weight included (llama.cpp's own Q4_0 quantization keeps
// output.weight in Q6_K); norms F32.
inline MissionShape mistral_7b_q4_0() {
  MissionShape s = gguf_shape_of(mistral_7b_v03_config());
  s.name = "mistral-7b-q4_0";
  s.title = "Mistral-7B-v0.3 shape, random Q4_0 weights";
  s.weight_type = convert::GgmlType::Q4_0, s.file_type = 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
  s.tokenizer = "mistral-7b-instruct-v0.3", s.tokenizer_model = "llama";
  return s;
}

inline MissionShape llama_3_2_1b_bf16() {
  MissionShape s = gguf_shape_of(llama_32_1b_config());
  s.name = "llama-3.2-1b-bf16";
  s.title = "Llama-3.2-1B shape, random BF16 weights";
  s.weight_type = convert::GgmlType::BF16, s.file_type = 32;  // LLAMA_FTYPE_MOSTLY_BF16
  s.tokenizer = "llama-3.2", s.tokenizer_model = "gpt2", s.tokenizer_pre = "llama-bpe";
  return s;
}

inline std::vector<MissionShape> mission_shapes() { return {mistral_7b_q4_0(), llama_3_2_1b_bf16()}; }

inline MissionShape mission_shape(std::string_view name) {
  std::string names;
  for (auto& shape : mission_shapes()) {
    if (shape.name == name) return shape;
    names += (names.empty() ? "" : ", ") + shape.name;
  }
  fail("mission", "unknown shape '{}', expected one of {}", name, names);
}

// Llama 3's per-frequency RoPE divisors, stored by llama.cpp as rope_freqs.weight (Meta's
// reference apply_scaling, llama3_1 models/llama3_1/reference_impl/model.py).
inline std::vector<float> llama3_rope_factors(const MissionShape& s) {
  const double pi = 3.14159265358979323846;
  const double low_wavelen = s.rope_original_context / s.rope_low_freq_factor;
  const double high_wavelen = s.rope_original_context / s.rope_high_freq_factor;
  std::vector<float> factors;
  for (uint32_t i = 0; i < s.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(static_cast<double>(s.rope_theta), static_cast<double>(i) / s.head_dim);
    const double wavelen = 2 * pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(s.rope_factor);
    } else {
      const double smooth = (s.rope_original_context / wavelen - s.rope_low_freq_factor) /
                            (s.rope_high_freq_factor - s.rope_low_freq_factor);
      factors.push_back(static_cast<float>(1 / ((1 - smooth) / s.rope_factor + smooth)));
    }
  }
  return factors;
}

namespace mission_detail {

// llama_token_type (llama.h).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

using random_model_detail::splitmix64;

inline uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Round to nearest even; for values in fp16's normal range only (the Q4_0 scales).
inline uint16_t to_fp16(float value) {
  const uint32_t bits = float_bits(value);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xff) - 127 + 15;
  if (exponent < 1 || exponent > 30) fail("mission", "{} is outside fp16's normal range", value);
  uint32_t half = (static_cast<uint32_t>(exponent) << 10) | ((bits & 0x7fffff) >> 13);
  const uint32_t rest = bits & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(sign | half);
}

// Random weights of a 2-D tensor: Q4_0 blocks of random nibbles and an fp16 scale in [0.01, 0.02)
// (so activations stay finite over 32 layers), or BF16 from 256 values evenly in [-0.03, 0.03].
inline convert::GgufWriter::WriteData random_weights(convert::GgmlType type, uint64_t bytes, uint64_t seed) {
  return [type, bytes, seed](convert::GgufDataSink& sink) {
    uint64_t state = seed;
    constexpr size_t kChunk = 4u << 20;
    std::vector<uint8_t> chunk;
    uint16_t table[256];
    for (int i = 0; i < 256; ++i) {
      const float value = type == convert::GgmlType::Q4_0 ? 0.01f + 0.01f * (i % 16) / 16 : 0.03f * (i - 127.5f) / 127.5f;
      table[i] = type == convert::GgmlType::Q4_0 ? to_fp16(value) : kernels::float_to_bf16(value);
    }
    for (uint64_t done = 0; done < bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - done));
      chunk.resize(n);
      uint8_t* out = chunk.data();
      if (type == convert::GgmlType::Q4_0) {
        n -= n % 18;  // whole blocks: the chunk size is not a multiple of 18
        chunk.resize(n);
        for (size_t b = 0; b < n; b += 18) {
          const uint64_t scale = splitmix64(state), r0 = splitmix64(state), r1 = splitmix64(state);
          std::memcpy(out + b, &table[scale & 0xff], 2);
          std::memcpy(out + b + 2, &r0, 8);
          std::memcpy(out + b + 10, &r1, 8);
        }
      } else if (type == convert::GgmlType::BF16) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
          const uint64_t r = splitmix64(state);
          const uint16_t v[4] = {table[r & 0xff], table[(r >> 8) & 0xff], table[(r >> 16) & 0xff],
                                 table[(r >> 24) & 0xff]};
          std::memcpy(out + i, v, 8);
        }
      } else {
        fail("mission", "no random weights for type {}", convert::ggml_type_name(type));
      }
      sink.write(chunk.data(), n);
      done += n;
    }
  };
}

inline convert::GgufWriter::WriteData f32_values(std::vector<float> values) {
  return [values = std::move(values)](convert::GgufDataSink& sink) { sink.write(values.data(), values.size() * sizeof(float)); };
}

// A special token's id from tokenizer_config.json ("<s>" or {"content": "<s>"}); -1 if absent.
inline int64_t config_token_id(const nlohmann::json& config, const char* key,
                               const std::vector<std::string>& tokens) {
  if (!config.contains(key) || config[key].is_null()) return -1;
  const auto& value = config[key];
  const std::string text = value.is_object() ? value.value("content", "") : value.get<std::string>();
  const auto it = std::find(tokens.begin(), tokens.end(), text);
  return it == tokens.end() ? -1 : it - tokens.begin();
}

inline void add_tokenizer(convert::GgufWriter& w, const MissionShape& shape, const std::filesystem::path& tokenizer_dir) {
  const auto json_path = tokenizer_dir / "tokenizer.json";
  const auto tokenizer = nlohmann::json::parse(read_file(json_path, "mission"));
  const auto& model = tokenizer.at("model");
  std::vector<std::string> tokens(shape.vocab);
  std::vector<int32_t> types(shape.vocab, kUnused);
  auto place = [&](const std::string& text, int64_t id, int32_t type) {
    if (id < 0 || id >= shape.vocab) {
      fail("mission", "'{}': token '{}' has id {}, beyond the {} shape's vocab {}", json_path.string(), text, id,
           shape.name, shape.vocab);
    }
    tokens[id] = text;
    types[id] = type;
  };
  const bool spm = shape.tokenizer_model == "llama";
  const auto unk_entry = model.find("unk_token");
  const std::string unk = unk_entry != model.end() && unk_entry->is_string() ? unk_entry->get<std::string>() : "";
  for (const auto& [text, id] : model.at("vocab").items()) {
    const bool byte = spm && text.size() == 6 && text.rfind("<0x", 0) == 0 && text.back() == '>';
    place(text, id.get<int64_t>(), spm && text == unk ? kUnknown : byte ? kByte : kNormal);
  }
  for (const auto& added : tokenizer.value("added_tokens", nlohmann::json::array())) {
    const std::string text = added.at("content");
    place(text, added.at("id").get<int64_t>(),
          spm && text == unk ? kUnknown : added.value("special", false) ? kControl : kUserDefined);
  }
  for (uint32_t id = 0; id < shape.vocab; ++id) {
    if (tokens[id].empty()) tokens[id] = "[PAD" + std::to_string(id) + "]";  // as llama.cpp's converter
  }

  w.add_string("tokenizer.ggml.model", shape.tokenizer_model);
  if (!shape.tokenizer_pre.empty()) w.add_string("tokenizer.ggml.pre", shape.tokenizer_pre);
  w.add_strings("tokenizer.ggml.tokens", tokens);
  if (spm) {
    // tokenizer.json drops SentencePiece's scores; SentencePiece BPE scores a piece by its rank,
    // -(id - first normal id) (Mistral's tokenizer.model, but for two whitespace pieces).
    const auto first_normal = std::find(types.begin(), types.end(), kNormal) - types.begin();
    std::vector<float> scores(shape.vocab, 0.0f);
    for (uint32_t id = 0; id < shape.vocab; ++id) {
      if (types[id] == kNormal) scores[id] = -static_cast<float>(id - first_normal);
    }
    w.add_f32s("tokenizer.ggml.scores", scores);
  }
  w.add_i32s("tokenizer.ggml.token_type", types);
  if (!spm) {
    std::vector<std::string> merges;
    for (const auto& merge : model.at("merges")) {
      merges.push_back(merge.is_string() ? merge.get<std::string>()
                                         : merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>());
    }
    w.add_strings("tokenizer.ggml.merges", merges);
  }
  nlohmann::json config = nlohmann::json::object();
  if (std::filesystem::exists(tokenizer_dir / "tokenizer_config.json")) {
    config = nlohmann::json::parse(read_file(tokenizer_dir / "tokenizer_config.json", "mission"));
  }
  const int64_t bos = config_token_id(config, "bos_token", tokens);
  const int64_t eos = config_token_id(config, "eos_token", tokens);
  if (bos >= 0) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (spm && !unk.empty()) {
    const auto it = std::find(tokens.begin(), tokens.end(), unk);
    if (it != tokens.end()) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(it - tokens.begin()));
  }
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace mission_detail

// tokenizer.ggml.*: tokens, token types, SentencePiece scores or BPE merges, special tokens, from
// tokenizer.json (and tokenizer_config.json's bos/eos). The vocabulary must fill shape.vocab ids.
inline void add_gguf_tokenizer(convert::GgufWriter& w, const MissionShape& shape, const std::filesystem::path& tokenizer_dir) {
  try {
    mission_detail::add_tokenizer(w, shape, tokenizer_dir);
  } catch (const nlohmann::json::exception& e) {
    fail("mission", "tokenizer files in '{}' are not as expected: {}", tokenizer_dir.string(), e.what());
  }
}

struct GgufWriteReport {
  uint64_t bytes = 0;
  double seconds = 0;
};

// Writes shape as a llama-architecture GGUF with random weights (deterministic in seed) and the
// vocabulary of tokenizer_dir (shared/tokenizers/<shape.tokenizer>). Streams: memory stays small.
inline GgufWriteReport write_mission_gguf(const MissionShape& s, const std::filesystem::path& tokenizer_dir,
                                          const std::string& path, uint64_t seed = 0) {
  using namespace mission_detail;
  Timer timer;
  convert::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", s.title);
  w.add_u32("general.file_type", s.file_type);
  if (s.weight_type == convert::GgmlType::Q4_0) w.add_u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.add_u32("llama.vocab_size", s.vocab);
  w.add_u32("llama.context_length", s.context_length);
  w.add_u32("llama.embedding_length", s.hidden);
  w.add_u32("llama.block_count", s.layers);
  w.add_u32("llama.feed_forward_length", s.intermediate);
  w.add_u32("llama.attention.head_count", s.heads);
  w.add_u32("llama.attention.head_count_kv", s.kv_heads);
  w.add_u32("llama.attention.key_length", s.head_dim);
  w.add_u32("llama.attention.value_length", s.head_dim);
  w.add_u32("llama.rope.dimension_count", s.head_dim);
  w.add_f32("llama.rope.freq_base", s.rope_theta);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", s.rms_eps);
  add_gguf_tokenizer(w, s, tokenizer_dir);

  uint64_t tensor_index = 0;
  auto matrix = [&](const std::string& name, uint64_t in, uint64_t out) {
    uint64_t tensor_seed = seed ^ (0x5851f42d4c957f2dull * ++tensor_index);
    const std::vector<uint64_t> dims = {in, out};  // innermost first: out rows of in values
    w.add_tensor(name, s.weight_type, dims,
                 random_weights(s.weight_type, convert::ggml_tensor_bytes(s.weight_type, dims), splitmix64(tensor_seed)));
  };
  auto ones = [&](const std::string& name, uint64_t n) {
    w.add_tensor(name, convert::GgmlType::F32, {n}, f32_values(std::vector<float>(n, 1.0f)));
  };
  const uint64_t q_dim = uint64_t{s.heads} * s.head_dim, kv_dim = uint64_t{s.kv_heads} * s.head_dim;
  matrix("token_embd.weight", s.hidden, s.vocab);
  if (s.rope_factor > 0) {
    const auto factors = llama3_rope_factors(s);
    w.add_tensor("rope_freqs.weight", convert::GgmlType::F32, {factors.size()}, f32_values(factors));
  }
  for (uint32_t i = 0; i < s.layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ones(b + "attn_norm.weight", s.hidden);
    matrix(b + "attn_q.weight", s.hidden, q_dim);
    matrix(b + "attn_k.weight", s.hidden, kv_dim);
    matrix(b + "attn_v.weight", s.hidden, kv_dim);
    matrix(b + "attn_output.weight", q_dim, s.hidden);
    ones(b + "ffn_norm.weight", s.hidden);
    matrix(b + "ffn_gate.weight", s.hidden, s.intermediate);
    matrix(b + "ffn_up.weight", s.hidden, s.intermediate);
    matrix(b + "ffn_down.weight", s.intermediate, s.hidden);
  }
  ones("output_norm.weight", s.hidden);
  if (!s.tied_embeddings) matrix("output.weight", s.hidden, s.vocab);

  GgufWriteReport report;
  report.bytes = w.write(path);
  report.seconds = timer.seconds();
  return report;
}

}  // namespace flotilla
