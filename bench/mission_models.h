// Random-weight model folders in real architectures' exact shapes, streamed to disk (a 7B model in
// MLX 4-bit is 3.8 GB): Mistral-7B-v0.3 and Qwen3-4B in MLX's affine 4-bit layout, Llama-3.2-1B in bfloat16.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/number_formats.h"
#include "model/config.h"

namespace flotilla {

inline model::ModelConfig mistral_7b_v03_config() {
  model::ModelConfig c;
  c.model_type = "mistral";
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_hidden_layers = 32;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.vocab_size = 32768;
  c.max_position_embeddings = 32768;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 1e6;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.torch_dtype = "bfloat16";
  return c;
}

inline model::ModelConfig llama_32_1b_config() {
  model::ModelConfig c;
  c.hidden_size = 2048;
  c.intermediate_size = 8192;
  c.num_hidden_layers = 16;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 64;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000;
  c.rope_scaling = {"llama3", 32.0, 1.0, 4.0, 8192};
  c.tie_word_embeddings = true;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  c.torch_dtype = "bfloat16";
  return c;
}

// Qwen3-4B (Qwen/Qwen3-4B config.json): per-head q/k norms, 32 heads of 128 beside a hidden size of 2560.
inline model::ModelConfig qwen3_4b_config() {
  model::ModelConfig c;
  c.model_type = "qwen3";
  c.hidden_size = 2560;
  c.intermediate_size = 9728;
  c.num_hidden_layers = 36;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.vocab_size = 151936;
  c.max_position_embeddings = 40960;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.tie_word_embeddings = true;
  c.qk_norm = true;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  c.torch_dtype = "bfloat16";
  return c;
}

namespace random_model_detail {

// splitmix64: fast and deterministic; quality does not matter for weights nobody reads.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// How a tensor's bytes are made: random words, or bfloat16 values from a function of a uniform draw.
enum class Fill { words, normal_bf16, scales_bf16, biases_bf16, ones_bf16 };

struct Planned {
  std::string name, dtype;
  std::vector<int64_t> shape;
  Fill fill;
  int64_t bytes() const {
    int64_t n = dtype == "U32" ? 4 : 2;
    for (auto d : shape) n *= d;
    return n;
  }
};

inline void fill(std::vector<char>& buffer, int64_t bytes, Fill kind, uint64_t& state) {
  if (kind == Fill::words) {
    auto* words = reinterpret_cast<uint64_t*>(buffer.data());
    for (int64_t i = 0; i < bytes / 8; ++i) words[i] = splitmix64(state);
    return;
  }
  auto* out = reinterpret_cast<uint16_t*>(buffer.data());
  for (int64_t i = 0; i < bytes / 2; ++i) {
    const float u = static_cast<float>(splitmix64(state) >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    switch (kind) {
      case Fill::normal_bf16: out[i] = kernels::float_to_bf16((u - 0.5f) * 0.07f); break;  // std 0.02
      case Fill::scales_bf16: out[i] = kernels::float_to_bf16(0.004f * (0.75f + 0.5f * u)); break;
      case Fill::biases_bf16: out[i] = kernels::float_to_bf16(-0.03f * (0.75f + 0.5f * u)); break;  // codes centred near 7.5
      default: out[i] = kernels::float_to_bf16(1.0f); break;
    }
  }
}

// safetensors: 8-byte header length, JSON header, then the tensors back to back, made in chunks.
inline void write_planned(const std::filesystem::path& path, const std::vector<Planned>& plan) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "mlx"}};
  int64_t offset = 0;
  for (const auto& t : plan) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!out) fail("bench", "cannot write '{}'", path.string());
  const uint64_t length = text.size();
  std::fwrite(&length, 8, 1, out.get());
  std::fwrite(text.data(), 1, text.size(), out.get());
  std::vector<char> buffer(64 << 20);
  uint64_t state = 0;
  for (const auto& t : plan)
    for (int64_t done = 0; done < t.bytes();) {
      const int64_t n = std::min<int64_t>(buffer.size(), t.bytes() - done);
      fill(buffer, n, t.fill, state);
      if (std::fwrite(buffer.data(), 1, n, out.get()) != static_cast<size_t>(n))
        fail("bench", "writing '{}' failed (disk full?)", path.string());
      done += n;
    }
}

}  // namespace random_model_detail

// Writes config.json and model.safetensors; `bits` 0 writes every linear dense in bfloat16.
inline void write_random_model(const std::filesystem::path& dir, model::ModelConfig c, int bits, int group_size = 64) {
  using namespace random_model_detail;
  if (bits) c.quantization.defaults = {bits, group_size};
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  std::vector<Planned> plan;
  auto linear = [&](const std::string& prefix, int64_t out, int64_t in) {
    if (!bits) return plan.push_back({prefix + ".weight", "BF16", {out, in}, Fill::normal_bf16});
    plan.push_back({prefix + ".weight", "U32", {out, in * bits / 32}, Fill::words});
    plan.push_back({prefix + ".scales", "BF16", {out, in / group_size}, Fill::scales_bf16});
    plan.push_back({prefix + ".biases", "BF16", {out, in / group_size}, Fill::biases_bf16});
  };
  auto norm = [&](const std::string& name, int64_t size) { plan.push_back({name, "BF16", {size}, Fill::ones_bf16}); };
  const int64_t C = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  linear("model.embed_tokens", c.vocab_size, C);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    norm(p + ".input_layernorm.weight", C);
    norm(p + ".post_attention_layernorm.weight", C);
    if (c.qk_norm) {
      norm(p + ".self_attn.q_norm.weight", c.head_dim);
      norm(p + ".self_attn.k_norm.weight", c.head_dim);
    }
    linear(p + ".self_attn.q_proj", q, C);
    linear(p + ".self_attn.k_proj", kv, C);
    linear(p + ".self_attn.v_proj", kv, C);
    linear(p + ".self_attn.o_proj", C, q);
    linear(p + ".mlp.gate_proj", c.intermediate_size, C);
    linear(p + ".mlp.up_proj", c.intermediate_size, C);
    linear(p + ".mlp.down_proj", C, c.intermediate_size);
  }
  norm("model.norm.weight", C);
  if (!c.tie_word_embeddings) linear("lm_head", c.vocab_size, C);
  write_planned(dir / "model.safetensors", plan);
}

}  // namespace flotilla
