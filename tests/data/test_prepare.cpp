// prepare: bad input fails with file:line and writes nothing; splits are disjoint, seeded, sized as
// asked and stratified; duplicates go before splitting; records over the token limit are dropped.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "flotilla/prepare.h"
#include "data/token_length.h"
#include "flotilla/tokenizer.h"
#include "data_test_util.h"
#include "support/paths.h"
#include "support/run.h"

using namespace flotilla::data;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using data::PrepareOptions;
using Json = nlohmann::ordered_json;

const std::string kGood = test::dolly_line("Name a color.", "Blue.", "open_qa");

struct BadCase {
  BadCase(const char* name, std::string bytes, std::string expected, size_t max_line_bytes = data::kMaxLineBytes,
          std::string system_prompt = "")
      : name(name), bytes(std::move(bytes)), expected(std::move(expected)), max_line_bytes(max_line_bytes),
        system_prompt(std::move(system_prompt)) {}
  const char* name;
  std::string bytes;
  std::string expected;  // a substring of the error message
  size_t max_line_bytes;
  std::string system_prompt;
};

std::vector<BadCase> bad_cases() {
  return {
      {"invalid_json", kGood + "{\"instruction\": \"a\", \"response\": }\n",
       "bad.jsonl:2:34: invalid JSON: syntax error while parsing value - unexpected '}'"},
      {"truncated_last_line", kGood + "{\"instruction\":\"a\",\"respon", "bad.jsonl:2:27: invalid JSON"},
      {"not_an_object", kGood + "[1, 2]\n", "bad.jsonl:2: expected a JSON object, got array"},
      {"missing_field", kGood + kGood + "{\"instruction\": \"a\", \"context\": \"\"}\n",
       "bad.jsonl:3: missing field 'response'"},
      {"empty_field", kGood + "{\"instruction\": \"a\", \"response\": \"  \"}\n", "bad.jsonl:2: field 'response' is empty"},
      {"wrong_type", kGood + "{\"instruction\": \"a\", \"response\": 42}\n",
       "bad.jsonl:2: field 'response' must be a string, got number"},
      {"wrong_context_type", kGood + "{\"instruction\": \"a\", \"context\": [], \"response\": \"b\"}\n",
       "bad.jsonl:2: field 'context' must be a string, got array"},
      {"wrong_category_type", "{\"instruction\": \"a\", \"response\": \"b\", \"category\": 7}\n",
       "bad.jsonl:1: field 'category' must be a string, got number"},
      {"bad_message", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\"}]}\n",
       "bad.jsonl:1: missing field 'messages[1].content'"},
      {"empty_messages", "{\"messages\": []}\n", "bad.jsonl:1: field 'messages' is empty"},
      {"unknown_format", "{\"question\": \"a\", \"answer\": \"b\"}\n",
       "bad.jsonl:1: cannot tell the format: expected 'messages', 'prompt' and 'completion', 'instruction' and "
       "'response' (Dolly), or 'text'; found keys: question, answer"},
      {"invalid_utf8", kGood + "{\"instruction\": \"caf\xC3\", \"response\": \"b\"}\n",
       "bad.jsonl:2: invalid UTF-8 at byte offset 20 of the line (byte 0xc3)"},
      {"overlong_utf8", "{\"text\": \"\xC0\xAF\"}\n", "bad.jsonl:1: invalid UTF-8 at byte offset 10 of the line (byte 0xc0)"},
      {"enormous_line", kGood + "{\"text\": \"" + std::string(300, 'x') + "\"}\n" + kGood,
       "bad.jsonl:2: line is longer than 200 bytes", 200},
      {"no_records", "\n  \r\n\n", "has no records"},
      {"system_prompt_not_dolly", "{\"text\": \"hello\"}\n", "a system prompt applies to Dolly records only; this input is text",
       data::kMaxLineBytes, "You are a pirate."},
  };
}

TEST(PrepareBadInput, EachFailureNamesTheLineAndWritesNothing) {
  for (const auto& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    auto dir = test::scratch_dir(c.name);
    test::write_bytes(dir / "bad.jsonl", c.bytes);
    PrepareOptions options;
    options.input = (dir / "bad.jsonl").string();
    options.out_dir = (dir / "out").string();
    options.max_line_bytes = c.max_line_bytes;
    options.system_prompt = c.system_prompt;
    try {
      data::prepare_dataset(options);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("[prepare] ", 0), 0u) << message;
      EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    }
    EXPECT_FALSE(fs::exists(dir / "out")) << "something was written";
  }
}

