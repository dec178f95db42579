// Unit tests of the template interpreter: syntax errors with positions, the render limits,
// jinja2's Undefined, expressions, loops, namespaces, macros, and loading from model folders.
// Expected strings were produced by jinja2 3.1 with transformers' environment.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>

#include "flotilla/chat_template.h"
#include "chat_test_util.h"
#include "core/error.h"
#include "support/error_message.h"

namespace flotilla {
namespace {

using nlohmann::ordered_json;

ordered_json sample_context() {
  return {{"xs", {1, 2, 3}},
          {"d", {{"a", 1}, {"b", {1, 2}}}},
          {"s", "héllo"},
          {"msgs", {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "yo"}}}},
          {"words", {"b", "A", "a", "C"}}};
}

std::string render(const std::string& source, const ordered_json& context = sample_context(),
                   TemplateLimits limits = {}) {
  return ChatTemplate(source, "t", limits).render_context(context);
}

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// The flotilla::Error message `action` throws.
using test::error_message;

// The flotilla::Error message of rendering (or parsing) `source`.
std::string error_of(const std::string& source, TemplateLimits limits = {}) {
  try {
    render(source, sample_context(), limits);
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ChatSyntax, ErrorsNameLineAndColumn) {
  EXPECT_TRUE(Contains(error_of("Hello\n{% if x %}\n{{ x + }}\n{% endif %}"),
                       "[chat_template] t:3:8: expected an expression, got '}}'"));
  EXPECT_TRUE(Contains(error_of("{% for x in xs %}abc"), "t:1:21: unexpected end of template: 'for' opened at line 1"));
  EXPECT_TRUE(Contains(error_of("{% if 1 %}\n{% endfor %}"), "t:2:4: unknown tag 'endfor'"));
  EXPECT_TRUE(Contains(error_of("{{ x|nope }}"), "t:1:6: no filter named 'nope'"));
  EXPECT_TRUE(Contains(error_of("{{ x is nope }}"), "t:1:9: no test named 'nope'"));
  EXPECT_TRUE(Contains(error_of("{{ (1, 2 }}"), "t:1:10: unexpected '}', expected ')'"));
  EXPECT_TRUE(Contains(error_of("{{ 'open }}"), "t:1:4: unterminated string literal"));
  EXPECT_TRUE(Contains(error_of("{# never closed"), "t:1:1: missing end of comment tag"));
  EXPECT_TRUE(Contains(error_of("{% break %}"), "'break' outside of a loop"));
}

// Each token's column was counted from its line start: quadratic on a long one-line template (a
// 16 kB one took 4 s under fuzz_chat_template's sanitizers; this 0.9 MB one, minutes).
TEST(ChatSyntax, LongOneLineTemplateLexesInLinearTime) {
  std::string source;
  for (int i = 0; i < 100'000; ++i) source += "{{ x }}\u00e9";  // 8 characters, 9 bytes
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Contains(error_of(source + "{{ x|nope }}"), "t:1:800006: no filter named 'nope'"));
  EXPECT_TRUE(Contains(error_of(source + "\xe2\x82{{ x|nope }}"), "t:1:800007: no filter named 'nope'"));
  EXPECT_TRUE(Contains(error_of(source + "\xe2\x82\xe2{{ x|nope }}"), "t:1:800008: no filter named 'nope'"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("three 0.9 MB one-line templates: %.3f s (limit 5 s)\n", seconds);
  EXPECT_LT(seconds, 5.0);
}

TEST(ChatSyntax, UnsupportedConstructsFailClearly) {
  EXPECT_TRUE(Contains(error_of("{% include 'other.jinja' %}"), "t:1:4: unsupported tag 'include'"));
  EXPECT_TRUE(Contains(error_of("{% extends 'base' %}"), "unsupported tag 'extends'"));
  EXPECT_TRUE(Contains(error_of("{{ x|wordwrap }}"), "unsupported filter 'wordwrap'"));
  EXPECT_TRUE(Contains(error_of("{% for x in xs recursive %}{% endfor %}"), "unsupported: recursive for loops"));
  EXPECT_TRUE(Contains(error_of("{{ f(*xs) }}"), "unsupported: *args/**kwargs in calls"));
  EXPECT_TRUE(Contains(error_of("{{ 2 ** 70 }}"), "unsupported: integer result exceeds 64 bits"));
  EXPECT_TRUE(Contains(error_of("{{ xs|select('odd') }}"), "unsupported: printing a generator object"));
}

TEST(ChatLimits, LoopIterations) {
  TemplateLimits limits;
  limits.max_loop_iterations = 1000;
  EXPECT_TRUE(Contains(error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", limits),
                       "loop iterations exceed max_loop_iterations (1000)"));
  // jinja2's sandbox refuses huge ranges outright; nested large ranges hit the iteration bound.
  EXPECT_TRUE(Contains(error_of("{% for i in range(10**9) %}{% endfor %}"),
                       "range too big: the sandbox blocks ranges larger than MAX_RANGE (100000)"));
  EXPECT_TRUE(Contains(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
                       "loop iterations exceed max_loop_iterations (1000000)"));
}

TEST(ChatLimits, RecursionDepth) {
  EXPECT_TRUE(Contains(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
                       "t:1:21: macro calls nest deeper than max_recursion_depth (64)"));
  EXPECT_EQ(render("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}"), "543210");
  EXPECT_TRUE(Contains(error_of("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}"),
                       "template nests deeper than 200 levels"));
}

TEST(ChatLimits, OutputAndStringSize) {
  EXPECT_TRUE(Contains(error_of("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"),
                       "output exceeds max_output_bytes (16777216 bytes)"));
  EXPECT_TRUE(Contains(error_of("{{ 'x' * 10**9 }}"), "a string of 16777217 bytes exceeds max_output_bytes"));
  TemplateLimits small;
  small.max_output_bytes = 10;
  EXPECT_TRUE(Contains(error_of("{% for i in range(3) %}hello{% endfor %}", small),
                       "output exceeds max_output_bytes (10 bytes)"));
}

TEST(ChatLimits, QuadraticWorkIsBounded) {
  EXPECT_TRUE(Contains(error_of("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% for j in range(10) %}"
                                "{% set ns.x = ns.x + [i] %}{% endfor %}{% endfor %}"),
                       "template work exceeds its budget"));
}

TEST(ChatUndefined, FollowsJinjaDefaultUndefined) {
  EXPECT_EQ(render("[{{ missing }}]"), "[]");
  EXPECT_EQ(render("{{ missing is defined }}|{{ d.nokey is defined }}|{{ missing|default('x') }}"), "False|False|x");
  EXPECT_EQ(render("{% for x in missing %}a{% else %}empty{% endfor %}|{{ missing ~ 'a' }}|{{ missing|length }}"),
            "empty|a|0");
  EXPECT_EQ(render("[{{ d.nokey }}][{{ none.attr }}][{{ xs[10] }}]"), "[][][]");
  EXPECT_TRUE(Contains(error_of("{{ missing.attr }}"), "t:1:11: 'missing' is undefined"));
  EXPECT_TRUE(Contains(error_of("{{ d.nokey.x }}"), "'dict object' has no attribute 'nokey'"));
  EXPECT_TRUE(Contains(error_of("{{ 1 + missing }}"), "'missing' is undefined"));
  EXPECT_TRUE(Contains(error_of("{{ missing|tojson }}"), "Object of type Undefined is not JSON serializable"));
  EXPECT_EQ(render("{% set a = 'q' if false %}{{ a is defined }}"), "False");
}

TEST(ChatExpressions, ArithmeticAndComparisons) {
  EXPECT_EQ(
      render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 / 3 }} {{ 1e16 }} {{ 1e-5 }}"),
      "3 -4 -2 1024 3.5 0.3333333333333333 1e+16 1e-05");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }}{{ 'a' in 'cat' }}{{ 2 not in xs }}{{ 1 == 1.0 }}{{ [1, 2] == (1, 2) }}"),
            "TrueTrueFalseTrueFalse");
  EXPECT_EQ(render("{{ 'ab' * 2 ~ 1 ~ none }}|{{ 0 or 'x' }}|{{ 1 and [] }}|{{ 'y' if xs else 'n' }}"),
            "abab1None|x|[]|y");
}

