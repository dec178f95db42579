// tokenizer.json tokenizers against real token ids: llama.cpp's vocab vectors (TinyLlama/Llama-2,
// Llama-3, Qwen2.5), mistral-common's rendered prompts, and libsentencepiece on Mistral's
// tokenizer.model; then round trips and streaming (synthetic files: test_synthetic_tokenizers.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "support/fixture_files.h"
#include "support/paths.h"
#include "support/skip.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "flotilla/tokenizer.h"
#include "unicode/utf8.h"


namespace flotilla {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;
using Json = nlohmann::json;

fs::path tokenizers_dir() { return test::shared_dir() / "tokenizers"; }

using test::read_file;

// Loading Llama-3's 9 MB tokenizer.json takes a moment: each tokenizer is read once per run.
const Tokenizer& load(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Tokenizer::from_dir((tokenizers_dir() / name).string())).first;
  return it->second;
}

const Tokenizer& tinyllama() { return load("tinyllama-1.1b-chat-v1.0"); }
const Tokenizer& llama3() { return load("llama-3.2"); }
const Tokenizer& qwen() { return load("qwen2.5-0.5b-instruct"); }
const Tokenizer& mistral() { return load("mistral-7b-instruct-v0.3"); }

struct Vectors {
  std::vector<std::string> texts;
  std::vector<Ids> ids;
};

// llama.cpp's format: each string followed by "\n__ggml_vocab_test__\n"; one line of ids per string.
Vectors read_vectors(const std::string& vocab) {
  const fs::path base = tokenizers_dir() / "vectors" / "llamacpp" / ("ggml-vocab-" + vocab + ".gguf");
  const std::string inp = read_file(base.string() + ".inp");
  const std::string separator = "\n__ggml_vocab_test__\n";
  Vectors vectors;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t end = inp.find(separator, pos);
    if (end == std::string::npos) break;
    vectors.texts.push_back(inp.substr(pos, end - pos));
    pos = end + separator.size();
  }
  std::istringstream out(read_file(base.string() + ".out"));
  for (std::string line; std::getline(out, line);) {
    Ids ids;
    std::istringstream numbers(line);
    for (int64_t id; numbers >> id;) ids.push_back(id);
    vectors.ids.push_back(ids);
  }
  return vectors;
}

std::string show(const Ids& ids) {
  std::string text;
  for (const int64_t id : ids) text += " " + std::to_string(id);
  return text;
}

// libsentencepiece can only be opened in isolation from libtorch's protobuf when the program does
// not link it (see sentencepiece_tokenizer.cpp); sanitizer builds, which link everything, skip.
std::optional<SentencePieceTokenizer> open_sentencepiece(const std::string& folder) {
  try {
    return SentencePieceTokenizer::from_file((tokenizers_dir() / folder / "tokenizer.model").string());
  } catch (const Error& error) {
    if (std::string(error.what()).find("already linked") == std::string::npos) throw;
    std::printf("skipping: %s\n", error.what());
    return std::nullopt;
  }
}

struct VectorCase {
  std::string vocab;      // llama.cpp vector name
  std::string tokenizer;  // folder under shared/tokenizers
};

class LlamaCppVectors : public ::testing::TestWithParam<VectorCase> {};

TEST_P(LlamaCppVectors, EncodeMatchesEveryVector) {
  const Vectors vectors = read_vectors(GetParam().vocab);
  ASSERT_EQ(vectors.texts.size(), 46u);
  ASSERT_EQ(vectors.ids.size(), vectors.texts.size());
  const Tokenizer& tokenizer = load(GetParam().tokenizer);
  size_t passed = 0;
  for (size_t i = 0; i < vectors.texts.size(); ++i) {
    const Ids ids = tokenizer.encode(vectors.texts[i], /*add_special_tokens=*/false);
    if (ids == vectors.ids[i]) {
      ++passed;
    } else {
      ADD_FAILURE() << "vector " << i << " " << ::testing::PrintToString(vectors.texts[i]) << "\n  expected"
                    << show(vectors.ids[i]) << "\n  got     " << show(ids);
    }
  }
  std::printf("[ %s ] %zu/%zu vectors match\n", GetParam().vocab.c_str(), passed, vectors.texts.size());
}