TEST(PrepareBadInput, UsageErrors) {
  auto dir = test::scratch_dir("usage");
  test::write_bytes(dir / "train.jsonl", kGood + test::dolly_line("b", "c", "x"));
  PrepareOptions options;
  options.input = (dir / "train.jsonl").string();
  options.out_dir = dir.string();
  EXPECT_EQ(test::error_of([&] { data::prepare_dataset(options); }),
            "[prepare] refusing to write '" + (dir / "train.jsonl").string() + "': it is the input file");
  EXPECT_EQ(test::read_bytes(dir / "train.jsonl"), kGood + test::dolly_line("b", "c", "x"));

  options.out_dir = (dir / "out").string();
  options.valid_fraction = 0.6;
  options.test_fraction = 0.5;
  EXPECT_EQ(test::error_of([&] { data::prepare_dataset(options); }),
            "[data] valid fraction 0.6 and test fraction 0.5: each must be >= 0 and together < 1");
  options.valid_fraction = 0.2;
  options.test_fraction = 0;
  options.input = (dir / "missing.jsonl").string();
  EXPECT_EQ(test::error_of([&] { data::prepare_dataset(options); }),
            "[data] cannot open '" + options.input + "': No such file or directory");
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(PrepareInput, AcceptsBomCrlfAndBlankLines) {
  auto dir = test::scratch_dir("crlf");
  std::string bytes = "\xEF\xBB\xBF{\"instruction\": \"What is 2+2?\", \"context\": \"\", \"response\": \"4\"}\r\n\r\n   \n";
  bytes += "{\"instruction\": \"Summarize.\", \"context\": \"A long text.\", \"response\": \"Short.\"}\r\n";
  test::write_bytes(dir / "in.jsonl", bytes);
  PrepareOptions options;
  options.input = (dir / "in.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.valid_fraction = 0;
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.lines, 4u);
  EXPECT_EQ(report.blank, 2u);
  EXPECT_EQ(report.format, data::RecordFormat::dolly);
  ASSERT_EQ(report.train, 2u);
  std::set<std::string> users;
  for (const auto& line : test::read_lines(dir / "out" / "train.jsonl")) {
    auto record = Json::parse(line);
    ASSERT_EQ(record["messages"].size(), 2u) << line;  // no system message by default
    EXPECT_EQ(record["messages"][1]["role"], "assistant");
    users.insert(record["messages"][0]["content"].get<std::string>());
    EXPECT_FALSE(record.contains("category"));
  }
  // The tutorial's mapping: no dangling "Context:" when the context is empty.
  EXPECT_EQ(users, (std::set<std::string>{"What is 2+2?", "Summarize.\n\nContext: A long text."}));
  EXPECT_TRUE(test::read_lines(dir / "out" / "valid.jsonl").empty());
  EXPECT_FALSE(fs::exists(dir / "out" / "test.jsonl"));
}

TEST(PrepareInput, LinesLongerThanTheReadBuffer) {
  // Records of megabytes cross the reader's 1 MiB buffers; the second one's \r\n straddles a boundary.
  auto dir = test::scratch_dir("long");
  const size_t boundary = size_t{3} << 20;
  const std::string first = R"({"text":")" + std::string(5 << 19, 'a') + "\"}";
  const std::string second = R"({"text":")" + std::string(boundary - 2 - first.size() - 11, 'b') + "\"}";
  ASSERT_EQ(first.size() + 1 + second.size(), boundary - 1);  // where the \r goes
  test::write_bytes(dir / "in.jsonl", first + "\n" + second + "\r\n" + R"({"text":"c"})" "\r\n");
  PrepareOptions options;
  options.input = (dir / "in.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.valid_fraction = 0;
  EXPECT_EQ(data::prepare_dataset(options).train, 3u);
  std::set<std::string> lines;
  for (const auto& line : test::read_lines(dir / "out" / "train.jsonl")) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{first, second, R"({"text":"c"})"}));
}

