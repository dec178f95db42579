#include "train/train_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/loader.h"

using namespace flotilla::model;
using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::data;

namespace flotilla::train {

using nlohmann::ordered_json;

ordered_json default_train_config() {
  auto config = ordered_json::parse(R"({
    "model": null, "train": false, "fine_tune_type": "lora", "optimizer": "adam",
    "optimizer_config": {"adam": {}, "adamw": {}, "sgd": {}},
    "data": "data/", "seed": 0, "num_layers": 16, "batch_size": 4, "iters": 1000, "val_batches": 25,
    "learning_rate": 1e-5, "steps_per_report": 10, "steps_per_eval": 200, "resume_adapter_file": null,
    "adapter_path": "adapters", "save_every": 100, "test": false, "test_batches": 500, "max_seq_length": 2048,
    "config": null, "grad_checkpoint": false, "lr_schedule": null,
    "lora_parameters": {"rank": 8, "dropout": 0.0, "scale": 20.0, "keys": null},
    "mask_prompt": false, "grad_accumulation_steps": 1, "wandb": null, "report_to": null, "project_name": null,
    "resume": false, "dtype": "", "device": "auto", "rank_batch_sizes": null, "skip_nonfinite": false,
    "quiet": false, "grad_dtype": null, "bucket_mb": 25, "overlap_communication": true
  })");
  config["collective_timeout"] = distributed::kDefaultCollectiveTimeoutSeconds;
  return config;
}

void merge_train_config(ordered_json& config, const ordered_json& overlay, const std::string& source) {
  if (!overlay.is_object()) fail("config", "'{}': expected a mapping of settings", source);
  for (const auto& [key, value] : overlay.items()) {
    if (!config.contains(key)) fail("config", "'{}': unknown setting '{}'", source, key);
    // Free-form objects (lr_schedule, optimizer settings) are taken whole; fixed ones key by key.
    const bool fixed_object = key == "lora_parameters";
    if (fixed_object && value.is_object()) merge_train_config(config[key], value, source + ": " + key);
    else config[key] = value;
  }
}

namespace {

template <typename T>
T get(const ordered_json& c, const char* key) {
  try {
    return c.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("config", "setting '{}' has the wrong type: {}", key, c.at(key).dump());
  }
}

int64_t positive(const ordered_json& c, const char* key) {
  auto v = get<int64_t>(c, key);
  if (v <= 0) fail("config", "setting '{}' must be positive, got {}", key, v);
  return v;
}

std::optional<ScheduleConfig> parse_schedule(const ordered_json& s) {
  if (s.is_null()) return std::nullopt;
  for (const auto& [key, value] : s.items()) {
    if (key != "name" && key != "arguments" && key != "warmup" && key != "warmup_init")
      fail("config", "lr_schedule: unknown key '{}'; expected name, arguments, warmup, warmup_init", key);
  }
  ScheduleConfig out;
  out.name = get<std::string>(s, "name");
  out.arguments = get<std::vector<double>>(s, "arguments");
  out.warmup = s.value("warmup", int64_t{0});
  out.warmup_init = s.value("warmup_init", 0.0);
  return out;
}

OptimizerConfig parse_optimizer(const ordered_json& c) {
  OptimizerConfig o;
  o.name = get<std::string>(c, "optimizer");
  if (o.name == "adamw") o.weight_decay = 0.01;  // MLX's AdamW default
  const auto& settings = c.at("optimizer_config").value(o.name, ordered_json::object());
  // The keyword arguments of MLX's Adam, AdamW and SGD; anything else would be accepted and ignored.
  const std::vector<std::string> accepted = o.name == "sgd"     ? std::vector<std::string>{"weight_decay", "momentum", "dampening", "nesterov"}
                                            : o.name == "adamw" ? std::vector<std::string>{"betas", "eps", "weight_decay", "bias_correction"}
                                                                : std::vector<std::string>{"betas", "eps", "bias_correction"};
  for (const auto& [key, value] : settings.items()) {
    if (std::find(accepted.begin(), accepted.end(), key) == accepted.end()) {
      fail("config", "optimizer_config.{}: '{}' is not an argument of MLX's {}{}; expected {}", o.name, key, o.name,
           o.name == "adam" && key == "weight_decay" ? " (use adamw for weight decay)" : "", fmt::join(accepted, ", "));
    }
    if (key == "betas") {
      o.beta1 = value.at(0).get<double>();
      o.beta2 = value.at(1).get<double>();
    } else if (key == "eps") o.eps = value.get<double>();
    else if (key == "weight_decay") o.weight_decay = value.get<double>();
    else if (key == "bias_correction") o.bias_correction = value.get<bool>();
    else if (key == "momentum") o.momentum = value.get<double>();
    else if (key == "dampening") o.dampening = value.get<double>();
    else o.nesterov = value.get<bool>();
  }
  return o;
}

// "3,1": one positive integer per rank.
[[noreturn]] void bad_rank_batch_sizes(const std::string& given) {
  fail("config", "rank_batch_sizes: expected 'auto' or positive integers like 3,1; got '{}'", given);
}

std::vector<int64_t> parse_rank_batch_sizes(const std::string& text) {
  std::vector<int64_t> sizes;
  size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(',', start), text.size());
    const auto item = text.substr(start, end - start);
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 1) bad_rank_batch_sizes(text);
    sizes.push_back(value);
    start = end + 1;
  }
  return sizes;
}

