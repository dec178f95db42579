// safetensors reader and writer: real fixtures, round trips of every dtype, and a table of broken files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "io_test_util.h"
#include "support/paths.h"

using namespace flotilla::io;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::compose_safetensors;
using test::error_message;
using test::expect_contains;
using test::read_bytes;
using test::u64_le;
using test::write_bytes;

fs::path stories_safetensors() { return test::stories_dir() / "hf" / "model.safetensors"; }

// The bytes a tensor occupies on disk, read with plain file I/O (independent of the mapping).
std::string bytes_on_disk(const fs::path& path, const TensorInfo& info) {
  const std::string file = read_bytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, file.data(), 8);  // the test host is little-endian
  return file.substr(8 + header_length + info.begin, info.end - info.begin);
}

std::string bytes_of(const at::Tensor& tensor) {
  const at::Tensor data = tensor.contiguous();
  return std::string(static_cast<const char*>(data.data_ptr()), data.nbytes());
}

double max_abs_difference(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0) return 0.0;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(SafetensorsFixture, StoriesHeaderHasEveryTensor) {
  SafetensorsFile file(stories_safetensors().string());
  // 5 layers x 9 tensors + embeddings + final norm; embeddings are tied, so no lm_head.
  ASSERT_EQ(file.tensors().size(), 47u);
  for (size_t i = 1; i < file.tensors().size(); ++i) {
    EXPECT_LT(file.tensors()[i - 1].name, file.tensors()[i].name) << "tensors() must be sorted by name";
  }
  const TensorInfo& embed = file.at("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::F32);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(embed.end - embed.begin, 512u * 64 * 4);
  const TensorInfo& down = file.at("model.layers.4.mlp.down_proj.weight");
  EXPECT_EQ(down.shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(file.at("model.norm.weight").shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.find("lm_head.weight"), nullptr);
  expect_contains(error_message([&] { file.at("lm_head.weight"); }),
                  {"[safetensors] '" + stories_safetensors().string() + "': no tensor 'lm_head.weight'"});
}

TEST(SafetensorsFixture, ZeroCopyLoadMatchesBytesOnDisk) {
  SafetensorsFile file(stories_safetensors().string());
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.2.self_attn.k_proj.weight", "model.norm.weight"}) {
    const TensorInfo& info = file.at(name);
    at::Tensor tensor = load_tensor(file, info);
    EXPECT_EQ(tensor.data_ptr(), static_cast<void*>(file.data(info))) << name << " should be a view of the mapping";
    EXPECT_EQ(tensor.scalar_type(), at::kFloat);
    const std::string disk = bytes_on_disk(stories_safetensors(), info);
    ASSERT_EQ(disk.size(), tensor.nbytes()) << name;
    at::Tensor from_disk = at::empty(info.shape, at::kFloat);
    std::memcpy(from_disk.data_ptr(), disk.data(), disk.size());
    const double diff = max_abs_difference(tensor, from_disk);
    std::printf("%s: max |mapped - ifstream| = %g (tolerance 0)\n", name, diff);
    EXPECT_EQ(diff, 0.0) << name;
    EXPECT_GT(tensor.abs().sum().item<double>(), 0.0) << name << " should hold real weights, not zeros";
  }
}

TEST(SafetensorsFixture, TensorOutlivesFileAndWritesStayPrivate) {
  const fs::path copy = test::scratch_dir("cow") / "model.safetensors";
  fs::copy_file(stories_safetensors(), copy);
  at::Tensor embed;
  std::string original;
  {
    SafetensorsFile file(copy.string());
    embed = load_tensor(file, file.at("model.embed_tokens.weight"));
    original = bytes_on_disk(copy, file.at("model.embed_tokens.weight"));
  }
  EXPECT_EQ(bytes_of(embed), original) << "the tensor must keep the mapping alive after the file object is gone";
  embed.fill_(7.0f);  // copy-on-write: must not reach the file
  SafetensorsFile reopened(copy.string());
  EXPECT_EQ(bytes_on_disk(copy, reopened.at("model.embed_tokens.weight")), original);
  EXPECT_EQ(bytes_of(load_tensor(reopened, reopened.at("model.embed_tokens.weight"))), original);
}

TEST(SafetensorsFixture, Mlx4BitLoadsU32AndBF16) {
  const fs::path path = test::stories_dir() / "mlx-4bit" / "model.safetensors";
  SafetensorsFile file(path.string());
  EXPECT_EQ(file.metadata().at("format"), "mlx");
  struct Expected {
    const char* name;
    DType dtype;
    at::ScalarType scalar_type;
    std::vector<int64_t> shape;
  };
  const Expected expected[] = {
      {"model.embed_tokens.weight", DType::U32, at::kInt, {512, 8}},
      {"model.embed_tokens.scales", DType::BF16, at::kBFloat16, {512, 1}},
      {"model.layers.0.mlp.gate_proj.biases", DType::BF16, at::kBFloat16, {172, 1}},
      {"model.layers.0.mlp.down_proj.weight", DType::BF16, at::kBFloat16, {64, 172}},  // 172 inputs: unquantized
  };
  for (const auto& want : expected) {
    const TensorInfo& info = file.at(want.name);
    EXPECT_EQ(info.dtype, want.dtype) << want.name;
    at::Tensor tensor = load_tensor(file, info);
    EXPECT_EQ(tensor.scalar_type(), want.scalar_type) << want.name;
    EXPECT_EQ(tensor.sizes().vec(), want.shape) << want.name;
    EXPECT_EQ(bytes_of(tensor), bytes_on_disk(path, info)) << want.name;
    EXPECT_TRUE(tensor.to(at::kFloat).isfinite().all().item<bool>()) << want.name;
  }
  // Packed nibbles use all 32 bits, so some words must read as negative Int32 (same bits as U32).
  at::Tensor packed = load_tensor(file, file.at("model.embed_tokens.weight"));
  EXPECT_TRUE((packed < 0).any().item<bool>());
}

TEST(SafetensorsLoad, UnalignedTensorIsCopied) {
  // A 2-byte U8 tensor first puts the F32 tensor at data offset 2, not 4-aligned.
  std::string header = R"({"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                       R"("x":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const float values[2] = {1.5f, -2.25f};
  std::string data = "\x01\x02";
  data.append(reinterpret_cast<const char*>(values), sizeof(values));
  const fs::path path = test::scratch_dir("unaligned") / "u.safetensors";
  write_bytes(path, compose_safetensors(header, data));

  SafetensorsFile file(path.string());
  at::Tensor x = load_tensor(file, file.at("x"));
  EXPECT_NE(x.data_ptr(), static_cast<void*>(file.data(file.at("x"))));
  EXPECT_EQ(x[0].item<float>(), 1.5f);
  EXPECT_EQ(x[1].item<float>(), -2.25f);
  at::Tensor pad = load_tensor(file, file.at("pad"));
  EXPECT_EQ(pad.data_ptr(), static_cast<void*>(file.data(file.at("pad"))));
  EXPECT_EQ(pad[1].item<uint8_t>(), 2);
}

NamedTensors every_dtype() {
  at::manual_seed(7);
  return {
      {"f32.transposed", at::randn({3, 5}).t()},
      {"bf16", at::randn({4, 6}).to(at::kBFloat16)},
      {"f16.strided", at::randn({8, 4}).to(at::kHalf).slice(/*dim=*/0, 0, 8, /*step=*/2)},
      {"i32", at::randint(-100000, 100000, {7}, at::kInt)},
      {"u8", at::randint(0, 256, {2, 3}, at::kByte)},
      {"i8", at::randint(-128, 128, {5}, at::kChar)},
      {"i16", at::randint(-30000, 30000, {4}, at::kShort)},
      {"i64", at::randint(-(int64_t{1} << 40), int64_t{1} << 40, {3}, at::kLong)},
      {"f64.scalar", at::scalar_tensor(3.25, at::kDouble)},
      {"bool", at::randint(0, 2, {3, 3}, at::kByte).to(at::kBool)},
      {"f32.empty", at::zeros({0, 4})},
  };
}

TEST(SafetensorsSave, RoundTripsEveryDtypeBitExact) {
  const fs::path dir = test::scratch_dir("roundtrip");
  const NamedTensors tensors = every_dtype();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "round trip"}};
  save_safetensors((dir / "a.safetensors").string(), tensors, metadata);

  const std::string bytes = read_bytes(dir / "a.safetensors");
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u) << "the data buffer must start 8-byte aligned";

  SafetensorsFile file((dir / "a.safetensors").string());
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  EXPECT_EQ(file.at("i32").dtype, DType::I32);
  EXPECT_EQ(file.at("bf16").dtype, DType::BF16);
  EXPECT_EQ(file.at("bool").dtype, DType::BOOL);
  for (const auto& [name, original] : tensors) {
    const TensorInfo& info = file.at(name);
    at::Tensor loaded = load_tensor(file, info);
    EXPECT_EQ(loaded.scalar_type(), original.scalar_type()) << name;
    EXPECT_EQ(loaded.sizes(), original.sizes()) << name;
    EXPECT_EQ(bytes_of(loaded), bytes_of(original)) << name << " bits differ";
    if (loaded.numel() > 0) {
      EXPECT_EQ(loaded.data_ptr(), static_cast<void*>(file.data(info))) << name << " should be zero-copy";
    }
    std::printf("%-15s max |loaded - saved| = %g (tolerance 0)\n", name.c_str(), max_abs_difference(loaded, original));
  }

  save_safetensors((dir / "b.safetensors").string(), tensors, metadata);
  EXPECT_EQ(read_bytes(dir / "b.safetensors"), bytes) << "saving the same tensors twice must give identical files";
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"a.safetensors", "b.safetensors"})) << "no temp file may be left";
}

