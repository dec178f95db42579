// What each family adds to the Llama block, checked inside Flotilla against paths written here:
// Mistral's sliding window (the fused kernel and the masked path against an explicit band of visible
// keys; a rotating cache of the window against full recomputation) and Qwen3's per-head q/k norms
// (LoRA and full fine-tuning gradients against finite differences), Gemma's norms, gates, soft-caps
// and local/global layers, Phi-3's fused projections and longrope (the same, and paths against each
// other), Qwen3-MoE's experts (against a per-token loop over the file's own tensors). llama.cpp judges the families'
// logits in tests/convert/test_gguf_llama_cpp.cpp.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "infer/generate.h"
#include "io/weight_store.h"
#include "lora/adapters.h"
#include "model/kv_cache.h"
#include "model/loader.h"
#include "model/quantized.h"
#include "support/finite_differences.h"
#include "support/fixture_files.h"
#include "support/golden.h"
#include "support/paths.h"
#include "support/random_model.h"
#include "train/loss.h"

using namespace flotilla::model;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using test::expect_close;

LoadedModel load_double(const fs::path& dir) {
  LoadOptions options;
  options.dtype = at::kDouble;
  return load_model(dir.string(), options);
}

// The mistral-window model (a 6-token window) and the same weights with the window removed.
struct WindowPair {
  LoadedModel windowed, plain;
  int64_t window;
};

WindowPair window_pair(const std::string& name) {
  const auto dir = test::scratch_dir(name);
  test::random_family_model(dir / "windowed", "mistral-window");
  fs::create_directories(dir / "plain");
  for (const auto& entry : fs::directory_iterator(dir / "windowed")) fs::copy_file(entry.path(), dir / "plain" / entry.path().filename());
  auto config = test::read_json(dir / "plain" / "config.json");
  config["sliding_window"] = nullptr;
  std::ofstream(dir / "plain" / "config.json") << config.dump();
  WindowPair pair{load_double(dir / "windowed"), load_double(dir / "plain"), 0};
  pair.window = pair.windowed.config.sliding_window;
  EXPECT_EQ(pair.window, 6);
  EXPECT_EQ(pair.plain.config.sliding_window, 0);
  return pair;
}

// bool [T, T]: query t sees keys t-window+1 .. t, written out here.
at::Tensor band(int64_t T, int64_t window) {
  auto visible = at::zeros({T, T}, at::kBool);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t s = std::max<int64_t>(0, t - window + 1); s <= t; ++s) visible[t][s] = true;
  return visible;
}

at::Tensor q_proj_weight(LoadedModel& m, int64_t layer) {
  return m.model->layers[layer]->as<BlockImpl>()->self_attn->q_proj->named_parameters()["weight"];
}

// Logits and a q_proj gradient of the last layer under `options`.
std::pair<at::Tensor, at::Tensor> logits_and_gradient(LoadedModel& m, const at::Tensor& tokens, const ForwardOptions& options) {
  auto weight = q_proj_weight(m, 1);
  weight.mutable_grad() = at::Tensor();
  weight.requires_grad_(true);
  auto logits = m.model->forward(tokens, options);
  logits.pow(2).mean().backward();
  weight.requires_grad_(false);
  return {logits.detach(), weight.grad().clone()};
}

// The window lives in the fused kernel (no padding mask) and in the masked path (a padding mask);
// both equal the unwindowed model given the band of visible keys explicitly, in logits and gradients.
TEST(SlidingWindow, FusedAndMaskedPathsEqualAnExplicitBand) {
  auto pair = window_pair("window-band");
  at::manual_seed(3);
  auto tokens = at::randint(1, pair.windowed.config.vocab_size, {2, 29}, at::kLong);
  ForwardOptions banded;
  banded.visible = band(tokens.size(1), pair.window);
  const auto reference = logits_and_gradient(pair.plain, tokens, banded);
  const auto fused = logits_and_gradient(pair.windowed, tokens, {});
  ForwardOptions padded;
  padded.attention_mask = at::ones_like(tokens);
  const auto masked = logits_and_gradient(pair.windowed, tokens, padded);
  expect_close(fused.first, reference.first, 1e-12, "fused kernel logits vs explicit band");
  expect_close(fused.second, reference.second, 1e-12, "fused kernel q_proj gradient vs explicit band");
  expect_close(masked.first, reference.first, 1e-12, "masked path logits vs explicit band");
  expect_close(masked.second, reference.second, 1e-12, "masked path q_proj gradient vs explicit band");
  // The window matters here: without it the logits past the window move.
  const auto unwindowed = logits_and_gradient(pair.plain, tokens, {});
  EXPECT_LT((unwindowed.first.narrow(1, 0, pair.window) - reference.first.narrow(1, 0, pair.window)).abs().max().item<double>(), 1e-12);
  EXPECT_GT((unwindowed.first - reference.first).abs().max().item<double>(), 1e-2);
}

