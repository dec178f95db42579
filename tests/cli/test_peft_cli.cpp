// PEFT through the CLI: an adapter `flotilla train` made, exported with `flotilla export-adapter`,
// generates and fuses exactly as the original folder does.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/generate_output.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::cli_path;
using test::run_command;

std::string greedy_story(const fs::path& model, const std::string& extra = "") {
  auto r = run_command(cli_path() + " generate --model " + model.string() +
                       " --prompt 'Once upon a time' --max-tokens 40 --temp 0 --threads 1" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return test::generated_text(r);
}

TEST(PeftCli, ExportedAdapterGeneratesAndFusesLikeTheOriginal) {
  const auto base = test::converted_stories();
  const auto adapter = test::scratch_dir("peft-cli");
  auto trained = run_command(test::train_command(adapter, 20) + " --fine-tune-type dora --num-layers 3" +
                             " --learning-rate 1e-3 --val-batches 0 --save-every 100 --threads 1");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto peft = adapter / "peft";
  auto exported = run_command(cli_path() + " export-adapter --adapter-path " + adapter.string() + " --format peft" +
                              " --output " + peft.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_NE(exported.output.find("PEFT adapter (21 projections) written to"), std::string::npos) << exported.output;

  const std::string original = greedy_story(base, " --adapter-path " + adapter.string());
  EXPECT_NE(original, greedy_story(base)) << "training did not change the story, so the comparison proves nothing";
  EXPECT_EQ(greedy_story(base, " --adapter-path " + peft.string()), original);
  const auto fused = adapter / "fused";
  auto fuse = run_command(cli_path() + " fuse --model " + base.string() + " --adapter-path " + peft.string() +
                          " --save-path " + fused.string());
  ASSERT_EQ(fuse.exit_code, 0) << fuse.output;
  EXPECT_EQ(greedy_story(fused), original);

  auto bad = run_command(cli_path() + " export-adapter --adapter-path " + adapter.string() + " --format gguf --output " +
                         (adapter / "x").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--format 'gguf': the supported format is peft"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace flotilla
