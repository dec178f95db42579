// Small synthetic tokenizer.json files, one option at a time, and broken files whose errors must name
// the JSON path and what is supported.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "flotilla/tokenizer.h"
#include "support/error_message.h"

namespace flotilla {
namespace {

using Ids = std::vector<int64_t>;
using Json = nlohmann::json;

Json tiny_bpe(const Json& vocab, const Json& merges) {
  return {{"version", "1.0"},
          {"added_tokens", Json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", nullptr}}}};
}

Tokenizer make(const Json& tokenizer, const Json& config = nullptr) {
  return Tokenizer::from_json_text(tokenizer.dump(), config.is_null() ? "" : config.dump());
}

using test::error_message;

TEST(SyntheticBpe, MergesInBothFormsPreferLowestRankThenLeftmost) {
  const Json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"ba", 3}, {"aba", 4}};
  const Json pairs = Json::array({Json::array({"a", "b"}), Json::array({"b", "a"}), Json::array({"ab", "a"})});
  for (const Json& merges : {Json::array({"a b", "b a", "ab a"}), pairs}) {
    const Tokenizer tokenizer = make(tiny_bpe(vocab, merges));
    EXPECT_EQ(tokenizer.encode("aba"), Ids{4});
    EXPECT_EQ(tokenizer.encode("abab"), (Ids{2, 2}));  // both "a b" merge first; "ab ab" has no merge
    EXPECT_EQ(tokenizer.encode("bab"), (Ids{1, 2}));  // "a b" (rank 0) beats "b a" (rank 1)
  }
}

// Words are merged piece by piece at "▁" runs only when no token holds "▁" after another character.
TEST(SyntheticBpe, MergesAcrossMetaspaceWhenATokenHoldsIt) {
  const Json vocab = {{"a", 0}, {"▁", 1}, {"b", 2}, {"▁b", 3}, {"a▁", 4}, {"a▁b", 5}};
  EXPECT_EQ(make(tiny_bpe(vocab, Json{"a ▁", "a▁ b", "▁ b"})).encode("a▁b▁b"), (Ids{5, 3}));
  const Json plain = {{"a", 0}, {"▁", 1}, {"b", 2}, {"▁b", 3}};
  EXPECT_EQ(make(tiny_bpe(plain, Json{"▁ b"})).encode("a▁b▁▁b"), (Ids{0, 3, 1, 3}));
}

// Two tokens with one id (seen in hand-edited files) are both found as whole words.
TEST(SyntheticBpe, TokensSharingAnId) {
  Json json = tiny_bpe({{"ab", 0}, {"cd", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}, Json::array());
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(make(json).encode("ab"), Ids{0});
  EXPECT_EQ(make(json).encode("cd"), Ids{0});
}

TEST(SyntheticBpe, UnknownCharactersFuseUnkAndIgnoreMerges) {
  Json json = tiny_bpe({{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"abb", 4}}, Json{"a b"});
  json["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(make(json).encode("xyab"), (Ids{0, 0, 3}));
  json["model"]["fuse_unk"] = true;
  EXPECT_EQ(make(json).encode("xyabz"), (Ids{0, 3, 0}));
  EXPECT_EQ(make(json).encode("abb"), (Ids{3, 2}));  // "abb" is only reachable without merges
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(make(json).encode("abb"), Ids{4});
  json["model"]["unk_token"] = nullptr;
  EXPECT_EQ(make(json).encode("xab"), Ids{3});  // no unk token: the character is dropped
}

TEST(SyntheticBpe, AddedTokenFlags) {
  Json json = tiny_bpe({{"a", 0}, {" ", 1}, {"b", 2}}, Json::array());
  json["added_tokens"] = {
      {{"id", 3}, {"content", "<x>"}, {"lstrip", true}, {"rstrip", false}, {"single_word", false}, {"normalized", false}, {"special", true}},
      {{"id", 4}, {"content", "<y>"}, {"lstrip", false}, {"rstrip", true}, {"single_word", false}, {"normalized", false}, {"special", false}},
      {{"id", 5}, {"content", "ab"}, {"lstrip", false}, {"rstrip", false}, {"single_word", true}, {"normalized", false}, {"special", false}},
      {{"id", 6}, {"content", "<x>a"}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}, {"normalized", false}, {"special", false}}};
  const Tokenizer tokenizer = make(json);
  EXPECT_EQ(tokenizer.encode("a  <x>b"), (Ids{0, 3, 2}));    // lstrip takes the spaces before
  EXPECT_EQ(tokenizer.encode("a<y>  b"), (Ids{0, 4, 2}));    // rstrip takes the spaces after
  EXPECT_EQ(tokenizer.encode("ab a"), (Ids{5, 1, 0}));       // a whole word
  EXPECT_EQ(tokenizer.encode("bab"), (Ids{2, 0, 2}));        // inside a word: not the added token
  EXPECT_EQ(tokenizer.encode("<x>ab"), (Ids{6, 2}));         // longest match first
  EXPECT_EQ(tokenizer.vocab_size(), 7);
  EXPECT_EQ(tokenizer.decode({0, 3, 4}), "a <y>");           // special <x> skipped, no decoder: joined by spaces
}

TEST(SyntheticBpe, NormalizedAddedTokensMatchTheNormalizedText) {
  Json json = tiny_bpe({{"▁", 0}, {"a", 1}, {"b", 2}}, Json::array());
  json["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}};
  json["added_tokens"] = {{{"id", 3}, {"content", "a b"}, {"normalized", true}, {"special", false}}};
  EXPECT_EQ(make(json).encode("b a b"), (Ids{2, 0, 3}));
}

TEST(SyntheticBpe, MetaspacePrependSchemes) {
  Json json = tiny_bpe({{"▁", 0}, {"a", 1}, {"<s>", 2}}, Json::array());
  json["added_tokens"] = {{{"id", 2}, {"content", "<s>"}, {"normalized", false}, {"special", true}}};
  json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", false}};
  EXPECT_EQ(make(json).encode("a<s>a"), (Ids{0, 1, 2, 1}));
  EXPECT_EQ(make(json).encode(" a"), (Ids{0, 1}));  // already starts with ▁: nothing prepended
  json["pre_tokenizer"]["prepend_scheme"] = "always";
  EXPECT_EQ(make(json).encode("a<s>a"), (Ids{0, 1, 2, 0, 1}));
  json["pre_tokenizer"]["prepend_scheme"] = "never";
  EXPECT_EQ(make(json).encode("a<s>a"), (Ids{1, 2, 1}));
}

TEST(SyntheticBpe, ConfigFlagsOverrideTheTemplate) {
  Json json = tiny_bpe({{"<s>", 0}, {"</s>", 1}, {"a", 2}}, Json::array());
  json["added_tokens"] = {{{"id", 0}, {"content", "<s>"}, {"normalized", false}, {"special", true}},
                          {{"id", 1}, {"content", "</s>"}, {"normalized", false}, {"special", true}}};
  json["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                            {"pair", Json::array()},
                            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}}}}};
  EXPECT_EQ(make(json).encode("a"), (Ids{0, 2}));
  EXPECT_FALSE(make(json).bos_id().has_value());  // no tokenizer_config.json
  const Json config = {{"bos_token", "<s>"}, {"eos_token", {{"content", "</s>"}}}};
  EXPECT_EQ(make(json, config).encode("a"), (Ids{0, 2}));
  EXPECT_EQ(make(json, Json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_bos_token", false}}).encode("a"), Ids{2});
  EXPECT_EQ(make(json, Json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_eos_token", true}}).encode("a"),
            (Ids{0, 2, 1}));
  EXPECT_EQ(make(json, Json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_eos_token", true}}).encode("a", false),
            Ids{2});
}

TEST(SyntheticBpe, SplitBehaviors) {
  Json json = tiny_bpe({{"a", 0}, {"-", 1}, {"a-", 2}, {"-a", 3}}, Json{"a -", "- a"});
  json["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_EQ(make(json).encode("a-a"), (Ids{0, 1, 0}));
  json["pre_tokenizer"]["behavior"] = "Removed";
  EXPECT_EQ(make(json).encode("a-a"), (Ids{0, 0}));
  json["pre_tokenizer"]["behavior"] = "MergedWithPrevious";
  EXPECT_EQ(make(json).encode("a-a"), (Ids{2, 0}));
  json["pre_tokenizer"]["behavior"] = "MergedWithNext";
  EXPECT_EQ(make(json).encode("a-a"), (Ids{0, 3}));
  json["pre_tokenizer"]["invert"] = true;  // "a" pieces are now the delimiters
  json["pre_tokenizer"]["behavior"] = "Removed";
  EXPECT_EQ(make(json).encode("a-a"), Ids{1});
}

TEST(TokenizerErrors, NameTheJsonPathAndWhatIsSupported) {
  Json unigram = tiny_bpe({{"a", 0}}, Json::array());
  unigram["model"]["type"] = "Unigram";
  EXPECT_NE(error_message([&] { make(unigram); }).find("model: unsupported model type \"Unigram\" (supported: BPE)"),
            std::string::npos);

  Json pre = tiny_bpe({{"a", 0}}, Json::array());
  pre["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}}, {{"type", "BertPreTokenizer"}}}}};
  const std::string message = error_message([&] { make(pre); });
  EXPECT_NE(message.find("[tokenizer] pre_tokenizer.pretokenizers[1]: unsupported pre_tokenizer type \"BertPreTokenizer\""),
            std::string::npos) << message;

  Json normalizer = tiny_bpe({{"a", 0}}, Json::array());
  normalizer["normalizer"] = {{"type", "NFKC"}};
  EXPECT_NE(error_message([&] { make(normalizer); }).find("normalizer: unsupported normalizer type \"NFKC\""), std::string::npos);

  Json decoder = tiny_bpe({{"a", 0}}, Json::array());
  decoder["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(error_message([&] { make(decoder); }).find("decoder: unsupported decoder type \"WordPiece\""), std::string::npos);

  // An id far past the vocabulary (a corrupt file) is refused before a table that large is allocated.
  const std::string far = error_message([&] { make(tiny_bpe({{"a", 0}, {"b", 2000000000}}, Json::array())); });
  EXPECT_NE(far.find("model.vocab: id of \"b\" must be an integer in [0, 65544) for 2 entries, got 2000000000"),
            std::string::npos) << far;

  const Json merge = tiny_bpe({{"a", 0}}, Json{"a b"});
  EXPECT_NE(error_message([&] { make(merge); }).find("model.merges[0]: token \"b\" is not in model.vocab"), std::string::npos);

  Json regex = tiny_bpe({{"a", 0}}, Json::array());
  regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(error_message([&] { make(regex); }).find("pre_tokenizer.pattern: regex"), std::string::npos);

  EXPECT_NE(error_message([] { Tokenizer::from_json_text("{not json"); }).find("tokenizer.json is not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_message([] { Tokenizer::from_json_text(R"({"version": 1e999})"); }).find("tokenizer.json is not valid JSON"),
            std::string::npos);  // out_of_range, not parse_error, from nlohmann
  EXPECT_NE(error_message([] { Tokenizer::from_dir("/nonexistent"); }).find("no tokenizer.json in '/nonexistent'"),
            std::string::npos);
  EXPECT_NE(error_message([&] { make(tiny_bpe({{"a", 0}}, Json::array()), Json{{"bos_token", "<s>"}}); })
                .find("bos_token \"<s>\" is not in the vocabulary"),
            std::string::npos);
}

}  // namespace
}  // namespace flotilla