// Prefill and decoding in uneven chunks through a rotating cache that holds only the window: every
// chunk's logits equal those of one pass over the whole sequence, after the ring wrapped many times.
TEST(SlidingWindow, RotatingCacheOfTheWindowEqualsOnePass) {
  auto pair = window_pair("window-cache");
  auto& m = pair.windowed;
  c10::InferenceMode guard;
  at::manual_seed(4);
  auto tokens = at::randint(1, m.config.vocab_size, {1, 31}, at::kLong);
  const auto whole = m.model->forward(tokens);
  KVCache cache(m.config, 1, pair.window, at::kDouble, at::kCPU, /*keep=*/0);
  ForwardOptions options;
  options.cache = &cache;
  int64_t at = 0;
  for (int64_t chunk : {4, 1, 7, 1, 1, 5, 3, 2, 1, 6}) {
    const auto logits = m.model->forward(tokens.narrow(1, at, chunk), options);
    expect_close(logits, whole.narrow(1, at, chunk), 1e-10, "chunk of " + std::to_string(chunk) + " at " + std::to_string(at));
    at += chunk;
  }
  EXPECT_EQ(at, tokens.size(1));
  EXPECT_EQ(cache.stored(), pair.window);
}

// generate() picks that cache by itself once the sequence outruns the window: greedy tokens equal
// recomputing the whole sequence at every step.
TEST(SlidingWindow, GenerateWithTheCacheEqualsRecomputation) {
  auto pair = window_pair("window-generate");
  std::vector<int64_t> prompt = {1, 851, 1123, 344, 29491, 77, 4054, 12, 9000};
  std::vector<std::vector<int64_t>> runs;
  for (bool cached : {true, false}) {
    infer::GenerationOptions options;
    options.max_tokens = 24;
    options.use_kv_cache = cached;
    options.sampling.temperature = 0;
    runs.push_back(infer::generate(pair.windowed.model, prompt, options).tokens);
  }
  EXPECT_EQ(runs[0].size(), 24u);
  EXPECT_EQ(runs[0], runs[1]);
}

at::Tensor qwen3_loss(LlamaModel& model, const at::Tensor& tokens) {
  auto inputs = tokens.narrow(1, 0, tokens.size(1) - 1), targets = tokens.narrow(1, 1, tokens.size(1) - 1);
  auto loss = train::masked_cross_entropy(model->forward(inputs), targets, at::ones_like(targets));
  return loss.sum / loss.tokens.item<double>();
}

