// WeightStore: single files, sharded folders with an index, and refusal of pickled checkpoints.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "io/tensor_io.h"
#include "io/weight_store.h"
#include "io_test_util.h"
#include "support/paths.h"

using namespace flotilla::io;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::error_message;
using test::expect_contains;
using test::write_bytes;

const std::string kPickledAdvice = "Flotilla loads safetensors only, because unpickling runs arbitrary code";

// Two shards made with save_safetensors plus an index; weight_map_json overrides the index body.
fs::path make_sharded_dir(const std::string& name, const std::string& weight_map_json = "") {
  const fs::path dir = test::scratch_dir(name);
  save_safetensors((dir / "model-00001-of-00002.safetensors").string(),
                   {{"a", at::arange(6, at::kFloat).reshape({2, 3})}, {"b", at::full({4}, 2, at::kInt)}});
  save_safetensors((dir / "model-00002-of-00002.safetensors").string(),
                   {{"c", at::ones({3}, at::kBFloat16)}});
  const std::string weight_map = !weight_map_json.empty() ? weight_map_json
                                                          : R"({"a": "model-00001-of-00002.safetensors",
                                                                "b": "model-00001-of-00002.safetensors",
                                                                "c": "model-00002-of-00002.safetensors"})";
  write_text_atomically((dir / "model.safetensors.index.json").string(),
                        R"({"metadata": {"total_size": 46}, "weight_map": )" + weight_map + "}");
  return dir;
}

TEST(WeightStore, OpensStoriesFolder) {
  const std::string dir = (test::stories_dir() / "hf").string();
  WeightStore store = WeightStore::open_dir(dir);
  EXPECT_EQ(store.source(), dir);
  EXPECT_EQ(store.names().size(), 47u);
  EXPECT_TRUE(store.contains("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(store.get("model.embed_tokens.weight").sizes().vec(), (std::vector<int64_t>{512, 64}));
  expect_contains(error_message([&] { store.get("lm_head.weight"); }),
                  {"[weights] '" + dir + "': no tensor 'lm_head.weight'"});
}

TEST(WeightStore, OpenFileMatchesOpenDir) {
  const fs::path path = test::stories_dir() / "hf" / "model.safetensors";
  WeightStore file_store = WeightStore::open_file(path.string());
  WeightStore dir_store = WeightStore::open_dir(path.parent_path().string());
  EXPECT_EQ(file_store.names(), dir_store.names());
  const double diff =
      (file_store.get("model.norm.weight") - dir_store.get("model.norm.weight")).abs().max().item<double>();
  std::printf("model.norm.weight: max |file - dir| = %g (tolerance 0)\n", diff);
  EXPECT_EQ(diff, 0.0);
}

TEST(WeightStore, ShardedFolderLoadsEveryTensor) {
  WeightStore store = WeightStore::open_dir(make_sharded_dir("sharded").string());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
  at::Tensor a = store.get("a");
  const double diff = (a - at::arange(6, at::kFloat).reshape({2, 3})).abs().max().item<double>();
  std::printf("shard tensor a: max |loaded - saved| = %g (tolerance 0)\n", diff);
  EXPECT_EQ(diff, 0.0);
  EXPECT_TRUE(at::equal(store.get("b"), at::full({4}, 2, at::kInt)));
  EXPECT_EQ(store.get("c").scalar_type(), at::kBFloat16);
  EXPECT_EQ(store.get("c").to(at::kFloat).sum().item<float>(), 3.0f);
}

TEST(WeightStore, IndexNamingMissingShardFails) {
  const fs::path dir = make_sharded_dir("missing-shard", R"({"a": "model-00001-of-00002.safetensors",
                                                             "z": "model-00003-of-00003.safetensors"})");
  expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }),
                  {"[weights]", "model.safetensors.index.json", "model-00003-of-00003.safetensors", "'z'",
                   "does not exist"});
}

