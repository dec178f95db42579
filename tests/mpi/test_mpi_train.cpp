// Data parallelism with real `mpirun -np 2`: the same losses and adapters as one process.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/weight_store.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

std::string mpirun(int ranks) {
  return "mpirun -np " + std::to_string(ranks) + " --allow-run-as-root --oversubscribe --bind-to none ";
}

std::vector<double> train_losses(const fs::path& metrics) {
  std::vector<double> losses;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("train_loss")) losses.push_back(j["train_loss"].get<double>());
  }
  return losses;
}

void expect_same_training(const fs::path& one, const fs::path& two, int steps) {
  auto a = train_losses(one / "metrics.jsonl"), b = train_losses(two / "metrics.jsonl");
  ASSERT_EQ(a.size(), static_cast<size_t>(steps));
  ASSERT_EQ(b.size(), a.size());
  double worst_loss = 0;
  for (size_t i = 0; i < a.size(); ++i) worst_loss = std::max(worst_loss, std::abs(a[i] - b[i]));
  auto x = WeightStore::open_file((one / "adapters.safetensors").string());
  auto y = WeightStore::open_file((two / "adapters.safetensors").string());
  double worst_adapter = 0;
  for (const auto& name : x.names())
    worst_adapter = std::max(worst_adapter, (x.get(name) - y.get(name)).abs().max().item<double>());
  std::cout << "[mpi] " << steps << " steps: max |loss diff| = " << worst_loss << ", max |adapter diff| = "
            << worst_adapter << " (tolerance 1e-5)\n";
  EXPECT_LE(worst_loss, 1e-5);
  EXPECT_LE(worst_adapter, 1e-5);
}

// At a learning rate of 2e-3 Adam is chaotic on this task: even one process with 1 vs 2 threads
// drifts apart from 1e-13 to 1e-2 within 50 steps (float64 too). At 1e-4 the loss still falls
// from 5.45 to 0.38, and the runs stay together, so differences measure the distribution alone.
TEST(Mpi, TwoRanksEqualOneProcess) {
  auto one = test::scratch_dir("one"), two = test::scratch_dir("two"), uneven = test::scratch_dir("uneven");
  const std::string flags = " --steps-per-report 1 --val-batches 0 --threads 1 --learning-rate 1e-4";
  auto a = test::run_command(test::train_command(one, 50) + flags);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = test::run_command(mpirun(2) + test::train_command(two, 50) + flags);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("Distributed mode: rank 0 of 2"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("Distributed mode: rank 1 of 2"), std::string::npos) << b.output;
  expect_same_training(one, two, 50);
  // Each rank's own throughput is reported, one entry per rank.
  std::ifstream metrics(two / "metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  auto per_rank = nlohmann::json::parse(last)["rank_tokens_per_sec"].get<std::vector<double>>();
  ASSERT_EQ(per_rank.size(), 2u) << last;
  EXPECT_GT(per_rank[0], 0);
  EXPECT_GT(per_rank[1], 0);
  auto c = test::run_command(mpirun(2) + test::train_command(uneven, 50) + flags + " --rank-batch-sizes 3,1");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  expect_same_training(one, uneven, 50);
}

}  // namespace
}  // namespace flotilla
