// Fine-tuning (LoRA, DoRA or full) with mlx_lm.lora's settings, files and semantics, from C++.
// Under mpirun every rank calls it and trains its share of each batch (one rank = N ranks).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "flotilla/training_reports.h"

namespace flotilla {

// Unset fields keep mlx_lm.lora's defaults, or the values of `config_file` when one is given.
struct FineTuneSettings {
  std::string model;        // model folder (required)
  std::string config_file;  // an mlx_lm.lora YAML config, applied before the fields below
  std::optional<std::string> data, adapter_path, fine_tune_type, optimizer, dtype, device;
  std::optional<bool> train, test, resume, grad_checkpoint, mask_prompt, quiet;
  std::optional<int64_t> num_layers, batch_size, iters, val_batches, steps_per_report, steps_per_eval, save_every,
      test_batches, max_seq_length, grad_accumulation_steps, seed;
  std::optional<double> learning_rate;
  std::optional<int64_t> lora_rank;
  std::optional<double> lora_scale, lora_dropout;
};

struct FineTuneCallbacks {
  std::function<void(const TrainReport&)> on_train_report;   // rank 0, every steps_per_report
  std::function<void(const ValReport&)> on_val_report;       // rank 0, every steps_per_eval
  std::function<void(const std::string& adapter_path)> on_train_end;  // rank 0, final files written
};

struct FineTuneOutcome {
  double final_val_loss = NAN;  // NaN when no validation ran
  double test_loss = NAN;       // NaN without test
  double seconds = 0;
};

// Loads the model, attaches adapters, trains, tests, and writes mlx-lm's adapter folder
// (adapters.safetensors, adapter_config.json, checkpoints, metrics.jsonl). Throws on bad settings.
FineTuneOutcome fine_tune(const FineTuneSettings& settings, const FineTuneCallbacks& callbacks = {});

}  // namespace flotilla