// A model folder is untrusted: its index may name only files beside it (issue: a '../' shard loaded and generated).
TEST(WeightStore, IndexNamingAFileOutsideTheFolderFails) {
  const fs::path dir = make_sharded_dir("outside");
  // The escape target exists and is a valid shard, so only the name check can refuse it.
  fs::copy_file(dir / "model-00002-of-00002.safetensors", dir.parent_path() / "outside.safetensors",
                fs::copy_options::overwrite_existing);
  for (const std::string shard : {"../outside.safetensors", "/etc/passwd", "sub/../model-00002-of-00002.safetensors",
                                  "..", "", "a\\b.safetensors"}) {
    SCOPED_TRACE(shard);
    const std::string weight_map = nlohmann::json{{"a", "model-00001-of-00002.safetensors"},
                                                  {"b", "model-00001-of-00002.safetensors"},
                                                  {"c", shard}}.dump();
    write_text_atomically((dir / "model.safetensors.index.json").string(), R"({"weight_map": )" + weight_map + "}");
    expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }),
                    {"[weights]", "model.safetensors.index.json", "tensor 'c'", "not a plain file name"});
  }
  fs::remove(dir.parent_path() / "outside.safetensors");
}

TEST(WeightStore, IndexNamingAbsentTensorFails) {
  const fs::path dir = make_sharded_dir("absent-tensor", R"({"a": "model-00001-of-00002.safetensors",
                                                             "c": "model-00001-of-00002.safetensors"})");
  expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }),
                  {"[weights]", "model.safetensors.index.json", "tensor 'c'",
                   "shard 'model-00001-of-00002.safetensors'", "no such tensor"});
}

TEST(WeightStore, IndexWithoutWeightMapFails) {
  const fs::path dir = make_sharded_dir("no-map", "[]");
  expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }), {"[weights]", "\"weight_map\" object"});
}

// A number beyond double's range throws out_of_range, not parse_error (the class fuzz_model_config found).
TEST(WeightStore, IndexWithHugeNumberFails) {
  const fs::path dir = make_sharded_dir("huge-number", "{}");
  write_text_atomically((dir / "model.safetensors.index.json").string(), R"({"metadata": {"total_size": 1e999}})");
  expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }),
                  {"[weights]", "model.safetensors.index.json' is not valid JSON", "number overflow"});
}

TEST(WeightStore, SameTensorInTwoShardsFails) {
  const fs::path dir = make_sharded_dir("duplicate");
  save_safetensors((dir / "model-00002-of-00002.safetensors").string(), {{"a", at::ones({1})}, {"c", at::ones({1})}});
  expect_contains(error_message([&] { WeightStore::open_dir(dir.string()); }),
                  {"[weights]", "tensor 'a' is in both", "model-00001-of-00002.safetensors",
                   "model-00002-of-00002.safetensors"});
}

TEST(WeightStore, RefusesPickledCheckpoints) {
  for (const char* pickled :
       {"pytorch_model.bin", "pytorch_model-00001-of-00002.bin", "consolidated.00.pth", "model.pt"}) {
    const fs::path dir = test::scratch_dir("pickled");
    write_bytes(dir / "config.json", "{}");
    write_bytes(dir / pickled, "\x80\x02}q\x00.");  // a pickle opcode stream; must never be read
    const std::string message = error_message([&] { WeightStore::open_dir(dir.string()); });
    expect_contains(message, {"[weights] '" + dir.string() + "' holds only pickled checkpoint '" + pickled + "'",
                              kPickledAdvice, "safe_serialization=True"});
  }
  const std::string bin = (test::scratch_dir("pickled-file") / "pytorch_model.bin").string();
  expect_contains(error_message([&] { WeightStore::open_file(bin); }), {"'" + bin + "'", "pickled", kPickledAdvice});
}

TEST(WeightStore, EmptyFolderSaysWhatWasLookedFor) {
  const std::string dir = test::scratch_dir("empty").string();
  expect_contains(error_message([&] { WeightStore::open_dir(dir); }),
                  {"[weights] '" + dir + "'", "model.safetensors", "model.safetensors.index.json", "pickled"});
  expect_contains(error_message([&] { WeightStore::open_dir(dir + "/nowhere"); }), {"is not a folder"});
}

}  // namespace
}  // namespace flotilla
