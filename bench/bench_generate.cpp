// Generation speed: tokens/s for stories260K and a synthetic ~100M-parameter Llama, fp32 and
// bf16, with the bytes of weights read per token compared with the GEMV bandwidth of this machine.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/timer.h"
#include "infer/generate.h"
#include "io/tensor_io.h"
#include "model/loader.h"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {

// Streams a 256 MB fp32 matrix through matrix-vector products: the bytes/s decoding can hope for.
double measure_gemv_bandwidth() {
  auto matrix = at::randn({8192, 8192}, at::kFloat);
  auto vector = at::randn({8192}, at::kFloat);
  at::mv(matrix, vector);
  const int repeats = 10;
  Timer timer;
  for (int i = 0; i < repeats; ++i) at::mv(matrix, vector);
  return repeats * matrix.numel() * 4.0 / timer.seconds();
}

// A Llama with random weights written as a real model folder, so it loads like any other.
std::string write_synthetic_model(const fs::path& dir) {
  ModelConfig c;
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
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << c.to_json().dump(2);
  at::manual_seed(0);
  auto normal = [](int64_t out, int64_t in) { return at::randn({out, in}) * 0.02; };
  NamedTensors t;
  t.emplace_back("model.embed_tokens.weight", normal(c.vocab_size, c.hidden_size));
  t.emplace_back("lm_head.weight", normal(c.vocab_size, c.hidden_size));
  t.emplace_back("model.norm.weight", at::ones({c.hidden_size}));
  const int64_t kv = c.num_key_value_heads * c.head_dim;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    t.emplace_back(p + ".input_layernorm.weight", at::ones({c.hidden_size}));
    t.emplace_back(p + ".post_attention_layernorm.weight", at::ones({c.hidden_size}));
    t.emplace_back(p + ".self_attn.q_proj.weight", normal(c.hidden_size, c.hidden_size));
    t.emplace_back(p + ".self_attn.k_proj.weight", normal(kv, c.hidden_size));
    t.emplace_back(p + ".self_attn.v_proj.weight", normal(kv, c.hidden_size));
    t.emplace_back(p + ".self_attn.o_proj.weight", normal(c.hidden_size, c.hidden_size));
    t.emplace_back(p + ".mlp.gate_proj.weight", normal(c.intermediate_size, c.hidden_size));
    t.emplace_back(p + ".mlp.up_proj.weight", normal(c.intermediate_size, c.hidden_size));
    t.emplace_back(p + ".mlp.down_proj.weight", normal(c.hidden_size, c.intermediate_size));
  }
  save_safetensors((dir / "model.safetensors").string(), t);
  return dir.string();
}

// Bytes of weights one decoding step reads: every linear layer (the embedding row is negligible).
double weight_bytes_per_token(LlamaModel& model) {
  double bytes = 0;
  for (const auto& item : model->named_parameters()) {
    if (item.key().find("embed_tokens") == std::string::npos || model->config().tie_word_embeddings)
      bytes += item.value().numel() * item.value().element_size();
  }
  return bytes;
}

void bench_model(const std::string& label, const std::string& dir, at::ScalarType dtype, int64_t tokens,
                 double bandwidth) {
  LoadOptions options;
  options.dtype = dtype;
  auto loaded = load_model(dir, options);
  GenerationOptions gen;
  gen.max_tokens = 8;
  generate(loaded.model, {1}, gen);  // warm-up
  gen.max_tokens = tokens;
  auto result = generate(loaded.model, {1}, gen);
  const double tps = result.generation_tokens_per_sec();
  const double achieved = weight_bytes_per_token(loaded.model) * tps;
  fmt::print("{:<22} {:>9} {:>12.1f} {:>14.2f} {:>12.1f}%\n", label, at::toString(dtype), tps, achieved / 1e9,
             100.0 * achieved / bandwidth);
}

}  // namespace

int main() {
  const int threads = static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(threads);
  fmt::print("threads: {} (one per core)\n", threads);
  const double bandwidth = measure_gemv_bandwidth();
  fmt::print("measured GEMV bandwidth (fp32 8192x8192 at::mv): {:.2f} GB/s\n\n", bandwidth / 1e9);
  fmt::print("{:<22} {:>9} {:>12} {:>14} {:>13}\n", "model", "dtype", "tokens/s", "weights GB/s", "of GEMV BW");
  const std::string stories = std::string(FLOTILLA_SHARED_DIR) + "/models/stories260K/hf";
  bench_model("stories260K", stories, at::kFloat, 400, bandwidth);
  bench_model("stories260K", stories, at::kBFloat16, 400, bandwidth);
  bench_model("stories260K mlx-4bit", std::string(FLOTILLA_SHARED_DIR) + "/models/stories260K/mlx-4bit", at::kFloat,
              400, bandwidth);
  const auto synthetic = fs::temp_directory_path() / "flotilla-bench-synthetic-100M";
  write_synthetic_model(synthetic);
  bench_model("synthetic 125M", synthetic.string(), at::kFloat, 64, bandwidth);
  bench_model("synthetic 125M", synthetic.string(), at::kBFloat16, 64, bandwidth);
  fs::remove_all(synthetic);
  return 0;
}
