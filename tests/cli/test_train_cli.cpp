// `flotilla train` end to end: mlx-lm's console lines and files, and SIGKILL then --resume.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "io/weight_store.h"
#include "support/background.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"
#include "train/checkpoint.h"

using namespace flotilla::io;

namespace flotilla {
namespace {

namespace fs = std::filesystem;

double max_adapter_difference(const fs::path& a, const fs::path& b) {
  auto x = WeightStore::open_file(a.string()), y = WeightStore::open_file(b.string());
  EXPECT_EQ(x.names(), y.names());
  double worst = 0;
  for (const auto& name : x.names()) worst = std::max(worst, (x.get(name) - y.get(name)).abs().max().item<double>());
  return worst;
}

TEST(TrainCli, PrintsMlxLmLinesAndWritesItsFiles) {
  auto adapters = test::scratch_dir("adapters");
  auto r = test::run_command(test::train_command(adapters, 20) + " --test --save-every 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* pattern :
       {R"(Single-process mode)", R"(Trainable parameters: \d+\.\d{3}% \(\d+\.\d{3}M/\d+\.\d{3}M\))",
        R"(Starting training\.\.\., iters: 20)", R"(Iter 1: Val loss \d+\.\d{3}, Val took \d+\.\d{3}s)",
        R"(Iter 10: Train loss \d+\.\d{3}, Learning Rate 2\.000e-03, It/sec \d+\.\d{3}, Tokens/sec \d+\.\d{3}, Trained Tokens \d+, Peak mem \d+\.\d{3} GB)",
        R"(Iter 10: Saved adapter weights to .*0000010_adapters\.safetensors\.)", R"(Test loss \d+\.\d{3}, Test ppl \d+\.\d{3}\.)"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(pattern))) << pattern << "\n" << r.output;
  for (const char* f : {"adapters.safetensors", "adapter_config.json", "0000010_adapters.safetensors",
                        "0000020_adapters.safetensors", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(adapters / f)) << f;
  auto generated = test::run_command(test::cli_path() + " generate --model " + test::converted_stories().string() +
                                     " --adapter-path " + adapters.string() + " --prompt 'The captain' --max-tokens 20");
  EXPECT_EQ(generated.exit_code, 0) << generated.output;
}

TEST(TrainCli, BadSettingsAreClearErrors) {
  auto r = test::run_command(test::train_command(test::scratch_dir("bad"), 5) + " --fine-tune-type qlora");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("unknown fine_tune_type 'qlora'"), std::string::npos) << r.output;
  auto empty = test::scratch_dir("empty-data");
  auto missing = test::run_command(test::cli_path() + " train --model " + test::converted_stories().string() +
                                   " --train --data " + empty.string());
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("Training set not found or empty"), std::string::npos) << missing.output;
}

// As mlx-lm: no valid.jsonl is a warning, --test alone takes the LoRA layout from the adapter's own
// adapter_config.json, and neither --train nor --test is an error rather than an empty run.
TEST(TrainCli, OptionalValidationTestOnlyAndNothingToDo) {
  const auto dir = test::scratch_dir("test-only");
  const fs::path data = dir / "data", adapters = dir / "adapters";
  fs::create_directories(data);
  for (const char* split : {"train.jsonl", "test.jsonl"})
    fs::copy_file(test::sentence_dataset() / split, data / split);
  const auto config = dir / "rank4.yaml";
  std::ofstream(config) << "lora_parameters:\n  rank: 4\n  scale: 10.0\n";
  std::string train = test::train_command(adapters, 5) + " -c " + config.string();
  train.replace(train.find(test::sentence_dataset().string()), test::sentence_dataset().string().size(), data.string());
  auto trained = test::run_command(train);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("Warning: Validation set not found or empty."), std::string::npos) << trained.output;
  EXPECT_EQ(trained.output.find("Val loss"), std::string::npos) << trained.output;

  // The default rank is 8; without the adapter's config the rank-4 weights would not fit.
  const std::string base = test::cli_path() + " train --model " + test::converted_stories().string() + " --data " +
                           data.string() + " --adapter-path " + adapters.string() + " --num-layers -1";
  auto tested = test::run_command(base + " --test");
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_TRUE(std::regex_search(tested.output, std::regex(R"(Test loss \d+\.\d{3}, Test ppl)"))) << tested.output;