TEST(PrepareInput, SkipInvalidCountsAndKeepsTheFirstReasons) {
  auto dir = test::scratch_dir("skip");
  std::string bytes;
  for (int i = 0; i < 20; ++i) bytes += test::dolly_line("Question " + std::to_string(i), "Answer", "open_qa");
  bytes += "not json\n{\"instruction\": \"a\"}\n" + std::string(500, 'x') + "\n{\"instruction\": \"a\", \"response\": \"\xFF\"}\n";
  for (int i = 0; i < 4; ++i) bytes += "[]\n";
  bytes += test::dolly_line("Last", "Answer", "open_qa");
  test::write_bytes(dir / "in.jsonl", bytes);
  PrepareOptions options;
  options.input = (dir / "in.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.skip_invalid = true;
  options.max_line_bytes = 300;
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.invalid, 8u);
  EXPECT_EQ(report.train + report.valid, 21u);
  ASSERT_EQ(report.invalid_reasons.size(), 5u);
  EXPECT_NE(report.invalid_reasons[0].find("in.jsonl:21:2: invalid JSON"), std::string::npos) << report.invalid_reasons[0];
  EXPECT_NE(report.invalid_reasons[1].find("in.jsonl:22: missing field 'response'"), std::string::npos);
  EXPECT_NE(report.invalid_reasons[2].find("in.jsonl:23: line is longer than 300 bytes"), std::string::npos);
  EXPECT_NE(report.invalid_reasons[3].find("in.jsonl:24: invalid UTF-8 at byte offset 34"), std::string::npos)
      << report.invalid_reasons[3];
  const std::string printed = data::format_report(report, options);
  EXPECT_NE(printed.find("invalid skipped:     8"), std::string::npos) << printed;
  EXPECT_NE(printed.find("Skipped 8 invalid records; the first 5:"), std::string::npos) << printed;
}

// 1000 distinct records in three categories of 500, 300 and 200, plus 50 exact duplicates.
fs::path write_categorized(const fs::path& dir) {
  const char* categories[] = {"open_qa", "creative_writing", "brainstorming"};
  std::string bytes;
  for (int i = 0; i < 1000; ++i) {
    const int c = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2;
    bytes += test::dolly_line("Question " + std::to_string(i), "Answer " + std::to_string(i), categories[c]);
    if (i % 20 == 0) bytes += test::dolly_line("Question " + std::to_string(i), "Answer " + std::to_string(i), categories[(c + 1) % 3]);
  }
  test::write_bytes(dir / "in.jsonl", bytes);
  return dir / "in.jsonl";
}

std::map<std::string, std::vector<std::string>> run_split(const fs::path& input, const fs::path& out, uint64_t seed) {
  PrepareOptions options;
  options.input = input.string();
  options.out_dir = out.string();
  options.valid_fraction = 0.2;
  options.test_fraction = 0.1;
  options.seed = seed;
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.lines, 1050u);
  EXPECT_EQ(report.duplicates, 50u);
  std::map<std::string, std::vector<std::string>> splits;
  for (const char* name : {"train", "valid", "test"}) splits[name] = test::read_lines(out / (std::string(name) + ".jsonl"));
  return splits;
}

TEST(PrepareSplit, DisjointSizedStratifiedAndReproducible) {
  auto dir = test::scratch_dir("split");
  auto input = write_categorized(dir);
  auto a = run_split(input, dir / "a", 7);
  EXPECT_NEAR(static_cast<double>(a["train"].size()), 700, 1);
  EXPECT_NEAR(static_cast<double>(a["valid"].size()), 200, 1);
  EXPECT_NEAR(static_cast<double>(a["test"].size()), 100, 1);

  std::set<std::string> all;
  for (auto& [name, lines] : a) all.insert(lines.begin(), lines.end());
  EXPECT_EQ(all.size(), 1000u) << "an example is in two splits, or a duplicate survived";

  // Stratified: each category's share of valid and test is its share of the data (500/300/200), ±1.
  std::map<int, std::map<std::string, int>> per_category;  // category by question number -> split -> count
  for (auto& [name, lines] : a) {
    for (const auto& line : lines) {
      const std::string user = Json::parse(line)["messages"][0]["content"];
      const int i = std::stoi(user.substr(std::string("Question ").size()));
      ++per_category[i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2][name];
    }
  }
  const int sizes[] = {500, 300, 200};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(per_category[c]["valid"], sizes[c] * 0.2, 1) << "category " << c;
    EXPECT_NEAR(per_category[c]["test"], sizes[c] * 0.1, 1) << "category " << c;
  }

  auto again = run_split(input, dir / "b", 7);
  EXPECT_EQ(again, a) << "same seed, different files";
  auto other = run_split(input, dir / "c", 8);
  EXPECT_NE(other["valid"], a["valid"]);
}

