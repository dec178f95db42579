// `flotilla convert --hf-path`: mlx_lm.convert's output for a dense Hugging Face folder, checked
// against MLX's quantizer (itself checked against a scalar transcription in test_quantized.cpp) and
// against the shared MLX 4-bit fixture, which an independent re-implementation made.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "convert/hf_to_mlx.h"
#include "core/error.h"
#include "core/text.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "model/config.h"
#include "model/quantized.h"
#include "support/generate_output.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

using namespace flotilla::convert;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla {
namespace {

namespace fs = std::filesystem;

QuantizedWeight quantized(const WeightStore& store, const std::string& prefix) {
  return {store.get(prefix + ".weight"), store.get(prefix + ".scales"), store.get(prefix + ".biases"), {4, 64}};
}

TEST(HfConvert, QuantizedStoriesFollowMlxAndMatchTheFixture) {
  const auto source = test::converted_stories();  // Hugging Face layout, float32, with tokenizer files
  const auto out = test::scratch_dir("hf-convert") / "mlx";
  auto r = test::run_command(test::cli_path() + " convert --hf-path " + source.string() + " --mlx-path " + out.string() +
                             " -q --q-bits 4 --q-group-size 64 --dtype bfloat16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto config = model::read_config_json((out / "config.json").string());
  const nlohmann::json spec = {{"group_size", 64}, {"bits", 4}};
  EXPECT_EQ(config["quantization"], spec);
  EXPECT_EQ(config["quantization_config"], spec);
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));

  const auto fixture_dir = test::stories_dir() / "mlx-4bit";
  const auto ours = WeightStore::open_dir(out.string()), fixture = WeightStore::open_dir(fixture_dir.string());
  const auto dense = WeightStore::open_dir(source.string());
  EXPECT_EQ(ours.names(), fixture.names());
  // MLX reads packed weights as uint32.
  const SafetensorsFile written((out / "model.safetensors").string());
  for (const auto& info : written.tensors()) {
    if (!ends_with(info.name, ".weight")) continue;
    if (ours.contains(info.name.substr(0, info.name.size() - 7) + ".scales")) {
      EXPECT_EQ(dtype_name(info.dtype), "U32") << info.name;
    }
  }

  int quantized_layers = 0;
  double worst_steps = 0, same_codes = 0, codes = 0;
  for (const auto& name : fixture.names()) {
    const auto mine = ours.get(name), theirs = fixture.get(name);
    ASSERT_EQ(mine.sizes(), theirs.sizes()) << name;
    ASSERT_EQ(mine.scalar_type(), theirs.scalar_type()) << name;
    if (!ends_with(name, ".scales")) continue;
    const auto prefix = name.substr(0, name.size() - 7);
    ++quantized_layers;
    // Exactly MLX's quantizer applied to the weight cast to bfloat16, as mlx_lm.convert casts first.
    const auto expected = mlx_quantize(dense.get(prefix + ".weight").to(at::kBFloat16), {4, 64}, at::kBFloat16);
    const auto q = quantized(ours, prefix);
    EXPECT_TRUE(at::equal(q.packed, expected.packed)) << prefix;
    EXPECT_TRUE(at::equal(q.scales, expected.scales)) << prefix;
    EXPECT_TRUE(at::equal(q.biases, expected.biases)) << prefix;
    // The fixture takes steps from the float32 weights and rounds codes against their bfloat16
    // copies: values within a step of ours, plus the few percent by which the steps differ.
    const auto f = quantized(fixture, prefix);
    const auto step = f.scales.to(at::kFloat).abs().repeat_interleave(64, 1);
    const auto gap = (mlx_dequantize(q, at::kFloat) - mlx_dequantize(f, at::kFloat)).abs() / step;
    worst_steps = std::max(worst_steps, gap.max().item<double>());
    same_codes += at::eq(q.packed, f.packed).sum().item<double>();
    codes += static_cast<double>(q.packed.numel());
  }
  std::cout << "[convert] " << quantized_layers << " quantized layers; vs the fixture: " << 100 * same_codes / codes
            << "% of packed words identical, largest difference " << worst_steps << " steps\n";
  EXPECT_EQ(quantized_layers, 31);  // down_proj's 172 inputs do not split into groups of 64
  EXPECT_LE(worst_steps, 1.1);
  EXPECT_GE(same_codes / codes, 0.9);

  auto story = test::run_command(test::cli_path() + " generate --model " + out.string() +
                                 " --prompt 'Once upon a time' --max-tokens 20 --temp 0");
  ASSERT_EQ(story.exit_code, 0) << story.output;
  EXPECT_EQ(test::stats_tokens(story, "Generation"), 20);
}

TEST(HfConvert, LargeModelsAreShardedWithAnIndex) {
  const auto dir = test::scratch_dir("hf-shards");
  HfConvertOptions whole;
  whole.hf_path = test::converted_stories().string();
  whole.mlx_path = (dir / "whole").string();
  convert_hf_to_mlx(whole);
  HfConvertOptions sharded = whole;
  sharded.mlx_path = (dir / "sharded").string();
  sharded.max_shard_bytes = 300 * 1024;  // the model is ~1 MB in float32
  convert_hf_to_mlx(sharded);
  EXPECT_FALSE(fs::exists(dir / "sharded" / "model.safetensors"));
  const auto index = nlohmann::json::parse(std::ifstream(dir / "sharded" / "model.safetensors.index.json"));
  std::set<std::string> shards;
  for (const auto& [tensor, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  EXPECT_GE(shards.size(), 3u);
  EXPECT_TRUE(shards.count("model-00001-of-0000" + std::to_string(shards.size()) + ".safetensors"));
  const auto a = WeightStore::open_dir((dir / "whole").string()), b = WeightStore::open_dir((dir / "sharded").string());
  ASSERT_EQ(a.names(), b.names());
  int64_t total = 0;
  for (const auto& name : a.names()) {
    EXPECT_TRUE(at::equal(a.get(name), b.get(name))) << name;
    total += static_cast<int64_t>(b.get(name).nbytes());
  }
  EXPECT_EQ(index["metadata"]["total_size"].get<int64_t>(), total);
}

// The error converting `from` into `to` (with `bits`), or "no error".
std::string convert_error(const std::string& from, const std::string& to, int bits = 4) {
  HfConvertOptions options;
  options.hf_path = from;
  options.mlx_path = to;
  options.quantize = true;
  options.bits = bits;
  try {
    convert_hf_to_mlx(options);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HfConvert, BadInputIsAClearError) {
  const auto dir = test::scratch_dir("hf-bad");
  const std::string source = test::converted_stories().string();
  fs::create_directories(dir / "exists");
  EXPECT_NE(convert_error(source, (dir / "exists").string()).find("already exists"), std::string::npos);
  EXPECT_NE(convert_error(source, (dir / "out3").string(), 3).find("--q-bits 3"), std::string::npos);
  const auto mlx = (test::stories_dir() / "mlx-4bit").string();
  EXPECT_NE(convert_error(mlx, (dir / "out-q").string()).find("already quantized"), std::string::npos);
  // A half-written folder: the weights file cut short.
  fs::create_directories(dir / "half");
  fs::copy_file(fs::path(source) / "config.json", dir / "half" / "config.json");
  std::ifstream in(fs::path(source) / "model.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "half" / "model.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto half = convert_error((dir / "half").string(), (dir / "out-half").string());
  EXPECT_NE(half.find((dir / "half" / "model.safetensors").string()), std::string::npos) << half;
  const auto missing = convert_error((dir / "nothing").string(), (dir / "out-none").string());
  EXPECT_NE(missing.find("config.json"), std::string::npos) << missing;
  EXPECT_FALSE(fs::exists(dir / "out-half"));
}

}  // namespace
}  // namespace flotilla
