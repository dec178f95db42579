// The mission's scale: Mistral-7B-v0.3 in MLX 4-bit (the tutorial's model), Llama-3.2-1B in
// bfloat16 and Qwen3-4B in MLX 4-bit, random weights in their exact shapes written here. Prompt and
// decode tokens/s beside llama.cpp on the same shapes, each as a share of the measured read bandwidth; QLoRA tokens/s and
// MFU against the measured bf16 GEMM peak; peak memory of each. Every measurement runs in a child
// process of its own, so its peak memory is its own.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <thread>

#include <unistd.h>

#include "bench_measures.h"
#include "core/blas_kernels.h"
#include "core/memory.h"
#include "infer/generate.h"
#include "kernels/cpu_isa.h"
#include "llama_peer_runner.h"
#include "lora_steps.h"
#include "model/loader.h"

using namespace flotilla::infer;
using namespace flotilla::model;
using namespace flotilla::convert;
using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::train;
using namespace flotilla::data;

namespace fs = std::filesystem;
using namespace flotilla;
using nlohmann::json;

namespace {

constexpr int64_t kPromptTokens = 128, kDecodeTokens = 32;

std::vector<int64_t> prompt_ids(int64_t n, int64_t vocab) {
  std::vector<int64_t> ids = {1};
  for (int64_t i = 1; i < n; ++i) ids.push_back(3 + (i * 7919) % (vocab - 3));
  return ids;
}

// Prefill a kPromptTokens prompt, then decode kDecodeTokens greedily, after a short warm-up.
json run_generate_child(const std::string& dir) {
  auto loaded = load_model(dir);
  GenerationOptions options;
  options.max_tokens = 4;
  generate(loaded.model, prompt_ids(8, loaded.config.vocab_size), options);  // faults the weights in
  options.max_tokens = kDecodeTokens;
  auto result = generate(loaded.model, prompt_ids(kPromptTokens, loaded.config.vocab_size), options);
  return {{"prompt_tokens_per_sec", result.prompt_tokens_per_sec()},
          {"decode_tokens_per_sec", result.generation_tokens_per_sec()},
          {"peak_memory_gb", peak_memory_gb()}};
}

// LoRA (rank 8, every linear) on the last `layers` blocks, --grad-checkpoint, random tokens.
json run_qlora_child(const std::string& dir, int64_t batch, int64_t seq, int64_t layers, int timed_steps) {
  auto loaded = load_model(dir);
  LoraConfig lora;
  lora.num_layers = layers;
  const double tokens_per_sec = lora_tokens_per_sec(loaded, lora, /*recompute=*/true, batch, seq, 1, timed_steps);
  return {{"tokens_per_sec", tokens_per_sec}, {"peak_memory_gb", peak_memory_gb()}};
}

double file_gb(const fs::path& path) { return fs::file_size(path) / 1e9; }

// K and V of every layer in bfloat16 for `tokens` positions.
double kv_cache_gb(const ModelConfig& c, int64_t tokens) {
  return 2.0 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * tokens * 2 / 1e9;
}

struct Machine {
  double bandwidth, peak_bf16, peak_fp32;
};

void bench_generation(const std::string& self, const std::string& label, const fs::path& dir, const ModelConfig& c,
                      const MissionShape& twin, const Machine& m, int threads) {
  const double weights = file_gb(dir / "model.safetensors");
  auto ours = run_json_command(fmt::format("{} --child generate {}", self, dir.string()));
  auto peer = run_llama_peer(twin, kPromptTokens, kDecodeTokens, threads);
  fmt::print("\n{} ({:.2f} GB of weights; KV cache for {} tokens {:.3f} GB)\n", label, weights,
             kPromptTokens + kDecodeTokens, kv_cache_gb(c, kPromptTokens + kDecodeTokens));
  if (ours.is_null()) return fmt::print("  flotilla: the child process failed\n");
  const double bytes_per_token = weights * 1e9;  // every weight is read once per decoded token
  auto row = [&](const char* who, double prompt, double decode, double peak, double token_bytes) {
    fmt::print("  {:<10} prompt {:>7.2f} tok/s   decode {:>6.2f} tok/s = {:>5.1f}% of read bandwidth   peak {:.2f} GB\n",
               who, prompt, decode, 100.0 * decode * token_bytes / m.bandwidth, peak);
  };
  row("flotilla", ours["prompt_tokens_per_sec"], ours["decode_tokens_per_sec"], ours["peak_memory_gb"], bytes_per_token);
  if (peer.ok) {
    row("llama.cpp", peer.prompt_tokens_per_sec, peer.decode_tokens_per_sec, peer.peak_memory_gb, peer.file_bytes);
    fmt::print("  ratio      prompt {:.2f}x, decode {:.2f}x (flotilla / llama.cpp)\n",
               ours["prompt_tokens_per_sec"].get<double>() / peer.prompt_tokens_per_sec,
               ours["decode_tokens_per_sec"].get<double>() / peer.decode_tokens_per_sec);
  } else {
    fmt::print("  llama.cpp  not run: {}\n", peer.error);
  }
  fmt::print("  flotilla peak / (weights + KV cache) = {:.2f}\n",
             ours["peak_memory_gb"].get<double>() / (weights + kv_cache_gb(c, kPromptTokens + kDecodeTokens)));
}

void bench_qlora(const std::string& self, const fs::path& dir, const ModelConfig& c, const Machine& m, int64_t seq,
                 int steps) {
  const int64_t batch = 2, layers = 8;
  auto r = run_json_command(fmt::format("{} --child qlora {} {} {} {} {}", self, dir.string(), batch, seq, layers, steps));
  if (r.is_null()) return fmt::print("  QLoRA {}×{}: the child process failed\n", batch, seq);
  const double tps = r["tokens_per_sec"], flops = flops_per_token(c, seq, layers);
  fmt::print("  QLoRA batch {}×{}, {} blocks, --grad-checkpoint: {:.1f} tok/s ({:.1f} s/step), MFU {:.1f}% of the bf16 "
             "GEMM peak, peak {:.2f} GB\n",
             batch, seq, layers, tps, batch * seq / tps, 100.0 * tps * flops / m.peak_bf16, r["peak_memory_gb"].get<double>());
}

}  // namespace