  auto idle = test::run_command(base);
  EXPECT_EQ(idle.exit_code, 1) << idle.output;
  EXPECT_NE(idle.output.find("nothing to do: pass --train to fine-tune, --test to evaluate, or both"),
            std::string::npos) << idle.output;
  EXPECT_EQ(idle.output.find("Total time"), std::string::npos) << idle.output;
}

// The iterations of metrics.jsonl's train and validation records, in file order.
std::vector<int64_t> metric_iterations(const fs::path& adapters, const char* key) {
  std::vector<int64_t> iterations;
  std::ifstream metrics(adapters / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains(key)) iterations.push_back(record["iteration"].get<int64_t>());
  }
  return iterations;
}

// Killed mid-run with dropout, warmup + cosine decay and accumulation (the state --resume must
// restore beyond the weights), the run resumes at the iteration after its last checkpoint and ends
// where an uninterrupted run ends; metrics.jsonl holds each report once. A rerun from scratch
// would give the same adapters, so the resumed iteration and the metrics are what prove --resume.
TEST(TrainCli, SigkillThenResumeMatchesUninterruptedRun) {
  auto straight = test::scratch_dir("straight"), killed = test::scratch_dir("killed");
  const auto config = test::scratch_dir("schedule") / "resume.yaml";
  std::ofstream(config) << "lora_parameters:\n  dropout: 0.1\nlr_schedule:\n  name: cosine_decay\n  warmup: 5\n"
                           "  warmup_init: 1.0e-5\n  arguments: [2.0e-3, 40, 1.0e-5]\n";
  const std::string flags = " --save-every 10 --steps-per-report 5 --grad-accumulation-steps 2 -c " + config.string();
  auto r = test::run_command(test::train_command(straight, 40) + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto cmd = test::train_command(killed, 40) + flags;
  const test::BackgroundCommand run(cmd, test::scratch_dir("run"));
  ASSERT_TRUE(run.wait_for(killed / "0000020_adapters.safetensors", std::chrono::seconds(120))) << run.output();
  ::kill(run.pid(), SIGKILL);
  ASSERT_EQ(run.wait(std::chrono::seconds(10)), 128 + SIGKILL) << "the run finished before it was killed";
  // The training state is a checkpoint's last file: killed just after 0000020_adapters, it still says 10.
  const int64_t last_checkpoint = train::load_training_state((killed / "training_state.safetensors").string()).iteration;

  auto resumed = test::run_command(cmd + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  std::smatch first;
  ASSERT_TRUE(std::regex_search(resumed.output, first, std::regex(R"(Iter (\d+): Train loss)"))) << resumed.output;
  EXPECT_EQ(std::stoi(first[1]), last_checkpoint + 5) << "killed after checkpoint " << last_checkpoint << "\n"
                                                      << resumed.output;
  const std::vector<int64_t> reports = {5, 10, 15, 20, 25, 30, 35, 40};
  EXPECT_EQ(metric_iterations(killed, "train_loss"), reports);
  EXPECT_EQ(metric_iterations(killed, "val_loss"), metric_iterations(straight, "val_loss"));
  const double diff = max_adapter_difference(straight / "adapters.safetensors", killed / "adapters.safetensors");
  std::cout << "[resume] SIGKILL after checkpoint " << last_checkpoint
            << " + --resume vs straight run: max |adapter diff| = " << diff << " (tolerance 1e-6)\n";
  EXPECT_LE(diff, 1e-6);
}

// --grad-checkpoint changes memory, not results: the same adapters as a plain run, with dropout.
TEST(TrainCli, GradCheckpointGivesTheSameAdapters) {
  auto plain = test::scratch_dir("plain"), recomputed = test::scratch_dir("recomputed");
  const auto config = test::scratch_dir("dropout") / "dropout.yaml";
  std::ofstream(config) << "lora_parameters:\n  dropout: 0.1\n";
  const std::string dropout = " -c " + config.string();
  ASSERT_EQ(test::run_command(test::train_command(plain, 12) + dropout + " --quiet").exit_code, 0);
  auto r = test::run_command(test::train_command(recomputed, 12) + dropout + " --quiet --grad-checkpoint");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double diff = max_adapter_difference(plain / "adapters.safetensors", recomputed / "adapters.safetensors");
  std::cout << "[checkpointing] --grad-checkpoint vs plain run, 12 iterations: max |diff| = " << diff << "\n";
  EXPECT_LE(diff, 1e-6);
}

}  // namespace
}  // namespace flotilla