TEST(ChatExpressions, SlicingAndLiterals) {
  EXPECT_EQ(render("{{ xs[::-1] }}{{ s[::-1] }}{{ xs[5:0:-2] }}{{ xs[-1] }}{{ s[1:3] }}{{ xs.1 }}"),
            "[3, 2, 1]olléh[3]3él2");
  EXPECT_EQ(render("{{ [1, 'a', \"b'c\", none, true, (1,), {'k': 1.5}] }}"),
            "[1, 'a', \"b'c\", None, True, (1,), {'k': 1.5}]");
  EXPECT_EQ(render("{{ 'it''s' }}|{{ '\\x41\\u00e9\\n'|tojson }}|{{ 1_000 + 0x10 }}"), "its|\"Aé\\n\"|1016");
}

TEST(ChatExpressions, Filters) {
  EXPECT_EQ(
      render("{{ '  x  '|trim }}|{{ words|sort|join(',') }}|{{ words|unique|list }}|{{ xs|map('string')|join('+') }}"),
      "x|A,a,b,C|['b', 'A', 'C']|1+2+3");
  EXPECT_EQ(render("{{ d|tojson }}|{{ d|tojson(indent=2) }}"),
            "{\"a\": 1, \"b\": [1, 2]}|{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(render("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|first }}"
                   "{{ msgs|rejectattr('role', 'equalto', 'user')|list|length }}{{ xs|select('odd')|list }}"),
            "hi1[1, 3]");
  EXPECT_EQ(render("{{ 'hello world'|title }}|{{ 'a\\nb'|indent(2, true) }}|{{ 2.5|round }}|{{ '3.7'|int }}|"
                   "{{ '%s-%d'|format('a', 3) }}|{{ d|dictsort }}"),
            "Hello World|  a\n  b|2.0|3|a-3|[('a', 1), ('b', [1, 2])]");
  // Markup from |safe escapes what is concatenated to it, as markupsafe does.
  EXPECT_EQ(render("{{ 'a'|safe + '<b>' }}|{{ '<a>' + 'b'|safe }}|{{ ('a'|safe) ~ '<' }}"), "a&lt;b&gt;|&lt;a&gt;b|a<");
}

