// Tokens/s of the Trainer's LoRA steps on random tokens, as both training benchmarks measure them.
#pragma once
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <vector>

#include <unistd.h>

#include "lora/adapters.h"
#include "model/loader.h"
#include "train/trainer.h"

namespace flotilla {

// Adapts `model` with `lora`, then runs `warmup` steps and reports the tokens/s of `timed` more.
inline double lora_tokens_per_sec(model::LoadedModel& loaded, const lora::LoraConfig& lora, bool recompute, int64_t batch,
                                  int64_t seq, int warmup, int timed) {
  lora::apply_fine_tuning(loaded.model, lora, 0);
  loaded.model->set_gradient_checkpointing(recompute);
  at::manual_seed(0);
  auto tokens = at::randint(3, loaded.config.vocab_size, {batch * (warmup + timed), seq + 1}, at::kLong);
  std::vector<data::TokenizedExample> examples;
  for (int64_t i = 0; i < tokens.size(0); ++i)
    examples.push_back({std::vector<int64_t>(tokens[i].data_ptr<int64_t>(), tokens[i].data_ptr<int64_t>() + seq + 1)});
  train::BatchOptions batches;
  batches.batch_size = batch;
  train::BatchIterator data(examples, batches, 1);
  auto group = distributed::make_single_process_group();
  const auto scratch = std::filesystem::temp_directory_path() / fmt::format("flotilla-bench-lora-{}", ::getpid());
  double tokens_per_sec = 0;
  for (int steps : {warmup, timed}) {
    train::TrainingArgs args;
    args.iters = args.steps_per_report = args.save_every = steps;
    args.adapter_path = scratch.string();
    args.quiet = true;
    train::TrainingCallbacks callbacks;
    callbacks.on_train_report = [&](const TrainReport& r) { tokens_per_sec = r.tokens_per_sec; };
    train::Trainer(loaded.model, args, *group, callbacks).train(data, nullptr);
  }
  std::filesystem::remove_all(scratch);
  return tokens_per_sec;
}

}  // namespace flotilla