// LoRA on q_proj and k_proj reaches the loss through Qwen3's q/k norms; full fine-tuning trains the
// norms' weights themselves. Both against central differences in float64.
TEST(Qwen3, GradientsThroughQkNormsMatchFiniteDifferences) {
  const auto dir = test::random_family_model(test::scratch_dir("qwen3-grad") / "model", "qwen3");
  at::manual_seed(6);
  const auto tokens = at::randint(1, 151000, {1, 12}, at::kLong);
  {
    auto m = load_double(dir);
    lora::LoraConfig config;
    config.num_layers = 2;
    config.keys = {"self_attn.q_proj", "self_attn.k_proj"};
    EXPECT_EQ(lora::apply_fine_tuning(m.model, config, /*seed=*/3), 4);
    {
      at::NoGradGuard no_grad;
      for (auto& [name, t] : lora::trainable_tensors(m.model))
        if (name.find("lora_b") != std::string::npos) t.normal_(0, 0.05);
    }
    const int checked = test::expect_gradients_match_finite_differences(
        lora::trainable_tensors(m.model), [&] { return qwen3_loss(m.model, tokens); }, [](const std::string&) { return true; },
        1e-5, "qwen3 lora on q/k");
    EXPECT_EQ(checked, 4 * 2 * 3);
  }
  auto m = load_double(dir);
  lora::LoraConfig config;
  config.fine_tune_type = "full";
  config.num_layers = 1;
  lora::apply_fine_tuning(m.model, config, /*seed=*/3);
  const auto is_norm = [](const std::string& name) { return name.find("_norm.weight") != std::string::npos && name.find("self_attn") != std::string::npos; };
  const int checked = test::expect_gradients_match_finite_differences(
      lora::trainable_tensors(m.model), [&] { return qwen3_loss(m.model, tokens); }, is_norm, 1e-5, "qwen3 full q/k norms");
  EXPECT_EQ(checked, 2 * 3);  // q_norm and k_norm of the last block
}

// Gemma's, Phi-3's and Qwen3-MoE's pieces in float64: LoRA on every projection reaches the loss
// through GELU gates, sandwich norms scaling by 1 + weight, soft-capped scores and logits (Gemma 2),
// local layers' window and RoPE, q/k norms (Gemma 3), fused q/k/v and gate/up projections, RoPE over
// part of each head with longrope's long factors (Phi-3), the router's chosen weights and each
// expert's own factors (Qwen3-MoE); full fine-tuning trains the norms themselves. Against
// central differences.
class FamilyGradients : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyGradients, MatchFiniteDifferences) {
  const auto dir = test::random_family_model(test::scratch_dir(GetParam() + "-grad") / "model", GetParam());
  at::manual_seed(9);
  const auto tokens = at::randint(1, 32000, {1, 40}, at::kLong);  // beyond the window and Phi-3's original context
  const auto config = load_model_config((dir / "config.json").string());
  // Projections a block has: fused ones, or q/k/v/o and an MLP's three, or a router and three stacked experts.
  const int64_t layers = std::min<int64_t>(3, config.num_hidden_layers), linears = config.fused_projections ? 4 : config.num_experts > 0 ? 8 : 7;
  {
    auto m = load_double(dir);
    lora::LoraConfig lora_config;
    lora_config.num_layers = 3;  // local and global layers alike
    EXPECT_EQ(lora::apply_fine_tuning(m.model, lora_config, /*seed=*/3), layers * linears);
    {
      at::NoGradGuard no_grad;
      for (auto& [name, t] : lora::trainable_tensors(m.model))
        if (name.find("lora_b") != std::string::npos) t.normal_(0, 0.05);
    }
    const int checked = test::expect_gradients_match_finite_differences(
        lora::trainable_tensors(m.model), [&] { return qwen3_loss(m.model, tokens); }, [](const std::string&) { return true; },
        1e-4, GetParam() + " lora");  // some gradients are ~5e-6, where rounding of the loss (~10) costs ~2e-9
    EXPECT_EQ(checked, layers * linears * 2 * 3);
  }
  auto m = load_double(dir);
  lora::LoraConfig lora_config;
  lora_config.fine_tune_type = "full";
  lora_config.num_layers = 1;
  lora::apply_fine_tuning(m.model, lora_config, /*seed=*/3);
  const auto is_norm = [](const std::string& name) {
    return name.find("norm.weight") != std::string::npos && name.find("layers.") != std::string::npos;
  };
  const int checked = test::expect_gradients_match_finite_differences(lora::trainable_tensors(m.model),
                                                                      [&] { return qwen3_loss(m.model, tokens); }, is_norm, 1e-5,
                                                                      GetParam() + " full norms");
  EXPECT_EQ(checked, (2 + 2 * config.sandwich_norms + 2 * config.qk_norm) * 3);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyGradients, ::testing::Values("gemma2", "gemma3", "phi3", "qwen3_moe"),
                         [](const auto& info) { return info.param; });

