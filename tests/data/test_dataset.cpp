// Loading train/valid/test.jsonl as mlx-lm does: format from the first record, every line checked,
// mlx-lm's messages for missing splits; prepare's output loads back.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/dataset.h"
#include "flotilla/prepare.h"
#include "data_test_util.h"
#include "support/paths.h"

using namespace flotilla::data;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::error_of;

TEST(Dataset, DetectsEachFormatFromTheFirstRecord) {
  auto dir = test::scratch_dir("formats");
  test::write_bytes(dir / "train.jsonl",
                    R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Ahoy"}],"tools":[]})"
                    "\n\n"
                    R"({"messages":[{"role":"user","content":"Bye"},{"role":"assistant","content":"Arr"}]})"
                    "\r\n");
  // prompt+completion wins over text, as in mlx-lm's create_dataset.
  test::write_bytes(dir / "valid.jsonl", R"({"prompt":"2+2?","completion":"4","text":"ignored"})" "\n");
  test::write_bytes(dir / "test.jsonl", R"({"text":"Once upon a time"})" "\n" R"({"text":"The end"})");

  auto train = data::load_dataset_split(dir.string(), "train");
  EXPECT_EQ(train.format, data::RecordFormat::messages);
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.records[1]["messages"][1]["content"], "Arr");
  EXPECT_EQ(data::load_dataset_split(dir.string(), "valid").format, data::RecordFormat::prompt_completion);
  auto test_split = data::load_dataset_split(dir.string(), "test");
  EXPECT_EQ(test_split.format, data::RecordFormat::text);
  EXPECT_EQ(test_split.records[1]["text"], "The end");

  auto all = data::load_datasets(dir.string(), /*for_training=*/true, /*for_testing=*/true);
  EXPECT_EQ(all.train.size() + all.valid.size() + all.test.size(), 5u);
}

TEST(Dataset, EveryLineIsCheckedWithItsLineNumber) {
  auto dir = test::scratch_dir("lines");
  const std::string pc = R"({"prompt":"a","completion":"b"})" "\n";
  test::write_bytes(dir / "train.jsonl", pc + pc + R"({"prompt":"a"})" "\n");
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); })
                .find("train.jsonl:3: missing field 'completion' (the file is prompt-completion, from line 1)"),
            std::string::npos);

  test::write_bytes(dir / "train.jsonl", R"({"messages":[{"role":"user","content":5}]})" "\n");
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); })
                .find("train.jsonl:1: field 'messages[0].content' must be a string, got number"),
            std::string::npos);

  test::write_bytes(dir / "train.jsonl", pc + "{\"prompt\": \"a\", \"completion\": \"b\"\n");
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); }).find("train.jsonl:2:34: invalid JSON"),
            std::string::npos);

  // out_of_range, not parse_error, from nlohmann (the class fuzz_model_config found)
  test::write_bytes(dir / "train.jsonl", pc + R"({"prompt": "a", "completion": "b", "n": -1e999})" "\n");
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); })
                .find("train.jsonl:2: invalid JSON: [json.exception.out_of_range.406] number overflow"),
            std::string::npos);

  test::write_bytes(dir / "train.jsonl", R"({"messages":[],"tools":{}})" "\n");
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); }).find("field 'messages' is empty"),
            std::string::npos);

  // Dolly is an input format for prepare, not a training format.
  test::write_bytes(dir / "train.jsonl", test::dolly_line("a", "b", "c"));
  EXPECT_NE(error_of([&] { data::load_dataset_split(dir.string(), "train"); })
                .find("train.jsonl:1: Unsupported data format, check the supported formats here:\n"
                      "https://github.com/ml-explore/mlx-lm/blob/main/mlx_lm/LORA.md#Data."),
            std::string::npos);
}

TEST(Dataset, MissingSplitsGiveMlxLmMessages) {
  auto dir = test::scratch_dir("missing");
  EXPECT_EQ(error_of([&] { data::load_datasets(dir.string(), true, false); }),
            "[data] Training set not found or empty. Must provide training set for fine-tuning.");
  test::write_bytes(dir / "train.jsonl", R"({"text":"a"})" "\n");
  test::write_bytes(dir / "valid.jsonl", "\n");  // empty counts as missing, and is allowed (mlx-lm warns)
  EXPECT_TRUE(data::load_datasets(dir.string(), true, false).valid.empty());
  test::write_bytes(dir / "valid.jsonl", R"({"text":"b"})" "\n");
  EXPECT_EQ(error_of([&] { data::load_datasets(dir.string(), true, true); }),
            "[data] Test set not found or empty. Must provide test set for evaluation.");
  EXPECT_NO_THROW(data::load_datasets(dir.string(), true, false));
  EXPECT_NE(error_of([&] { data::load_datasets((dir / "nope").string(), true, false); }).find("does not exist"),
            std::string::npos);
}

TEST(Dataset, PreparedDollyLoadsBack) {
  auto dir = test::scratch_dir("roundtrip");
  std::string bytes;
  for (int i = 0; i < 30; ++i) bytes += test::dolly_line("Question " + std::to_string(i), "Answer", i % 2 ? "a" : "b", i % 3 ? "" : "ctx");
  test::write_bytes(dir / "dolly.jsonl", bytes);
  data::PrepareOptions options;
  options.input = (dir / "dolly.jsonl").string();
  options.out_dir = (dir / "data").string();
  options.test_fraction = 0.1;
  options.system_prompt = "You are a helpful assistant.";
  data::prepare_dataset(options);
  auto loaded = data::load_datasets(options.out_dir, true, true);
  EXPECT_EQ(loaded.train.size() + loaded.valid.size() + loaded.test.size(), 30u);
  EXPECT_EQ(loaded.train.format, data::RecordFormat::messages);
  EXPECT_EQ(loaded.train.records[0]["messages"][0]["content"], "You are a helpful assistant.");
}

}  // namespace
}  // namespace flotilla