int main(int argc, char** argv) {
  use_native_blas_kernels(argv);
  keep_freed_memory_for_reuse();
  const int threads = static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(threads);
  if (argc >= 4 && std::string(argv[1]) == "--child") {
    const std::string kind = argv[2], dir = argv[3];
    if (kind == "generate") std::cout << run_generate_child(dir).dump() << std::endl;
    if (kind == "qlora" && argc == 8)
      std::cout << run_qlora_child(dir, std::stoll(argv[4]), std::stoll(argv[5]), std::stoll(argv[6]), std::stoi(argv[7])).dump()
                << std::endl;
    return 0;
  }
  if (argc == 4 && std::string(argv[1]) == "--write") {  // a folder to profile by hand: --child generate DIR
    const auto shape = mission_shape(argv[2]);  // its Q4_0 twin is MLX 4-bit here, BF16 stays bfloat16
    write_random_model(argv[3], shape.config, shape.weight_type == convert::GgmlType::Q4_0 ? 4 : 0, 64);
    return 0;
  }
  const bool skip_training = argc > 1 && std::string(argv[1]) == "--no-training";
  const Machine m{measure_read_bandwidth(), measure_gemm_peak(at::kBFloat16), measure_gemm_peak(at::kFloat)};
  fmt::print("threads: {}; kernels: {}; read bandwidth {:.1f} GB/s; GEMM peak bf16 {:.1f}, fp32 {:.1f} GFLOP/s\n",
             threads, kernels::isa_name(kernels::active_isa()), m.bandwidth / 1e9, m.peak_bf16 / 1e9, m.peak_fp32 / 1e9);
  fmt::print("prompt {} tokens, then {} decoded tokens; llama.cpp: {}\n", kPromptTokens, kDecodeTokens,
             llama_peer_description());
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const auto root = fs::temp_directory_path() / fmt::format("flotilla-bench-mission-{}", ::getpid());

  const auto small = root / "llama-3.2-1b-bf16";
  Timer written;
  write_random_model(small, llama_32_1b_config(), 0);
  fmt::print("(wrote {} in {:.1f} s)\n", small.string(), written.seconds());
  bench_generation(self, "Llama-3.2-1B shapes, bfloat16 (llama.cpp: BF16)", small, llama_32_1b_config(),
                   llama_3_2_1b_bf16(), m, threads);
  fs::remove_all(small);
  const auto small4 = root / "llama-3.2-1b-4bit";  // a small board's model: its peak memory matters most
  written.restart();
  write_random_model(small4, llama_32_1b_config(), 4, 64);
  fmt::print("(wrote {} in {:.1f} s)\n", small4.string(), written.seconds());
  bench_generation(self, "Llama-3.2-1B shapes, MLX 4-bit group 64 (llama.cpp: Q4_0, blocks of 32)", small4, llama_32_1b_config(),
                   llama_3_2_1b_q4_0(), m, threads);
  fs::remove_all(small4);

  const auto big = root / "mistral-7b-v0.3-4bit";
  written.restart();
  write_random_model(big, mistral_7b_v03_config(), 4, 64);
  fmt::print("(wrote {} in {:.1f} s)\n", big.string(), written.seconds());
  bench_generation(self, "Mistral-7B-v0.3 shapes, MLX 4-bit group 64 (llama.cpp: Q4_0, blocks of 32)", big,
                   mistral_7b_v03_config(), mistral_7b_q4_0(), m, threads);
  if (!skip_training) {
    bench_qlora(self, big, mistral_7b_v03_config(), m, 256, 2);
    bench_qlora(self, big, mistral_7b_v03_config(), m, 512, 1);
  }
  fs::remove_all(big);

  const auto qwen = root / "qwen3-4b-4bit";
  written.restart();
  write_random_model(qwen, qwen3_4b_config(), 4, 64);
  fmt::print("(wrote {} in {:.1f} s)\n", qwen.string(), written.seconds());
  bench_generation(self, "Qwen3-4B shapes, MLX 4-bit group 64 (llama.cpp: Q4_0, blocks of 32)", qwen, qwen3_4b_config(),
                   qwen3_4b_q4_0(), m, threads);
  if (!skip_training) bench_qlora(self, qwen, qwen3_4b_config(), m, 256, 2);
  fs::remove_all(root);
  fmt::print("\nMFU = model FLOPs (forward of every block and the head, input gradients of the adapted blocks)\n"
             "per second / bf16 GEMM peak; read bandwidth = a parallel sum over 1 GiB; decode share = weight\n"
             "bytes per token × tokens/s / read bandwidth.\n");
  return 0;
}
