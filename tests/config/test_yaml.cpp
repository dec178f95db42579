// The YAML config reader: mlx-lm's config example, PyYAML's scalar resolution, anchors and merges, a clear error per fault.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "config/yaml.h"
#include "core/error.h"
#include "support/paths.h"

using namespace flotilla::config;

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
      {R"("\_x\N")", "\"\u00a0x\u0085\""},  // yaml-cpp wrote these two escapes as invalid UTF-8 (fuzz_yaml)
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

// What the hand-written reader refused and yaml-cpp now reads; expectations checked with PyYAML's safe_load.
TEST(Yaml, AnchorsMergesBlockScalarsAndDocumentMarkers) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"a: &x 1\nb: *x", R"({"a":1,"b":1})"},
      {"base: &b {rank: 8, scale: 20.0}\nlora:\n  <<: *b\n  scale: 10.0\n  dropout: 0.1",
       R"({"base":{"rank":8,"scale":20.0},"lora":{"rank":8,"scale":10.0,"dropout":0.1}})"},
      {"a: &a {p: 1}\nb: &b {p: 2, q: 2}\nc:\n  <<: [*a, *b]", R"({"a":{"p":1},"b":{"p":2,"q":2},"c":{"p":1,"q":2}})"},
      {"a: |\n  line1\n  line2\nb: >-\n  folded\n  text", R"({"a":"line1\nline2\n","b":"folded text"})"},
      {"---\na: 1\n...\n", R"({"a":1})"},
      {"%YAML 1.1\n---\na: 1", R"({"a":1})"},
      {"? a\n: b", R"({"a":"b"})"},
      {"a: !!str 1\nb: !!float 2\nc: !!int '3'\nd: !!bool yes\ne: !!null ~", R"({"a":"1","b":2.0,"c":3,"d":true,"e":null})"},
      {"\xEF\xBB\xBF" "a: 1", R"({"a":1})"},
  };
  for (const auto& [yaml, json] : table) {
    SCOPED_TRACE("yaml:\n" + yaml);
    EXPECT_EQ(parse_yaml(yaml, "t").dump(), json);
  }
}

// Positions are 1-based line:column: the construct's start where the old reader named it (a string's
// opening quote, an escape's backslash, an unclosed bracket), else yaml-cpp's mark (the ':' that
// cannot start a value, a key that is not a scalar).
TEST(Yaml, ErrorsNameSourceLineAndColumn) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"a:\n\tb: 1", "cfg.yaml:2:1: tab character in indentation"},
      {"a: *anchor", "cfg.yaml:1:4: alias '*' names an anchor not defined before it"},
      {"a: !foo 1", "cfg.yaml:1:4: unsupported tag '!foo'"},
      {"a: !!int x", "cfg.yaml:1:4: 'x' is not a valid !!int"},
      {"a: 1\n---\nb: 2", "cfg.yaml:2:1: a second YAML document; a config file holds one"},
      {"[a, b]: 1", "cfg.yaml:1:1: a mapping key must be a scalar"},
      {"m: {[a]: 1}", "cfg.yaml:1:5: a mapping key must be a scalar"},
      {"a: 1\nb: 2\na: 3", "cfg.yaml:3:1: duplicate key 'a' (first defined at line 1)"},
      {"top:\n  x: 1\n  # gap\n  x: 2", "cfg.yaml:4:3: duplicate key 'x' (first defined at line 2)"},
      {"m: {a: 1, a: 2}", "cfg.yaml:1:11: duplicate key 'a'"},
      {"a:\n    b: 1\n  c: 2", "cfg.yaml:3:3: this line does not continue the block above it"},
      {"a: 1\n  b: 2", "cfg.yaml:2:4: unexpected ':'"},
      {"- a\nb: 1", "cfg.yaml:2:1: this line does not continue the block above"},
      {"a: 1\n- b", "cfg.yaml:2:1: this line does not continue the block above"},
      {"a: \"abc", "cfg.yaml:1:4: unterminated quoted string"},
      {"a: 'x\nb: 1", "cfg.yaml:1:4: unterminated quoted string"},
      {"a: [1, 2\nb: 3", "cfg.yaml:1:4: a '[' collection is not closed"},
      {"a: [1, 2", "cfg.yaml:1:4: a '[' collection is not closed"},
      {"a: {x: '[', y: [1]\n# ] {\nb: 3", "cfg.yaml:1:4: a '{' collection is not closed"},
      {"a: b: c", "cfg.yaml:1:5: unexpected ':'"},
      {"a: - b", "cfg.yaml:1:4: a block sequence '- ' must start on its own line"},
      {"a: \"x\\q\"", "cfg.yaml:1:6: unknown escape in a double-quoted string: \\q"},
      {"a: \"\\ud800\"", "cfg.yaml:1:5: bad escape"},
      {"a: 9223372036854775808", "cfg.yaml:1:4: integer '9223372036854775808' is outside the 64-bit range"},
      {"a: @x", "cfg.yaml:1:4: a value cannot start with this character ('@'"},
      {": 1", "cfg.yaml:1:1: empty mapping key"},
      {"a: &x [*x]", "cfg.yaml:1:4: nests deeper than 200 levels"},
      {"a: 1\nb: \xff", "cfg.yaml:2: invalid UTF-8 (byte 9 of the file)"},
      {std::string("W\0\0\0\0\0\0\x04", 8), "cfg.yaml:1: NUL character (byte 2 of the file)"},  // fuzz_yaml: read as UTF-32
      {"<<: 1", "cfg.yaml:1:5: a merge key '<<' takes a mapping or a list of mappings"},
  };
  for (const auto& [yaml, message] : table) {
    SCOPED_TRACE("yaml:\n" + yaml);
    EXPECT_NE(error_of(yaml).find("[yaml] " + message), std::string::npos) << error_of(yaml);
  }
}

// Aliases share nodes: nine levels of ten aliases each would expand to 10^9 values if copied blindly.
TEST(Yaml, AliasExpansionIsBounded) {
  std::string yaml = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 9; ++level) {
    yaml += fmt::format("l{}: &l{} [", level, level);
    for (int i = 0; i < 10; ++i) yaml += fmt::format("{}*l{}", i ? ", " : "", level - 1);
    yaml += "]\n";
  }
  EXPECT_NE(error_of(yaml).find("expands to more than"), std::string::npos) << error_of(yaml);
}

// yaml-cpp 0.7's LoadAll looped forever, allocating, on a token no document consumes (found by fuzz_yaml).
TEST(Yaml, StrayFlowTokensFailInsteadOfLooping) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {",", "cfg.yaml:1:1: this line does not continue the block above it"},
      {"a: 1\n,", "cfg.yaml:2:1: this line does not continue the block above it"},
      {"&:,1\n 2]{b1\n", "cfg.yaml:1:3: this line does not continue the block above it"},
  };
  for (const auto& [yaml, message] : table) {
    SCOPED_TRACE("yaml:\n" + yaml);
    EXPECT_NE(error_of(yaml).find("[yaml] " + message), std::string::npos) << error_of(yaml);
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
