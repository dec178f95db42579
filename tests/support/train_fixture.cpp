#include "support/train_fixture.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "convert/llama2c.h"
#include "io/weight_store.h"
#include "support/paths.h"

using namespace flotilla::convert;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla::test {

namespace fs = std::filesystem;

namespace {

// Shared by the tests of one process and removed when it exits.
struct FixtureRoot {
  fs::path dir = fs::temp_directory_path() / ("flotilla-fixture-" + std::to_string(::getpid()));
  FixtureRoot() { fs::create_directories(dir); }
  ~FixtureRoot() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const fs::path& fixture_root() {
  static const FixtureRoot root;
  return root.dir;
}

void write_split(const fs::path& path, int records, uint64_t seed) {
  static const char* subjects[] = {"The captain", "A parrot", "Old Tom", "The crew", "Me matey"};
  static const char* verbs[] = {"sails", "sings", "digs", "counts", "hides"};
  static const char* objects[] = {"the gold", "a map", "the ship", "his hat", "the rum"};
  std::mt19937_64 rng(seed);
  std::ofstream out(path);
  for (int i = 0; i < records; ++i) {
    std::string text;
    for (int s = 0; s < 2 + static_cast<int>(rng() % 3); ++s)
      text += std::string(subjects[rng() % 5]) + " " + verbs[rng() % 5] + " " + objects[rng() % 5] + ", arr! ";
    out << nlohmann::json{{"text", text}}.dump() << "\n";
  }
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

}  // namespace

fs::path converted_stories() {
  const auto out = fixture_root() / "stories260K";
  if (!fs::exists(out / "config.json")) {
    const auto src = stories_dir() / "llama2c";
    convert_llama2c((src / "stories260K.bin").string(), (src / "tok512.bin").string(), out.string());
  }
  return out;
}

fs::path sentence_dataset(int train_records) {
  const auto dir = fixture_root() / ("data-" + std::to_string(train_records));
  if (!fs::exists(dir / "train.jsonl")) {
    fs::create_directories(dir);
    write_split(dir / "train.jsonl", train_records, 1);
    write_split(dir / "valid.jsonl", 12, 2);
    write_split(dir / "test.jsonl", 12, 3);
  }
  return dir;
}

std::string train_command(const fs::path& adapters, int iters) {
  return cli_path() + " train --model " + converted_stories().string() + " --train --data " +
         sentence_dataset().string() + " --adapter-path " + adapters.string() + " --iters " + std::to_string(iters) +
         " --batch-size 4 --num-layers -1 --learning-rate 2e-3 --val-batches -1 --steps-per-eval 10";
}

void expect_same_training(const fs::path& one, const fs::path& two, int steps, const std::string& label,
                          double tolerance) {
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
  std::cout << label << " " << steps << " steps: max |loss diff| = " << worst_loss << ", max |adapter diff| = "
            << worst_adapter << " (tolerance " << tolerance << ")\n";
  EXPECT_LE(worst_loss, tolerance);
  EXPECT_LE(worst_adapter, tolerance);
}

}  // namespace flotilla::test
