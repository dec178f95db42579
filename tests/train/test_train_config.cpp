// Configuration precedence (defaults < YAML < command line) and strictness about unknown keys.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/train_config.h"

using namespace flotilla::train;
using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::data;

namespace flotilla {
namespace {

using nlohmann::ordered_json;

TEST(TrainConfig, DefaultsMatchMlxLm) {
  auto c = default_train_config();
  c["model"] = "m";
  auto f = parse_train_config(c);
  EXPECT_EQ(f.lora.num_layers, 16);
  EXPECT_EQ(f.batches.batch_size, 4);
  EXPECT_EQ(f.args.iters, 1000);
  EXPECT_EQ(f.args.val_batches, 25);
  EXPECT_DOUBLE_EQ(f.args.learning_rate, 1e-5);
  EXPECT_EQ(f.args.steps_per_report, 10);
  EXPECT_EQ(f.args.steps_per_eval, 200);
  EXPECT_EQ(f.args.save_every, 100);
  EXPECT_EQ(f.test_batches, 500);
  EXPECT_EQ(f.batches.max_seq_length, 2048);
  EXPECT_EQ(f.lora.spec.rank, 8);
  EXPECT_DOUBLE_EQ(f.lora.spec.scale, 20.0);
  EXPECT_EQ(f.args.adapter_path, "adapters");
  EXPECT_EQ(f.args.optimizer.name, "adam");
}

TEST(TrainConfig, CommandLineBeatsYamlBeatsDefaults) {
  auto c = default_train_config();
  merge_train_config(c, ordered_json::parse(R"({"model": "m", "iters": 50, "batch_size": 8,
      "lora_parameters": {"rank": 16}, "lr_schedule": {"name": "cosine_decay", "arguments": [1e-4, 50]}})"), "cfg.yaml");
  merge_train_config(c, ordered_json::parse(R"({"iters": 7})"), "command line");
  auto f = parse_train_config(c);
  EXPECT_EQ(f.args.iters, 7);
  EXPECT_EQ(f.batches.batch_size, 8);
  EXPECT_EQ(f.lora.spec.rank, 16);
  EXPECT_DOUBLE_EQ(f.lora.spec.scale, 20.0);  // nested defaults survive a partial override
  ASSERT_TRUE(f.args.lr_schedule.has_value());
  EXPECT_EQ(f.args.lr_schedule->name, "cosine_decay");

  merge_train_config(c, ordered_json::parse(R"({"optimizer": "sgd", "optimizer_config": {"sgd":
      {"momentum": 0.9, "nesterov": true, "weight_decay": 0.01, "dampening": 0.0}}})"), "cfg.yaml");
  const auto sgd = parse_train_config(c).args.optimizer;
  EXPECT_EQ(sgd.name, "sgd");
  EXPECT_TRUE(sgd.nesterov);
  EXPECT_DOUBLE_EQ(sgd.momentum, 0.9);
  EXPECT_DOUBLE_EQ(sgd.weight_decay, 0.01);
}

TEST(TrainConfig, UnknownAndMistypedKeysAreErrors) {
  auto c = default_train_config();
  auto expect_error = [&](const char* overlay, const std::string& needle) {
    auto copy = c;
    try {
      merge_train_config(copy, ordered_json::parse(overlay), "cfg.yaml");
      copy["model"] = copy["model"].is_null() ? ordered_json("m") : copy["model"];
      parse_train_config(copy);
      ADD_FAILURE() << "no error for " << overlay;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"iterz": 5})", "'cfg.yaml': unknown setting 'iterz'");
  expect_error(R"({"lora_parameters": {"rnk": 4}})", "unknown setting 'rnk'");
  expect_error(R"({"iters": "many"})", "setting 'iters' has the wrong type");
  expect_error(R"({"batch_size": 0})", "'batch_size' must be positive");
  expect_error(R"({"lr_schedule": {"name": "cosine_decay", "arguments": [1, 2], "warmpu": 3}})", "unknown key 'warmpu'");
  expect_error(R"({"optimizer": "adamw", "optimizer_config": {"adamw": {"wd": 1}}})",
               "optimizer_config.adamw: 'wd' is not an argument of MLX's adamw; expected betas, eps, weight_decay, "
               "bias_correction");
  // MLX's Adam takes no weight_decay: accepting it would silently train without decay.
  expect_error(R"({"optimizer": "adam", "optimizer_config": {"adam": {"weight_decay": 0.1}}})",
               "'weight_decay' is not an argument of MLX's adam (use adamw for weight decay)");
  expect_error(R"({"optimizer": "sgd", "optimizer_config": {"sgd": {"betas": [0.9, 0.99]}}})",
               "expected weight_decay, momentum, dampening, nesterov");
  expect_error(R"({"grad_dtype": "foo"})", "grad_dtype: expected float32 or bfloat16, got 'foo'");
  expect_error(R"({"grad_dtype": "float16"})", "grad_dtype: expected float32 or bfloat16, got 'float16'");
  for (const char* sizes : {R"("3,x")", R"("0,4")", "[0, 4]", "[3.5, 1]", R"(["3", 1])", "3"})
    expect_error(fmt::format(R"({{"rank_batch_sizes": {}}})", sizes).c_str(),
                 "rank_batch_sizes: expected 'auto' or positive integers like 3,1");
  expect_error(R"({"bucket_mb": 0})", "bucket_mb must be positive");
  auto no_model = default_train_config();
  EXPECT_THROW(parse_train_config(no_model), Error);
}

}  // namespace
}  // namespace flotilla
