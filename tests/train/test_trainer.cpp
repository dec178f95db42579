// The training loop on stories260K: loss falls, resume is exact, NaN never reaches saved adapters.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/tensor_io.h"
#include "lora/adapter_folder.h"
#include "lora/adapters.h"
#include "model/loader.h"
#include "support/golden.h"
#include "support/paths.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "train/trainer_setup.h"

using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::train;
using namespace flotilla::distributed;
using namespace flotilla::data;

namespace flotilla {
namespace {

using test::iterator;
using test::lora_setup;

TEST(Trainer, ShortRunLowersValidationLossAndLogsMetrics) {
  auto dir = test::scratch_dir("run");
  auto s = lora_setup(dir.string());
  auto group = make_single_process_group();
  std::vector<ValReport> vals;
  TrainingCallbacks callbacks;
  callbacks.on_val_report = [&](const ValReport& r) { vals.push_back(r); };
  Trainer trainer(s.loaded.model, s.args, *group, callbacks);
  auto train = iterator(64, 1), valid = iterator(16, 2);
  trainer.train(train, &valid);
  ASSERT_GE(vals.size(), 2u);
  std::cout << "[train] val loss " << vals.front().val_loss << " -> " << vals.back().val_loss << "\n";
  EXPECT_LT(vals.back().val_loss, 0.5 * vals.front().val_loss);
  for (const char* f : {"adapters.safetensors", "0000010_adapters.safetensors", "0000030_adapters.safetensors",
                        "training_state.safetensors", "metrics.jsonl"})
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  int train_records = 0, val_records = 0;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    train_records += j.contains("train_loss");
    val_records += j.contains("val_loss");
  }
  EXPECT_EQ(train_records, 3);
  EXPECT_EQ(val_records, static_cast<int>(vals.size()));
}

// A run that dies after its checkpoint at 10 and resumes ends where an uninterrupted run ends.
TEST(Trainer, ResumeAfterCrashIsExact) {
  auto straight_dir = test::scratch_dir("straight"), crashed_dir = test::scratch_dir("crashed");
  auto group = make_single_process_group();
  auto straight = lora_setup(straight_dir.string());
  straight.args.iters = 25;
  {
    auto train = iterator(64, 1);
    Trainer(straight.loaded.model, straight.args, *group).train(train, nullptr);
  }
  auto crashed = lora_setup(crashed_dir.string());
  crashed.args.iters = 25;
  TrainingCallbacks crash;
  crash.on_after_backward = [](int64_t it, NamedTensors&) {
    if (it == 14) throw std::runtime_error("simulated crash");
  };
  {
    auto train = iterator(64, 1);
    EXPECT_THROW(Trainer(crashed.loaded.model, crashed.args, *group, crash).train(train, nullptr), std::runtime_error);
  }
  auto resumed = lora_setup(crashed_dir.string());  // fresh process state: new model, new adapters
  resumed.args.iters = 25;
  auto train = iterator(64, 1);
  Trainer trainer(resumed.loaded.model, resumed.args, *group);
  trainer.resume(train);
  EXPECT_EQ(trainer.iteration(), 10);
  trainer.train(train, nullptr);
  const double worst = test::max_difference(trainable_tensors(straight.loaded.model), trainable_tensors(resumed.loaded.model));
  std::cout << "[resume] max |adapter difference| = " << worst << " (tolerance 1e-6)\n";
  EXPECT_LE(worst, 1e-6);
}

TEST(Trainer, NonFiniteGradientsStopBeforeTheUpdate) {
  auto dir = test::scratch_dir("nan");
  auto s = lora_setup(dir.string());
  s.args.iters = 20;
  auto group = make_single_process_group();
  TrainingCallbacks poison;
  poison.on_after_backward = [](int64_t it, NamedTensors& grads) {
    if (it == 13) grads[0].second.view({-1})[0] = NAN;
  };
  auto train = iterator(64, 1);
  try {
    Trainer(s.loaded.model, s.args, *group, poison).train(train, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("iteration 13"), std::string::npos) << e.what();
  }
  for (auto& [name, t] : trainable_tensors(s.loaded.model)) EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;

  auto skipping = lora_setup(test::scratch_dir("skip").string());
  skipping.args.iters = 20;
  skipping.args.skip_nonfinite = true;
  // Also an infinity at the far end of the last gradient (the float32 check reads exponent bits).
  TrainingCallbacks poison_end;
  poison_end.on_after_backward = [](int64_t it, NamedTensors& grads) {
    if (it == 13) grads.back().second.view({-1})[grads.back().second.numel() - 1] = -INFINITY;
  };
  auto train2 = iterator(64, 1);
  Trainer(skipping.loaded.model, skipping.args, *group, poison_end).train(train2, nullptr);
  for (auto& [name, t] : trainable_tensors(skipping.loaded.model)) EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
}

// QLoRA: adapters over the MLX 4-bit base learn the same dialect.
TEST(Trainer, QLoraOnFourBitBaseLowersLoss) {
  auto s = lora_setup(test::scratch_dir("qlora").string(), "mlx-4bit");
  s.args.iters = 45;
  auto group = make_single_process_group();
  std::vector<ValReport> vals;
  TrainingCallbacks callbacks;
  callbacks.on_val_report = [&](const ValReport& r) { vals.push_back(r); };
  auto train = iterator(64, 1), valid = iterator(16, 2);
  Trainer(s.loaded.model, s.args, *group, callbacks).train(train, &valid);
  ASSERT_GE(vals.size(), 2u);
  std::cout << "[qlora] val loss " << vals.front().val_loss << " -> " << vals.back().val_loss << "\n";
  EXPECT_LT(vals.back().val_loss, 0.5 * vals.front().val_loss);
}

TEST(Trainer, RefusesAModelWithoutTrainableParameters) {
  auto m = load_model((test::stories_dir() / "hf").string());
  auto group = make_single_process_group();
  EXPECT_THROW(Trainer(m.model, TrainingArgs{}, *group), Error);
}

// The state file says which model and which format wrote it; resume refuses others, saying why.
TEST(Trainer, ResumeRefusesAnotherModelsStateAndOtherFormats) {
  auto dir = test::scratch_dir("state-guard");
  auto group = make_single_process_group();
  auto s = lora_setup(dir.string());
  s.args.iters = 10;
  {
    auto train = iterator(64, 1);
    Trainer(s.loaded.model, s.args, *group).train(train, nullptr);
  }
  const AdapterFolder folder(dir.string());
  auto state = load_training_state(folder.training_state());
  EXPECT_EQ(state.model, model_fingerprint(s.loaded.config));
  EXPECT_EQ(state.iteration, 10);

  auto resume_message = [&] {
    auto again = lora_setup(dir.string());
    auto train = iterator(64, 1);
    Trainer trainer(again.loaded.model, again.args, *group);
    try {
      trainer.resume(train);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  state.model = "0123456789abcdef";
  save_training_state(folder.training_state(), state);
  EXPECT_NE(resume_message().find("was saved while training another model"), std::string::npos) << resume_message();

  save_safetensors(folder.training_state(), {{"parameter/x", at::zeros({1})}},
                   {{"format", "flotilla-training-state"}, {"format_version", "0"}, {"model", state.model}});
  EXPECT_NE(resume_message().find("format version '0'; this Flotilla reads versions 1, 2, 3"), std::string::npos)
      << resume_message();
  std::filesystem::copy_file(folder.weights(), folder.training_state(), std::filesystem::copy_options::overwrite_existing);
  EXPECT_NE(resume_message().find("is not a Flotilla training state"), std::string::npos) << resume_message();
}

// Version 1 states had no optimizer step count: their Adam counted iterations, so they load with that.
TEST(Trainer, VersionOneStateLoadsWithItsIterationAsTheStepCount) {
  const auto path = (test::scratch_dir("version-1") / "training_state.safetensors").string();
  save_safetensors(path, {{"parameter/p", at::ones({2})}, {"optimizer/p.m", at::zeros({2})}},
                   {{"format", "flotilla-training-state"}, {"format_version", "1"}, {"model", "0123456789abcdef"},
                    {"iteration", "40"}, {"trained_tokens", "900"}, {"epoch", "1"}, {"batch", "3"}});
  const auto state = load_training_state(path);
  ASSERT_EQ(state.optimizer.size(), 2u);
  EXPECT_EQ(state.optimizer[1].first, Optimizer::kStepName);
  EXPECT_EQ(state.optimizer[1].second.item<int64_t>(), 40);
}

}  // namespace
}  // namespace flotilla
