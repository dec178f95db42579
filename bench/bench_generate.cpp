// Generation speed: tokens/s for stories260K and a synthetic ~100M-parameter Llama, fp32 and
// bf16, with the bytes of weights read per token compared with the GEMV bandwidth of this machine.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <filesystem>
#include <thread>

#include "core/blas_kernels.h"
#include "core/memory.h"
#include "core/timer.h"
#include "infer/generate.h"
#include "model/loader.h"
#include "synthetic_model.h"

using namespace flotilla::infer;
using namespace flotilla::model;
using namespace flotilla::io;

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

int main(int, char** argv) {
  use_native_blas_kernels(argv);
  keep_freed_memory_for_reuse();
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
