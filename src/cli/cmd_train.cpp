// flotilla train: mlx_lm.lora's flags (same names and defaults) over the fine_tune library call.
// Only flags given on the command line override the YAML config, which overrides the defaults.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "config/yaml.h"
#include "distributed/group.h"
#include "lora/adapter_folder.h"
#include "plot/loss_plot.h"
#include "train/fine_tune.h"

using namespace flotilla::config;
using namespace flotilla::distributed;
using namespace flotilla::lora;
using namespace flotilla::plot;
using namespace flotilla::train;
using namespace flotilla::io;
using namespace flotilla::model;
using namespace flotilla::data;

namespace flotilla::cli {

namespace {

using nlohmann::ordered_json;

struct TrainFlags {
  ordered_json overlay = ordered_json::object();
  std::string config_file;
  int threads = 0;
};

template <typename T>
void value_flag(CLI::App* cmd, TrainFlags& f, const std::string& names, const std::string& key, const std::string& help) {
  // As with argparse, a flag given twice takes its last value.
  cmd->add_option_function<T>(names, [&f, key](const T& v) { f.overlay[key] = v; }, help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

void switch_flag(CLI::App* cmd, TrainFlags& f, const std::string& names, const std::string& key, const std::string& help) {
  cmd->add_flag_function(names, [&f, key](int64_t) { f.overlay[key] = true; }, help);
}

// One intra-op thread per core, shared between the ranks mpirun placed on this machine.
int default_threads() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}) {
    if (const char* v = std::getenv(name)) return std::max(1, cores / std::max(1, std::atoi(v)));
  }
  return cores;
}

void run_train(const TrainFlags& f) {
  apply_thread_count(f.threads > 0 ? f.threads : default_threads());
  auto config = default_train_config();
  if (!f.config_file.empty()) merge_train_config(config, load_yaml_file(f.config_file), f.config_file);
  merge_train_config(config, f.overlay, "command line");
  auto group = init_group();
  if (!config.value("quiet", false)) std::cout << group->describe() << std::endl;
  TrainingCallbacks callbacks;
  callbacks.on_train_end = [&](const std::string& adapter_path) {
    const auto history = read_metrics_jsonl(AdapterFolder(adapter_path).metrics());
    const auto png = timestamped_plot_path();
    plot_losses(history.train, history.valid, png);
    if (!config.value("quiet", false)) std::cout << "Saved the loss plot to " << png << "." << std::endl;
  };
  run_on_every_rank(*group, [&] { fine_tune(config, *group, callbacks); });
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<TrainFlags>();
  auto* cmd = app.add_subcommand("train", "Fine-tune with LoRA, DoRA or full fine-tuning (mlx_lm.lora flags)");
  value_flag<std::string>(cmd, *f, "--model", "model", "model folder to fine-tune");
  switch_flag(cmd, *f, "--train", "train", "do training");
  value_flag<std::string>(cmd, *f, "--data", "data", "folder with train.jsonl, valid.jsonl, test.jsonl (default data/)");
  value_flag<std::string>(cmd, *f, "--fine-tune-type", "fine_tune_type", "lora, dora or full (default lora)");
  value_flag<std::string>(cmd, *f, "--optimizer", "optimizer", "adam, adamw or sgd (default adam)");
  value_flag<int64_t>(cmd, *f, "--num-layers", "num_layers", "blocks to fine-tune, from the last; -1 for all (default 16)");
  value_flag<int64_t>(cmd, *f, "--batch-size", "batch_size", "global batch size, summed over ranks (default 4)");
  value_flag<int64_t>(cmd, *f, "--iters", "iters", "iterations to train for (default 1000)");
  value_flag<int64_t>(cmd, *f, "--val-batches", "val_batches", "validation batches, -1 for all (default 25)");
  value_flag<double>(cmd, *f, "--learning-rate", "learning_rate", "Adam learning rate (default 1e-5)");
  value_flag<int64_t>(cmd, *f, "--steps-per-report", "steps_per_report", "iterations between loss reports (default 10)");
  value_flag<int64_t>(cmd, *f, "--steps-per-eval", "steps_per_eval", "iterations between validations (default 200)");
  value_flag<std::string>(cmd, *f, "--resume-adapter-file", "resume_adapter_file",
                          "start from these adapter weights (an adapters file, or a PEFT folder or its file)");
  value_flag<std::string>(cmd, *f, "--adapter-path", "adapter_path", "where adapters and checkpoints go (default adapters)");
  value_flag<int64_t>(cmd, *f, "--save-every", "save_every", "iterations between checkpoints (default 100)");
  switch_flag(cmd, *f, "--test", "test", "evaluate on the test set after training");
  value_flag<int64_t>(cmd, *f, "--test-batches", "test_batches", "test batches, -1 for all (default 500)");
  value_flag<int64_t>(cmd, *f, "--max-seq-length", "max_seq_length", "longest sequence trained on (default 2048)");
  cmd->add_option("-c,--config", f->config_file, "YAML configuration file (mlx-lm keys)")->check(CLI::ExistingFile);
  switch_flag(cmd, *f, "--grad-checkpoint", "grad_checkpoint", "recompute activations in backward to save memory");
  value_flag<int64_t>(cmd, *f, "--grad-accumulation-steps", "grad_accumulation_steps", "iterations (one batch each) per optimizer update, as mlx-lm (default 1)");
  value_flag<uint64_t>(cmd, *f, "--seed", "seed", "seed for adapters, data order and dropout (default 0)");
  switch_flag(cmd, *f, "--mask-prompt", "mask_prompt", "train on completions only, not prompts");
  switch_flag(cmd, *f, "--resume", "resume", "continue exactly from the last checkpoint in --adapter-path");
  value_flag<std::string>(cmd, *f, "--dtype", "dtype", "compute dtype: float32 or bfloat16 (default: the model's torch_dtype)");
  value_flag<std::string>(cmd, *f, "--device", "device", "auto (MPS on Apple Silicon when libtorch has it, else cpu), cpu, cuda, cuda:N or mps");
  value_flag<std::string>(cmd, *f, "--rank-batch-sizes", "rank_batch_sizes",
                          "per-rank shares of each batch, e.g. 3,1, or auto (from measured throughput)");
  value_flag<std::string>(cmd, *f, "--grad-dtype", "grad_dtype", "gradients on the wire: float32 or bfloat16");
  value_flag<double>(cmd, *f, "--bucket-mb", "bucket_mb", "gradient bucket size for all-reduce (default 25)");
  cmd->add_flag_function("--no-overlap", [f](int64_t) { f->overlay["overlap_communication"] = false; },
                         "all-reduce gradients after backward instead of during it");
  value_flag<double>(cmd, *f, "--collective-timeout", "collective_timeout",
                     "seconds a rank waits for the others before naming the silent ones and ending (default 300; 0: forever)");
  switch_flag(cmd, *f, "--skip-nonfinite", "skip_nonfinite", "skip steps with NaN/inf instead of stopping");
  switch_flag(cmd, *f, "--quiet,-q", "quiet", "print nothing but errors");
  cmd->add_option("--threads", f->threads, "intra-op threads per rank (default: cores / ranks on this machine)");
  cmd->callback([f, &action] { action = [f] { run_train(*f); }; });
}

}  // namespace flotilla::cli
