#include "train/fine_tune.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/training_examples.h"
#include "lora/adapter_folder.h"
#include "lora/adapters.h"
#include "model/loader.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::data;
using namespace flotilla::distributed;
using namespace flotilla::io;

namespace flotilla::train {

namespace fs = std::filesystem;

std::string describe_trainable_parameters(LlamaModel model) {
  double total = 0, trainable = 0;
  for (const auto& p : model->parameters()) {
    total += p.numel();
    trainable += p.requires_grad() ? p.numel() : 0;
  }
  for (auto& linear : model_linears(model)) {
    if (linear->is_quantized())
      total += static_cast<double>(linear->in_features()) * linear->out_features() * std::max<int64_t>(1, linear->experts());
  }
  return fmt::format("Trainable parameters: {:.3f}% ({:.3f}M/{:.3f}M)", 100.0 * trainable / total, trainable / 1e6,
                     total / 1e6);
}

FineTuneOutcome fine_tune(const nlohmann::ordered_json& config, Group& group, TrainingCallbacks callbacks) {
  Timer total;
  const auto f = parse_train_config(config);
  group.set_collective_timeout(f.collective_timeout);
  const bool lead = group.rank() == 0;
  auto say = [&](const std::string& line) {
    if (lead && !f.args.quiet) std::cout << line << std::endl;
  };
  FineTuneOutcome result;
  if (!f.train && !f.test) fail("train", "nothing to do: pass --train to fine-tune, --test to evaluate, or both");
  const AdapterFolder adapters(f.args.adapter_path);
  // Rank 0 alone writes the adapter folder; it locks it before the slow loading, so a second run into
  // the same folder stops at once instead of interleaving checkpoints (its other ranks: Group::abort).
  std::optional<FileLock> training_into_folder;
  if (f.train && lead) training_into_folder.emplace(adapters.lock_for_training());

  say("Loading pretrained model");
  LoadOptions load;
  if (!f.dtype.empty()) load.dtype = parse_dtype(f.dtype);
  load.device = parse_device(f.device);
  auto loaded = load_model(f.model, load);
  say(describe_compute_dtype(load, loaded.dtype));
  auto tokenizer = Tokenizer::from_dir(f.model);
  // --test alone evaluates the adapters as they were trained, so their own config decides the LoRA layout.
  const bool test_only = !f.train && f.test;
  const LoraConfig lora = test_only ? parse_lora_config(adapters.read_config(), adapters.config()) : f.lora;
  apply_fine_tuning(loaded.model, lora, f.args.seed);
  loaded.model->set_gradient_checkpointing(f.grad_checkpoint);
  if (!f.resume_adapter_file.empty()) load_adapter_weights(loaded.model, f.resume_adapter_file);
  if (test_only) load_adapter_weights(loaded.model, adapters.weights());
  say(describe_trainable_parameters(loaded.model));

  say("Loading datasets");
  auto datasets = data::load_datasets(f.data, f.train, f.test);
  if (f.train && datasets.valid.empty() && lead)  // mlx-lm warns and trains without validation
    std::cerr << "Warning: Validation set not found or empty. Should provide validation set for fine-tuning.\n";
  data::ExampleTokenizer tokenize(tokenizer, data::conversation_renderer(f.model));
  auto batches = f.batches;
  batches.rank = group.rank();

  if (f.train) {
    fs::create_directories(f.args.adapter_path);
    if (lead) adapters.write_config(config);
    BatchIterator train_data(data::tokenize_split(datasets.train, tokenize, batches.mask_prompt), batches, group.size());
    std::optional<BatchIterator> valid_data;
    if (!datasets.valid.empty()) valid_data.emplace(data::tokenize_split(datasets.valid, tokenize, batches.mask_prompt), batches, group.size());
    auto user_val = callbacks.on_val_report;
    callbacks.on_val_report = [&](const ValReport& r) {
      result.final_val_loss = r.val_loss;
      if (user_val) user_val(r);
    };
    Trainer trainer(loaded.model, f.args, group, callbacks);
    if (f.resume) trainer.resume(train_data);
    trainer.train(train_data, valid_data ? &*valid_data : nullptr);
    say(fmt::format("Saved final weights to {}.", adapters.weights()));
    if (lead && callbacks.on_train_end) callbacks.on_train_end(f.args.adapter_path);
  }
  if (f.test) {
    say("Testing");
    BatchIterator test_data(data::tokenize_split(datasets.test, tokenize, batches.mask_prompt), batches, group.size());
    result.test_loss = evaluate_loss(loaded.model, test_data, f.test_batches, group);
    say(fmt::format("Test loss {:.3f}, Test ppl {:.3f}.", result.test_loss, std::exp(result.test_loss)));
  }
  result.seconds = total.seconds();
  say(fmt::format("Total time: {:.1f}s", result.seconds));
  return result;
}

}  // namespace flotilla::train
