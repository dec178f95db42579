// The YAML subset reader: mlx-lm's config example, PyYAML's scalar resolution and a clear error per construct.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "config/yaml.h"
#include "core/error.h"
#include "support/paths.h"

namespace flotilla {
namespace {

using Json = nlohmann::ordered_json;

// The error message of parse_yaml(text), or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_yaml(text, "cfg.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Yaml, MlxLoraConfigExample) {
  const std::string text = R"(# The path to the local model directory or Hugging Face repo.
model: "mlx_model"
train: true
fine_tune_type: lora
data: "/path/to/training/data"
seed: 0
num_layers: 16
batch_size: 4
iters: 1000
learning_rate: 1e-5
resume_adapter_file: null
lr_schedule:
  name: cosine_decay
  warmup: 100
  warmup_init: 1e-7
  arguments: [1e-5, 1000, 1e-7]
lora_parameters:
  keys: ["self_attn.q_proj", "self_attn.v_proj"]
  rank: 8
  scale: 20.0
  dropout: 0.0
hf_dataset:
  - path: "x"
    prompt_feature: "a"
)";
  const Json expected = Json::parse(R"({
    "model": "mlx_model", "train": true, "fine_tune_type": "lora", "data": "/path/to/training/data",
    "seed": 0, "num_layers": 16, "batch_size": 4, "iters": 1000, "learning_rate": 1e-5,
    "resume_adapter_file": null,
    "lr_schedule": {"name": "cosine_decay", "warmup": 100, "warmup_init": 1e-7, "arguments": [1e-5, 1000, 1e-7]},
    "lora_parameters": {"keys": ["self_attn.q_proj", "self_attn.v_proj"], "rank": 8, "scale": 20.0, "dropout": 0.0},
    "hf_dataset": [{"path": "x", "prompt_feature": "a"}]})");
  const Json got = parse_yaml(text, "lora_config.yaml");
  // dump() tells 20 from 20.0 and keeps key order, which operator== on numbers would not check.
  EXPECT_EQ(got.dump(), expected.dump());
}

TEST(Yaml, ScalarResolutionFollowsPyYamlWithMlxFloats) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"~", "null"}, {"null", "null"}, {"Null", "null"}, {"NULL", "null"}, {"", "null"}, {"# only a comment", "null"},
      {"true", "true"}, {"True", "true"}, {"TRUE", "true"}, {"yes", "true"}, {"Yes", "true"}, {"on", "true"},
      {"ON", "true"}, {"false", "false"}, {"no", "false"}, {"NO", "false"}, {"off", "false"}, {"Off", "false"},
      {"y", "\"y\""}, {"n", "\"n\""}, {"tRUE", "\"tRUE\""},
      {"0", "0"}, {"42", "42"}, {"-17", "-17"}, {"+5", "5"}, {"1_000", "1000"}, {"0x1F", "31"}, {"0b101", "5"},
      {"017", "15"}, {"09", "\"09\""}, {"1:30", "90"}, {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"1.5", "1.5"}, {"1e-5", "1e-05"}, {"1E5", "100000.0"}, {"-2.5e+3", "-2500.0"}, {".5", "0.5"},
      {"1.", "1.0"}, {"20.0", "20.0"}, {"1_0.25", "10.25"}, {"1:30.5", "90.5"},
      {"1e", "\"1e\""}, {"1.2.3", "\"1.2.3\""}, {"3 apples", "\"3 apples\""}, {"a#b", "\"a#b\""},
      {"x # comment", "\"x\""}, {"http://host:8080/x", "\"http://host:8080/x\""}, {"a:b", "\"a:b\""},
      {"'yes'", "\"yes\""}, {"\"1e-5\"", "\"1e-5\""}, {"'it''s # not a comment'", "\"it's # not a comment\""},
      {R"("a\tb\u00e9\x41\\\"")", R"("a\tbéA\\\"")"}, {"\"\"", "\"\""},
      {"[]", "[]"}, {"{}", "{}"}, {"[a, 'b', 2, [3]]", R"(["a","b",2,[3]])"},
      {"{a: 1, \"b c\": [x, y], d}", R"({"a":1,"b c":["x","y"],"d":null})"}, {"[1, 2, ]", "[1,2]"}};
  for (const auto& [yaml, json] : table) {
    SCOPED_TRACE("value: " + yaml);
    EXPECT_EQ(parse_yaml("v: " + yaml, "t").at("v").dump(), json);
  }
  const Json special = parse_yaml("a: .inf\nb: -.Inf\nc: .NaN", "t");
  EXPECT_TRUE(std::isinf(special["a"].get<double>()) && special["a"].get<double>() > 0);
  EXPECT_TRUE(std::isinf(special["b"].get<double>()) && special["b"].get<double>() < 0);
  EXPECT_TRUE(std::isnan(special["c"].get<double>()));
}

