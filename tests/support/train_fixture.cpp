#include "support/train_fixture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "io/llama2c.h"
#include "support/paths.h"

namespace flotilla::test {

namespace fs = std::filesystem;

namespace {

fs::path fixture_root() {
  static const fs::path root = [] {
    auto dir = fs::temp_directory_path() / ("flotilla-fixture-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir;
  }();
  return root;
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

}  // namespace flotilla::test
