// LoRA: gradients vs finite differences, the fast path vs a naive merged-weight path, adapter files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <torch/csrc/autograd/function.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "lora/adapters.h"
#include "model/loader.h"
#include "support/finite_differences.h"
#include "support/golden.h"
#include "support/paths.h"
#include "train/loss.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::train;
using namespace flotilla::io;

namespace flotilla {
namespace {

const std::vector<int64_t> kTokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

LoadedModel stories(at::ScalarType dtype = at::kFloat, const std::string& folder = "hf") {
  LoadOptions options;
  options.dtype = dtype;
  return load_model((test::stories_dir() / folder).string(), options);
}

// Gives every B factor small random values so gradients reach A too (B = 0 at init blocks them).
void randomise_b(LlamaModel& model, double std) {
  at::NoGradGuard guard;
  at::manual_seed(1);
  for (auto& item : model->named_parameters()) {
    if (item.key().find("lora_b") != std::string::npos) item.value().normal_(0, std);
  }
}

at::Tensor loss_of(LlamaModel& model) {
  auto tokens = at::tensor(kTokens, at::kLong).unsqueeze(0);
  auto inputs = tokens.narrow(1, 0, tokens.size(1) - 1), targets = tokens.narrow(1, 1, tokens.size(1) - 1);
  auto mask = at::ones_like(targets);
  mask[0][0] = 0;  // a masked target must not contribute
  auto loss = masked_cross_entropy(model->forward(inputs), targets, mask);
  return loss.sum / loss.tokens.item<double>();
}

class LoraGradients : public ::testing::TestWithParam<std::string> {};

// Central differences in float64 against autograd on A and B. DoRA (as in mlx-lm and the paper)
// treats the weight norm as a constant for the gradient, so there only m is an exact derivative.
TEST_P(LoraGradients, MatchFiniteDifferences) {
  auto m = stories(at::kDouble);
  LoraConfig config;
  config.fine_tune_type = GetParam();
  config.num_layers = 2;
  config.spec.rank = 4;
  config.spec.scale = 2.0;
  EXPECT_EQ(apply_fine_tuning(m.model, config, /*seed=*/3), 14);
  randomise_b(m.model, 0.05);
  const auto checked = test::expect_gradients_match_finite_differences(
      trainable_tensors(m.model), [&] { return loss_of(m.model); },
      [&](const std::string& name) { return GetParam() != "dora" || name.substr(name.size() - 2) == ".m"; }, 1e-5, GetParam());
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Types, LoraGradients, ::testing::Values("lora", "dora"));

// Nodes of loss's autograd graph whose name contains `part`.
int count_graph_nodes(const at::Tensor& loss, const std::string& part) {
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack = {loss.grad_fn().get()};
  int count = 0;
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node).second) continue;
    count += node->name().find(part) != std::string::npos;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return count;
}

class GradientCheckpointing : public ::testing::TestWithParam<std::string> {};

// Recomputing blocks in backward gives the gradients of a plain backward, dropout included (its
// masks are replayed), with frozen blocks below the trained ones (their output needs no gradient).
TEST_P(GradientCheckpointing, GivesThePlainGradients) {
  LoraConfig config;
  config.fine_tune_type = GetParam();
  config.num_layers = 3;
  config.spec.dropout = 0.2;
  std::vector<NamedTensors> grads;
  std::vector<double> losses;
  for (bool recompute : {false, true}) {
    auto m = stories();
    apply_fine_tuning(m.model, config, /*seed=*/3);
    if (GetParam() != "full") randomise_b(m.model, 0.05);
    m.model->set_gradient_checkpointing(recompute);
    m.model->train();
    at::manual_seed(11);
    auto loss = loss_of(m.model);
    // The 3 trained blocks of 5 are recomputed; the frozen ones below run plainly.
    EXPECT_EQ(count_graph_nodes(loss, "Recompute"), recompute ? 3 : 0);
    loss.backward();
    losses.push_back(loss.item<double>());
    grads.push_back(trainable_tensors(m.model));
  }
  EXPECT_EQ(losses[0], losses[1]);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  double worst = 0;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    const auto& plain = grads[0][i].second.grad();
    const auto& recomputed = grads[1][i].second.grad();
    ASSERT_TRUE(plain.defined() && recomputed.defined()) << grads[0][i].first;
    ASSERT_GT(plain.abs().max().item<double>(), 0) << grads[0][i].first << ": a zero gradient proves nothing";
    worst = std::max(worst, (plain - recomputed).abs().max().item<double>());
  }
  std::cout << "[checkpointing] " << GetParam() << ": " << grads[0].size() << " gradients, max |diff| " << worst
            << " (tolerance 1e-7)\n";
  EXPECT_LE(worst, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Types, GradientCheckpointing, ::testing::Values("lora", "dora", "full"));

