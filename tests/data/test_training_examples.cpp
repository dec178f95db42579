// Records -> training tokens: the chat-template prompt is a prefix whose length masks the prompt.
#include <gtest/gtest.h>

#include "train/batching.h"
#include "data/training_examples.h"
#include "support/paths.h"

using namespace flotilla::train;
using namespace flotilla::data;

namespace flotilla::data {
namespace {

const auto kTinyLlama = test::shared_dir() / "tokenizers" / "tinyllama-1.1b-chat-v1.0";

nlohmann::ordered_json conversation() {
  return nlohmann::ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "Four, matey."}]})");
}

TEST(TrainingExamples, TemplatePromptIsAPrefixAndMasksThePrompt) {
  auto tokenizer = Tokenizer::from_dir(kTinyLlama.string());
  ExampleTokenizer tokenize(tokenizer, conversation_renderer(kTinyLlama.string()));
  auto example = tokenize(conversation());
  ASSERT_GT(example.prompt_length, 0);
  ASSERT_LT(example.prompt_length, static_cast<int64_t>(example.tokens.size()));
  auto prompt = tokenize.encode_prompt(nlohmann::ordered_json::array({conversation()["messages"][0]}));
  EXPECT_EQ(static_cast<int64_t>(prompt.size()), example.prompt_length);
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), example.tokens.begin()));
  // TinyLlama's template writes no <s> and none is added, as transformers' apply_chat_template does.
  EXPECT_NE(example.tokens.front(), 1);
  const std::vector<int64_t> completion(example.tokens.begin() + example.prompt_length, example.tokens.end());
  EXPECT_NE(tokenizer.decode(completion).find("Four, matey."), std::string::npos) << tokenizer.decode(completion);
  EXPECT_EQ(tokenizer.decode(prompt).find("Four"), std::string::npos);

  auto batch = collate({&example}, 2048, /*mask_prompt=*/true);
  const int64_t trained = static_cast<int64_t>(batch.mask.sum().item<double>());
  EXPECT_EQ(trained, static_cast<int64_t>(example.tokens.size()) - example.prompt_length);
}

TEST(TrainingExamples, TextGetsEosAndPlainFallbackKeepsThePrefix) {
  auto tokenizer = Tokenizer::from_dir(kTinyLlama.string());
  ExampleTokenizer plain(tokenizer, /*renderer=*/{});
  auto text = plain(nlohmann::ordered_json{{"text", "Arr, the sea."}});
  EXPECT_EQ(text.tokens.front(), 1);
  EXPECT_EQ(text.tokens.back(), 2);
  EXPECT_EQ(text.prompt_length, 0);
  auto chat = plain(conversation());
  EXPECT_EQ(chat.tokens.back(), 2);
  // "assistant: " ends in a lone "▁" that "assistant: Four" merges away: the mask starts before it.
  auto prompt = plain.encode_prompt(nlohmann::ordered_json::array({conversation()["messages"][0]}));
  EXPECT_EQ(chat.prompt_length, static_cast<int64_t>(prompt.size()) - 1);
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.begin() + chat.prompt_length, chat.tokens.begin()));
  EXPECT_NE(tokenizer.decode({chat.tokens.begin() + chat.prompt_length, chat.tokens.end()}).find("Four"), std::string::npos);
  EXPECT_EQ(render_plain(conversation()["messages"], true), "user: What is 2+2?\nassistant: Four, matey.\nassistant: ");
}

}  // namespace
}  // namespace flotilla::data
