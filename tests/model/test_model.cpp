// Golden tests of the Llama forward pass against references computed outside this project.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "convert/llama2c.h"
#include "core/error.h"
#include "model/loader.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::convert;
using namespace flotilla::model;
using namespace flotilla::io;

namespace flotilla {
namespace {

using test::expect_close;
using test::read_json;
using test::stories_dir;

at::Tensor json_matrix(const nlohmann::json& rows) {
  std::vector<at::Tensor> out;
  for (const auto& row : rows) out.push_back(at::tensor(row.get<std::vector<double>>(), at::kDouble));
  return at::stack(out);
}

// Logits [T, V] for tokens fed at positions 0..T-1 in one forward pass.
at::Tensor logits_for(LoadedModel& m, const std::vector<int64_t>& tokens) {
  c10::InferenceMode guard;
  return m.model->forward(at::tensor(tokens, at::kLong).unsqueeze(0)).squeeze(0).to(at::kDouble);
}

TEST(ModelGolden, HuggingFaceFolderMatchesReferenceLogits) {
  auto ref = read_json(stories_dir() / "expected_logits_first5.json");
  auto m = load_model((stories_dir() / "hf").string());
  expect_close(logits_for(m, ref["input_tokens"].get<std::vector<int64_t>>()), json_matrix(ref["logits"]), 1e-4,
               "stories260K hf fp32 vs float64 reference");
}

TEST(ModelGolden, ConvertedLlama2cFolderMatchesReferenceLogits) {
  auto out = test::scratch_dir("converted");
  convert_llama2c((stories_dir() / "llama2c" / "stories260K.bin").string(),
                  (stories_dir() / "llama2c" / "tok512.bin").string(), out.string());
  auto ref = read_json(stories_dir() / "expected_logits_first5.json");
  auto m = load_model(out.string());
  expect_close(logits_for(m, ref["input_tokens"].get<std::vector<int64_t>>()), json_matrix(ref["logits"]), 1e-4,
               "stories260K converted from llama2.c vs reference");
}

// The reference used the dequantized weights (bf16 scales/biases exact in float32) in float64;
// our float32 forward differs only by float32 rounding, hence the same 1e-4 as the dense model.
TEST(ModelGolden, Mlx4bitMatchesDequantizedReferenceLogits) {
  auto ref = read_json(stories_dir() / "mlx-4bit" / "expected_logits_first5_dequantized.json");
  auto m = load_model((stories_dir() / "mlx-4bit").string(), {at::kFloat});
  EXPECT_TRUE(m.model->layers[0]->as<BlockImpl>()->self_attn->q_proj->is_quantized());
  EXPECT_FALSE(m.model->layers[0]->as<BlockImpl>()->mlp->down_proj->is_quantized());
  expect_close(logits_for(m, ref["input_tokens"].get<std::vector<int64_t>>()), json_matrix(ref["logits"]), 1e-4,
               "stories260K mlx-4bit vs dequantized float64 reference");
}

TEST(ModelGolden, Bfloat16StaysCloseToFloat32) {
  auto ref = read_json(stories_dir() / "expected_logits_first5.json");
  auto tokens = ref["input_tokens"].get<std::vector<int64_t>>();
  LoadOptions bf16;
  bf16.dtype = at::kBFloat16;
  auto m = load_model((stories_dir() / "hf").string(), bf16);
  auto logits = logits_for(m, tokens);
  auto expected = json_matrix(ref["logits"]);
  // bf16 keeps 8 mantissa bits: allow 3% of the logit range, and require the same argmax.
  double range = (expected.max() - expected.min()).item<double>();
  expect_close(logits, expected, 0.03 * range, "stories260K bf16 vs float64 reference");
  EXPECT_TRUE(at::equal(logits.argmax(-1), expected.argmax(-1)));
}

TEST(ModelMask, LeftPaddedBatchEqualsUnpaddedSequences) {
  auto m = load_model((stories_dir() / "hf").string());
  c10::InferenceMode guard;
  std::vector<int64_t> a = {1, 403, 407, 261, 378}, b = {1, 300, 301};
  auto alone_a = m.model->forward(at::tensor(a, at::kLong).unsqueeze(0));
  auto alone_b = m.model->forward(at::tensor(b, at::kLong).unsqueeze(0));
  // b is left-padded with two pad tokens (id 0); its positions restart at 0 on its first real token.
  auto tokens = at::tensor(std::vector<int64_t>{1, 403, 407, 261, 378, 0, 0, 1, 300, 301}, at::kLong).view({2, 5});
  auto mask = at::tensor(std::vector<int64_t>{1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, at::kLong).view({2, 5});
  ForwardOptions options;
  options.attention_mask = mask;
  options.positions = at::clamp_min(mask.cumsum(1) - 1, 0);
  auto batched = m.model->forward(tokens, options);
  // Unpadded runs take the fused kernel, the padded batch the masked path: two float32
  // computations of logits up to ~15, each ~1e-5 from the float64 reference.
  expect_close(batched[0], alone_a[0], 2e-5, "row 0 of padded batch");
  expect_close(batched[1].narrow(0, 2, 3), alone_b[0], 2e-5, "row 1 (left padded) of padded batch");
}

TEST(ModelLoad, MissingUnexpectedAndMisshapenTensorsAreReported) {
  auto src = stories_dir() / "hf";
  auto store = WeightStore::open_dir(src.string());
  auto write_variant = [&](const std::string& name, auto edit) {
    auto dir = test::scratch_dir(name);
    std::filesystem::copy_file(src / "config.json", dir / "config.json");
    NamedTensors tensors;
    for (const auto& n : store.names()) tensors.emplace_back(n, store.get(n));
    edit(tensors);
    save_safetensors((dir / "model.safetensors").string(), tensors);
    return dir.string();
  };
  auto missing = write_variant("missing", [](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](auto& p) { return p.first == "model.layers.0.self_attn.k_proj.weight"; }), t.end());
  });
  auto extra = write_variant("extra", [](NamedTensors& t) { t.emplace_back("model.layers.9.foo.weight", at::zeros({2})); });
  auto shape = write_variant("shape", [](NamedTensors& t) {
    for (auto& [n, v] : t) if (n == "model.norm.weight") v = at::ones({65});
  });
  auto expect_error = [](const std::string& dir, const std::string& needle) {
    try {
      load_model(dir);
      ADD_FAILURE() << "no error for " << dir;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(missing, "model.layers.0.self_attn.k_proj.weight");
  expect_error(extra, "model.layers.9.foo.weight");
  expect_error(shape, "'model.norm.weight'");
  expect_error(test::scratch_dir("empty").string(), "no config.json");
}

// "auto" is the default device: MPS only on Apple Silicon with an MPS libtorch, the CPU here.
TEST(Device, AutoIsTheCpuOffAppleSiliconAndUnknownNamesAreErrors) {
#if !(defined(__APPLE__) && defined(__aarch64__))
  EXPECT_EQ(parse_device("auto"), at::Device(at::kCPU));
#endif
  EXPECT_EQ(parse_device("cpu"), at::Device(at::kCPU));
  try {
    parse_device("tpu");
    ADD_FAILURE() << "no error for device 'tpu'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown device 'tpu'; expected auto, cpu, cuda, cuda:N or mps"),
              std::string::npos) << e.what();
  }
  if (!at::hasMPS()) {
    EXPECT_THROW(parse_device("mps"), Error);
  }
}

}  // namespace
}  // namespace flotilla
