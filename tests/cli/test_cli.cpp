// The flotilla binary end to end: convert then generate, and clear errors with exit code 1.
#include <gtest/gtest.h>

#include <regex>

#include "flotilla/tokenizer.h"
#include "support/generate_output.h"
#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {

using test::cli_path;
using test::generated_text;
using test::run_command;

std::string convert_stories(const std::string& name) {
  auto out = test::scratch_dir(name) / "stories260K";
  auto llama2c = test::stories_dir() / "llama2c";
  auto r = run_command(cli_path() + " convert --checkpoint " + (llama2c / "stories260K.bin").string() +
                       " --tokenizer " + (llama2c / "tok512.bin").string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out.string();
}

TEST(Cli, ConvertThenGenerateTellsAStory) {
  auto model = convert_stories("story");
  auto r = run_command(cli_path() + " generate --model " + model +
                       " --prompt 'Once upon a time' --max-tokens 60 --temp 0.8 --seed 3 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("==========\n([^]*)\n==========\n"))) << r.output;
  const std::string story = m[1];
  EXPECT_GT(story.size(), 100u) << story;
  // The story model writes English: mostly letters and spaces, with common words.
  EXPECT_TRUE(std::regex_search(story, std::regex(R"(\b(the|a|and|was|to)\b)"))) << story;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Prompt: \d+ tokens, [0-9.]+ tokens-per-sec)"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Generation: \d+ tokens, [0-9.]+ tokens-per-sec)"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Peak memory: [0-9.]+ GB)"))) << r.output;
}

TEST(Cli, SameSeedSameStoryAndIdsPromptWorks) {
  auto model = convert_stories("seed");
  auto cmd = cli_path() + " generate --model " + model + " --prompt-ids 1,403,407 --max-tokens 30 --temp 1 --seed 9";
  auto a = run_command(cmd), b = run_command(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto text = [](const std::string& s) { return s.substr(0, s.find("Prompt:")); };
  EXPECT_EQ(text(a.output), text(b.output));
}

// As mlx-lm: `--prompt -` reads standard input; --extra-eos-token takes token strings as well as ids.
TEST(Cli, PromptFromStandardInputAndStopTokensByName) {
  const std::string model = convert_stories("stdin");
  const std::string generate = cli_path() + " generate --model " + model + " --max-tokens 12 --temp 0";
  auto typed = run_command(generate + " --prompt 'Once upon a time'");
  auto piped = run_command("printf 'Once upon a time' | " + generate + " --prompt -");
  ASSERT_EQ(typed.exit_code, 0) << typed.output;
  ASSERT_EQ(piped.exit_code, 0) << piped.output;
  const std::string story = generated_text(typed);
  EXPECT_EQ(generated_text(piped), story);

  const auto tokenizer = Tokenizer::from_dir(model);
  const auto ids = tokenizer.encode(story, /*add_special_tokens=*/false);
  ASSERT_GT(ids.size(), 6u) << story;
  const std::string piece = tokenizer.id_to_token(ids[3]);
  auto by_name = run_command(generate + " --prompt 'Once upon a time' --extra-eos-token '" + piece + "'");
  auto by_id = run_command(generate + " --prompt 'Once upon a time' --extra-eos-token " + std::to_string(ids[3]));
  ASSERT_EQ(by_name.exit_code, 0) << by_name.output;
  const std::string stopped = generated_text(by_name);
  EXPECT_LT(stopped.size(), story.size()) << piece;
  EXPECT_EQ(story.compare(0, stopped.size(), stopped), 0) << stopped << " | " << story;
  EXPECT_EQ(generated_text(by_id), stopped);
  auto unknown = run_command(generate + " --prompt 'x' --extra-eos-token 'no-such-token'");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("--extra-eos-token 'no-such-token' is neither a token id nor a token"),
            std::string::npos) << unknown.output;
}

// MLX 4-bit folders say torch_dtype bfloat16: computed in bfloat16 unless --dtype says otherwise,
// and generate says which (on standard error, beside the text).
TEST(Cli, ComputesInTheModelsDtypeAndSaysSo) {
  const auto model = (test::stories_dir() / "mlx-4bit").string();
  auto own = run_command(cli_path() + " generate --model " + model + " --prompt-ids 1 --max-tokens 40 --temp 0");
  ASSERT_EQ(own.exit_code, 0) << own.output;
  EXPECT_NE(own.output.find("Compute dtype: bfloat16 (the model's torch_dtype"), std::string::npos) << own.output;
  auto asked = run_command(cli_path() + " generate --model " + model + " --prompt-ids 1 --max-tokens 40 --temp 0 --dtype float32");
  ASSERT_EQ(asked.exit_code, 0) << asked.output;
  EXPECT_NE(asked.output.find("Compute dtype: float32 (--dtype)"), std::string::npos) << asked.output;
  auto dense = run_command(cli_path() + " generate --model " + (test::stories_dir() / "hf").string() + " --prompt-ids 1 --max-tokens 2");
  EXPECT_NE(dense.output.find("Compute dtype: float32 (the model's torch_dtype"), std::string::npos) << dense.output;
}

// FLOTILLA_KERNEL_ISA=portable runs the float32 reference kernels: the same greedy text as the SIMD
// paths on the 4-bit fixture; an unknown value is an error that names the variable.
TEST(Cli, KernelIsaVariableSelectsThePath) {
  const auto model = (test::stories_dir() / "mlx-4bit").string();
  const std::string args = " generate --model " + model + " --prompt-ids 1 --max-tokens 40 --temp 0 --dtype float32";
  auto simd = run_command(cli_path() + args), portable = run_command("FLOTILLA_KERNEL_ISA=portable " + cli_path() + args);
  ASSERT_EQ(simd.exit_code, 0) << simd.output;
  ASSERT_EQ(portable.exit_code, 0) << portable.output;
  auto text = [](const std::string& s) { return s.substr(0, s.find("Prompt:")); };
  EXPECT_EQ(text(simd.output), text(portable.output));
  auto bad = run_command("FLOTILLA_KERNEL_ISA=sse9 " + cli_path() + args);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("FLOTILLA_KERNEL_ISA is 'sse9'; expected one of portable, avx2, avx512"), std::string::npos)
      << bad.output;
}

TEST(Cli, ErrorsAreClearAndExitWithOne) {
  auto missing = run_command(cli_path() + " generate --model /nonexistent/model");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("'/nonexistent/model' has no config.json"), std::string::npos) << missing.output;

  auto bad_ids = run_command(cli_path() + " generate --model " + (test::stories_dir() / "hf").string() +
                             " --prompt-ids 1,x");
  EXPECT_EQ(bad_ids.exit_code, 1) << bad_ids.output;
  EXPECT_NE(bad_ids.output.find("'x' is not an integer"), std::string::npos) << bad_ids.output;

  auto bad_temp = run_command(cli_path() + " generate --model " + (test::stories_dir() / "hf").string() +
                              " --prompt-ids 1 --temp -1");
  EXPECT_EQ(bad_temp.exit_code, 1) << bad_temp.output;
  EXPECT_NE(bad_temp.output.find("[sampler]"), std::string::npos) << bad_temp.output;

  auto unknown = run_command(cli_path() + " frobnicate");
  EXPECT_NE(unknown.exit_code, 0);
}

}  // namespace
}  // namespace flotilla
