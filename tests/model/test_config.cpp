// config.json parsing against the real configs in ../shared, plus rotary frequency checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "model/config.h"
#include "model/rope.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::model;

namespace flotilla {
namespace {

std::string config_path(const std::string& name) { return (test::shared_dir() / "configs" / name).string(); }

TEST(Config, Llama32FourBitWithLlama3RopeAndEosList) {
  auto c = load_model_config(config_path("Llama-3.2-1B-Instruct-4bit_fused_config.json"));
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.quantization.defaults.bits, 4);
  EXPECT_EQ(c.quantization.defaults.group_size, 64);
}

TEST(Config, Qwen2HasQkvBiasesButNoOutputBias) {
  auto c = load_model_config(config_path("Qwen2.5-7B-Instruct-4bit_fused_config.json"));
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_EQ(c.head_dim, 3584 / 28);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.tie_word_embeddings);
}

// Published configs of the families added to Llama's (tests/model/configs).
TEST(Config, Qwen3HasPerHeadNormsAndItsOwnHeadDim) {
  auto c = load_model_config((test::source_dir() / "tests/model/configs/Qwen3-0.6B.json").string());
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 128);  // not hidden_size / heads = 64
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151645});
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").to_json(), c.to_json());
  EXPECT_EQ(c.to_json()["architectures"][0], "Qwen3ForCausalLM");
}

TEST(Config, Qwen3MoeHasEightOf128ExpertsInEveryLayer) {
  auto c = load_model_config((test::source_dir() / "tests/model/configs/Qwen3-30B-A3B.json").string());
  EXPECT_EQ(c.model_type, "qwen3_moe");
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_experts, 128);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_EQ(c.moe_intermediate_size, 768);
  EXPECT_TRUE(c.norm_topk_prob);
  for (const int64_t layer : {0, 1, 47}) EXPECT_TRUE(c.is_sparse(layer)) << layer;
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.to_json()["architectures"][0], "Qwen3MoeForCausalLM");
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").to_json(), c.to_json());
  // Dense layers where listed, or off the sparse step; Hugging Face's default leaves weights unnormalised.
  auto j = test::read_json(test::source_dir() / "tests/model/configs/Qwen3-30B-A3B.json");
  j["mlp_only_layers"] = {0, 5}, j["decoder_sparse_step"] = 2;
  j.erase("norm_topk_prob");
  c = parse_model_config(j, "mixed");
  EXPECT_FALSE(c.norm_topk_prob);
  for (const auto& [layer, sparse] : std::vector<std::pair<int64_t, bool>>{{0, false}, {1, true}, {2, false}, {3, true}, {5, false}, {7, true}})
    EXPECT_EQ(c.is_sparse(layer), sparse) << layer;
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").mlp_only_layers, (std::vector<int64_t>{0, 5}));
}

TEST(Config, MistralV01HasASlidingWindowAndV03None) {
  auto c = load_model_config((test::source_dir() / "tests/model/configs/Mistral-7B-v0.1.json").string());
  EXPECT_EQ(c.model_type, "mistral");
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.to_json()["sliding_window"], 4096);
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").sliding_window, 4096);
  auto v03 = test::read_json(test::source_dir() / "tests/model/configs/Mistral-7B-v0.1.json");
  v03["sliding_window"] = nullptr;
  EXPECT_EQ(parse_model_config(v03, "v0.3").sliding_window, 0);
  // Llama has no window: the key (some exports carry it) changes nothing there.
  v03["model_type"] = "llama", v03["sliding_window"] = 4096;
  EXPECT_EQ(parse_model_config(v03, "llama").sliding_window, 0);
}

std::vector<bool> every_period(int64_t layers, int64_t period) {  // layer l is global when (l + 1) % period == 0
  std::vector<bool> local;
  for (int64_t l = 0; l < layers; ++l) local.push_back((l + 1) % period != 0);
  return local;
}

TEST(Config, Gemma2CapsLogitsAndAlternatesLocalLayers) {
  auto c = load_model_config((test::source_dir() / "tests/model/configs/gemma-2-2b-it.json").string());
  EXPECT_EQ(c.model_type, "gemma2");
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_TRUE(c.norm_plus_one && c.sandwich_norms && c.scale_embeddings);
  EXPECT_TRUE(c.tie_word_embeddings);  // the file leaves it out
  EXPECT_FALSE(c.qk_norm);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcapping, 50.0);
  EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 30.0);
  EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, 256.0);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.local_layers, every_period(26, 2));  // layers 0, 2, 4, ... local
  EXPECT_EQ(c.window_of(0), 4096);
  EXPECT_EQ(c.window_of(1), 0);
  EXPECT_FALSE(c.uniform_window());
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 0.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 107}));
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").to_json(), c.to_json());
  EXPECT_EQ(c.to_json()["architectures"][0], "Gemma2ForCausalLM");
}

