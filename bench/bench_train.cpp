// Training speed: LoRA steps/s of `flotilla train`'s Trainer against the same step in PyTorch eager
// (bench/train_reference.py on Debian's python3-torch), at equal batch, sequence length and threads,
// with model FLOP utilisation against this machine's measured fp32 GEMM peak.
// Each configuration runs in a child process of its own, so peak memory belongs to it alone.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "core/blas_kernels.h"
#include "core/memory.h"
#include "core/timer.h"
#include "lora/adapters.h"
#include "model/loader.h"
#include "bench_measures.h"
#include "lora_steps.h"
#include "synthetic_model.h"
#include "train/trainer.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::train;
using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::data;

namespace fs = std::filesystem;
using namespace flotilla;
using nlohmann::json;

namespace {

constexpr int kWarmupSteps = 2, kTimedSteps = 5;

struct Case {
  std::string label, model_dir;
  at::ScalarType dtype;
  int64_t batch, seq;
};

// One configuration, in this process: tokens/s of the Trainer over kTimedSteps after a warm-up.
json run_child(const Case& c, bool recompute, int threads) {
  at::set_num_threads(threads);
  LoadOptions options;
  options.dtype = c.dtype;
  auto loaded = load_model(c.model_dir, options);
  LoraConfig lora;  // mlx-lm's defaults: rank 8, scale 20, the last 16 blocks, every linear
  const double tokens_per_sec = lora_tokens_per_sec(loaded, lora, recompute, c.batch, c.seq, kWarmupSteps, kTimedSteps);
  return {{"tokens_per_sec", tokens_per_sec}, {"peak_memory_gb", peak_memory_gb()}};
}

}  // namespace

int main(int argc, char** argv) {
  use_native_blas_kernels(argv);
  keep_freed_memory_for_reuse();
  const int threads = static_cast<int>(std::thread::hardware_concurrency());
  const std::string stories = std::string(FLOTILLA_SHARED_DIR) + "/models/stories260K/hf";
  const auto synthetic = fs::temp_directory_path() / "flotilla-bench-train-synthetic-125M";
  const std::vector<Case> cases = {{"stories260K", stories, at::kFloat, 8, 256},
                                   {"synthetic 125M", synthetic.string(), at::kFloat, 4, 256},
                                   {"synthetic 125M", synthetic.string(), at::kBFloat16, 4, 256}};
  if (argc == 4 && std::string(argv[1]) == "--child") {
    if (!fs::exists(synthetic / "config.json")) write_synthetic_model(synthetic);
    std::cout << run_child(cases.at(std::stoi(argv[2])), std::string(argv[3]) == "1", threads).dump() << std::endl;
    return 0;
  }
  at::set_num_threads(threads);
  const double peak32 = measure_gemm_peak(at::kFloat), peak16 = measure_gemm_peak(at::kBFloat16);
  const std::string core = blas_core_name();
  fmt::print("threads: {} in both implementations; BLAS kernels: {}\n", threads, core.empty() ? "not OpenBLAS" : core);
  fmt::print("measured GEMM peak (2048³ at::mm): float32 {:.1f} GFLOP/s, bfloat16 {:.1f} GFLOP/s\n", peak32 / 1e9,
             peak16 / 1e9);
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const auto reference_script = fs::path(FLOTILLA_SOURCE_DIR) / "bench" / "train_reference.py";
  fmt::print("LoRA rank 8 on every linear of the last 16 blocks, Adam; {} timed steps after {} warm-up\n", kTimedSteps,
             kWarmupSteps);
  fmt::print("torch = PyTorch eager ({}, Debian python3-torch) as installed; torch* = the same with\n"
             "OPENBLAS_CORETYPE={} (the kernels Flotilla selects for itself)\n\n",
             reference_script.filename().string(), core);
  fmt::print("{:<15} {:>5} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>6} {:>6} {:>9} {:>11}\n", "model", "dtype", "batch",
             "ours", "torch", "torch*", "ratio", "ratio*", "MFU", "MFU*", "ckpt", "mem/ckpt");
  write_synthetic_model(synthetic);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const double flops = flops_per_token(load_model_config(c.model_dir + "/config.json"), c.seq, LoraConfig{}.num_layers);
    const double peak = c.dtype == at::kFloat ? peak32 : peak16;
    auto ours = run_json_command(fmt::format("{} --child {} 0", self, i));
    auto recomputed = run_json_command(fmt::format("{} --child {} 1", self, i));
    auto reference = [&](const std::string& env) {
      auto r = run_json_command(fmt::format("{} {} {} --config {}/config.json --batch {} --seq {} --steps {} --warmup {} "
                                            "--threads {} --dtype {}",
                                            env, python, reference_script.string(), c.model_dir, c.batch, c.seq,
                                            kTimedSteps, kWarmupSteps, threads, c.dtype == at::kFloat ? "float32" : "bfloat16"));
      return r.is_null() ? 0.0 : r["tokens_per_sec"].get<double>();
    };
    const double as_installed = reference("env -u OPENBLAS_CORETYPE");
    const double same_kernels = core.empty() ? as_installed : reference("OPENBLAS_CORETYPE=" + core);
    if (ours.is_null() || recomputed.is_null()) {
      fmt::print("{:<15} the flotilla child process failed\n", c.label);
      continue;
    }
    const double mine = ours["tokens_per_sec"];
    auto ratio = [&](double theirs) { return theirs > 0 ? fmt::format("{:.2f}x", mine / theirs) : std::string("n/a"); };
    fmt::print("{:<15} {:>5} {:>8} {:>9.0f} {:>9.0f} {:>9.0f} {:>7} {:>7} {:>5.1f}% {:>5.1f}% {:>9.0f} {:>5.2f}/{:.2f}\n",
               c.label, c.dtype == at::kFloat ? "fp32" : "bf16", fmt::format("{}×{}", c.batch, c.seq), mine,
               as_installed, same_kernels, ratio(as_installed), ratio(same_kernels), 100 * mine * flops / peak,
               100 * same_kernels * flops / peak, recomputed["tokens_per_sec"].get<double>(),
               ours["peak_memory_gb"].get<double>(), recomputed["peak_memory_gb"].get<double>());
  }
  fs::remove_all(synthetic);
  fmt::print("\ntokens/s; MFU = model FLOPs (forward + input gradients) per second / GEMM peak of the dtype;\n"
             "ckpt = ours with --grad-checkpoint; mem = peak resident GB without/with it; 0 = python3-torch missing\n");
  return 0;
}
