// llama2.c import: golden comparison with the Hugging Face fixture, broken files, tokenizer.json
// equivalence with llama2.c's own encode, and the files `convert` writes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "convert/reference_encoders.h"
#include "core/error.h"
#include "core/memory.h"
#include "convert/llama2c.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/config.h"
#include "support/error_message.h"
#include "support/paths.h"

using namespace flotilla::convert;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::scratch_dir;
using test::stories_dir;

const std::string kCheckpoint = (stories_dir() / "llama2c" / "stories260K.bin").string();
const std::string kTokenizer = (stories_dir() / "llama2c" / "tok512.bin").string();
const std::string kHfDir = (stories_dir() / "hf").string();
constexpr int64_t kCheckpointBytes = 1056540;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void put_int32(std::string& bytes, size_t offset, int32_t value) { std::memcpy(&bytes[offset], &value, 4); }

// The Error message thrown by body, or "" when it does not throw.
using test::error_message;

void expect_mentions(const std::string& message, const std::vector<std::string>& parts) {
  ASSERT_FALSE(message.empty()) << "expected an error";
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing in: " << message;
}

std::map<std::string, at::Tensor> by_name(const NamedTensors& tensors) {
  return std::map<std::string, at::Tensor>(tensors.begin(), tensors.end());
}

TEST(Llama2c, TensorsAreBitIdenticalToHfFixture) {
  const auto converted = by_name(read_llama2c_checkpoint(kCheckpoint).tensors);
  SafetensorsFile golden(kHfDir + "/model.safetensors");
  ASSERT_EQ(converted.size(), golden.tensors().size());
  for (const auto& info : golden.tensors()) {
    ASSERT_TRUE(converted.count(info.name)) << "missing " << info.name;
    const at::Tensor expected = load_tensor(golden, info), got = converted.at(info.name);
    ASSERT_EQ(got.scalar_type(), at::kFloat) << info.name;
    ASSERT_EQ(got.sizes(), expected.sizes()) << info.name;
    EXPECT_TRUE(at::equal(got, expected)) << info.name << " max |diff| "
                                          << (got - expected).abs().max().item<float>() << ", tolerance 0 (bitwise)";
  }
  EXPECT_FALSE(converted.count("lm_head.weight")) << "tied checkpoint must not get an lm_head";
}

