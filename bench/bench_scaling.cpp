// Data-parallel scaling of `flotilla train`: step time of 1 rank × 1 thread against 2 ranks × 1
// thread at the same global batch (efficiency T1 / (2·T2)), then 2 ranks in two network namespaces
// (scripts/two_hosts.sh) over links shaped to 10 Gbit/s, 1 Gbit/s and 100 Mbit/s, with the
// gradient all-reduce overlapped with backward and after it. The model is the synthetic 125M
// Llama with rank-64 adapters on every linear: ~42 MB of fp32 gradients per step.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <regex>

#include "run_command.h"
#include "synthetic_model.h"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {

const std::string kCli = FLOTILLA_CLI;
const int kIters = 10, kReportEvery = 2;  // the first report holds the warm-up; the other four are timed
const int kPairs = 5;

// The synthetic model with the converted stories260K tokenizer (its ids fit any larger vocabulary).
fs::path prepare_model(const fs::path& root) {
  const fs::path shared = std::string(FLOTILLA_SHARED_DIR) + "/models/stories260K/llama2c";
  const auto converted = root / "stories260K", model = root / "model";
  auto r = run_command(fmt::format("{} convert --checkpoint {} --tokenizer {} --out {}", kCli, (shared / "stories260K.bin").string(),
                           (shared / "tok512.bin").string(), converted.string()));
  if (r.exit_code != 0) throw std::runtime_error("flotilla convert failed:\n" + r.output);
  write_synthetic_model(model);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(converted / name, model / name, fs::copy_options::overwrite_existing);
  return model;
}

// 64 training texts of ~100 words and a rank-64 LoRA configuration.
fs::path prepare_data(const fs::path& root) {
  const std::vector<std::string> words = {"the", "little", "pirate", "sailed", "across", "a", "big", "blue", "sea",
                                          "and", "found", "shiny", "treasure", "on", "an", "island", "with", "friend"};
  const auto dir = root / "data";
  fs::create_directories(dir);
  std::mt19937 rng(7);
  for (const char* split : {"train", "valid"}) {
    std::ofstream out(dir / (std::string(split) + ".jsonl"));
    for (int i = 0; i < 64; ++i) {
      std::string text;
      for (int w = 0; w < 100; ++w) text += (w ? " " : "") + words[rng() % words.size()];
      out << nlohmann::json{{"text", text}}.dump() << "\n";
    }
  }
  std::ofstream(root / "lora.yaml") << "lora_parameters:\n  rank: 64\n  scale: 20.0\n";
  return dir;
}

struct Timing {
  double seconds_per_step = 0;
  // Share of the step spent in forward/backward: global tokens/s over the sum of the ranks' own
  // compute tokens/s (waiting and communication excluded there). 1 - share is the step's overhead.
  double compute_share = 0;
  std::string reducer;  // the "Gradient all-reduce: ..." line, when distributed
};

