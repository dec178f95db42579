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
        BadConfig{"type", R"({"model_type": "gpt2"})", "unsupported model_type 'gpt2'; supported: llama, mistral, qwen2, qwen3"},
        BadConfig{"act", R"({"hidden_act": "gelu"})", "unsupported hidden_act 'gelu'"},
        BadConfig{"missing", R"({"hidden_size": null})", "missing required field 'hidden_size'"},
        BadConfig{"negative", R"({"num_hidden_layers": -2})", "'num_hidden_layers' must be a positive integer"},
        BadConfig{"gqa", R"({"num_key_value_heads": 3})", "not a multiple of num_key_value_heads 3"},
        BadConfig{"rope", R"({"rope_scaling": {"rope_type": "yarn", "factor": 4}})", "unsupported rope type 'yarn'"},
        BadConfig{"bits", R"({"quantization": {"bits": 3, "group_size": 64}})", "bits 3; supported: 2, 4, 8"},
        BadConfig{"eos", R"({"eos_token_id": "x"})", "'eos_token_id' must be an integer or a list"},
        // Options of variants we do not implement: refused by key and value, never approximated.
        BadConfig{"partial", R"({"partial_rotary_factor": 0.5})", "partial_rotary_factor=0.5 is not implemented"},
        BadConfig{"interleaved", R"({"rope_interleaved": true})", "rope_interleaved=true is not implemented"},
        BadConfig{"softcap", R"({"attn_logit_softcapping": 50.0})", "attn_logit_softcapping=50.0 is not implemented"},
        BadConfig{"final_softcap", R"({"final_logit_softcapping": 30.0})", "final_logit_softcapping=30.0 is not implemented"},
        BadConfig{"experts", R"({"num_local_experts": 8})", "num_local_experts=8 is not implemented"},
        BadConfig{"qwen_experts", R"({"num_experts": 128})", "num_experts=128 is not implemented"},
        BadConfig{"qk_norm", R"({"use_qk_norm": true})", "use_qk_norm=true is not implemented"},
        BadConfig{"layer_types", R"({"layer_types": ["full_attention", "sliding_attention"]})",
                  "layer_types=[\"full_attention\",\"sliding_attention\"] is not implemented"},
        BadConfig{"qwen_window", R"({"model_type": "qwen3", "use_sliding_window": true, "sliding_window": 4096})",
                  "use_sliding_window=true (a window on layers past max_window_layers) is not implemented"},
        BadConfig{"window", R"({"model_type": "mistral", "sliding_window": 0})", "'sliding_window' must be a positive integer"}),
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
