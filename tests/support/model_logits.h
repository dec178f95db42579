// A model folder's float32 logits at every prompt position and its greedy continuation with the
// top-2 gap at each step: what the GGUF oracle and the fuse tests compare.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "lora/adapters.h"
#include "model/loader.h"

namespace flotilla::test {

struct OracleRun {
  at::Tensor logits;              // float32 [T, V], every position of the prompt
  std::vector<int64_t> greedy;    // the argmax continuation
  std::vector<double> greedy_gaps;  // Flotilla only: top-1 minus top-2 logit at each greedy step
  std::vector<int64_t> tokenized; // the tokenizer's ids for a text, special tokens added
};

// Flotilla's float32 logits of the model folder (with an adapter folder, if given) at every
// position, and its greedy continuation.
inline OracleRun flotilla_run(const std::filesystem::path& model_dir, const std::vector<int64_t>& tokens, int greedy,
                              const std::filesystem::path& adapter_dir = {}) {
  auto loaded = model::load_model(model_dir.string(), {at::kFloat});
  if (!adapter_dir.empty()) lora::load_adapters(loaded.model, adapter_dir.string());
  c10::InferenceMode guard;
  auto ids = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).unsqueeze(0); };
  OracleRun run;
  run.logits = loaded.model->forward(ids(tokens))[0].to(at::kFloat);
  std::vector<int64_t> sequence = tokens;
  model::ForwardOptions last;
  last.last_only = true;
  for (int i = 0; i < greedy; ++i) {
    auto step = loaded.model->forward(ids(sequence), last)[0][-1];
    auto top = step.topk(2);
    sequence.push_back(std::get<1>(top)[0].item<int64_t>());
    run.greedy.push_back(sequence.back());
    run.greedy_gaps.push_back((std::get<0>(top)[0] - std::get<0>(top)[1]).item<double>());
  }
  return run;
}

// max |peer - ours| over every position, relative to the range of our logits.
inline double relative_logit_diff(const at::Tensor& peer, const at::Tensor& ours) {
  EXPECT_EQ(peer.sizes(), ours.sizes());
  if (peer.sizes() != ours.sizes()) return 1e9;
  const double range = (ours.max() - ours.min()).item<double>();
  return (peer - ours).abs().max().item<double>() / range;
}

}  // namespace flotilla::test
