// The model shapes bench_mission measures, as GGUF files with random weights for the llama.cpp peer
// (bench/llama_peer): Mistral-7B-v0.3 and Qwen3-4B in Q4_0, Llama-3.2-1B in BF16. Shapes, tensor
// names and metadata are those of llama.cpp's "llama" and "qwen3" architectures (src/llama-arch.cpp,
// gguf-py constants); the vocabulary is the real tokenizer's. Weights stream to disk in 4 MiB chunks.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/timer.h"
#include "convert/gguf_llama.h"
#include "convert/gguf_tokenizer.h"
#include "convert/gguf_writer.h"
#include "mission_models.h"

namespace flotilla {

struct MissionShape {
  std::string name;   // what bench_mission and llama_peer call it: "mistral-7b-q4_0"
  std::string title;  // general.name
  model::ModelConfig config;
  convert::GgmlType weight_type = convert::GgmlType::F32;  // every 2-D weight, token_embd and output included
  std::string tokenizer;  // its folder under shared/tokenizers
};

// Q4_0 for all linear weights, output.weight included (llama.cpp's own Q4_0 quantization keeps
// output.weight in Q6_K); norms F32.
inline MissionShape mistral_7b_q4_0() {
  return {"mistral-7b-q4_0", "Mistral-7B-v0.3 shape, random Q4_0 weights", mistral_7b_v03_config(),
          convert::GgmlType::Q4_0, "mistral-7b-instruct-v0.3"};
}

inline MissionShape llama_3_2_1b_bf16() {
  return {"llama-3.2-1b-bf16", "Llama-3.2-1B shape, random BF16 weights", llama_32_1b_config(),
          convert::GgmlType::BF16, "llama-3.2"};
}

inline MissionShape llama_3_2_1b_q4_0() {  // what a small ARM board would run
  return {"llama-3.2-1b-q4_0", "Llama-3.2-1B shape, random Q4_0 weights", llama_32_1b_config(), convert::GgmlType::Q4_0,
          "llama-3.2"};
}

inline MissionShape qwen3_4b_q4_0() {
  return {"qwen3-4b-q4_0", "Qwen3-4B shape, random Q4_0 weights", qwen3_4b_config(), convert::GgmlType::Q4_0,
          "qwen2.5-0.5b-instruct"};  // Qwen3 keeps Qwen2.5's vocabulary
}

inline std::vector<MissionShape> mission_shapes() {
  return {mistral_7b_q4_0(), llama_3_2_1b_bf16(), llama_3_2_1b_q4_0(), qwen3_4b_q4_0()};
}

inline MissionShape mission_shape(std::string_view name) {
  std::string names;
  for (auto& shape : mission_shapes()) {
    if (shape.name == name) return shape;
    names += (names.empty() ? "" : ", ") + shape.name;
  }
  fail("mission", "unknown shape '{}', expected one of {}", name, names);
}

namespace mission_detail {

using random_model_detail::splitmix64;

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
      table[i] = type == convert::GgmlType::Q4_0 ? kernels::float_to_f16(value) : kernels::float_to_bf16(value);
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

}  // namespace mission_detail

struct GgufWriteReport {
  uint64_t bytes = 0;
  double seconds = 0;
};

// Writes shape as a GGUF of its llama.cpp architecture with random weights (deterministic in seed) and the
// vocabulary of tokenizer_dir (shared/tokenizers/<shape.tokenizer>). Streams: memory stays small.
inline GgufWriteReport write_mission_gguf(const MissionShape& s, const std::filesystem::path& tokenizer_dir,
                                          const std::string& path, uint64_t seed = 0) {
  using namespace mission_detail;
  Timer timer;
  convert::GgufWriter w;
  const auto& c = s.config;
  convert::add_llama_hparams(w, c);
  w.add_string("general.name", s.title);
  w.add_u32("general.file_type", convert::llama_file_type(s.weight_type));
  if (s.weight_type == convert::GgmlType::Q4_0) w.add_u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  convert::add_gguf_tokenizer(w, tokenizer_dir, c.vocab_size);

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
  const uint64_t hidden = c.hidden_size, intermediate = c.intermediate_size, vocab = c.vocab_size;
  const uint64_t q_dim = c.num_attention_heads * c.head_dim, kv_dim = c.num_key_value_heads * c.head_dim;
  matrix("token_embd.weight", hidden, vocab);
  if (const auto factors = convert::llama3_rope_factors(c); !factors.empty()) {
    w.add_tensor("rope_freqs.weight", convert::GgmlType::F32, {factors.size()}, f32_values(factors));
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ones(b + "attn_norm.weight", hidden);
    if (c.qk_norm) {
      ones(b + "attn_q_norm.weight", c.head_dim);
      ones(b + "attn_k_norm.weight", c.head_dim);
    }
    matrix(b + "attn_q.weight", hidden, q_dim);
    matrix(b + "attn_k.weight", hidden, kv_dim);
    matrix(b + "attn_v.weight", hidden, kv_dim);
    matrix(b + "attn_output.weight", q_dim, hidden);
    ones(b + "ffn_norm.weight", hidden);
    matrix(b + "ffn_gate.weight", hidden, intermediate);
    matrix(b + "ffn_up.weight", hidden, intermediate);
    matrix(b + "ffn_down.weight", intermediate, hidden);
  }
  ones("output_norm.weight", hidden);
  if (!c.tie_word_embeddings) matrix("output.weight", hidden, vocab);

  GgufWriteReport report;
  report.bytes = w.write(path);
  report.seconds = timer.seconds();
  return report;
}

}  // namespace flotilla
