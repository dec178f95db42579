// flotilla/fine_tune.h: typed settings -> mlx_lm.lora's configuration -> train/fine_tune.
#include "flotilla/fine_tune.h"

#include "config/yaml.h"
#include "distributed/group.h"
#include "train/fine_tune.h"
#include "train/train_config.h"

using namespace flotilla::config;
using namespace flotilla::distributed;
using namespace flotilla::train;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::data;

namespace flotilla {

namespace {

using nlohmann::ordered_json;

template <typename T>
void set(ordered_json& json, const char* key, const std::optional<T>& value) {
  if (value) json[key] = *value;
}

ordered_json settings_overlay(const FineTuneSettings& s) {
  ordered_json o = {{"model", s.model}};
  set(o, "data", s.data), set(o, "adapter_path", s.adapter_path), set(o, "fine_tune_type", s.fine_tune_type);
  set(o, "optimizer", s.optimizer), set(o, "dtype", s.dtype), set(o, "device", s.device);
  set(o, "train", s.train), set(o, "test", s.test), set(o, "resume", s.resume);
  set(o, "grad_checkpoint", s.grad_checkpoint), set(o, "mask_prompt", s.mask_prompt), set(o, "quiet", s.quiet);
  set(o, "num_layers", s.num_layers), set(o, "batch_size", s.batch_size), set(o, "iters", s.iters);
  set(o, "val_batches", s.val_batches), set(o, "steps_per_report", s.steps_per_report);
  set(o, "steps_per_eval", s.steps_per_eval), set(o, "save_every", s.save_every);
  set(o, "test_batches", s.test_batches), set(o, "max_seq_length", s.max_seq_length);
  set(o, "grad_accumulation_steps", s.grad_accumulation_steps), set(o, "seed", s.seed);
  set(o, "learning_rate", s.learning_rate);
  ordered_json lora = ordered_json::object();
  set(lora, "rank", s.lora_rank), set(lora, "scale", s.lora_scale), set(lora, "dropout", s.lora_dropout);
  if (!lora.empty()) o["lora_parameters"] = lora;
  return o;
}

}  // namespace

FineTuneOutcome fine_tune(const FineTuneSettings& settings, const FineTuneCallbacks& callbacks) {
  auto config = default_train_config();
  if (!settings.config_file.empty())
    merge_train_config(config, load_yaml_file(settings.config_file), settings.config_file);
  merge_train_config(config, settings_overlay(settings), "FineTuneSettings");
  TrainingCallbacks internal;
  static_cast<FineTuneCallbacks&>(internal) = callbacks;
  auto group = init_group();
  return fine_tune(config, *group, internal);
}

}  // namespace flotilla
