// fuse: the merged folder behaves like base + adapter.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "infer/generate.h"
#include "io/weight_store.h"
#include "lora/adapters.h"
#include "flotilla/fuse.h"
#include "model/loader.h"
#include "support/adapter_fixture.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::infer;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;

namespace flotilla {
namespace {

// An adapter with non-zero B on every linear of the last two blocks.
std::filesystem::path make_adapter(const std::string& base, const std::string& name) {
  auto dir = test::scratch_dir(name);
  test::write_random_adapter(test::stories_dir() / base, dir, /*num_layers=*/2);
  return dir;
}

std::vector<int64_t> greedy(LlamaModel model) {
  GenerationOptions options;
  options.max_tokens = 60;
  return generate(model, {1, 403}, options).tokens;
}

TEST(Fuse, FusedModelGeneratesLikeBasePlusAdapter) {
  auto adapter = make_adapter("hf", "adapter");
  auto with_adapter = load_model((test::stories_dir() / "hf").string());
  load_adapters(with_adapter.model, adapter.string());
  auto base = load_model((test::stories_dir() / "hf").string());
  auto out = test::scratch_dir("fused");
  fuse_model((test::stories_dir() / "hf").string(), adapter.string(), out.string());
  auto fused = load_model(out.string());
  const auto expected = greedy(with_adapter.model);
  EXPECT_EQ(greedy(fused.model), expected);
  EXPECT_NE(greedy(base.model), expected);  // the adapter really changes the output
  c10::InferenceMode guard;
  auto tokens = at::tensor(std::vector<int64_t>{1, 403, 407, 261}, at::kLong).unsqueeze(0);
  test::expect_close(fused.model->forward(tokens), with_adapter.model->forward(tokens), 2e-5, "fused vs base+adapter");
}

// The interchange issue's case: a full fine-tune with +1.0 on one q_proj (and a trained norm) must be
// written into the fused model, not the base unchanged.
TEST(Fuse, FullFineTuneWritesEveryTrainedTensor) {
  const auto base_dir = test::stories_dir() / "hf";
  auto m = load_model(base_dir.string());
  LoraConfig config;
  config.fine_tune_type = "full";
  config.num_layers = 1;
  apply_fine_tuning(m.model, config, 0);
  const std::string q = "model.layers.4.self_attn.q_proj.weight", norm = "model.layers.4.input_layernorm.weight";
  {
    at::NoGradGuard guard;
    for (auto& [name, t] : trainable_tensors(m.model)) {
      if (name == q) t.add_(1.0);
      if (name == norm) t.mul_(2.0);
    }
  }
  auto adapter = test::scratch_dir("full-adapter");
  save_adapter_weights(m.model, (adapter / "adapters.safetensors").string());
  std::ofstream(adapter / "adapter_config.json") << lora_config_json(config).dump();
  auto out = test::scratch_dir("full-fused");
  fuse_model(base_dir.string(), adapter.string(), out.string());

  auto base = WeightStore::open_dir(base_dir.string()), fused = WeightStore::open_dir(out.string());
  const double q_diff = (fused.get(q) - (base.get(q) + 1.0)).abs().max().item<double>();
  const double norm_diff = (fused.get(norm) - base.get(norm) * 2.0).abs().max().item<double>();
  const double untouched = (fused.get("model.layers.3.self_attn.q_proj.weight") -
                            base.get("model.layers.3.self_attn.q_proj.weight")).abs().max().item<double>();
  std::printf("full fuse: |q_proj - (base + 1)| = %g, |norm - 2 base| = %g, layer 3 change = %g (tolerance 0)\n",
              q_diff, norm_diff, untouched);
  EXPECT_EQ(q_diff, 0.0);
  EXPECT_EQ(norm_diff, 0.0);
  EXPECT_EQ(untouched, 0.0);
}

TEST(Fuse, QuantizedBaseDequantizedOrRequantized) {
  auto adapter = make_adapter("mlx-4bit", "qadapter");
  auto with_adapter = load_model((test::stories_dir() / "mlx-4bit").string(), {at::kFloat});
  load_adapters(with_adapter.model, adapter.string());
  auto dense_dir = test::scratch_dir("dense"), requant_dir = test::scratch_dir("requant");
  FuseOptions dequantize;
  dequantize.dequantize = true;
  fuse_model((test::stories_dir() / "mlx-4bit").string(), adapter.string(), dense_dir.string(), dequantize);
  fuse_model((test::stories_dir() / "mlx-4bit").string(), adapter.string(), requant_dir.string(), FuseOptions{});
  auto dense = load_model(dense_dir.string(), {at::kFloat}), requant = load_model(requant_dir.string(), {at::kFloat});
  EXPECT_FALSE(dense.model->layers[4]->as<BlockImpl>()->self_attn->q_proj->is_quantized());
  EXPECT_TRUE(requant.model->layers[4]->as<BlockImpl>()->self_attn->q_proj->is_quantized());
  c10::InferenceMode guard;
  auto tokens = at::tensor(std::vector<int64_t>{1, 403, 407, 261}, at::kLong).unsqueeze(0);
  auto reference = with_adapter.model->forward(tokens);
  // Dense fused weights are stored in the base's bf16: allow bf16 rounding, 1% of the logit range.
  const double range = (reference.max() - reference.min()).item<double>();
  test::expect_close(dense.model->forward(tokens), reference, 0.01 * range, "dequantized fuse vs base+adapter");
  // Re-quantized: every weight of an adapted layer lies within a step of the fused weight (half a
  // step, except where MLX's rule stretches the step to put the group's edge on a whole level).
  auto saved = WeightStore::open_dir(requant_dir.string());
  double worst_steps = 0;
  for (auto& linear : model_linears(with_adapter.model)) {
    if (!linear->has_adapter() || !linear->is_quantized()) continue;
    const auto& p = linear->name();
    QuantizedWeight q{saved.get(p + ".weight"), saved.get(p + ".scales"), saved.get(p + ".biases"), {4, 64}};
    auto error = (mlx_dequantize(q, at::kFloat) - linear->fused_weight()).abs();
    auto step = q.scales.to(at::kFloat).abs().repeat_interleave(64, 1);
    worst_steps = std::max(worst_steps, (error / step).max().item<double>());
  }
  std::cout << "[fuse] re-quantized weights: worst error " << worst_steps << " quantization steps (tolerance 1.01)\n";
  EXPECT_LE(worst_steps, 1.01);
  EXPECT_GT(worst_steps, 0.0);
  EXPECT_THROW(fuse_model((test::stories_dir() / "hf").string(), adapter.string(), (test::stories_dir() / "hf").string()),
               Error);
}

}  // namespace
}  // namespace flotilla