TEST(Yaml, BlockStructures) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"", "null"},
      {"# nothing\n\n", "null"},
      {"plain words", "\"plain words\""},
      {"- a\n- b: 1\n  c: 2\n-\n- - x\n  - y\n", R"(["a",{"b":1,"c":2},null,["x","y"]])"},
      {"key:\n- a\n- b\nnext: 1", R"({"key":["a","b"],"next":1})"},
      {"a:\n  b:\n    c: 1\n  d:\ne: 2", R"({"a":{"b":{"c":1},"d":null},"e":2})"},
      {"  indented: 1\n  doc: 2", R"({"indented":1,"doc":2})"},
      {"keys: [\n  \"q\",  # first\n  v\n]\nrank: 8", R"({"keys":["q","v"],"rank":8})"},
      {"a: 1\r\nb: 'x'\r\n", R"({"a":1,"b":"x"})"},
      {"\"quoted key\": 1\n'x y' : 2", R"({"quoted key":1,"x y":2})"},
      {"list:\n  - {name: a, n: 1}\n  - [1, 2]", R"({"list":[{"name":"a","n":1},[1,2]]})"},
      {"a:    spaced   # trailing comment\nb: \"#\"", R"({"a":"spaced","b":"#"})"},
  };
  for (const auto& [yaml, json] : table) {
    SCOPED_TRACE("yaml:\n" + yaml);
    EXPECT_EQ(parse_yaml(yaml, "t").dump(), json);
  }
}

TEST(Yaml, ErrorsNameSourceLineAndColumn) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"a:\n\tb: 1", "cfg.yaml:2:1: tab character in indentation"},
      {"a: &anchor 1", "cfg.yaml:1:4: unsupported YAML construct: anchor '&'"},
      {"a: *anchor", "cfg.yaml:1:4: unsupported YAML construct: alias '*'"},
      {"a: !!str 1", "cfg.yaml:1:4: unsupported YAML construct: tag '!'"},
      {"a: 1\n---\nb: 2", "cfg.yaml:2:1: unsupported YAML construct: document marker '---'"},
      {"%YAML 1.1\na: 1", "cfg.yaml:1:1: unsupported YAML construct: directive"},
      {"a: |\n  text", "cfg.yaml:1:4: unsupported YAML construct: block scalar '|'"},
      {"a: >-\n  text", "cfg.yaml:1:4: unsupported YAML construct: block scalar '>'"},
      {"? a\n: b", "cfg.yaml:1:1: unsupported YAML construct: complex mapping key '?'"},
      {"[a, b]: 1", "cfg.yaml:1:7: unsupported YAML construct: complex (non-scalar) mapping key"},
      {"m: {[a]: 1}", "cfg.yaml:1:5: unsupported YAML construct: complex (non-scalar) mapping key"},
      {"a: 1\nb: 2\na: 3", "cfg.yaml:3:1: duplicate key 'a' (first defined at line 1)"},
      {"top:\n  x: 1\n  # gap\n  x: 2", "cfg.yaml:4:3: duplicate key 'x' (first defined at line 2)"},
      {"m: {a: 1, a: 2}", "cfg.yaml:1:11: duplicate key 'a'"},
      {"a:\n    b: 1\n  c: 2", "cfg.yaml:3:3: unexpected indentation"},
      {"a: 1\n  b: 2", "cfg.yaml:2:3: unexpected indentation"},
      {"- a\nb: 1", "cfg.yaml:2:1: this line does not continue the block above"},
      {"a: 1\n- b", "cfg.yaml:2:1: expected 'key: value'"},
      {"a: \"abc", "cfg.yaml:1:4: unterminated quoted string"},
      {"a: [1, 2\nb: 3", "cfg.yaml:2:1: expected ',' or ']' in the collection opened at 1:4"},
      {"a: [1, 2", "cfg.yaml:1:4: '[' is never closed"},
      {"a: b: c", "cfg.yaml:1:5: unexpected ': c' after the value"},
      {"a: - b", "cfg.yaml:1:4: a block sequence '- ' must start on its own line"},
      {"a: \"x\\q\"", "cfg.yaml:1:6: unknown escape '\\q'"},
      {"a: \"\\ud800\"", "cfg.yaml:1:5: bad escape"},
      {"a: 9223372036854775808", "cfg.yaml:1:4: integer '9223372036854775808' is outside the 64-bit range"},
      {"a: @x", "cfg.yaml:1:4: '@' is reserved"},
      {": 1", "cfg.yaml:1:1: empty mapping key"},
      {"a: 1\nb: \xff", "cfg.yaml:2: invalid UTF-8 (byte 9 of the file)"},
  };
  for (const auto& [yaml, message] : table) {
    SCOPED_TRACE("yaml:\n" + yaml);
    const std::string error = error_of(yaml);
    EXPECT_NE(error.find("[yaml] " + message), std::string::npos) << error;
    if (message.find("unsupported") != std::string::npos) {
      EXPECT_NE(error.find("Flotilla reads the YAML subset used by config files"), std::string::npos) << error;
    }
  }
}

TEST(Yaml, LoadsFilesAndNamesMissingOnes) {
  const auto path = test::scratch_dir("yaml") / "lora_config.yaml";
  std::ofstream(path) << "rank: 8\nkeys: [q]\n";
  EXPECT_EQ(load_yaml_file(path.string()).dump(), R"({"rank":8,"keys":["q"]})");
  std::ofstream(path) << "rank: 8\nrank: 9\n";
  try {
    load_yaml_file(path.string());
    FAIL() << "duplicate key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":2:1: duplicate key 'rank'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_yaml_file((path.parent_path() / "missing.yaml").string()), Error);
}

}  // namespace
}  // namespace flotilla
