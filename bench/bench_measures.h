// What the benchmarks measure the same way: this machine's GEMM peak and read bandwidth, the FLOPs
// of a LoRA training token, and a child process's JSON report.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <string>

#include "core/timer.h"
#include "model/config.h"
#include "run_command.h"

namespace flotilla {

// FLOP/s of a 2048³ at::mm in `dtype` (BLAS for float32, ATen's/oneDNN's kernels for bfloat16):
// the best of five timings of four products, since this VM's speed drifts by 10-20% and more.
inline double measure_gemm_peak(at::ScalarType dtype) {
  auto a = at::randn({2048, 2048}).to(dtype), b = at::randn({2048, 2048}).to(dtype);
  at::mm(a, b);
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const int repeats = 4;
    Timer timer;
    for (int i = 0; i < repeats; ++i) at::mm(a, b);
    best = std::max(best, repeats * 2.0 * 2048 * 2048 * 2048 / timer.seconds());
  }
  return best;
}

// Bytes/s of reading 1 GiB once with every thread (a parallel sum): what streaming weights can reach.
inline double measure_read_bandwidth() {
  auto data = at::ones({int64_t{1} << 28}, at::kFloat);
  data.sum();
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    Timer timer;
    data.sum().item<float>();
    best = std::max(best, data.numel() * 4.0 / timer.seconds());
  }
  return best;
}

// FLOPs per trained token: forward through every linear (lm_head included, the embedding lookup is a
// gather) and attention, backward for the input gradients of the adapted blocks and everything above
// them (frozen weights need no weight gradient). The LoRA factors' own FLOPs (<1%) are left out.
inline double flops_per_token(const model::ModelConfig& c, int64_t seq, int64_t adapted_layers) {
  const double d = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const double block = d * q + 2 * d * kv + q * d + 3 * d * c.intermediate_size;
  const double head = d * c.vocab_size, attention = 4.0 * seq * q;  // QKᵀ and PV over the full T×T
  const double layers = c.num_hidden_layers, trained = std::min<double>(adapted_layers, layers);
  const double forward = 2 * (layers * block + head) + layers * attention;
  const double backward = 2 * (trained * block + head) + trained * 2 * attention;
  return forward + backward;
}

// The last line of the command's output that is a JSON object, or null.
inline nlohmann::json run_json_command(const std::string& command) {
  std::istringstream lines(run_command(command).output);
  nlohmann::json last;
  for (std::string line; std::getline(lines, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) last = std::move(parsed);
  }
  return last;
}

}  // namespace flotilla
