// `flotilla fuse` end to end on adapters that `flotilla train` made: the fused folder generates what
// base + adapter generates (LoRA, DoRA, full), and a quantized base comes out re-quantized to its
// own layout, or dense with --dequantize.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/text.h"
#include "flotilla/tokenizer.h"
#include "io/weight_store.h"
#include "model/config.h"
#include "model/quantized.h"
#include "support/generate_output.h"
#include "support/model_logits.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::cli_path;
using test::run_command;

// 20 iterations at a rate high enough to move the model's greedy story away from the base's.
fs::path trained_adapter(const fs::path& model, const std::string& type, const std::string& name) {
  const auto dir = test::scratch_dir(name);
  std::string command = test::train_command(dir, 20) + " --fine-tune-type " + type +
                        " --learning-rate 1e-3 --val-batches 0 --save-every 100 --threads 1";
  const auto base = test::converted_stories().string();
  command.replace(command.find(base), base.size(), model.string());
  auto r = run_command(command);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

std::string greedy_story(const fs::path& model, const std::string& extra = "", int tokens = 40) {
  auto r = run_command(cli_path() + " generate --model " + model.string() + " --prompt 'Once upon a time' --max-tokens " +
                       std::to_string(tokens) + " --temp 0 --threads 1" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return test::generated_text(r);
}

fs::path fuse(const fs::path& model, const fs::path& adapter, const std::string& extra = "") {
  const auto out = adapter / (extra.empty() ? "fused" : "fused-dense");
  auto r = run_command(cli_path() + " fuse --model " + model.string() + " --adapter-path " + adapter.string() +
                       " --save-path " + out.string() + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

TEST(FuseCli, FusedModelGeneratesWhatBasePlusAdapterGenerates) {
  const auto base = test::converted_stories();
  const std::string untouched = greedy_story(base);
  for (const std::string type : {"lora", "dora", "full"}) {
    const auto adapter = trained_adapter(base, type, "fuse-" + type);
    const std::string adapted = greedy_story(base, " --adapter-path " + adapter.string());
    EXPECT_NE(adapted, untouched) << type << ": training did not change the story, so fusing proves nothing";
    EXPECT_EQ(greedy_story(fuse(base, adapter)), adapted) << type;
    std::cout << "[fuse " << type << "] " << adapted << "\n";
  }
}

// The MLX 4-bit stories model with the converted folder's tokenizer (the same 512-token vocabulary).
fs::path quantized_base() {
  const auto dir = test::scratch_dir("quantized-base");
  for (const auto& entry : fs::directory_iterator(test::stories_dir() / "mlx-4bit"))
    fs::copy_file(entry.path(), dir / entry.path().filename());
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(test::converted_stories() / name, dir / name);
  return dir;
}

// Re-quantizing rounds each fused weight to its group's 16 levels: within a step of the dense fusion
// (MLX's rule moves the far end by up to a step; plus the bfloat16 rounding of the dense copy and the step).
TEST(FuseCli, QuantizedBaseIsRequantizedOrDequantized) {
  const auto base = quantized_base();
  const auto adapter = trained_adapter(base, "lora", "fuse-qlora");
  const int tokens = 8;
  const std::string adapted = greedy_story(base, " --adapter-path " + adapter.string(), tokens);
  EXPECT_NE(adapted, greedy_story(base, "", tokens)) << "training did not change the story's start";

  const auto dense = fuse(base, adapter, " --dequantize");
  const auto dense_config = model::read_config_json((dense / "config.json").string());
  EXPECT_FALSE(dense_config.contains("quantization")) << dense_config.dump();
  EXPECT_NE(greedy_story(dense, "", tokens), "");
  // The same model up to the bfloat16 rounding of the fused weights: float32 logits within a bound,
  // greedy tokens equal until a step where the top two were nearer than that rounding moves them.
  const auto prompt = Tokenizer::from_dir(base.string()).encode("Once upon a time");
  const auto fused_run = test::flotilla_run(dense, prompt, 16), adapted_run = test::flotilla_run(base, prompt, 16, adapter);
  const double moved = test::relative_logit_diff(fused_run.logits, adapted_run.logits);
  const double range = (adapted_run.logits.max() - adapted_run.logits.min()).item<double>();
  size_t agree = 0;
  while (agree < adapted_run.greedy.size() && fused_run.greedy[agree] == adapted_run.greedy[agree]) ++agree;
  std::cout << "[fuse qlora] dequantized fusion vs base + adapter: float32 logits differ by " << moved
            << " of their range; greedy agrees for " << agree << " of 16 tokens\n";
  EXPECT_LT(moved, 0.02);
  if (agree < adapted_run.greedy.size()) {
    EXPECT_LE(adapted_run.greedy_gaps[agree] / range, 2 * moved) << "parted at step " << agree;
  }

  const auto requantized = fuse(base, adapter);
  const auto quantization = model::read_config_json((base / "config.json").string())["quantization"];
  EXPECT_EQ(model::read_config_json((requantized / "config.json").string())["quantization"], quantization);
  EXPECT_NE(greedy_story(requantized), "");
  auto q = io::WeightStore::open_file((requantized / "model.safetensors").string());
  auto d = io::WeightStore::open_file((dense / "model.safetensors").string());
  auto b = io::WeightStore::open_file((base / "model.safetensors").string());
  int checked = 0, changed = 0;
  double worst_steps = 0;
  for (const auto& name : q.names()) {
    if (!ends_with(name, ".scales")) continue;
    const auto prefix = name.substr(0, name.size() - 7);
    model::QuantizedWeight w{q.get(prefix + ".weight"), q.get(prefix + ".scales"), q.get(prefix + ".biases"),
                             {quantization["bits"], quantization["group_size"]}};
    const auto restored = model::mlx_dequantize(w, at::kFloat);
    const auto reference = d.get(prefix + ".weight").to(at::kFloat);
    ASSERT_EQ(restored.sizes(), reference.sizes()) << prefix;
    // MLX's scales may be negative (the sign lets the group's larger end sit on a level).
    const auto step = w.scales.to(at::kFloat).abs().repeat_interleave(w.spec.group_size, 1);
    const auto allowed = step * (1 + 1.0 / 64) + reference.abs() / 128 + 1e-6;
    worst_steps = std::max(worst_steps, ((restored - reference).abs() / step).max().item<double>());
    EXPECT_TRUE(((restored - reference).abs() <= allowed).all().item<bool>()) << prefix;
    changed += !at::equal(w.packed, b.get(prefix + ".weight"));
    ++checked;
  }
  std::cout << "[fuse qlora] " << checked << " quantized weights, " << changed
            << " re-quantized with new codes; worst |requantized - dense fusion| = " << worst_steps << " steps\n";
  EXPECT_GT(checked, 0);
  EXPECT_GT(changed, 0);
}

}  // namespace
}  // namespace flotilla