// Local layers see the window and global ones every key: the fused kernel (Gemma 3), the masked path
// (a padding mask) and chunked decoding through a full cache give the same logits; the window matters.
TEST(Gemma3, LocalAndGlobalLayersAgreeAcrossPathsAndCache) {
  const auto dir = test::scratch_dir("gemma3-paths");
  auto m = load_double(test::random_family_model(dir / "model", "gemma3"));
  EXPECT_EQ(m.config.local_layers, (std::vector<bool>{true, true, false, true, true, false}));
  at::manual_seed(5);
  auto tokens = at::randint(1, m.config.vocab_size, {1, 23}, at::kLong);
  c10::InferenceMode guard;
  const auto fused = m.model->forward(tokens);
  ForwardOptions padded;
  padded.attention_mask = at::ones_like(tokens);
  expect_close(m.model->forward(tokens, padded), fused, 1e-12, "masked path vs fused kernel");
  KVCache cache(m.config, 1, tokens.size(1), at::kDouble, at::kCPU);
  ForwardOptions cached;
  cached.cache = &cache;
  int64_t at = 0;
  for (int64_t chunk : {5, 1, 1, 9, 1, 6}) {
    expect_close(m.model->forward(tokens.narrow(1, at, chunk), cached), fused.narrow(1, at, chunk), 1e-10,
                 "chunk of " + std::to_string(chunk) + " at " + std::to_string(at));
    at += chunk;
  }
  // Without the window (and so without local layers) the logits past it move.
  auto config = test::read_json(dir / "model" / "config.json");
  config["sliding_window"] = nullptr;
  std::ofstream(dir / "model" / "config.json") << config.dump();
  auto unwindowed = load_double(dir / "model");
  const auto moved = (unwindowed.model->forward(tokens) - fused).abs();
  EXPECT_GT(moved.narrow(1, 6, 17).max().item<double>(), 1e-3);
}

// Gemma 2's capped scores always take the masked path; one query at a time through the cache
// equals the whole sequence at once. Each cap bites: without it the logits move.
TEST(Gemma2, SoftCappedDecodingEqualsOnePass) {
  const auto dir = test::scratch_dir("gemma2-decode");
  auto m = load_double(test::random_family_model(dir / "model", "gemma2"));
  at::manual_seed(6);
  auto tokens = at::randint(1, m.config.vocab_size, {1, 15}, at::kLong);
  c10::InferenceMode guard;
  const auto whole = m.model->forward(tokens);
  EXPECT_LE(whole.abs().max().item<double>(), m.config.final_logit_softcapping);
  KVCache cache(m.config, 1, tokens.size(1), at::kDouble, at::kCPU);
  ForwardOptions cached;
  cached.cache = &cache;
  for (int64_t t = 0; t < tokens.size(1); ++t)
    expect_close(m.model->forward(tokens.narrow(1, t, 1), cached), whole.narrow(1, t, 1), 1e-10, "token " + std::to_string(t));
  const double range = (whole.max() - whole.min()).item<double>();
  for (const char* cap : {"attn_logit_softcapping", "final_logit_softcapping"}) {
    auto config = test::read_json(dir / "model" / "config.json");
    config[cap] = 1e9;  // a cap that never bites
    fs::create_directories(dir / cap);
    for (const auto& entry : fs::directory_iterator(dir / "model")) fs::copy_file(entry.path(), dir / cap / entry.path().filename());
    std::ofstream(dir / cap / "config.json") << config.dump();
    const double moved = (load_double(dir / cap).model->forward(tokens) - whole).abs().max().item<double>() / range;
    std::cout << "[gemma2] without " << cap << " the logits move by " << moved << " of their range\n";
    EXPECT_GT(moved, 0.02) << cap;
  }
}