TEST(Config, Gemma3HasQkNormsAndTwoRopeBases) {
  auto c = load_model_config((test::source_dir() / "tests/model/configs/gemma-3-1b-it.json").string());
  EXPECT_EQ(c.model_type, "gemma3_text");
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_TRUE(c.norm_plus_one && c.sandwich_norms && c.scale_embeddings && c.qk_norm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.attn_logit_softcapping, 0.0);  // null
  EXPECT_EQ(c.final_logit_softcapping, 0.0);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_EQ(c.local_layers, every_period(26, 6));  // layers 5, 11, 17, 23 global
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 1e4);
  EXPECT_EQ(c.rope_scaling.type, "default");
  const auto again = parse_model_config(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
  EXPECT_EQ(again.local_layers, c.local_layers);
  // Gemma 3 4B's text part: global layers scaled linearly; layer_types instead of a period.
  auto j = test::read_json(test::source_dir() / "tests/model/configs/gemma-3-1b-it.json");
  j["rope_scaling"] = {{"factor", 8.0}, {"rope_type", "linear"}};
  j.erase("sliding_window_pattern");
  j["num_hidden_layers"] = 3;
  j["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention"};
  c = parse_model_config(j, "gemma-3-4b text");
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.local_layers, (std::vector<bool>{true, false, true}));
  // Transformers 5 gives both RoPEs by layer type.
  j.erase("rope_scaling"), j.erase("rope_theta"), j.erase("rope_local_base_freq");
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"factor", 8.0}, {"rope_theta", 1e6}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}};
  c = parse_model_config(j, "transformers 5");
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 1e4);
}

TEST(Config, Phi3FusesProjectionsAndScalesRopeByContext) {
  const auto dir = test::source_dir() / "tests/model/configs";
  auto c = load_model_config((dir / "Phi-3-mini-4k-instruct.json").string());
  EXPECT_EQ(c.model_type, "phi3");
  EXPECT_TRUE(c.fused_projections);
  EXPECT_EQ(c.rotated_dims(), 96);  // 3072 / 32, every dim
  EXPECT_EQ(c.rope_scaling.type, "default");
  EXPECT_EQ(c.sliding_window, 2047);
  EXPECT_TRUE(c.uniform_window());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").to_json(), c.to_json());
  EXPECT_EQ(c.to_json()["architectures"][0], "Phi3ForCausalLM");

  c = load_model_config((dir / "Phi-3-128k-text.json").string());
  EXPECT_EQ(c.rope_scaling.type, "longrope");  // "su" in the file
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
  ASSERT_EQ(c.rope_scaling.short_factor.size(), 48u);
  EXPECT_DOUBLE_EQ(c.rope_scaling.long_factor.back(), 64.81001281738281);
  // Hugging Face's default: sqrt(1 + ln(131072 / 4096) / ln 4096) = 1.1902380714238083.
  EXPECT_NEAR(c.rope_scaling.attention_factor, 1.1902380714238083, 1e-12);
  const auto again = parse_model_config(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
  EXPECT_EQ(again.rope_scaling.long_factor, c.rope_scaling.long_factor);
  // Frequencies: base^(-2i/96) divided by the short factors within 4096 positions, the long ones beyond.
  const auto short_inv = rope_inverse_frequencies(c), long_inv = rope_inverse_frequencies(c, true);
  for (int64_t i : {0, 13, 47}) {
    const double base = std::pow(10000.0, -2.0 * static_cast<double>(i) / 96);
    EXPECT_NEAR(short_inv[i].item<double>(), base / c.rope_scaling.short_factor[i], 1e-15);
    EXPECT_NEAR(long_inv[i].item<double>(), base / c.rope_scaling.long_factor[i], 1e-15);
  }
  RotaryTable table(c);
  const auto cos_at = [&](int64_t position, int64_t max_position) {
    return table.lookup(at::full({1, 1}, position, at::kLong), max_position, at::kDouble).first[0][0][0];
  };
  const double angle = 100 * std::pow(10000.0, -2.0 * 20 / 96);
  EXPECT_NEAR(cos_at(100, 4095)[20].item<double>(), std::cos(angle / c.rope_scaling.short_factor[20]) * 1.1902380714238083, 1e-6);
  EXPECT_NEAR(cos_at(100, 4096)[20].item<double>(), std::cos(angle / c.rope_scaling.long_factor[20]) * 1.1902380714238083, 1e-6);

  // Phi-4-mini rotates three quarters of each head.
  auto j = test::read_json(dir / "Phi-3-mini-4k-instruct.json");
  j["partial_rotary_factor"] = 0.75;
  c = parse_model_config(j, "partial");
  EXPECT_EQ(c.rotated_dims(), 72);
  EXPECT_EQ(parse_model_config(c.to_json(), "round trip").rotated_dims(), 72);
}

TEST(Config, TransformersFiveRopeParameters) {
  auto c = load_model_config(config_path("SmolLM2-135M_config.transformers5-format.json"));
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_EQ(c.rope_scaling.type, "default");
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.num_key_value_heads, 3);
}

