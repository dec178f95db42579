// PEFT adapter folders: a hand-made one gives the logits of weights merged here by PEFT's own formula
// in float64 (LoRA, rsLoRA, DoRA; any set of layers); what PEFT can say and Flotilla cannot is refused
// by name; an mlx-lm adapter exported to PEFT and read back computes exactly what it computed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/weight_store.h"
#include "lora/adapter_folder.h"
#include "lora/adapters.h"
#include "lora/peft.h"
#include "model/loader.h"
#include "support/paths.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::io;

namespace flotilla {
namespace {

namespace fs = std::filesystem;
const std::vector<int64_t> kTokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

LoadedModel stories(at::ScalarType dtype = at::kDouble) {
  LoadOptions options;
  options.dtype = dtype;
  return load_model((test::stories_dir() / "hf").string(), options);
}

at::Tensor logits(LoadedModel& m) {
  at::NoGradGuard guard;
  return m.model->forward(at::tensor(kTokens, at::kLong).unsqueeze(0));
}

double max_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Projections that are not "the last N blocks": layers 0 and 3, two kinds.
const std::vector<std::string> kModules = {"model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj",
                                           "model.layers.3.self_attn.v_proj"};

struct HandMade {
  nlohmann::json config = {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"}, {"r", 4},
                           {"lora_alpha", 8},     {"lora_dropout", 0.05},    {"bias", "none"},
                           {"use_rslora", false}, {"use_dora", false},       {"fan_in_fan_out", false},
                           {"modules_to_save", nullptr}, {"rank_pattern", nlohmann::json::object()},
                           {"target_modules", {"q_proj", "down_proj", "v_proj"}}};
  NamedTensors tensors;  // PEFT names
};

// Random factors in PEFT's shapes (A [r, in], B [out, r]), and a magnitude per row for DoRA.
HandMade hand_made(LoadedModel& m, bool dora) {
  HandMade h;
  h.config["use_dora"] = dora;
  at::manual_seed(3);
  for (auto& linear : model_linears(m.model)) {
    if (std::find(kModules.begin(), kModules.end(), linear->name()) == kModules.end()) continue;
    const std::string key = "base_model.model." + linear->name();
    h.tensors.emplace_back(key + ".lora_A.weight", at::randn({4, linear->in_features()}, at::kDouble) * 0.1);
    h.tensors.emplace_back(key + ".lora_B.weight", at::randn({linear->out_features(), 4}, at::kDouble) * 0.1);
    if (dora) h.tensors.emplace_back(key + ".lora_magnitude_vector", at::rand({linear->out_features()}, at::kDouble) + 0.5);
  }
  return h;
}

void write(const fs::path& dir, const HandMade& h) {
  std::ofstream(dir / "adapter_config.json") << h.config.dump(2);
  save_safetensors((dir / "adapter_model.safetensors").string(), h.tensors, {{"format", "pt"}});
}

// PEFT's formula, applied to the weights themselves: W + s·B·A, and for DoRA m / ‖that‖ per output row.
void merge_by_formula(LoadedModel& m, const HandMade& h, double scale, bool dora) {
  at::NoGradGuard guard;
  auto params = m.model->named_parameters();
  for (const auto& module : kModules) {
    const std::string key = "base_model.model." + module;
    auto find = [&](const std::string& suffix) {
      for (const auto& [name, t] : h.tensors)
        if (name == key + suffix) return t;
      throw std::runtime_error("missing " + key + suffix);
    };
    auto& w = params[module.substr(std::string("model.").size()) + ".weight"];
    auto merged = w + scale * at::matmul(find(".lora_B.weight"), find(".lora_A.weight"));
    if (dora) merged = merged * (find(".lora_magnitude_vector") / merged.norm(2, {1})).unsqueeze(1);
    w.copy_(merged);
  }
}

TEST(Peft, HandMadeFoldersGiveTheLogitsOfPeftsFormulaInFloat64) {
  struct Case {
    const char* name;
    bool dora, rslora;
    double scale;  // lora_alpha 8, r 4
  };
  for (const auto& c : {Case{"lora", false, false, 2.0}, Case{"rslora", false, true, 4.0}, Case{"dora", true, false, 2.0}}) {
    auto adapted = stories(), merged = stories(), base = stories();
    auto h = hand_made(adapted, c.dora);
    h.config["use_rslora"] = c.rslora;
    const auto dir = test::scratch_dir(std::string("peft-") + c.name);
    write(dir, h);
    load_adapters(adapted.model, dir.string());
    merge_by_formula(merged, h, c.scale, c.dora);
    const double diff = max_difference(logits(adapted), logits(merged));
    const double moved = max_difference(logits(merged), logits(base));
    std::cout << "[peft " << c.name << "] max |logit - formula| = " << diff << " (the adapter moves logits by " << moved
              << ")\n";
    EXPECT_LE(diff, 1e-10) << c.name;
    EXPECT_GT(moved, 1e-2) << c.name;  // the adapter matters, so the comparison can fail
    int adapted_linears = 0;
    for (auto& linear : model_linears(adapted.model)) adapted_linears += linear->has_adapter();
    EXPECT_EQ(adapted_linears, 3) << c.name;
  }
}

TEST(Peft, WhatFlotillaCannotRepresentIsRefusedByName) {
  auto m = stories();
  const auto good = hand_made(m, false);
  struct Case {
    const char* expected;
    std::function<void(HandMade&)> edit;
  };
  const std::vector<Case> cases = {
      {"'rank_pattern' is set", [](HandMade& h) { h.config["rank_pattern"] = {{"q_proj", 8}}; }},
      {"'alpha_pattern' is set", [](HandMade& h) { h.config["alpha_pattern"] = {{"q_proj", 32}}; }},
      {"'modules_to_save' is set", [](HandMade& h) { h.config["modules_to_save"] = {"lm_head"}; }},
      {"'fan_in_fan_out' is set", [](HandMade& h) { h.config["fan_in_fan_out"] = true; }},
      {"bias is 'lora_only'", [](HandMade& h) { h.config["bias"] = "lora_only"; }},
      {"peft_type is 'IA3'", [](HandMade& h) { h.config["peft_type"] = "IA3"; }},
      {"adapts 'lm_head'",
       [](HandMade& h) { h.tensors.emplace_back("base_model.model.lm_head.lora_A.weight", at::zeros({4, 64})); }},
      {"is not a LoRA factor",
       [](HandMade& h) { h.tensors.emplace_back("base_model.model.model.layers.0.self_attn.q_proj.bias", at::zeros({64})); }},
      {"lacks its lora_A or lora_B", [](HandMade& h) { h.tensors.erase(h.tensors.begin() + 1); }},
      {"adapter_config.json says r = 8", [](HandMade& h) { h.config["r"] = 8; }},
      {"lacks a DoRA magnitude", [](HandMade& h) { h.config["use_dora"] = true; }},
  };
  for (const auto& c : cases) {
    auto h = good;
    c.edit(h);
    const auto dir = test::scratch_dir("peft-bad");
    write(dir, h);
    try {
      load_adapters(stories().model, dir.string());
      ADD_FAILURE() << "no error for: " << c.expected;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
    }
  }
}

// A Flotilla adapter out to PEFT: the factors transposed bit for bit, lora_alpha / r = scale, and read
// back (as a folder, and as --resume-adapter-file's weights) it computes the same logits.
TEST(Peft, ExportedAdapterReadsBackExactly) {
  for (const std::string type : {"lora", "dora"}) {
    auto m = stories(at::kFloat);
    LoraConfig config;
    config.fine_tune_type = type;
    config.num_layers = 2;
    config.spec.rank = 4;
    config.spec.scale = 12.5;
    config.keys = {"self_attn.q_proj", "mlp.up_proj"};
    apply_fine_tuning(m.model, config, 7);
    {
      at::NoGradGuard guard;
      at::manual_seed(1);
      for (auto& [name, t] : trainable_tensors(m.model)) t.add_(at::randn_like(t) * 0.02);
    }
    const auto mlx = test::scratch_dir("mlx-" + type), peft = test::scratch_dir("peft-" + type);
    save_adapter_weights(m.model, AdapterFolder(mlx.string()).weights());
    auto json = lora_config_json(config);
    json["model"] = "stories260K";
    AdapterFolder(mlx.string()).write_config(json);
    EXPECT_EQ(export_peft_adapter(mlx.string(), peft.string(), ""), 4);

    const auto written = nlohmann::json::parse(std::ifstream(peft / "adapter_config.json"));
    EXPECT_EQ(written.at("peft_type"), "LORA");
    EXPECT_EQ(written.at("base_model_name_or_path"), "stories260K");
    EXPECT_DOUBLE_EQ(written.at("lora_alpha").get<double>() / written.at("r").get<double>(), 12.5);
    EXPECT_EQ(written.at("target_modules"), nlohmann::json({"q_proj", "up_proj"}));
    EXPECT_EQ(written.at("layers_to_transform"), nlohmann::json({3, 4}));
    EXPECT_EQ(written.at("use_dora"), type == "dora");
    auto file = WeightStore::open_file((peft / "adapter_model.safetensors").string());
    auto params = m.model->named_parameters();
    EXPECT_TRUE(at::equal(file.get("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"),
                          params["layers.3.self_attn.q_proj.lora_a"].t()));
    EXPECT_TRUE(at::equal(file.get("base_model.model.model.layers.4.mlp.up_proj.lora_B.weight"),
                          params["layers.4.mlp.up_proj.lora_b"].t()));
    EXPECT_EQ(file.contains("base_model.model.model.layers.4.mlp.up_proj.lora_magnitude_vector"), type == "dora");

    auto folder = stories(at::kFloat);
    load_adapters(folder.model, peft.string());
    EXPECT_EQ(max_difference(logits(folder), logits(m)), 0.0) << type;
    auto resumed = stories(at::kFloat);
    apply_fine_tuning(resumed.model, config, 99);
    load_adapter_weights(resumed.model, (peft / "adapter_model.safetensors").string());
    EXPECT_EQ(max_difference(logits(resumed), logits(m)), 0.0) << type;
    auto from_folder = stories(at::kFloat);
    apply_fine_tuning(from_folder.model, config, 99);
    load_adapter_weights(from_folder.model, peft.string());  // --resume-adapter-file also takes the folder
    EXPECT_EQ(max_difference(logits(from_folder), logits(m)), 0.0) << type;

    auto other_scale = stories(at::kFloat);
    config.spec.scale = 20;
    apply_fine_tuning(other_scale.model, config, 99);
    try {
      load_adapter_weights(other_scale.model, (peft / "adapter_model.safetensors").string());
      ADD_FAILURE() << "a PEFT file with another scale was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("pass lora_parameters.scale 12.5"), std::string::npos) << e.what();
    }
  }
  const auto full = test::scratch_dir("mlx-full");
  LoraConfig config;
  config.fine_tune_type = "full";
  AdapterFolder(full.string()).write_config(lora_config_json(config));
  EXPECT_THROW(export_peft_adapter(full.string(), (full / "peft").string(), ""), Error);
}

}  // namespace
}  // namespace flotilla