// Longrope as Hugging Face's Phi-3 applies it, per forward pass: positions within the original
// 32-token context rotate by the short factors, and a pass that reaches beyond rotates all of its
// positions by the long ones; the cache follows the same rule, so chunks within 32 positions equal
// one short pass.
TEST(Phi3, LongropeSwitchesFactorsPastTheOriginalContext) {
  auto m = load_double(test::random_family_model(test::scratch_dir("phi3-longrope") / "model", "phi3"));
  ASSERT_EQ(m.config.rope_scaling.original_max_position_embeddings, 32);
  at::manual_seed(7);
  auto tokens = at::randint(1, m.config.vocab_size, {1, 40}, at::kLong);
  c10::InferenceMode guard;
  const auto within = m.model->forward(tokens.narrow(1, 0, 32)), beyond = m.model->forward(tokens);
  EXPECT_GT((beyond.narrow(1, 1, 31) - within.narrow(1, 1, 31)).abs().max().item<double>(), 1e-3);
  KVCache cache(m.config, 1, 32, at::kDouble, at::kCPU);
  ForwardOptions cached;
  cached.cache = &cache;
  expect_close(m.model->forward(tokens.narrow(1, 0, 20), cached), within.narrow(1, 0, 20), 1e-10, "first 20 through the cache");
  expect_close(m.model->forward(tokens.narrow(1, 20, 12), cached), within.narrow(1, 20, 12), 1e-10, "next 12 through the cache");
}

// Qwen3-MoE's block against a loop written here over tokens, with the experts read from the file
// one by one: softmax over all experts, the top two, their weights normalised (or not), each
// expert's SiLU-gated MLP. Few tokens leave most experts idle; many reach them all.
at::Tensor moe_reference(const io::WeightStore& file, int64_t layer, const at::Tensor& x, int64_t top_k, bool normalize) {
  const std::string mlp = "model.layers." + std::to_string(layer) + ".mlp.";
  const auto w = [&](const std::string& name) { return file.get(mlp + name + ".weight").to(at::kDouble); };
  const auto flat = x.reshape({-1, x.size(-1)});
  auto out = at::zeros_like(flat);
  for (int64_t t = 0; t < flat.size(0); ++t) {
    const auto token = flat[t];
    const auto probs = at::softmax(at::matmul(w("gate"), token), 0);
    const auto [weights, experts] = probs.topk(top_k);
    const double total = normalize ? weights.sum().item<double>() : 1.0;
    for (int64_t k = 0; k < top_k; ++k) {
      const std::string e = "experts." + std::to_string(experts[k].item<int64_t>()) + ".";
      const auto hidden = at::silu(at::matmul(w(e + "gate_proj"), token)) * at::matmul(w(e + "up_proj"), token);
      out[t] += weights[k].item<double>() / total * at::matmul(w(e + "down_proj"), hidden);
    }
  }
  return out.view(x.sizes());
}

TEST(Qwen3Moe, ExpertsMatchAPerTokenReference) {
  const auto dir = test::random_family_model(test::scratch_dir("qwen3-moe-experts") / "model", "qwen3_moe");
  const auto file = io::WeightStore::open_dir(dir.string());
  at::manual_seed(12);
  for (const bool normalize : {true, false}) {
    auto config = test::read_json(dir / "config.json");
    config["norm_topk_prob"] = normalize;
    std::ofstream(dir / "config.json") << config.dump();
    auto m = load_double(dir);
    at::NoGradGuard no_grad;
    for (const int64_t tokens : {1, 3, 40}) {
      const auto x = at::randn({1, tokens, m.config.hidden_size}, at::kDouble);
      auto moe = m.model->layers->ptr<BlockImpl>(1)->moe;
      ASSERT_TRUE(moe);
      const auto expected = moe_reference(file, 1, x, m.config.num_experts_per_tok, normalize);
      EXPECT_LT((moe->forward(x) - expected).abs().max().item<double>(), 1e-12) << tokens << " tokens, normalize " << normalize;
    }
  }
}

