// `flotilla tokenize` against the library's own Tokenizer and ChatTemplate on TinyLlama's files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flotilla/chat_template.h"
#include "support/paths.h"
#include "support/run.h"
#include "flotilla/tokenizer.h"

namespace flotilla {
namespace {

using test::cli_path;
using test::run_command;

std::string tinyllama_dir() { return (test::shared_dir() / "tokenizers" / "tinyllama-1.1b-chat-v1.0").string(); }

std::string tokenize(const std::string& args) { return cli_path() + " tokenize --model " + tinyllama_dir() + " " + args; }

std::vector<int64_t> parse_ids(const std::string& line) {
  std::vector<int64_t> ids;
  std::istringstream in(line);
  for (int64_t id; in >> id;) ids.push_back(id);
  return ids;
}

TEST(TokenizeCli, IdsMatchTheLibraryAndKnownTinyLlamaIds) {
  auto r = run_command(tokenize("'Hello world'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "1 15043 3186\n");
  const auto tokenizer = Tokenizer::from_dir(tinyllama_dir());
  EXPECT_EQ(parse_ids(r.output), tokenizer.encode("Hello world", /*add_special_tokens=*/true));

  auto plain = run_command(tokenize("--no-special 'Hello world'"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.output, "15043 3186\n");
}

TEST(TokenizeCli, PiecesOnePerLineWithEscapes) {
  auto r = run_command(tokenize("--pieces 'Hello world'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "1\t'<s>'\n15043\t'\xE2\x96\x81Hello'\n3186\t'\xE2\x96\x81world'\n");

  // A newline is a byte-fallback token in Llama's vocabulary; its piece must stay on one line.
  auto file = test::scratch_dir("tokenize-pieces") / "text.txt";
  std::ofstream(file) << "a\nb";
  auto lines = run_command(tokenize("--pieces --no-special --file " + file.string()));
  ASSERT_EQ(lines.exit_code, 0) << lines.output;
  const auto tokenizer = Tokenizer::from_dir(tinyllama_dir());
  EXPECT_EQ(static_cast<size_t>(std::count(lines.output.begin(), lines.output.end(), '\n')),
            tokenizer.encode("a\nb", /*add_special_tokens=*/false).size())
      << lines.output;
}

TEST(TokenizeCli, ChatRendersThroughTheModelTemplate) {
  const std::string messages = R"([{"role":"user","content":"hi"}])";
  auto r = run_command(tokenize("--chat '" + messages + "'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tokenizer = Tokenizer::from_dir(tinyllama_dir());
  const auto ids = parse_ids(r.output);
  EXPECT_NE(tokenizer.decode(ids).find("<|user|>"), std::string::npos) << r.output;
  const auto chat = ChatTemplate::from_model_dir(tinyllama_dir());
  const auto json = nlohmann::ordered_json::parse(messages);
  EXPECT_EQ(ids, tokenizer.encode(chat.render(json, false), /*add_special_tokens=*/false));

  // An object with "messages", from a file, with the generation prompt.
  auto file = test::scratch_dir("tokenize-chat") / "chat.json";
  std::ofstream(file) << R"({"messages":)" << messages << "}";
  auto prompt = run_command(tokenize("--chat --add-generation-prompt --file " + file.string()));
  ASSERT_EQ(prompt.exit_code, 0) << prompt.output;
  EXPECT_EQ(parse_ids(prompt.output), tokenizer.encode(chat.render(json, true), /*add_special_tokens=*/false));
  EXPECT_NE(tokenizer.decode(parse_ids(prompt.output)).find("<|assistant|>"), std::string::npos) << prompt.output;
}

TEST(TokenizeCli, ErrorsAreClearAndExitWithOne) {
  auto missing = run_command(cli_path() + " tokenize --model /nonexistent/model hello");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("'/nonexistent/model' has no tokenizer.json"), std::string::npos) << missing.output;

  auto bad_json = run_command(tokenize(R"(--chat '[{"role":"user",}]')"));
  EXPECT_EQ(bad_json.exit_code, 1) << bad_json.output;
  EXPECT_NE(bad_json.output.find("[tokenize] --chat: input is not valid JSON"), std::string::npos) << bad_json.output;
  EXPECT_NE(bad_json.output.find("line 1, column 17"), std::string::npos) << bad_json.output;

  auto huge = run_command(tokenize(R"(--chat '[{"role":"user","content":"a","n":1e999}]')"));
  EXPECT_EQ(huge.exit_code, 1) << huge.output;
  EXPECT_NE(huge.output.find("[tokenize] --chat: input is not valid JSON"), std::string::npos) << huge.output;

  auto not_messages = run_command(tokenize(R"(--chat '{"role":"user"}')"));
  EXPECT_EQ(not_messages.exit_code, 1) << not_messages.output;
  EXPECT_NE(not_messages.output.find("expected a JSON array of messages"), std::string::npos) << not_messages.output;

  // A bare tokenizer folder without a chat template.
  auto bare = test::scratch_dir("tokenize-bare");
  std::filesystem::copy_file(std::filesystem::path(tinyllama_dir()) / "tokenizer.json", bare / "tokenizer.json");
  auto ok = run_command(cli_path() + " tokenize --model " + bare.string() + " 'Hello world'");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto no_template = run_command(cli_path() + " tokenize --chat --model " + bare.string() + R"( '[]')");
  EXPECT_EQ(no_template.exit_code, 1) << no_template.output;
  EXPECT_NE(no_template.output.find("has no chat template"), std::string::npos) << no_template.output;

  auto no_input = run_command(tokenize(""));
  EXPECT_NE(no_input.exit_code, 0) << no_input.output;
}

}  // namespace
}  // namespace flotilla