TEST(SafetensorsSave, NoMetadataKeyWhenEmpty) {
  const fs::path path = test::scratch_dir("nometa") / "m.safetensors";
  save_safetensors(path.string(), {{"x", at::ones({2})}});
  EXPECT_EQ(read_bytes(path).find("__metadata__"), std::string::npos);
  EXPECT_TRUE(SafetensorsFile(path.string()).metadata().empty());
}

TEST(SafetensorsSave, RefusesBadInputWithoutWritingAnything) {
  const fs::path dir = test::scratch_dir("refuse");
  const std::string path = (dir / "bad.safetensors").string();
  expect_contains(error_message([&] { save_safetensors(path, {{"w", at::ones({2})}, {"w", at::zeros({2})}}); }),
                  {"[safetensors]", path, "'w' given twice"});
  expect_contains(error_message([&] { save_safetensors(path, {{"c", at::ones({2}, at::kComplexFloat)}}); }),
                  {"[safetensors]", path, "'c'", "ComplexFloat", "supported"});
  expect_contains(error_message([&] { save_safetensors(path, {{"__metadata__", at::ones({2})}}); }),
                  {"'__metadata__' is reserved"});
  EXPECT_TRUE(fs::is_empty(dir));
}

struct BrokenCase {
  std::string name;
  std::string bytes;
  std::string phrase;  // part of the expected message
};

