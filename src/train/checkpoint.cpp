#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"
#include "data/jsonl.h"
#include "io/weight_store.h"
#include "train/optimizer.h"

using namespace flotilla::io;
using namespace flotilla::data;
using namespace flotilla::model;

namespace flotilla::train {

namespace {

const std::string kParameter = "parameter/", kOptimizer = "optimizer/", kGradient = "gradient/";
// Version 2 added the optimizer's step count (version 1's Adam counted iterations, skipped ones too);
// version 3 the gradients of an update in progress and the iterations per update.
const std::string kFormat = "flotilla-training-state", kFormatVersion = "3", kVersionWithoutSteps = "1";
const std::vector<std::string> kReadableVersions = {"1", "2", "3"};

std::string metadata_text(const SafetensorsFile& file, const std::string& key) {
  auto it = file.metadata().find(key);
  return it == file.metadata().end() ? "" : it->second;
}

int64_t metadata_int(const SafetensorsFile& file, const std::string& key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) fail("checkpoint", "'{}' has no '{}' in its metadata; not a training state file", file.path(), key);
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    fail("checkpoint", "'{}': metadata '{}' is '{}', not an integer", file.path(), key, it->second);
  }
}

}  // namespace

void save_training_state(const std::string& path, const TrainingState& s) {
  NamedTensors tensors;
  for (const auto& [name, t] : s.parameters) tensors.emplace_back(kParameter + name, t.detach());
  for (const auto& [name, t] : s.optimizer) tensors.emplace_back(kOptimizer + name, t);
  for (const auto& [name, t] : s.gradients) tensors.emplace_back(kGradient + name, t.detach());
  save_safetensors(path, tensors,
                   {{"format", kFormat},
                    {"format_version", kFormatVersion},
                    {"model", s.model},
                    {"iteration", std::to_string(s.iteration)},
                    {"trained_tokens", std::to_string(s.trained_tokens)},
                    {"epoch", std::to_string(s.position.epoch)},
                    {"batch", std::to_string(s.position.batch)},
                    {"grad_accumulation_steps", std::to_string(s.grad_accumulation_steps)}});
}

TrainingState load_training_state(const std::string& path) {
  SafetensorsFile file(path);
  if (metadata_text(file, "format") != kFormat)
    fail("checkpoint", "'{}' is not a Flotilla training state (metadata 'format' is '{}', expected '{}')", path,
         metadata_text(file, "format"), kFormat);
  const std::string version = metadata_text(file, "format_version");
  if (std::find(kReadableVersions.begin(), kReadableVersions.end(), version) == kReadableVersions.end())
    fail("checkpoint", "'{}' is training-state format version '{}'; this Flotilla reads versions {}", path, version,
         fmt::join(kReadableVersions, ", "));
  TrainingState s;
  s.model = metadata_text(file, "model");
  s.iteration = metadata_int(file, "iteration");
  s.trained_tokens = metadata_int(file, "trained_tokens");
  s.position = {metadata_int(file, "epoch"), metadata_int(file, "batch")};
  if (version == kFormatVersion) s.grad_accumulation_steps = metadata_int(file, "grad_accumulation_steps");
  for (const auto& info : file.tensors()) {
    auto t = load_tensor(file, info).clone();
    if (info.name.rfind(kParameter, 0) == 0) s.parameters.emplace_back(info.name.substr(kParameter.size()), t);
    else if (info.name.rfind(kOptimizer, 0) == 0) s.optimizer.emplace_back(info.name.substr(kOptimizer.size()), t);
    else if (info.name.rfind(kGradient, 0) == 0) s.gradients.emplace_back(info.name.substr(kGradient.size()), t);
    else fail("checkpoint", "'{}': unexpected tensor '{}'", path, info.name);
  }
  if (version == kVersionWithoutSteps)
    s.optimizer.emplace_back(Optimizer::kStepName, at::scalar_tensor(s.iteration, at::kLong));
  return s;
}

}  // namespace flotilla::train