TEST(ChatExpressions, StringAndDictMethods) {
  EXPECT_EQ(render("{{ 'a,b,c'.split(',', 1) }}{{ 'x</think>y'.split('</think>')[-1] }}{{ s.upper() }}"
                   "{{ s.startswith('hé') }}{{ '  a '.strip() }}{{ '{}-{x}'.format(1, x=2) }}"),
            "['a', 'b,c']yHÉLLOTruea1-2");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.get('zz', 5) }}{{ d.keys()|list }}"),
            "a=1;b=[1, 2];5['a', 'b']");
  EXPECT_TRUE(Contains(error_of("{{ xs.append(4) }}"), "access to attribute 'append' of 'list' object is unsafe."));
}

TEST(ChatStatements, LoopVariables) {
  EXPECT_EQ(
      render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}"
             "{{ loop.length }}{{ loop.cycle('a', 'b') }}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}"),
      "103TrueFalse3a-2|212FalseFalse3b1-3|321FalseTrue3a2-|");
  EXPECT_EQ(render("{% for x in xs if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}"),
            "1/2:2 2/2:3 ");
  EXPECT_EQ(render("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}"
                   "{{ x }}{% endfor %}"),
            "1");
  EXPECT_EQ(render("{% for a, (b, c) in [(1, (2, 3))] %}{{ a }}{{ b }}{{ c }}{% endfor %}"), "123");
  EXPECT_EQ(render("{% for x in [1, 1, 2] %}{{ loop.changed(x) }}{% endfor %}"), "TrueFalseTrue");
}

TEST(ChatStatements, ScopingAndNamespace) {
  // A `set` inside a loop body stays in that iteration; namespaces carry state out.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in xs %}{{ x }}{% set x = x + 1 %}{% endfor %}|{{ x }}"), "111|1");
  EXPECT_EQ(
      render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"),
      "6");
  EXPECT_EQ(render("{% macro m() %}{{ late }}{% endmacro %}{% set late = 5 %}{{ m() }}"), "5");
  EXPECT_TRUE(
      Contains(error_of("{% set l = [1] %}{% set l.x = 1 %}"), "cannot assign attribute on non-namespace object"));
}

TEST(ChatStatements, MacrosCallBlocksAndBlocks) {
  EXPECT_EQ(render("{% macro m(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{% endmacro %}{{ m(1, 2, 3) }}|{{ m(b=5, a=4) }}"),
            "12(3,)|45()");
  EXPECT_TRUE(Contains(error_of("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"),
                       "macro 'm' takes not more than 1 argument(s)"));
  EXPECT_EQ(render("{% macro wrap(x) %}<{{ caller(x) }}>{% endmacro %}{% call(v) wrap(5) %}got {{ v }}{% endcall %}"),
            "<got 5>");
  EXPECT_EQ(render("{% set x %}  captured {{ 1 + 1 }}  {% endset %}[{{ x }}]{% set y | trim | upper %} low {% endset "
                   "%}[{{ y }}]"),
            "[  captured 2  ][LOW]");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}{% raw %}{{ kept }}{% endraw %}"
                   "{% generation %}gen{% endgeneration %}"),
            "ABCD{{ kept }}gen");
}