TEST(Llama2c, ConfigComesFromHeader) {
  const ModelConfig config = read_llama2c_checkpoint(kCheckpoint).config;
  EXPECT_EQ(config.model_type, "llama");
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.intermediate_size, 172);
  EXPECT_EQ(config.num_hidden_layers, 5);
  EXPECT_EQ(config.num_attention_heads, 8);
  EXPECT_EQ(config.num_key_value_heads, 4);
  EXPECT_EQ(config.head_dim, 8);
  EXPECT_EQ(config.vocab_size, 512);
  EXPECT_EQ(config.max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(config.rope_theta, 10000.0);
  EXPECT_TRUE(config.tie_word_embeddings);
  EXPECT_EQ(config.bos_token_id, 1);
  EXPECT_EQ(config.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(config.torch_dtype, "float32");
}

TEST(Llama2c, NegativeVocabMeansUntiedClassifier) {
  std::string bytes = read_bytes(kCheckpoint);
  put_int32(bytes, 5 * 4, -512);
  std::vector<float> classifier(512 * 64);
  for (size_t i = 0; i < classifier.size(); ++i) classifier[i] = 0.001f * static_cast<float>(i);
  bytes.append(reinterpret_cast<const char*>(classifier.data()), classifier.size() * sizeof(float));
  const auto path = scratch_dir("untied") / "untied.bin";
  write_bytes(path, bytes);

  const auto checkpoint = read_llama2c_checkpoint(path.string());
  EXPECT_FALSE(checkpoint.config.tie_word_embeddings);
  EXPECT_EQ(checkpoint.config.vocab_size, 512);
  const auto tensors = by_name(checkpoint.tensors);
  ASSERT_TRUE(tensors.count("lm_head.weight"));
  const at::Tensor expected = at::from_blob(classifier.data(), {512, 64}, at::kFloat);
  EXPECT_TRUE(at::equal(tensors.at("lm_head.weight"), expected));
}

TEST(Llama2c, BrokenCheckpointsGiveClearErrors) {
  const auto dir = scratch_dir("broken");
  const std::string original = read_bytes(kCheckpoint);

  const auto truncated = dir / "truncated.bin";
  write_bytes(truncated, original.substr(0, kCheckpointBytes - 100));
  expect_mentions(error_message([&] { read_llama2c_checkpoint(truncated.string()); }),
                  {"[llama2c]", truncated.string(), "1056540", "1056440", "truncated"});

  const auto trailing = dir / "trailing.bin";
  write_bytes(trailing, original + "xxxx");
  expect_mentions(error_message([&] { read_llama2c_checkpoint(trailing.string()); }), {"1056540", "1056544", "trailing"});

  const auto tiny = dir / "tiny.bin";
  write_bytes(tiny, original.substr(0, 10));
  expect_mentions(error_message([&] { read_llama2c_checkpoint(tiny.string()); }), {tiny.string(), "10 bytes", "header"});

  std::string bad_heads = original;
  put_int32(bad_heads, 3 * 4, 7);  // dim 64 is not a multiple of 7 heads
  write_bytes(dir / "heads.bin", bad_heads);
  expect_mentions(error_message([&] { read_llama2c_checkpoint((dir / "heads.bin").string()); }), {"n_heads 7", "dim"});

  std::string bad_kv = original;
  put_int32(bad_kv, 4 * 4, 3);  // 8 heads cannot share 3 key/value heads
  write_bytes(dir / "kv.bin", bad_kv);
  expect_mentions(error_message([&] { read_llama2c_checkpoint((dir / "kv.bin").string()); }), {"n_kv_heads 3"});

  std::string huge = original;
  const int32_t huge_header[7] = {1 << 30, 0x7ffffffe, 0x7ffffffe, 1 << 20, 1 << 20, 0x7ffffffe, 0x7ffffffe};
  for (int field = 0; field < 7; ++field) put_int32(huge, field * 4, huge_header[field]);
  write_bytes(dir / "huge.bin", huge);  // sizes whose byte count wraps around 64 bits
  expect_mentions(error_message([&] { read_llama2c_checkpoint((dir / "huge.bin").string()); }), {"overflow"});

  expect_mentions(error_message([&] { read_llama2c_checkpoint((dir / "missing.bin").string()); }), {"missing.bin"});
}

TEST(Llama2c, BrokenTokenizersGiveClearErrors) {
  const auto dir = scratch_dir("broken");
  const std::string original = read_bytes(kTokenizer);

  const auto truncated = dir / "tok_cut.bin";
  write_bytes(truncated, original.substr(0, 3000));
  expect_mentions(error_message([&] { read_llama2c_tokenizer(truncated.string(), 512); }),
                  {"[llama2c]", truncated.string(), "truncated", "offset", "3000 bytes"});

  std::string negative = original;
  put_int32(negative, 8, -5);  // length of token 0, after max_token_length and its score
  write_bytes(dir / "tok_negative.bin", negative);
  expect_mentions(error_message([&] { read_llama2c_tokenizer((dir / "tok_negative.bin").string(), 512); }),
                  {"token 0", "offset 8", "negative length -5"});

  // A huge length is refused before its bytes are allocated (fuzz_llama2c_tokenizer: 2 GB for a 6 kB file).
  std::string huge = original;
  put_int32(huge, 8, INT32_MAX);
  write_bytes(dir / "tok_huge.bin", huge);
  const double peak_before = peak_memory_gb();
  expect_mentions(error_message([&] { read_llama2c_tokenizer((dir / "tok_huge.bin").string(), 512); }),
                  {"truncated", "the bytes of token 0 needs 2147483647 bytes"});
  EXPECT_LT(peak_memory_gb() - peak_before, 0.5) << "peak memory grew by the corrupt length";

  expect_mentions(error_message([&] { read_llama2c_tokenizer(kTokenizer, 511); }), {"more tokens", "vocab_size 511"});
  expect_mentions(error_message([&] { read_llama2c_tokenizer(kTokenizer, 513); }), {"truncated", "token 512"});

  auto tokenizer = read_llama2c_tokenizer(kTokenizer, 512);
  tokenizer.pieces[3 + 0x41] = "A";
  expect_mentions(error_message([&] { llama2c_tokenizer_json(tokenizer); }), {"piece 68", "<0x41>"});
  tokenizer.pieces[3 + 0x41] = "<0x41>";
  tokenizer.pieces[300] = "\xA0x";  // not UTF-8: dump() would throw nlohmann's type_error (fuzz_llama2c_tokenizer)
  expect_mentions(error_message([&] { llama2c_tokenizer_json(tokenizer); }), {"[llama2c]", "piece 300 is not valid UTF-8"});
}

TEST(Llama2c, TokenizerJsonHasSentencePieceStructure) {
  const auto tokenizer = read_llama2c_tokenizer(kTokenizer, 512);
  EXPECT_EQ(tokenizer.max_token_length, 7);
  const auto json = llama2c_tokenizer_json(tokenizer);
  const auto& model = json.at("model");
  EXPECT_EQ(model.at("type"), "BPE");
  EXPECT_EQ(model.at("byte_fallback"), true);
  EXPECT_EQ(model.at("fuse_unk"), true);
  EXPECT_EQ(model.at("unk_token"), "<unk>");
  const auto& vocab = model.at("vocab");
  ASSERT_EQ(vocab.size(), 512u);
  EXPECT_EQ(vocab.at("<unk>"), 0);
  EXPECT_EQ(vocab.at("<s>"), 1);
  EXPECT_EQ(vocab.at("</s>"), 2);
  EXPECT_EQ(vocab.at("<0x00>"), 3);
  EXPECT_EQ(vocab.at("<0xFF>"), 258);
  EXPECT_EQ(vocab.at("\xe2\x96\x81t"), 259);  // "▁t", stored as " t" by llama2.c
  EXPECT_EQ(vocab.begin().key(), "<unk>") << "vocab is written in id order";
  const auto& merges = model.at("merges");
  ASSERT_FALSE(merges.empty());
  EXPECT_EQ(merges.at(0), nlohmann::ordered_json({"\xe2\x96\x81", "t"}));
  ASSERT_EQ(json.at("added_tokens").size(), 3u);
  EXPECT_EQ(json.at("added_tokens").at(1).at("content"), "<s>");
  EXPECT_EQ(json.at("added_tokens").at(1).at("special"), true);
  EXPECT_EQ(json.at("normalizer").at("normalizers").at(0).at("type"), "Prepend");
  EXPECT_TRUE(json.at("pre_tokenizer").is_null());
  EXPECT_EQ(json.at("post_processor").at("special_tokens").at("<s>").at("ids").at(0), 1);
  EXPECT_EQ(json.at("decoder").at("decoders").size(), 4u);

  const auto config = llama2c_tokenizer_config_json(512);
  EXPECT_EQ(config.at("add_bos_token"), true);
  EXPECT_EQ(config.at("add_eos_token"), false);
  EXPECT_EQ(config.at("model_max_length"), 512);
  EXPECT_EQ(config.at("tokenizer_class"), "LlamaTokenizer");
}

TEST(Llama2c, TokenizerJsonEncodesLikeLlama2c) {
  const auto tokenizer = read_llama2c_tokenizer(kTokenizer, 512);
  const test::ReferenceBpe bpe(llama2c_tokenizer_json(tokenizer));
  std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "She loved to play outside in the park with her friends.",
      "Lily and Ben went to the store. They bought apples!",
      "\"Can I have a cookie?\" asked Tom. Mom said, \"Yes.\"",
      "The end.",
      "",
      " ",
      "   ",
      "  leading spaces",
      "trailing spaces  ",
      "multiple   spaces    inside",
      "\n",
      "line one\nline two\n\nline four",
      "tab\tseparated\tvalues",
      "12345 67890 3.14159 2024-01-01",
      "Tom's dog said: \"Woof!\" (really?)",
      "caf\xc3\xa9 \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac",  // café ü 日本
      "na\xc3\xafve r\xc3\xa9sum\xc3\xa9",             // naïve résumé
      "emoji \xf0\x9f\x99\x82 test",                   // 🙂
      "\xe2\x82\xac" "100 \xe2\x80\x94 em dash",        // €100 — em dash
      "\xe2\x80\x9c" "curly\xe2\x80\x9d and \xe2\x80\x98single\xe2\x80\x99",
      "ALL CAPS SHOUTING",
      "MiXeD cAsE wOrDs",
      "a",
      "aaaaaaaaaaaaaaaaaaaa",
      "the the the the the",
      "don't stop, won't stop",
      "x=y+z*2/3",
      "<tag>[brackets]{braces}|pipe~tilde\\backslash%percent",
      "ababababab abab ba",
      "supercalifragilisticexpialidocious",
      "1\n2\n3\n",
  };
  // Plus strings glued from random pieces, which exercise unusual merge orders.
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pick(259, tokenizer.pieces.size() - 1), count(1, 8);
  for (int i = 0; i < 300; ++i) {
    std::string text;
    for (size_t n = count(rng); n > 0; --n) text += tokenizer.pieces[pick(rng)];
    texts.push_back(text);
  }
  for (const auto& text : texts) {
    EXPECT_EQ(bpe.encode(text), test::llama2c_encode(tokenizer, text)) << "text: '" << text << "'";
  }
  EXPECT_GT(test::llama2c_encode(tokenizer, texts[0]).size(), 5u) << "reference encoder merged nothing?";
}