// The adapted forward equals a model whose weights are W + scale·(A·B)ᵀ computed here, by hand.
TEST(Lora, FastPathEqualsNaiveMergedWeights) {
  auto adapted = stories(), merged = stories();
  LoraConfig config;
  config.num_layers = 3;
  config.keys = {"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"};
  EXPECT_EQ(apply_fine_tuning(adapted.model, config, 5), 9);
  auto tokens = at::tensor(kTokens, at::kLong).unsqueeze(0);
  auto before = adapted.model->forward(tokens);
  test::expect_close(before, merged.model->forward(tokens), 0, "B = 0: adapter leaves the output unchanged");
  randomise_b(adapted.model, 0.02);
  auto merged_params = merged.model->named_parameters();
  {
    at::NoGradGuard guard;
    for (auto& item : adapted.model->named_parameters()) {
      const auto& key = item.key();
      if (key.size() < 7 || key.compare(key.size() - 7, 7, ".lora_a") != 0) continue;
      const auto prefix = key.substr(0, key.size() - 7);
      auto a = item.value(), b = adapted.model->named_parameters()[prefix + ".lora_b"];
      merged_params[prefix + ".weight"].add_(config.spec.scale * at::matmul(a, b).t());
    }
  }
  test::expect_close(adapted.model->forward(tokens), merged.model->forward(tokens), 2e-5, "adapter vs merged weights");
}

TEST(Lora, SaveLoadRoundTripAndNaNRefusal) {
  auto m = stories();
  LoraConfig config;
  config.num_layers = 2;
  apply_fine_tuning(m.model, config, 7);
  randomise_b(m.model, 0.02);
  auto dir = test::scratch_dir("adapters");
  save_adapter_weights(m.model, (dir / "adapters.safetensors").string());
  std::ofstream(dir / "adapter_config.json") << lora_config_json(config).dump(2);
  auto reloaded = stories();
  load_adapters(reloaded.model, dir.string());
  auto tokens = at::tensor(kTokens, at::kLong).unsqueeze(0);
  test::expect_close(reloaded.model->forward(tokens), m.model->forward(tokens), 0, "saved and reloaded adapter");
  {
    at::NoGradGuard guard;
    trainable_tensors(m.model)[0].second.view({-1})[0] = NAN;
  }
  auto path = (dir / "nan.safetensors").string();
  EXPECT_THROW(save_adapter_weights(m.model, path), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// An adapter written the way mlx-lm writes it (keys, [in, r] / [r, out] shapes, config fields).
TEST(Lora, LoadsHandMadeMlxLmAdapter) {
  auto dir = test::scratch_dir("mlx");
  std::ofstream(dir / "adapter_config.json") << R"({"fine_tune_type": "lora", "num_layers": 1,
    "lora_parameters": {"rank": 2, "scale": 10.0, "dropout": 0.0, "keys": ["self_attn.q_proj"]},
    "model": "stories260K", "batch_size": 4, "iters": 100})";
  auto a = at::full({64, 2}, 0.01), b = at::full({2, 64}, 0.02);
  save_safetensors((dir / "adapters.safetensors").string(),
                   {{"model.layers.4.self_attn.q_proj.lora_a", a}, {"model.layers.4.self_attn.q_proj.lora_b", b}});
  auto adapted = stories(), merged = stories();
  load_adapters(adapted.model, dir.string());
  {
    at::NoGradGuard guard;
    merged.model->named_parameters()["layers.4.self_attn.q_proj.weight"].add_(10.0 * at::matmul(a, b).t());
  }
  auto tokens = at::tensor(kTokens, at::kLong).unsqueeze(0);
  test::expect_close(adapted.model->forward(tokens), merged.model->forward(tokens), 2e-5, "hand-made mlx-lm adapter");

  save_safetensors((dir / "adapters.safetensors").string(), {{"model.layers.4.self_attn.q_proj.lora_a", a}});
  EXPECT_THROW(load_adapters(stories().model, dir.string()), Error);  // lora_b missing
  std::ofstream(dir / "adapter_config.json") << R"({"fine_tune_type": "lora", "iters": 1e999})";
  EXPECT_THROW(load_adapters(stories().model, dir.string()), Error);  // nlohmann's out_of_range, not parse_error
}

TEST(Lora, QuantizedBaseTrainsOnlyTheFactors) {
  auto m = stories(at::kFloat, "mlx-4bit");
  LoraConfig config;
  config.num_layers = -1;
  EXPECT_EQ(apply_fine_tuning(m.model, config, 1), 35);
  randomise_b(m.model, 0.02);
  loss_of(m.model).backward();
  for (auto& [name, t] : trainable_tensors(m.model)) {
    EXPECT_TRUE(name.find("lora_") != std::string::npos) << name;
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0) << name;
  }
  LoraConfig full;
  full.fine_tune_type = "full";
  EXPECT_THROW(apply_fine_tuning(stories(at::kFloat, "mlx-4bit").model, full, 1), Error);
}

TEST(Lora, FullFineTuningUnfreezesSelectedBlocks) {
  auto m = stories();
  LoraConfig config;
  config.fine_tune_type = "full";
  config.num_layers = 1;
  apply_fine_tuning(m.model, config, 0);
  auto names = trainable_tensors(m.model);
  EXPECT_EQ(names.size(), 9u);  // 7 projections + 2 norms of block 4
  for (auto& [name, t] : names) EXPECT_EQ(name.rfind("model.layers.4.", 0), 0u) << name;
}

}  // namespace
}  // namespace flotilla