// DoRA on stacked experts (Flotilla's extension; mlx-lm has none): each expert's magnitude [E, out]
// rescales its own rows, its gradient against central differences; the fused weight computes what
// the adapter does.
TEST(Qwen3Moe, DoraOnExpertsMatchesFiniteDifferencesAndFuses) {
  const auto dir = test::random_family_model(test::scratch_dir("qwen3-moe-dora") / "model", "qwen3_moe");
  at::manual_seed(14);
  const auto tokens = at::randint(1, 32000, {1, 40}, at::kLong);
  auto m = load_double(dir);
  lora::LoraConfig config;
  config.fine_tune_type = "dora";
  config.num_layers = 1;
  config.keys = {"mlp.switch_mlp.gate_proj", "mlp.switch_mlp.down_proj"};
  EXPECT_EQ(lora::apply_fine_tuning(m.model, config, /*seed=*/3), 2);
  const auto is_magnitude = [](const std::string& name) { return name.substr(name.size() - 2) == ".m"; };
  {
    at::NoGradGuard no_grad;
    for (auto& [name, t] : lora::trainable_tensors(m.model)) {
      if (name.find("lora_b") != std::string::npos) t.normal_(0, 0.05);
      if (is_magnitude(name)) t.mul_(1 + 0.1 * at::randn_like(t));
    }
  }
  const auto trainables = lora::trainable_tensors(m.model);
  ASSERT_EQ(trainables.size(), 6u);
  for (const auto& [name, t] : trainables)
    if (is_magnitude(name)) EXPECT_EQ(t.sizes(), (at::IntArrayRef{8, name.find("down_proj") != std::string::npos ? 64 : 32})) << name;
  // As in mlx-lm and the paper the weight norm is a constant for the gradient: m's is the exact derivative.
  const int checked = test::expect_gradients_match_finite_differences(
      trainables, [&] { return qwen3_loss(m.model, tokens); }, is_magnitude, 1e-5, "qwen3_moe dora on experts");
  EXPECT_EQ(checked, 2 * 3);
  at::NoGradGuard no_grad;
  auto down = m.model->layers->ptr<BlockImpl>(2)->moe->switch_mlp->down_proj;
  const auto x = at::randn({5, m.config.moe_intermediate_size}, at::kDouble);
  const auto fused = down->fused_weight();
  for (const int64_t expert : {0, 5})
    EXPECT_LT((down->forward_expert(x, expert) - at::matmul(x, fused[expert].t())).abs().max().item<double>(), 1e-12) << expert;
}

// A folder short of one expert's tensor, or a config counting other experts than the files hold,
// fails on loading with the tensor named.
TEST(Qwen3Moe, AMissingOrMiscountedExpertIsNamed) {
  const auto dir = test::random_family_model(test::scratch_dir("qwen3-moe-bad") / "model", "qwen3_moe");
  const auto load_error = [&] {
    try {
      load_double(dir);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  const std::string missing = "model.layers.1.mlp.experts.7.up_proj.weight";
  io::NamedTensors kept;
  {
    const auto file = io::WeightStore::open_dir(dir.string());
    for (const auto& name : file.names())
      if (name != missing) kept.emplace_back(name, file.get(name).clone());
  }
  io::save_safetensors((dir / "model.safetensors").string(), kept);
  EXPECT_NE(load_error().find(missing), std::string::npos) << load_error();
  kept.emplace_back(missing, at::zeros({32, 64}));
  io::save_safetensors((dir / "model.safetensors").string(), kept);
  EXPECT_EQ(load_error(), "loaded");
  auto config = test::read_json(dir / "config.json");
  config["num_experts"] = 6;
  std::ofstream(dir / "config.json") << config.dump();
  EXPECT_NE(load_error().find("'model.layers.0.mlp.gate.weight' has shape [8, 64]; expected [6, 64]"), std::string::npos) << load_error();
}

// Stacked experts quantize row by row, as each expert's own matrix would, and dequantize back.
TEST(Qwen3Moe, StackedExpertsQuantizeAsEachExpert) {
  at::manual_seed(13);
  const auto stacked = at::randn({3, 8, 64});
  const QuantSpec spec{4, 32};
  const auto q = mlx_quantize(stacked, spec, at::kFloat);
  ASSERT_EQ(q.packed.sizes(), (at::IntArrayRef{3, 8, 8}));
  for (int64_t e = 0; e < 3; ++e) {
    const auto each = mlx_quantize(stacked[e], spec, at::kFloat);
    EXPECT_TRUE(at::equal(q.packed[e], each.packed)) << e;
    EXPECT_TRUE(at::equal(q.scales[e], each.scales)) << e;
    EXPECT_TRUE(at::equal(mlx_dequantize(q, at::kFloat)[e], mlx_dequantize(each, at::kFloat))) << e;
  }
}

}  // namespace
}  // namespace flotilla
