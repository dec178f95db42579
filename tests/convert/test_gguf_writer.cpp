// GGUF writer: a file read back byte by byte against the layout of ggml/include/gguf.h, and the
// mistakes it refuses (leaving no file behind).
#include <gtest/gtest.h>

#include <cstring>

#include "convert/gguf_writer.h"
#include "io/io_test_util.h"
#include "support/paths.h"

using namespace flotilla::convert;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::expect_contains;
using test::read_bytes;

// Reads the little-endian fields of a GGUF file in order.
class Cursor {
 public:
  explicit Cursor(std::string bytes) : bytes_(std::move(bytes)) {}
  template <typename T>
  T next() {
    EXPECT_LE(at_ + sizeof(T), bytes_.size());
    T value{};
    if (at_ + sizeof(T) <= bytes_.size()) std::memcpy(&value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  std::string string() {
    const auto n = next<uint64_t>();
    std::string text = bytes_.substr(at_, n);
    at_ += n;
    return text;
  }
  std::string raw(size_t at, size_t n) const { return bytes_.substr(at, n); }
  size_t at() const { return at_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
  size_t at_ = 0;
};

GgufWriter::WriteData bytes_of(std::string bytes) {
  return [bytes = std::move(bytes)](GgufDataSink& sink) { sink.write(bytes.data(), bytes.size()); };
}

TEST(GgufWriter, LayoutMatchesTheSpec) {
  const auto path = test::scratch_dir("gguf") / "model.gguf";
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 7);
  w.add_i32("answer", -42);
  w.add_f32("llama.rope.freq_base", 1e6f);
  w.add_bool("flag", true);
  w.add_strings("tokenizer.ggml.tokens", {"<s>", "a b", ""});
  w.add_i32s("tokenizer.ggml.token_type", {3, 1, -1});
  w.add_f32s("tokenizer.ggml.scores", {0.5f, -2.0f});
  const std::string norm(3 * 4, '\x11');
  const std::string q4(18 * 2 * 2, '\x22');  // Q4_0 {64, 2}: 2 blocks per row, 2 rows
  w.add_tensor("output_norm.weight", GgmlType::F32, {3}, bytes_of(norm));
  w.add_tensor("blk.0.attn_q.weight", GgmlType::Q4_0, {64, 2}, bytes_of(q4));
  const uint64_t size = w.write(path.string());

  Cursor c(read_bytes(path));
  EXPECT_EQ(size, c.size());
  EXPECT_EQ(c.raw(0, 4), "GGUF");
  c.next<uint32_t>();
  EXPECT_EQ(c.next<uint32_t>(), 3u);  // version
  EXPECT_EQ(c.next<int64_t>(), 2);    // tensors
  EXPECT_EQ(c.next<int64_t>(), 8);    // key/values
  EXPECT_EQ(c.string(), "general.architecture");
  EXPECT_EQ(c.next<uint32_t>(), 8u);
  EXPECT_EQ(c.string(), "llama");
  EXPECT_EQ(c.string(), "llama.block_count");
  EXPECT_EQ(c.next<uint32_t>(), 4u);
  EXPECT_EQ(c.next<uint32_t>(), 7u);
  EXPECT_EQ(c.string(), "answer");
  EXPECT_EQ(c.next<uint32_t>(), 5u);
  EXPECT_EQ(c.next<int32_t>(), -42);
  EXPECT_EQ(c.string(), "llama.rope.freq_base");
  EXPECT_EQ(c.next<uint32_t>(), 6u);
  EXPECT_EQ(c.next<float>(), 1e6f);
  EXPECT_EQ(c.string(), "flag");
  EXPECT_EQ(c.next<uint32_t>(), 7u);
  EXPECT_EQ(c.next<int8_t>(), 1);
  EXPECT_EQ(c.string(), "tokenizer.ggml.tokens");
  EXPECT_EQ(c.next<uint32_t>(), 9u);
  EXPECT_EQ(c.next<uint32_t>(), 8u);
  EXPECT_EQ(c.next<uint64_t>(), 3u);
  EXPECT_EQ(c.string(), "<s>");
  EXPECT_EQ(c.string(), "a b");
  EXPECT_EQ(c.string(), "");
  EXPECT_EQ(c.string(), "tokenizer.ggml.token_type");
  EXPECT_EQ(c.next<uint32_t>(), 9u);
  EXPECT_EQ(c.next<uint32_t>(), 5u);
  EXPECT_EQ(c.next<uint64_t>(), 3u);
  EXPECT_EQ(c.next<int32_t>(), 3);
  EXPECT_EQ(c.next<int32_t>(), 1);
  EXPECT_EQ(c.next<int32_t>(), -1);
  EXPECT_EQ(c.string(), "tokenizer.ggml.scores");
  EXPECT_EQ(c.next<uint32_t>(), 9u);
  EXPECT_EQ(c.next<uint32_t>(), 6u);
  EXPECT_EQ(c.next<uint64_t>(), 2u);
  EXPECT_EQ(c.next<float>(), 0.5f);
  EXPECT_EQ(c.next<float>(), -2.0f);

  EXPECT_EQ(c.string(), "output_norm.weight");
  EXPECT_EQ(c.next<uint32_t>(), 1u);
  EXPECT_EQ(c.next<int64_t>(), 3);
  EXPECT_EQ(c.next<int32_t>(), 0);    // GGML_TYPE_F32
  EXPECT_EQ(c.next<uint64_t>(), 0u);  // offset in the data section
  EXPECT_EQ(c.string(), "blk.0.attn_q.weight");
  EXPECT_EQ(c.next<uint32_t>(), 2u);
  EXPECT_EQ(c.next<int64_t>(), 64);
  EXPECT_EQ(c.next<int64_t>(), 2);
  EXPECT_EQ(c.next<int32_t>(), 2);     // GGML_TYPE_Q4_0
  EXPECT_EQ(c.next<uint64_t>(), 32u);  // 12 bytes padded to the 32-byte alignment

  const size_t data = (c.at() + 31) / 32 * 32;
  EXPECT_EQ(c.raw(c.at(), data - c.at()), std::string(data - c.at(), '\0'));
  EXPECT_EQ(c.raw(data, 12), norm);
  EXPECT_EQ(c.raw(data + 12, 20), std::string(20, '\0'));
  EXPECT_EQ(c.raw(data + 32, q4.size()), q4);
  EXPECT_EQ(size, data + 32 + q4.size() + 24);  // 72 bytes padded to 96
}

TEST(GgufWriter, AlignmentKeySetsThePadding) {
  const auto path = test::scratch_dir("gguf") / "aligned.gguf";
  GgufWriter w;
  w.set_alignment(64);
  w.add_tensor("a", GgmlType::BF16, {3}, bytes_of(std::string(6, '\x01')));
  w.add_tensor("b", GgmlType::F16, {2, 2}, bytes_of(std::string(8, '\x02')));
  const uint64_t size = w.write(path.string());
  const std::string bytes = read_bytes(path);
  ASSERT_EQ(size, bytes.size());
  EXPECT_EQ(size % 64, 0u);
  EXPECT_EQ(bytes.substr(size - 128, 6), std::string(6, '\x01'));
  EXPECT_EQ(bytes.substr(size - 64, 8), std::string(8, '\x02'));
  EXPECT_NE(bytes.find("general.alignment"), std::string::npos);
}

TEST(GgufWriter, TensorBytesPerType) {
  EXPECT_EQ(ggml_tensor_bytes(GgmlType::F32, {4096}), 16384u);
  EXPECT_EQ(ggml_tensor_bytes(GgmlType::BF16, {2048, 128256}), 2048u * 128256 * 2);
  EXPECT_EQ(ggml_tensor_bytes(GgmlType::Q4_0, {4096, 14336}), 4096u / 32 * 18 * 14336);
  EXPECT_EQ(ggml_tensor_bytes(GgmlType::Q8_0, {64, 3}), 2u * 34 * 3);
  EXPECT_EQ(ggml_type_name(GgmlType::Q4_0), "q4_0");
}

TEST(GgufWriter, RefusesMistakes) {
  GgufWriter w;
  w.add_u32("general.file_type", 2);
  w.add_tensor("t", GgmlType::F32, {1}, bytes_of(std::string(4, '\0')));
  expect_contains(error_message([&] { w.add_i32("general.file_type", 1); }), {"[gguf]", "'general.file_type'", "twice"});
  expect_contains(error_message([&] { w.add_tensor("t", GgmlType::F32, {1}, bytes_of("")); }), {"'t'", "twice"});
  expect_contains(error_message([&] { w.add_tensor("q", GgmlType::Q4_0, {48, 2}, bytes_of("")); }),
                  {"'q'", "[48, 2]", "multiple of 32"});
  expect_contains(error_message([&] { w.add_tensor("d", GgmlType::F32, {1, 1, 1, 1, 1}, bytes_of("")); }),
                  {"5 dims", "1 to 4"});
  expect_contains(error_message([&] { w.add_tensor("z", GgmlType::F32, {4, 0}, bytes_of("")); }), {"'z'", "0"});
  expect_contains(error_message([&] { w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}, bytes_of("")); }),
                  {"64 bytes", "1 to 63"});
  expect_contains(error_message([&] { w.set_alignment(48); }), {"48", "power of two"});
  expect_contains(error_message([&] { w.add_f32("general.alignment", 32); }), {"general.alignment", "u32"});
}

TEST(GgufWriter, WrongDataSizeLeavesNoFile) {
  const auto dir = test::scratch_dir("gguf");
  for (const size_t bytes : {7, 9}) {
    GgufWriter w;
    w.add_tensor("short_or_long", GgmlType::BF16, {4}, bytes_of(std::string(bytes, '\0')));
    expect_contains(error_message([&] { w.write((dir / "bad.gguf").string()); }), {"'short_or_long'", "8 bytes"});
  }
  GgufWriter w;
  w.add_tensor("throws", GgmlType::F32, {1}, [](GgufDataSink&) { throw Error("[test] callback failed"); });
  expect_contains(error_message([&] { w.write((dir / "bad.gguf").string()); }), {"callback failed"});
  EXPECT_TRUE(fs::is_empty(dir)) << "a failed write left a file in " << dir;
}

}  // namespace
}  // namespace flotilla