TEST(ChatWhitespace, TrimBlocksAndLstripBlocks) {
  EXPECT_EQ(render("a\n  {% if true %}\n    b\n  {% endif %}\nc"), "a\n    b\nc");
  EXPECT_EQ(render("a\n  {%- if true %}\n    b\n  {%- endif %}\nc"), "a    bc");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c{# comment #}d  {#- c2 -#}  e"), "a b cde");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}\n"), "  x");  // one trailing newline is dropped
}

TEST(ChatGlobals, RaiseExceptionAndStrftime) {
  EXPECT_TRUE(Contains(error_of("{{ raise_exception('System role not supported') }}"),
                       "t:1:19: raise_exception: System role not supported"));
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string year = render("{{ strftime_now('%Y') }}");
  EXPECT_EQ(std::stoi(year), local.tm_year + 1900);
  EXPECT_EQ(render("{{ open is defined }}{{ range(3)|list }}{{ dict(a=1) }}"), "False[0, 1, 2]{'a': 1}");
  EXPECT_EQ(render("{{ range(5) }}{{ range(10)[::3] }}{{ range(10, 0, -3)[1:] }}{{ range(3) == [0, 1, 2] }}"),
            "range(0, 5)range(0, 10, 3)range(7, -2, -3)False");
}

TEST(ChatTemplate, RenderBuildsTransformersContext) {
  ChatTemplate chat_template(
      "{{ bos_token }}{{ tools is none }}{{ documents is none }}{{ messages|length }}"
      "{{ add_generation_prompt }}{{ date_string }}",
      "ctx");
  chat_template.set_special_tokens({std::string("<s>"), std::string("</s>")});
  ordered_json messages = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(chat_template.render(messages, true), "<s>TrueTrue1True");
  EXPECT_EQ(chat_template.render(messages, false, {{"tools", {1}}, {"date_string", "26 Nov 2026"}}),
            "<s>FalseTrue1False26 Nov 2026");
  EXPECT_TRUE(Contains(error_message([&] { chat_template.render(ordered_json::object(), true); }),
                       "messages must be a JSON array"));
}

TEST(ChatTemplate, FromModelDirReadsTemplateAndSpecialTokens) {
  auto tokenizers = test::shared_dir() / "tokenizers";
  ChatTemplate mistral = ChatTemplate::from_model_dir((tokenizers / "mistral-7b-instruct-v0.3").string());
  EXPECT_TRUE(Contains(mistral.name(), "chat_template.jinja"));
  EXPECT_EQ(mistral.special_tokens().bos_token.value_or("?"), "<s>");
  EXPECT_EQ(mistral.special_tokens().eos_token.value_or("?"), "</s>");
  ordered_json messages = {{{"role", "user"}, {"content", "Hi"}}};
  EXPECT_EQ(mistral.render(messages, true), "<s>[INST] Hi[/INST]");

  ChatTemplate llama = ChatTemplate::from_model_dir((tokenizers / "llama-3.2").string());
  EXPECT_TRUE(Contains(llama.name(), "tokenizer_config.json:chat_template"));
  EXPECT_EQ(llama.special_tokens().bos_token.value_or("?"), "<|begin_of_text|>");
  EXPECT_TRUE(Contains(llama.render(messages, true, {{"date_string", "26 Nov 2026"}}),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                       "December 2023\nToday Date: 26 Nov 2026\n\n<|eot_id|>"));

  ChatTemplate qwen = ChatTemplate::from_model_dir((tokenizers / "qwen2.5-0.5b-instruct").string());
  EXPECT_FALSE(qwen.special_tokens().bos_token.has_value());  // null in tokenizer_config.json
  EXPECT_EQ(qwen.special_tokens().eos_token.value_or("?"), "<|im_end|>");

  EXPECT_TRUE(Contains(error_message([&] { ChatTemplate::from_model_dir((test::shared_dir() / "models").string()); }),
                       "no chat template in"));
}

TEST(ChatTemplate, FromModelDirPicksDefaultOfTemplateList) {
  auto dir = test::scratch_dir("template_list");
  ordered_json config = {
      {"bos_token", {{"content", "<B>"}, {"lstrip", false}}},
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "tools"}}, {{"name", "default"}, {"template", "{{ bos_token }}default"}}}}};
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  ChatTemplate chat_template = ChatTemplate::from_model_dir(dir.string());
  EXPECT_EQ(chat_template.render(ordered_json::array(), false), "<B>default");
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": [{"name": "tool_use", "template": "x"}]})";
  EXPECT_TRUE(Contains(error_message([&] { ChatTemplate::from_model_dir(dir.string()); }),
                       "no \"default\" among the chat templates (tool_use)"));
}

}  // namespace
}  // namespace flotilla
