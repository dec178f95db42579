// The trainer tests' common ground: stories260K with rank-4 LoRA on every block, a token "dialect"
// to learn, and an exact comparison of named tensors.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "io/tensor_io.h"
#include "lora/adapters.h"
#include "model/loader.h"
#include "support/paths.h"
#include "train/trainer.h"

namespace flotilla::test {

// A "dialect" the base model has never seen: fixed token sequences it must learn to continue.
inline std::vector<data::TokenizedExample> dialect_examples(int64_t count, uint64_t seed) {
  const std::vector<int64_t> phrase = {1, 403, 407, 261, 378, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310,
                                       311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 322, 323, 324};
  std::vector<data::TokenizedExample> out;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t length = 12 + static_cast<int64_t>(rng() % 18);
    out.push_back({std::vector<int64_t>(phrase.begin(), phrase.begin() + length), 0});
  }
  return out;
}

struct Setup {
  model::LoadedModel loaded;
  train::TrainingArgs args;
};

inline Setup lora_setup(const std::string& adapter_path, const std::string& base = "hf") {
  Setup s{model::load_model((stories_dir() / base).string()), {}};
  lora::LoraConfig lora;
  lora.num_layers = -1;
  lora.spec.rank = 4;
  lora::apply_fine_tuning(s.loaded.model, lora, /*seed=*/0);
  s.args.iters = 30;
  // At 1e-3 Adam is already chaotic here: the final loss ranged 0.55..4.9 with rounding-level changes
  // (BLAS kernels, attention kernel); at 3e-4 every variant ends within 1e-5 of 0.0163.
  s.args.learning_rate = 3e-4;
  s.args.steps_per_report = 10;
  s.args.steps_per_eval = 15;
  s.args.save_every = 10;
  s.args.val_batches = -1;
  s.args.adapter_path = adapter_path;
  s.args.quiet = true;
  return s;
}

inline train::BatchIterator iterator(int64_t count, uint64_t seed) {
  train::BatchOptions options;
  options.batch_size = 4;
  options.seed = seed;
  return train::BatchIterator(dialect_examples(count, seed), options, /*world_size=*/1);
}

// The largest |difference| between two lists of the same named tensors: 0 when equal, NaN if any is.
inline double max_difference(const io::NamedTensors& a, const io::NamedTensors& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    const double d = (a[i].second.to(at::kDouble) - b[i].second.to(at::kDouble)).abs().max().item<double>();
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

}  // namespace flotilla::test
