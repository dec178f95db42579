// `flotilla generate`'s flags by what they do, not only by their exit codes: the chat template
// rendered into the prompt, the number of tokens, and the sampling filters reaching the sampler.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "support/generate_output.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

using test::cli_path;
using test::generated_text;
using test::run_command;

// The template's output, written by hand (with the BOS that plain text gets): what the model must see.
TEST(GenerateCli, ChatTemplateAndSystemPromptAreRenderedIntoThePrompt) {
  const std::string model = test::converted_stories().string();
  const std::string generate = cli_path() + " generate --model " + model + " --max-tokens 20 --temp 0";
  const auto dir = test::scratch_dir("chat");
  std::ofstream(dir / "template.jinja")
      << "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}Then one day,";
  std::ofstream(dir / "rendered.txt") << "[system] Tell of a cat.\n[user] Once upon a time\nThen one day,";
  auto chat = run_command(generate + " --chat-template " + (dir / "template.jinja").string() +
                          " --system-prompt 'Tell of a cat.' --prompt 'Once upon a time'");
  auto by_hand = run_command(generate + " --ignore-chat-template --prompt - < " + (dir / "rendered.txt").string());
  auto plain = run_command(generate + " --ignore-chat-template --prompt 'Once upon a time'");
  for (const auto* r : {&chat, &by_hand, &plain}) ASSERT_EQ(r->exit_code, 0) << r->output;
  EXPECT_EQ(test::stats_tokens(chat, "Prompt"), test::stats_tokens(by_hand, "Prompt"));
  EXPECT_EQ(generated_text(chat), generated_text(by_hand));
  EXPECT_LT(test::stats_tokens(plain, "Prompt"), test::stats_tokens(chat, "Prompt"));
  std::cout << "[generate] templated prompt: " << test::stats_tokens(chat, "Prompt") << " tokens (plain "
            << test::stats_tokens(plain, "Prompt") << "); continuation: " << generated_text(chat) << "\n";

  // The template given as Jinja source instead of a file.
  auto inline_source = run_command(generate + " --prompt 'Once' --chat-template '{{ bos_token }}Q: {{ messages[0].content }} A:'");
  auto inline_by_hand = run_command(generate + " --ignore-chat-template --prompt 'Q: Once A:'");
  EXPECT_EQ(test::stats_tokens(inline_source, "Prompt"), test::stats_tokens(inline_by_hand, "Prompt"));
  EXPECT_EQ(generated_text(inline_source), generated_text(inline_by_hand));

  auto bad = run_command(generate + " --prompt 'Once' --chat-template '{{ messages[0].content '");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("chat_template"), std::string::npos) << bad.output;
  EXPECT_TRUE(std::regex_search(bad.output, std::regex(R"(:\d+:\d+:)"))) << bad.output;
}

// Token ids printed one by one (this folder has no tokenizer), greedy and sampled.
std::vector<int64_t> printed_ids(const test::RunResult& r) {
  std::istringstream in(generated_text(r));
  std::vector<int64_t> ids;
  for (int64_t id; in >> id;) ids.push_back(id);
  return ids;
}

// top-k 1, a tiny top-p and a min-p of 0.999 each leave only the most likely token, so sampling at
// temperature 1 must give the greedy ids for any seed; without a filter the seeds must differ from it.
TEST(GenerateCli, MaxTokensAndSamplingFiltersDoWhatTheySay) {
  const std::string model = cli_path() + " generate --model " + (test::stories_dir() / "hf").string() + " --prompt-ids 1";
  const std::string generate = model + " --max-tokens 24";
  auto greedy = run_command(generate + " --temp 0");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.output;
  const auto greedy_ids = printed_ids(greedy);
  EXPECT_EQ(greedy_ids.size(), 24u) << greedy.output;
  EXPECT_EQ(test::stats_tokens(greedy, "Generation"), 24);
  auto short_run = run_command(model + " --temp 0 --max-tokens 5");
  EXPECT_EQ(printed_ids(short_run), std::vector<int64_t>(greedy_ids.begin(), greedy_ids.begin() + 5));
  int differing = 0;
  for (int seed : {1, 2, 3}) {
    const std::string sampled = generate + " --temp 1 --seed " + std::to_string(seed);
    differing += printed_ids(run_command(sampled)) != greedy_ids;
    for (const char* filter : {" --top-k 1", " --top-p 1e-6", " --min-p 0.999"})
      EXPECT_EQ(printed_ids(run_command(sampled + filter)), greedy_ids) << filter << ", seed " << seed;
  }
  EXPECT_GE(differing, 2) << "temperature 1 without filters should not be greedy";
}

// cache-prompt then --prompt-cache-file with the rest of the prompt prints what the whole prompt
// prints; --max-kv-size and --draft-model run through the CLI with their own checks elsewhere.
TEST(GenerateCli, PromptCacheRotatingCacheAndDraftModelFlags) {
  const std::string hf = (test::stories_dir() / "hf").string();
  const std::string model = cli_path() + " generate --model " + hf + " --max-tokens 30 --temp 0";
  const auto file = (test::scratch_dir("cli-prompt-cache") / "prefix.safetensors").string();
  auto cached = run_command(cli_path() + " cache-prompt --model " + hf + " --prompt-ids 1,403,407,261 --prompt-cache-file " + file);
  ASSERT_EQ(cached.exit_code, 0) << cached.output;
  EXPECT_NE(cached.output.find("Prompt of 4 tokens cached in"), std::string::npos) << cached.output;
  const auto whole = printed_ids(run_command(model + " --prompt-ids 1,403,407,261,378,432"));
  auto continued = run_command(model + " --prompt-ids 378,432 --prompt-cache-file " + file);
  ASSERT_EQ(continued.exit_code, 0) << continued.output;
  EXPECT_EQ(printed_ids(continued), whole);
  EXPECT_EQ(test::stats_tokens(continued, "Prompt"), 2);
  auto rotating = run_command(model + " --prompt-ids 1 --max-kv-size 8");
  ASSERT_EQ(rotating.exit_code, 0) << rotating.output;
  EXPECT_EQ(test::stats_tokens(rotating, "Generation"), 30);
  auto drafted = run_command(model + " --prompt-ids 1,403,407,261,378,432 --draft-model " +
                             (test::stories_dir() / "mlx-4bit").string() + " --num-draft-tokens 4");
  ASSERT_EQ(drafted.exit_code, 0) << drafted.output;
  EXPECT_EQ(printed_ids(drafted), whole);
  EXPECT_NE(drafted.output.find("Draft tokens accepted:"), std::string::npos) << drafted.output;
}

}  // namespace
}  // namespace flotilla