TEST(Llama2c, ConvertWritesTheFourFiles) {
  const auto out = scratch_dir("convert") / "stories260K";
  convert_llama2c(kCheckpoint, kTokenizer, out.string());

  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(out)) files.insert(entry.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}))
      << "no temp files may remain";

  std::ifstream config_in(out / "config.json"), golden_in(fs::path(kHfDir) / "config.json");
  EXPECT_EQ(nlohmann::json::parse(config_in), nlohmann::json::parse(golden_in));

  SafetensorsFile written((out / "model.safetensors").string());
  EXPECT_EQ(written.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  const auto expected = by_name(read_llama2c_checkpoint(kCheckpoint).tensors);
  ASSERT_EQ(written.tensors().size(), expected.size());
  for (const auto& info : written.tensors()) {
    EXPECT_TRUE(at::equal(load_tensor(written, info), expected.at(info.name))) << info.name;
  }

  std::ifstream tokenizer_in(out / "tokenizer.json"), tokenizer_config_in(out / "tokenizer_config.json");
  EXPECT_EQ(nlohmann::ordered_json::parse(tokenizer_in), llama2c_tokenizer_json(read_llama2c_tokenizer(kTokenizer, 512)));
  EXPECT_EQ(nlohmann::json::parse(tokenizer_config_in).at("model_max_length"), 512);
}

TEST(Llama2c, ConvertRefusesInputFolderAndLeavesNothingOnBadInput) {
  const auto dir = scratch_dir("refuse");
  fs::copy_file(kCheckpoint, dir / "stories260K.bin");
  fs::copy_file(kTokenizer, dir / "tok512.bin");
  for (const auto& out : {dir.string(), dir.string() + "/", (dir / "." ).string()}) {
    expect_mentions(error_message([&] { convert_llama2c((dir / "stories260K.bin").string(), kTokenizer, out); }),
                    {"[convert]", "holds the input"});
    expect_mentions(error_message([&] { convert_llama2c(kCheckpoint, (dir / "tok512.bin").string(), out); }),
                    {"[convert]", "tok512.bin"});
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);

  write_bytes(dir / "cut.bin", read_bytes(kCheckpoint).substr(0, 1000));
  const auto out = dir / "never";
  expect_mentions(error_message([&] { convert_llama2c((dir / "cut.bin").string(), kTokenizer, out.string()); }), {"truncated"});
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace flotilla