TEST(PrepareSplit, FormatsPassThroughWithTheirOwnKeys) {
  auto dir = test::scratch_dir("formats");
  test::write_bytes(dir / "pc.jsonl", "{\"q\": \"2+2?\", \"a\": \"4\", \"extra\": 1}\n{\"q\": \"3+3?\", \"a\": \"6\"}\n");
  PrepareOptions options;
  options.input = (dir / "pc.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.valid_fraction = 0;
  options.fields.prompt = "q";
  options.fields.completion = "a";
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.format, data::RecordFormat::prompt_completion);
  std::set<std::string> lines;
  for (const auto& line : test::read_lines(dir / "out" / "train.jsonl")) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{R"({"prompt":"2+2?","completion":"4"})", R"({"prompt":"3+3?","completion":"6"})"}));

  const std::string chat = R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[]}],"tools":[{"type":"function"}]})";
  test::write_bytes(dir / "chat.jsonl", chat + "\n");
  options.input = (dir / "chat.jsonl").string();
  options.format = data::RecordFormat::messages;
  data::prepare_dataset(options);
  EXPECT_EQ(test::read_lines(dir / "out" / "train.jsonl"), std::vector<std::string>{chat});
}

TEST(PrepareLength, DropsRecordsOverTheTokenLimitWithARealTokenizer) {
  const auto model = test::shared_dir() / "tokenizers" / "tinyllama-1.1b-chat-v1.0";
  auto dir = test::scratch_dir("length");
  std::string long_answer;
  for (int i = 0; i < 100; ++i) long_answer += "and then the ship sailed on ";
  std::string bytes;
  for (int i = 0; i < 10; ++i) bytes += test::dolly_line("Story " + std::to_string(i), i % 3 == 0 ? long_answer : "Short.", "x");
  test::write_bytes(dir / "in.jsonl", bytes);

  data::TokenLength length(model.string());
  Json short_record = {{"messages", {{{"role", "user"}, {"content", "Story 1"}}, {{"role", "assistant"}, {"content", "Short."}}}}};
  const size_t short_tokens = length(short_record);
  // TinyLlama ships a chat template: the length is that of its rendering, without an added BOS.
  const auto tokenizer = Tokenizer::from_dir(model.string());
  const size_t expected = tokenizer.encode("<|user|>\nStory 1</s>\n<|assistant|>\nShort.</s>\n", false).size();
  std::cout << "[length] 'Story 1'/'Short.' is " << short_tokens << " tokens\n";
  EXPECT_EQ(short_tokens, expected);

  PrepareOptions options;
  options.input = (dir / "in.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.valid_fraction = 0;
  options.model_dir = model.string();
  options.max_seq_length = static_cast<int64_t>(short_tokens);  // exactly at the limit is kept
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.too_long, 4u);
  EXPECT_EQ(report.train, 6u);
  for (const auto& line : test::read_lines(dir / "out" / "train.jsonl")) {
    EXPECT_EQ(Json::parse(line)["messages"][1]["content"], "Short.") << "a long record was kept, or one was cut";
  }
  options.max_seq_length = static_cast<int64_t>(short_tokens) - 1;
  EXPECT_THROW(data::prepare_dataset(options), Error);  // nothing left for train
}

TEST(PrepareCli, PrintsCountsAndFailsWithExitCodeOne) {
  auto dir = test::scratch_dir("cli");
  auto input = write_categorized(dir);
  auto r = test::run_command(test::cli_path() + " prepare " + input.string() + " --out " + (dir / "out").string() +
                             " --test-fraction 0.1 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Read 1050 lines from " + input.string() + " (format: dolly)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("duplicates removed:  50"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train: 700 -> "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("valid: 200 -> "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("test: 100 -> "), std::string::npos) << r.output;
  EXPECT_EQ(test::read_lines(dir / "out" / "test.jsonl").size(), 100u);

  auto quiet = test::run_command(test::cli_path() + " prepare " + input.string() + " --out " + (dir / "q").string() + " -q");
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.output, "");

  test::write_bytes(dir / "bad.jsonl", kGood + "{oops}\n");
  auto bad = test::run_command(test::cli_path() + " prepare " + (dir / "bad.jsonl").string() + " --out " + (dir / "bad").string());
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("error: [prepare] " + (dir / "bad.jsonl").string() + ":2:2: invalid JSON"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

}  // namespace
}  // namespace flotilla