TEST(Config, RoundTripThroughToJson) {
  auto c = load_model_config(config_path("Llama-3.2-1B-Instruct-4bit_fused_config.json"));
  auto again = parse_model_config(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
  EXPECT_EQ(again.eos_token_ids, c.eos_token_ids);
  EXPECT_EQ(again.rope_scaling.type, "llama3");
}

// nlohmann throws out_of_range, not parse_error, for a number beyond double's range (found by fuzz_model_config).
TEST(Config, NumberBeyondDoubleIsInvalidJson) {
  const auto path = test::scratch_dir("config-overflow") / "config.json";
  std::ofstream(path) << R"({"model_type": "qwen2", "vocab_size": 15e1936})";
  try {
    load_model_config(path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[config] '" + path.string() + "': invalid JSON:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
  }
}

struct BadConfig {
  const char* name;
  const char* patch;  // merged into a valid config
  const char* message;
};

class ConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrors, ClearMessage) {
  auto j = test::read_json(test::stories_dir() / "hf" / "config.json");
  j.merge_patch(nlohmann::json::parse(GetParam().patch));
  try {
    parse_model_config(j, "bad/config.json");
    FAIL() << "no error for " << GetParam().name;
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad/config.json"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrors,
    ::testing::Values(
        BadConfig{"type", R"({"model_type": "gpt2"})", "unsupported model_type 'gpt2'; supported: llama, mistral, qwen2, qwen3, qwen3_moe, gemma2, gemma3_text, phi3"},
        BadConfig{"act", R"({"hidden_act": "gelu"})", "unsupported hidden_act 'gelu'"},
        BadConfig{"missing", R"({"hidden_size": null})", "missing required field 'hidden_size'"},
        BadConfig{"negative", R"({"num_hidden_layers": -2})", "'num_hidden_layers' must be a positive integer"},
        BadConfig{"gqa", R"({"num_key_value_heads": 3})", "not a multiple of num_key_value_heads 3"},
        BadConfig{"rope", R"({"rope_scaling": {"rope_type": "yarn", "factor": 4}})", "unsupported rope type 'yarn'; supported: default, linear, llama3, longrope"},
        BadConfig{"bits", R"({"quantization": {"bits": 3, "group_size": 64}})", "bits 3; supported: 2, 4, 8"},
        BadConfig{"eos", R"({"eos_token_id": "x"})", "'eos_token_id' must be an integer or a list"},
        // Options of variants we do not implement: refused by key and value, never approximated.
        BadConfig{"partial", R"({"partial_rotary_factor": 0.5})", "partial_rotary_factor=0.5 is not implemented"},
        BadConfig{"odd_partial", R"({"model_type": "phi3", "partial_rotary_factor": 0.1})", "must rotate an even number"},
        BadConfig{"longrope_factors", R"({"model_type": "phi3", "original_max_position_embeddings": 256, "rope_scaling": {"type": "su", "short_factor": [1.0], "long_factor": [1.0]}})",
                  "longrope factors hold 1 and 1 values; expected 4"},
        BadConfig{"longrope_context", R"({"model_type": "phi3", "rope_scaling": {"type": "longrope", "short_factor": [1, 1, 1, 1], "long_factor": [1, 1, 1, 1]}})",
                  "longrope needs original_max_position_embeddings"},
        BadConfig{"longrope_scale", R"({"model_type": "phi3", "original_max_position_embeddings": 256, "rope_scaling": {"type": "longrope", "short_factor": [1, 1, 1, 1], "long_factor": [1, 1, 1, 1], "attention_factor": -1}})",
                  "longrope attention_factor must be positive, got -1"},
        BadConfig{"longrope_list", R"({"model_type": "phi3", "rope_scaling": {"type": "longrope", "short_factor": 2}})",
                  "longrope needs 'short_factor' as a list of numbers"},
        BadConfig{"interleaved", R"({"rope_interleaved": true})", "rope_interleaved=true is not implemented"},
        BadConfig{"softcap", R"({"attn_logit_softcapping": 50.0})", "attn_logit_softcapping=50.0 is not implemented"},
        BadConfig{"final_softcap", R"({"final_logit_softcapping": 30.0})", "final_logit_softcapping=30.0 is not implemented"},
        BadConfig{"experts", R"({"num_local_experts": 8})", "num_local_experts=8 is not implemented"},
        BadConfig{"qwen_experts", R"({"num_experts": 128})", "num_experts=128 is not implemented"},
        BadConfig{"moe_top_k", R"({"model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 8, "moe_intermediate_size": 16})",
                  "num_experts_per_tok 8 exceeds num_experts 4"},
        BadConfig{"moe_width", R"({"model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 2})",
                  "missing required field 'moe_intermediate_size'"},
        BadConfig{"moe_dense_layers", R"({"model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16, "mlp_only_layers": [9]})",
                  "mlp_only_layers must list layer indices below"},
        BadConfig{"moe_dense_list", R"({"model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16, "mlp_only_layers": 1})",
                  "mlp_only_layers must list layer indices below"},
        BadConfig{"qk_norm", R"({"use_qk_norm": true})", "use_qk_norm=true is not implemented"},
        BadConfig{"layer_types", R"({"layer_types": ["full_attention", "sliding_attention"]})",
                  "layer_types=[\"full_attention\",\"sliding_attention\"] is not implemented"},
        BadConfig{"qwen_window", R"({"model_type": "qwen3", "use_sliding_window": true, "sliding_window": 4096})",
                  "use_sliding_window=true (a window on layers past max_window_layers) is not implemented"},
        BadConfig{"window", R"({"model_type": "mistral", "sliding_window": 0})", "'sliding_window' must be a positive integer"},
        BadConfig{"gemma_act", R"({"model_type": "gemma2", "hidden_activation": "gelu"})", "unsupported hidden_act 'gelu'"},
        BadConfig{"gemma_layers", R"({"model_type": "gemma2", "sliding_window": 8, "layer_types": ["full_attention"]})",
                  "layer_types must list 5 layers"},
        BadConfig{"gemma_layer_type", R"({"model_type": "gemma3_text", "sliding_window": 8, "layer_types": ["a", "b", "c", "d", "e"]})",
                  "layer_types holds \"a\"; expected sliding_attention or full_attention"},
        BadConfig{"gemma_cap", R"({"model_type": "gemma2", "attn_logit_softcapping": -1})", "'attn_logit_softcapping' must be positive"},
        BadConfig{"gemma3_cap", R"({"model_type": "gemma3_text", "attn_logit_softcapping": 50.0})",
                  "attn_logit_softcapping=50.0 is not implemented"},
        BadConfig{"bidirectional", R"({"model_type": "gemma3_text", "use_bidirectional_attention": true})",
                  "use_bidirectional_attention=true is not implemented"},
        BadConfig{"local_rope", R"({"model_type": "gemma3_text", "sliding_window": 8, "rope_parameters": {"full_attention": {"rope_theta": 1e6}, "sliding_attention": {"rope_type": "linear", "factor": 2}}})",
                  "local layers' RoPE"}),
    [](const auto& info) { return std::string(info.param.name); });