// Means over the report windows after the first, from the run's metrics.jsonl.
Timing timed(const std::string& launcher, const std::string& train, const fs::path& adapters) {
  fs::remove_all(adapters);
  auto r = run_command(launcher + " " + train + " --adapter-path " + adapters.string());
  if (r.exit_code != 0) {
    fmt::print("  run failed ({}): {}\n", r.exit_code, r.output.substr(r.output.size() > 600 ? r.output.size() - 600 : 0));
    return {};
  }
  std::ifstream metrics(adapters / "metrics.jsonl");
  std::string line;
  double seconds = 0, share = 0;
  int windows = 0;
  while (std::getline(metrics, line)) {
    auto record = nlohmann::json::parse(line);
    if (!record.contains("iterations_per_sec") || record["iteration"].get<int>() <= kReportEvery) continue;
    seconds += 1.0 / record["iterations_per_sec"].get<double>();
    double compute = 0;
    for (const auto& rate : record["rank_tokens_per_sec"]) compute += rate.get<double>();
    share += record["tokens_per_sec"].get<double>() / compute;
    ++windows;
  }
  std::smatch m;
  std::string reducer;
  if (std::regex_search(r.output, m, std::regex("Gradient all-reduce: [^\n]*"))) reducer = m.str();
  return {windows > 0 ? seconds / windows : 0, windows > 0 ? share / windows : 0, reducer};
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress visible when redirected: this runs ~15 minutes
  const auto root = fs::temp_directory_path() / "flotilla-bench-scaling";
  fs::remove_all(root);
  const auto model = prepare_model(root);
  const auto data = prepare_data(root);
  const std::string train =
      fmt::format("{} train --model {} --train --data {} -c {} --num-layers -1 --batch-size 4 --iters {} "
                  "--steps-per-report {} --val-batches 0 --save-every 1000 --threads 1",
                  kCli, model.string(), data.string(), (root / "lora.yaml").string(), kIters, kReportEvery);
  const std::string local_mpirun = "mpirun -np 2 --allow-run-as-root --oversubscribe --bind-to none";
  const std::string two_hosts = std::string(FLOTILLA_SOURCE_DIR) + "/scripts/two_hosts.sh";

  fmt::print("synthetic 125M Llama, LoRA rank 64 on every linear, global batch 4 × ~128 tokens, 1 thread per rank\n");
  // This machine's speed drifts by 10-20% over minutes: 1-rank and 2-rank runs alternate, and the
  // efficiency of each adjacent pair is reported with the median of the pairs.
  // How much of each step is forward/backward: under 2 ranks the rest is communication, the
  // repeated optimizer step, and the rank with the shorter shard waiting (no loss against one
  // rank, which pads those examples to the same longest length).
  std::vector<double> efficiencies, overheads;
  for (int pair = 0; pair < kPairs; ++pair) {
    const auto one = timed("", train, root / "one");
    const auto two = timed(local_mpirun, train, root / "two");
    if (pair == 0) fmt::print("{}\n", two.reducer);
    if (one.seconds_per_step <= 0 || two.seconds_per_step <= 0) continue;
    efficiencies.push_back(one.seconds_per_step / (2 * two.seconds_per_step));
    overheads.push_back(two.compute_share / one.compute_share);
    fmt::print("pair {}: 1 rank × 1 thread {:.3f} s/step, 2 ranks × 1 thread {:.3f} s/step -> T1/(2·T2) = {:.1f}% "
               "(in compute: {:.1f}% -> {:.1f}% of the step)\n",
               pair + 1, one.seconds_per_step, two.seconds_per_step, 100 * efficiencies.back(),
               100 * one.compute_share, 100 * two.compute_share);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  if (!efficiencies.empty()) {
    fmt::print("scaling efficiency, median of {}: {:.1f}% (target 95%; the tutorial's two Macs: 82%)\n",
               efficiencies.size(), 100 * median(efficiencies));
    fmt::print("share of the step in compute, 2 ranks / 1 rank, median: {:.1f}% (includes the shorter shard's wait)\n\n",
               100 * median(overheads));
  }

  fmt::print("{:<22} {:>16} {:>16} {:>10}\n", "link between 2 hosts", "overlap s/step", "after s/step", "gain");
  for (const std::string rate : {"", "10gbit", "1gbit", "100mbit"}) {
    const std::string launcher = two_hosts + (rate.empty() ? "" : " --rate " + rate) + " --";
    auto probe = run_command(two_hosts + (rate.empty() ? "" : " --rate " + rate) + " -- true");
    if (probe.exit_code == 77) {
      fmt::print("{:<22} skipped: {}", rate.empty() ? "veth, unshaped" : rate, probe.output);
      continue;
    }
    const auto overlapped = timed(launcher, train, root / "overlap");
    const auto after = timed(launcher, train + " --no-overlap", root / "after");
    fmt::print("{:<22} {:>16.3f} {:>16.3f} {:>9.2f}x\n", rate.empty() ? "veth, unshaped" : rate,
               overlapped.seconds_per_step, after.seconds_per_step,
               overlapped.seconds_per_step > 0 ? after.seconds_per_step / overlapped.seconds_per_step : 0.0);
  }
  fs::remove_all(root);
  return 0;
}