std::string tensor_entry(const std::string& name, const std::string& dtype, const std::string& shape,
                         const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<BrokenCase> broken_cases() {
  const std::string eight(8, '\0');
  const std::string valid = compose_safetensors("{" + tensor_entry("w", "F32", "[4]", "[0,16]") + "}", eight + eight);
  return {
      {"Empty", "", "file is 0 bytes, shorter than the 8-byte header length"},
      {"ShorterThanLength", std::string("\x10\x00\x00", 3), "file is 3 bytes, shorter than the 8-byte"},
      {"HeaderBeyondFile", u64_le(64) + "{}", "header length 64 extends beyond file size 10"},
      {"HeaderOverLimit", u64_le(200000000) + "{}", "header length 200000000 exceeds the 100000000-byte limit"},
      {"GarbageHeader", compose_safetensors("{\"w\": nope}", ""), "header is not valid JSON (parse error at byte"},
      {"HugeNumber", compose_safetensors(R"({"__metadata__": 1e999})", ""), "header is not valid JSON: "},
      {"HeaderIsArray", compose_safetensors("[1,2]", ""), "header is array, expected a JSON object"},
      {"EntryNotObject", compose_safetensors(R"({"w":3})", ""), "entry for tensor 'w' is number, expected an object"},
      {"MissingDtype", compose_safetensors(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", eight), "'w' has no dtype"},
      {"UnknownDtype", compose_safetensors("{" + tensor_entry("w", "Q7", "[2]", "[0,8]") + "}", eight),
       "tensor 'w' has unknown dtype 'Q7' (supported: F64 F32 F16 BF16 I64 I32 U32 I16 U8 I8 BOOL)"},
      {"NegativeDim", compose_safetensors("{" + tensor_entry("w", "F32", "[2,-1]", "[0,8]") + "}", eight),
       "tensor 'w' has shape [2,-1] with dimension -1, expected non-negative integers"},
      {"FractionalDim", compose_safetensors("{" + tensor_entry("w", "F32", "[2.5]", "[0,8]") + "}", eight),
       "with dimension 2.5"},
      {"ShapeNotArray", compose_safetensors("{" + tensor_entry("w", "F32", "\"2\"", "[0,8]") + "}", eight),
       "tensor 'w' has shape \"2\", expected an array"},
      {"OffsetsReversed", compose_safetensors("{" + tensor_entry("w", "F32", "[1]", "[8,4]") + "}", eight),
       "tensor 'w' has data_offsets [8,4], expected [begin, end] with 0 <= begin <= end"},
      {"OffsetsNotPair", compose_safetensors("{" + tensor_entry("w", "F32", "[1]", "[4]") + "}", eight),
       "has data_offsets [4], expected [begin, end]"},
      {"EndsBeyondData", compose_safetensors("{" + tensor_entry("w", "F32", "[4]", "[0,16]") + "}", eight),
       "tensor 'w' ends at byte 16 beyond data size 8"},
      {"LengthMismatch", compose_safetensors("{" + tensor_entry("w", "F32", "[3]", "[0,8]") + "}", eight),
       "tensor 'w' spans 8 bytes [0, 8), but F32 shape [3] needs 12 bytes"},
      {"ShapeOverflows",
       compose_safetensors("{" + tensor_entry("w", "F32", "[4294967296,4294967296,16]", "[0,8]") + "}", eight),
       "needs more than 2^64 bytes"},
      {"Overlapping",
       compose_safetensors("{" + tensor_entry("a", "F32", "[2]", "[0,8]") + "," +
                               tensor_entry("b", "F32", "[2]", "[4,12]") + "}",
                           eight + eight),
       "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
      {"DuplicateName",
       compose_safetensors("{" + tensor_entry("a", "F32", "[2]", "[0,8]") + "," +
                               tensor_entry("a", "F32", "[2]", "[8,16]") + "}",
                           eight + eight),
       "header lists 'a' twice"},
      {"MetadataValueNotString", compose_safetensors(R"({"__metadata__":{"epoch":3}})", ""),
       "__metadata__ value for 'epoch' is number (3), expected a string"},
      {"MetadataNotObject", compose_safetensors(R"({"__metadata__":["pt"]})", ""),
       "__metadata__ is array, expected an object"},
      {"TruncatedData", valid.substr(0, valid.size() - 5), "tensor 'w' ends at byte 16 beyond data size 11"},
  };
}

class BrokenSafetensors : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenSafetensors, FailsNamingFileAndProblem) {
  const fs::path path = test::scratch_dir("broken") / (GetParam().name + ".safetensors");
  write_bytes(path, GetParam().bytes);
  const std::string message = error_message([&] { SafetensorsFile file(path.string()); });
  expect_contains(message, {"[safetensors] '" + path.string() + "': ", GetParam().phrase});
}

INSTANTIATE_TEST_SUITE_P(Table, BrokenSafetensors, ::testing::ValuesIn(broken_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SafetensorsLoad, ValidCounterpartOfTruncatedCaseOpens) {
  // Guards the table: the file TruncatedData cuts must itself be valid.
  const std::string eight(8, '\0');
  const fs::path path = test::scratch_dir("valid") / "v.safetensors";
  write_bytes(path, compose_safetensors("{" + tensor_entry("w", "F32", "[4]", "[0,16]") + "}", eight + eight));
  SafetensorsFile file(path.string());
  EXPECT_EQ(load_tensor(file, file.at("w")).sum().item<float>(), 0.0f);
}

TEST(SafetensorsLoad, MissingFileNamesPathAndReason) {
  const std::string path = (test::scratch_dir("missing") / "absent.safetensors").string();
  expect_contains(error_message([&] { SafetensorsFile file(path); }),
                  {"[io] cannot open '" + path + "'", "No such file"});
}

}  // namespace
}  // namespace flotilla