// Independent scalar implementation of Meta's llama3 frequency scaling (reference code in
// Llama 3.1's model card repository), compared with the vectorised one.
TEST(Rope, Llama3FrequenciesMatchScalarFormula) {
  auto c = load_model_config(config_path("Llama-3.2-1B-Instruct-4bit_fused_config.json"));
  auto inv = rope_inverse_frequencies(c);
  const double low_wavelen = 8192 / 1.0, high_wavelen = 8192 / 4.0;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    double f = 1.0 / std::pow(500000.0, 2.0 * i / c.head_dim), wavelen = 2 * M_PI / f, expected;
    if (wavelen < high_wavelen) expected = f;
    else if (wavelen > low_wavelen) expected = f / 32.0;
    else {
      double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      expected = (1 - smooth) * f / 32.0 + smooth * f;
    }
    EXPECT_NEAR(inv[i].item<double>(), expected, 1e-12 * std::max(1.0, expected)) << "frequency " << i;
  }
}

TEST(Rope, RotationPreservesNormAndIsRelative) {
  ModelConfig c;
  c.head_dim = 8;
  RotaryTable table(c);
  auto x = at::randn({1, 1, 1, 8}), y = at::randn({1, 1, 1, 8});
  auto at_pos = [&](const at::Tensor& v, int64_t p) {
    auto [cos, sin] = table.lookup(at::full({1, 1}, p, at::kLong), p, at::kFloat);
    return apply_rotary(v, cos, sin);
  };
  EXPECT_NEAR(at_pos(x, 7).norm().item<double>(), x.norm().item<double>(), 1e-5);
  // q·k depends only on the distance between positions.
  double d1 = (at_pos(x, 3) * at_pos(y, 1)).sum().item<double>();
  double d2 = (at_pos(x, 12) * at_pos(y, 10)).sum().item<double>();
  EXPECT_NEAR(d1, d2, 1e-4);
}

}  // namespace
}  // namespace flotilla