TEST_P(LlamaCppVectors, DecodeInvertsEncode) {
  const Vectors vectors = read_vectors(GetParam().vocab);
  const Tokenizer& tokenizer = load(GetParam().tokenizer);
  for (const std::string& text : vectors.texts) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false)), text);
    // The special tokens added by the template are skipped on the way back.
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, true)), text);
  }
}

TEST_P(LlamaCppVectors, StreamingMatchesDecodeAndNeverSplitsACharacter) {
  const Vectors vectors = read_vectors(GetParam().vocab);
  const Tokenizer& tokenizer = load(GetParam().tokenizer);
  for (size_t i = 0; i < vectors.texts.size(); ++i) {
    const Ids ids = tokenizer.encode(vectors.texts[i], true);
    StreamingDecoder stream(tokenizer);
    std::string streamed;
    for (const int64_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_TRUE(unicode::is_valid(piece)) << "vector " << i;
      EXPECT_EQ(piece.find(unicode::kReplacement), std::string::npos) << "vector " << i << " emitted a partial character";
      streamed += piece;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, tokenizer.decode(ids)) << "vector " << i;
    EXPECT_EQ(streamed, vectors.texts[i]) << "vector " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, LlamaCppVectors,
                         ::testing::Values(VectorCase{"llama-spm", "tinyllama-1.1b-chat-v1.0"},
                                           VectorCase{"llama-bpe", "llama-3.2"},
                                           VectorCase{"qwen2", "qwen2.5-0.5b-instruct"}),
                         [](const auto& info) {
                           std::string name = info.param.vocab;
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// mistral-common renders prompts as pieces (▁ for spaces, <0x0A> for byte pieces); turned back
// into plain text they must give its ids.
std::string unrender(std::string text) {
  for (size_t pos = text.find("▁"); pos != std::string::npos; pos = text.find("▁", pos)) text.replace(pos, 3, " ");
  for (size_t pos = text.find("<0x"); pos != std::string::npos; pos = text.find("<0x", pos + 1)) {
    if (pos + 6 <= text.size() && text[pos + 5] == '>') {
      text.replace(pos, 6, 1, static_cast<char>(std::stoi(text.substr(pos + 3, 2), nullptr, 16)));
    }
  }
  return text;
}

TEST(MistralSamples, RenderedPromptsGiveMistralCommonIds) {
  for (const char* sample : {"no_tools", "get_weather_full", "parallel_calls"}) {
    const fs::path dir = tokenizers_dir() / "mistral-7b-instruct-v0.3" / "samples" / sample;
    const std::string text = unrender(read_file(dir / "text_v3.txt"));
    const Ids expected = Json::parse(read_file(dir / "tokens_v3.json")).at("tokens").get<Ids>();
    const Ids ids = mistral().encode(text, false);
    size_t first = 0;
    while (first < ids.size() && first < expected.size() && ids[first] == expected[first]) ++first;
    EXPECT_EQ(ids, expected) << sample << ": first difference at " << first << ", expected"
                             << show(Ids(expected.begin() + first, expected.begin() + std::min(expected.size(), first + 8)))
                             << " got" << show(Ids(ids.begin() + first, ids.begin() + std::min(ids.size(), first + 8)));
  }
}

// Mistral's tokenizer.json against its tokenizer.model run by libsentencepiece. Hugging Face's
// Metaspace(prepend_scheme="first") adds no ▁ to a text that already starts with a space, where
// SentencePiece's dummy prefix always adds one: those strings get one token fewer, by design.
TEST(MistralSentencePiece, TokenizerJsonMatchesTokenizerModel) {
  const auto opened = open_sentencepiece("mistral-7b-instruct-v0.3");
  if (!opened) SKIP_OR_FAIL_UNDER_CI("libsentencepiece cannot be isolated in this build");
  const SentencePieceTokenizer& sentencepiece = *opened;
  EXPECT_EQ(sentencepiece.vocab_size(), mistral().vocab_size());
  EXPECT_EQ(sentencepiece.bos_id(), mistral().bos_id());
  const Vectors vectors = read_vectors("llama-spm");
  size_t same = 0, leading_space = 0;
  for (const std::string& text : vectors.texts) {
    const Ids json_ids = mistral().encode(text, false);
    const Ids model_ids = sentencepiece.encode(text);
    if (!text.empty() && text[0] == ' ') {
      ++leading_space;
      // The only difference: SentencePiece's extra "▁" in front.
      EXPECT_EQ(mistral().encode(" " + text, false), model_ids) << ::testing::PrintToString(text);
      continue;
    }
    EXPECT_EQ(json_ids, model_ids) << ::testing::PrintToString(text);
    same += json_ids == model_ids;
    EXPECT_EQ(sentencepiece.decode(model_ids), mistral().decode(json_ids));
  }
  std::printf("[ mistral ] %zu/%zu vectors identical to libsentencepiece, %zu start with a space\n", same,
              vectors.texts.size() - leading_space, leading_space);
}

// TinyLlama's tokenizer.json always prepends ▁ (a Prepend normalizer), exactly as SentencePiece's dummy prefix.
TEST(TinyLlamaSentencePiece, TokenizerJsonMatchesTokenizerModel) {
  const auto opened = open_sentencepiece("tinyllama-1.1b-chat-v1.0");
  if (!opened) SKIP_OR_FAIL_UNDER_CI("libsentencepiece cannot be isolated in this build");
  const SentencePieceTokenizer& sentencepiece = *opened;
  EXPECT_EQ(sentencepiece.vocab_size(), tinyllama().vocab_size());
  EXPECT_EQ(sentencepiece.bos_id(), tinyllama().bos_id());
  EXPECT_EQ(sentencepiece.eos_id(), tinyllama().eos_ids().front());
  EXPECT_EQ(sentencepiece.token_to_id("▁Hello"), 15043);
  EXPECT_FALSE(sentencepiece.token_to_id("no such piece").has_value());
  const Vectors vectors = read_vectors("llama-spm");
  size_t same = 0;
  for (const std::string& text : vectors.texts) {
    const Ids ids = tinyllama().encode(text, false);
    EXPECT_EQ(ids, sentencepiece.encode(text)) << ::testing::PrintToString(text);
    same += ids == sentencepiece.encode(text);
    EXPECT_EQ(sentencepiece.decode(ids), text);
  }
  std::printf("[ tinyllama ] %zu/%zu vectors identical to libsentencepiece\n", same, vectors.texts.size());
  EXPECT_EQ(tinyllama().encode("Hello world"), sentencepiece.encode("Hello world", /*add_bos=*/true));
}

// Mistral's Metaspace(prepend_scheme="first") adds no ▁ before a leading space, and its Strip
// decoder then removes that space: tokenizers loses it on the round trip, and so does this class.
TEST(Tokenizer, MistralLeadingSpaceFollowsTokenizers) {
  EXPECT_EQ(mistral().encode(" Hello", false), mistral().encode("Hello", false));
  EXPECT_EQ(mistral().decode(mistral().encode(" Hello", false)), "Hello");
  EXPECT_EQ(mistral().decode(mistral().encode("Hello  world", false)), "Hello  world");
}

TEST(Tokenizer, SpecialTokensAndVocabulary) {
  EXPECT_EQ(tinyllama().bos_id(), 1);
  EXPECT_EQ(tinyllama().eos_ids(), Ids{2});
  EXPECT_EQ(tinyllama().vocab_size(), 32000);
  EXPECT_EQ(tinyllama().encode("Hello world"), (Ids{1, 15043, 3186}));
  EXPECT_EQ(tinyllama().encode("<s>Hello</s>", false), (Ids{1, 15043, 2}));
  EXPECT_EQ(tinyllama().token_to_id("▁Hello"), 15043);
  EXPECT_EQ(tinyllama().id_to_token(15043), "▁Hello");
  EXPECT_FALSE(tinyllama().token_to_id("no such token").has_value());
  EXPECT_THROW(tinyllama().id_to_token(32000), Error);

  EXPECT_EQ(llama3().bos_id(), 128000);
  EXPECT_EQ(llama3().eos_ids(), Ids{128009});
  EXPECT_EQ(llama3().vocab_size(), 128256);
  EXPECT_EQ(llama3().encode("Hello world"), (Ids{128000, 9906, 1917}));
  EXPECT_TRUE(llama3().is_special(128009));

  EXPECT_FALSE(qwen().bos_id().has_value());
  EXPECT_EQ(qwen().eos_ids(), Ids{151645});
  EXPECT_EQ(qwen().pad_id(), 151643);
  EXPECT_EQ(qwen().vocab_size(), 151665);
  EXPECT_EQ(qwen().encode("Hello"), Ids{9707});  // no BOS: the post-processor is ByteLevel only
  EXPECT_EQ(qwen().encode("<|im_start|>user\nHi<|im_end|>", false), (Ids{151644, 872, 198, 13048, 151645}));
}

TEST(Tokenizer, TextMadeOnlyOfSpecialTokens) {
  EXPECT_EQ(tinyllama().encode("<s></s><s>", false), (Ids{1, 2, 1}));
  EXPECT_EQ(tinyllama().decode({1, 2, 1}), "");
  EXPECT_EQ(tinyllama().decode({1, 2, 1}, /*skip_special_tokens=*/false), "<s></s><s>");
  EXPECT_EQ(qwen().encode("<|im_start|><|im_end|>", false), (Ids{151644, 151645}));
  EXPECT_EQ(qwen().decode({151644, 151645}, false), "<|im_start|><|im_end|>");
  EXPECT_EQ(llama3().encode("<|begin_of_text|><|eot_id|>", true), (Ids{128000, 128000, 128009}));
}

TEST(Tokenizer, EmptyText) {
  for (const Tokenizer* tokenizer : {&tinyllama(), &llama3(), &qwen(), &mistral()}) {
    EXPECT_TRUE(tokenizer->encode("", false).empty());
    EXPECT_EQ(tokenizer->decode({}), "");
  }
  EXPECT_EQ(tinyllama().encode(""), Ids{1});
  EXPECT_TRUE(qwen().encode("").empty());
}

// Ill-formed UTF-8 is encoded as if each maximal ill-formed subpart were U+FFFD.
TEST(Tokenizer, InvalidUtf8BecomesReplacementCharacters) {
  const std::string bad = "a\xFF" "b\xE2\x82" "c\xC0\xAF";
  const std::string replaced = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_EQ(unicode::sanitize(bad), replaced);
  for (const Tokenizer* tokenizer : {&tinyllama(), &llama3(), &qwen()}) {
    const Ids ids = tokenizer->encode(bad, false);
    EXPECT_EQ(ids, tokenizer->encode(replaced, false));
    EXPECT_EQ(tokenizer->decode(ids), replaced);
  }
  // A lone byte that is valid UTF-8 on its own is unaffected: byte_fallback covers characters outside the vocab.
  EXPECT_EQ(tinyllama().encode("\x01", false), (Ids{29871, 4}));
}

// Decoding byte_fallback pieces that do not form UTF-8 gives one U+FFFD per byte, as tokenizers.
TEST(Tokenizer, DecodeOfBrokenByteFallbackRuns) {
  const int64_t e2 = *tinyllama().token_to_id("<0xE2>");
  EXPECT_EQ(tinyllama().decode({e2, e2}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(llama3().decode({*llama3().token_to_id("â")}), "\xEF\xBF\xBD");
}

// The 2 s budget holds for optimized builds; sanitizer and debug builds only print the time.
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
constexpr bool kTimed = true;
#else
constexpr bool kTimed = false;
#endif

std::string megabyte_of_text() {
  const Vectors vectors = read_vectors("llama-spm");
  std::string text;
  while (text.size() < (1u << 20)) {
    for (const std::string& piece : vectors.texts) text += piece + " ";
  }
  return text;
}

TEST(Tokenizer, MegabyteInputIsFast) {
  const std::string text = megabyte_of_text();
  const std::string one_word(1u << 20, 'a');  // SentencePiece-style: a single 1 MB word to merge
  const std::string spaces(1u << 20, ' ');    // the regexes' whitespace look-ahead on one long run
  const std::string mixed = [] {              // CJK, emoji (byte fallback for SentencePiece), Hangul
    std::string text;
    while (text.size() < (1u << 20)) text += "\xE4\xBD\xA0\xE5\xA5\xBD\xF0\x9F\xA6\x99\xEA\xB0\x80 ";
    return text;
  }();
  for (const Tokenizer* tokenizer : {&tinyllama(), &llama3(), &qwen()}) {
    for (const std::string* input : {&text, &one_word, &spaces, &mixed}) {
      const auto start = std::chrono::steady_clock::now();
      const Ids ids = tokenizer->encode(*input, false);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("encode %zu bytes -> %zu ids in %.3f s\n", input->size(), ids.size(), seconds);
      if (kTimed) {
        EXPECT_LT(seconds, 2.0);
      }
      EXPECT_EQ(tokenizer->decode(ids), *input);
    }
  }
}

// Ids from Hugging Face's Rust tokenizers (golden/gen_bpe_golden.js) for strings that take every
// path of the merge loop: long words (priority queue), "▁" runs, repeated words (the per-call cache).
TEST(RustReference, LongWordsRunsAndRepeatedWords) {
  const Json golden = Json::parse(read_file(fs::path(FLOTILLA_SOURCE_DIR) / "tests/tokenizer/golden/bpe_reference.json"));
  const auto texts = golden.at("texts").get<std::vector<std::string>>();
  size_t checked = 0;
  for (const Json& entry : golden.at("cases")) {
    const Tokenizer& tokenizer = load(entry.at("tokenizer").get<std::string>());
    const auto expected = entry.at("ids").get<std::vector<Ids>>();
    ASSERT_EQ(expected.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i, ++checked) {
      EXPECT_EQ(tokenizer.encode(texts[i], false), expected[i]) << entry.at("tokenizer") << " text " << i;
    }
  }
  std::printf("[ rust ] %zu strings checked against %s\n", checked, golden.at("reference").get<std::string>().c_str());
}

// encode and decode keep no mutable state: one tokenizer serves many threads.
TEST(Tokenizer, ConcurrentEncodeGivesTheSameIds) {
  const Vectors vectors = read_vectors("llama-bpe");
  const Tokenizer& tokenizer = llama3();  // loaded before the threads start: the cache is not thread-safe
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < vectors.texts.size(); ++i) mismatches[t] += tokenizer.encode(vectors.texts[i], false) != vectors.ids[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// A streamed emoji made of <0xXX> pieces appears whole, once its last byte arrives.
TEST(StreamingDecoder, HoldsBackPartialCharacters) {
  const Ids ids = tinyllama().encode("I 🦙 x", false);
  StreamingDecoder stream(tinyllama());
  std::vector<std::string> pieces;
  for (const int64_t id : ids) pieces.push_back(stream.push(id));
  pieces.push_back(stream.finish());
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(unicode::is_valid(piece));
    joined += piece;
  }
  EXPECT_EQ(joined, "I 🦙 x");
  EXPECT_NE(std::find(pieces.begin(), pieces.end(), "🦙"), pieces.end());
  // An incomplete character left at the end comes out of finish() as U+FFFD.
  StreamingDecoder cut(tinyllama());
  EXPECT_EQ(cut.push(*tinyllama().token_to_id("<0xF0>")), "");
  EXPECT_EQ(cut.finish(), "\xEF\xBF\xBD");
}

// After an invalid byte, byte fallback turns every following byte token of the run into U+FFFD too,
// so a trailing U+FFFD never clears: the stream must still give it out within 4 tokens (a UTF-8
// character's longest run), not hold a window that grows, and its decoding time, with every token
// (found by the tokenizer fuzzer: 3240 ids took 13 s).
TEST(StreamingDecoder, ReplacementThatNeverClearsIsEmittedWithinFourTokens) {
  StreamingDecoder stream(tinyllama());
  std::string streamed;
  size_t held = 0, longest_hold = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string piece = stream.push(*tinyllama().token_to_id(i == 0 ? "<0xFF>" : "<0x41>"));
    EXPECT_TRUE(unicode::is_valid(piece));
    held = piece.empty() ? held + 1 : 0;
    longest_hold = std::max(longest_hold, held);
    streamed += piece;
  }
  streamed += stream.finish();
  EXPECT_LE(longest_hold, 3u);
  EXPECT_EQ(streamed.rfind("\xEF\xBF\xBD", 0), 0u) << streamed.substr(0, 12);
}

TEST(SentencePieceReference, MissingModelFileIsAnError) {
  EXPECT_THROW(SentencePieceTokenizer::from_file("/nonexistent/tokenizer.model"), Error);
}

}  // namespace
}  // namespace flotilla