// "3,1" or a YAML list [3, 1]: whole numbers of at least 1.
std::vector<int64_t> rank_batch_sizes_from(const nlohmann::ordered_json& value) {
  if (value.is_string()) return parse_rank_batch_sizes(value.get<std::string>());
  if (!value.is_array()) bad_rank_batch_sizes(value.dump());
  std::vector<int64_t> sizes;
  for (const auto& item : value) {
    if (!item.is_number_integer() || item.get<int64_t>() < 1) bad_rank_batch_sizes(value.dump());
    sizes.push_back(item.get<int64_t>());
  }
  return sizes;
}

// float32 or bfloat16 (under any name parse_dtype knows).
at::ScalarType wire_dtype_from(const std::string& name) {
  std::optional<at::ScalarType> dtype;
  try {
    dtype = parse_dtype(name);
  } catch (const Error&) {
  }
  if (!dtype || (*dtype != at::kFloat && *dtype != at::kBFloat16))
    fail("config", "grad_dtype: expected float32 or bfloat16, got '{}'", name);
  return *dtype;
}

}  // namespace

FineTuneConfig parse_train_config(const ordered_json& c) {
  for (const char* unsupported : {"wandb", "report_to"}) {
    if (!c.at(unsupported).is_null())
      fail("config", "setting '{}' is not supported by Flotilla (metrics go to <adapter_path>/metrics.jsonl)", unsupported);
  }
  FineTuneConfig f;
  if (c.at("model").is_null()) fail("config", "no model given: pass --model DIR or set 'model' in the config file");
  f.model = get<std::string>(c, "model");
  f.data = get<std::string>(c, "data");
  f.train = get<bool>(c, "train");
  f.test = get<bool>(c, "test");
  f.resume = get<bool>(c, "resume");
  if (!c.at("resume_adapter_file").is_null()) f.resume_adapter_file = get<std::string>(c, "resume_adapter_file");
  f.test_batches = get<int64_t>(c, "test_batches");
  f.dtype = get<std::string>(c, "dtype");
  f.device = get<std::string>(c, "device");
  f.grad_checkpoint = get<bool>(c, "grad_checkpoint");

  f.lora.fine_tune_type = get<std::string>(c, "fine_tune_type");
  f.lora.num_layers = get<int64_t>(c, "num_layers");
  const auto& lp = c.at("lora_parameters");
  f.lora.spec.rank = positive(lp, "rank");
  f.lora.spec.scale = get<double>(lp, "scale");
  f.lora.spec.dropout = get<double>(lp, "dropout");
  if (!lp.at("keys").is_null()) f.lora.keys = get<std::vector<std::string>>(lp, "keys");

  auto& a = f.args;
  a.iters = positive(c, "iters");
  a.val_batches = get<int64_t>(c, "val_batches");
  a.steps_per_report = positive(c, "steps_per_report");
  a.steps_per_eval = positive(c, "steps_per_eval");
  a.save_every = positive(c, "save_every");
  a.grad_accumulation_steps = positive(c, "grad_accumulation_steps");
  a.learning_rate = get<double>(c, "learning_rate");
  a.lr_schedule = parse_schedule(c.at("lr_schedule"));
  a.optimizer = parse_optimizer(c);
  a.seed = get<uint64_t>(c, "seed");
  a.adapter_path = get<std::string>(c, "adapter_path");
  a.skip_nonfinite = get<bool>(c, "skip_nonfinite");
  a.quiet = get<bool>(c, "quiet");

  auto& b = f.batches;
  b.batch_size = positive(c, "batch_size");
  b.max_seq_length = positive(c, "max_seq_length");
  b.seed = a.seed;
  b.mask_prompt = get<bool>(c, "mask_prompt");
  const auto& split = c.at("rank_batch_sizes");
  if (split == "auto") a.balance_ranks = true;
  else if (!split.is_null()) b.rank_batch_sizes = rank_batch_sizes_from(split);

  if (!c.at("grad_dtype").is_null()) a.reducer.wire_dtype = wire_dtype_from(get<std::string>(c, "grad_dtype"));
  a.reducer.bucket_mb = get<double>(c, "bucket_mb");
  if (!(a.reducer.bucket_mb > 0)) fail("config", "bucket_mb must be positive, got {}", a.reducer.bucket_mb);
  a.reducer.overlap = get<bool>(c, "overlap_communication");
  f.collective_timeout = get<double>(c, "collective_timeout");
  if (!(f.collective_timeout >= 0))
    fail("config", "collective_timeout must be 0 (wait forever) or a number of seconds, got {}", f.collective_timeout);
  return f;
}

}  // namespace flotilla::train
