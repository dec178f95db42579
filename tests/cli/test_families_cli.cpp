// The families added to Llama's through the commands people run, on small random models: convert
// to MLX 4-bit (Qwen3-MoE's experts stacked), train LoRA and DoRA on the 4-bit folder and full fine-tuning on the dense one, fuse
// (dequantized: re-quantizing would move the weights), and the fused folder generates what the base
// with the adapter generates.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>

#include "support/fixture_files.h"
#include "support/generate_output.h"
#include "support/paths.h"
#include "support/random_model.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::cli_path;
using test::run_command;

std::string greedy(const fs::path& model, const std::string& extra = "") {
  auto r = run_command(cli_path() + " generate --model " + model.string() +
                       " --prompt 'Tell me a story' --max-tokens 12 --temp 0 --threads 1" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Generation: 12 tokens"), std::string::npos) << r.output;
  return test::generated_text(r);
}

class FamiliesCli : public ::testing::TestWithParam<std::string> {};

TEST_P(FamiliesCli, ConvertTrainFuseGenerate) {
  const auto dir = test::scratch_dir("family-cli-" + GetParam());
  const auto dense = test::random_family_model(dir / "dense", GetParam());
  auto r = run_command(cli_path() + " convert --hf-path " + dense.string() + " --mlx-path " + (dir / "q4").string() + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (GetParam() == "qwen3_moe") {  // as mlx-lm: routers at 8 bits in groups of 64, said per layer
    const auto quantization = test::read_json(dir / "q4" / "config.json")["quantization"];
    EXPECT_EQ(quantization["bits"], 4);
    EXPECT_EQ(quantization["model.layers.2.mlp.gate"], (nlohmann::json{{"group_size", 64}, {"bits", 8}}));
  }
  const std::string untouched = greedy(dir / "q4"), untouched_dense = greedy(dense);
  for (const std::string type : {"lora", "dora", "full"}) {
    const auto base = type == "full" ? dense : dir / "q4";
    const auto adapter = dir / ("adapter-" + type);
    r = run_command(cli_path() + " train --model " + base.string() + " --train --data " + test::sentence_dataset().string() +
                    " --adapter-path " + adapter.string() + " --fine-tune-type " + type +
                    " --iters 4 --batch-size 2 --num-layers 1 --learning-rate 1e-2 --val-batches 0 --threads 1");
    ASSERT_EQ(r.exit_code, 0) << type << "\n" << r.output;
    if (GetParam() == "qwen3_moe" && type == "lora") {  // stacked experts' factors have no PEFT form: refused, named
      const auto peft = run_command(cli_path() + " export-adapter --adapter-path " + adapter.string() + " --format peft --output " +
                                    (adapter / "peft").string());
      EXPECT_NE(peft.exit_code, 0) << peft.output;
      EXPECT_NE(peft.output.find("mlp.switch_mlp.down_proj.lora_a' adapts stacked experts, which PEFT has no form for"),
                std::string::npos) << peft.output;
    }
    const auto adapted = greedy(base, " --adapter-path " + adapter.string());
    EXPECT_NE(adapted, type == "full" ? untouched_dense : untouched) << type << ": training changed nothing, so fusing proves nothing";
    r = run_command(cli_path() + " fuse --model " + base.string() + " --adapter-path " + adapter.string() + " --save-path " +
                    (adapter / "fused").string() + (type == "full" ? "" : " --dequantize"));
    ASSERT_EQ(r.exit_code, 0) << type << "\n" << r.output;
    EXPECT_EQ(greedy(adapter / "fused"), adapted) << GetParam() << " " << type;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamiliesCli, ::testing::Values("qwen3", "mistral-window", "gemma2", "gemma3", "phi3", "qwen3_moe"),
                         [](const auto& info) {
                           std::string name;
                           for (const char ch : info.param) if (std::isalnum(static_cast<unsigned char>(ch))) name += ch;
                           return name;
                         });

}  // namespace
}  // namespace flotilla
