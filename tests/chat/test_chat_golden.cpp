// Golden tests: every shared chat template rendered by jinja2 exactly as transformers does
// (tests/chat/golden/make_golden.py) must come out byte for byte the same here, and every
// conversation jinja2 refuses must be refused here too. Plus Ollama's rendered examples.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "flotilla/chat_template.h"
#include "chat_test_util.h"
#include "core/error.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using test::describe_difference;

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(test::chat_golden_dir())) {
    std::string stem = entry.path().stem().string();
    if (entry.path().extension() == ".json" && stem != "conversations") names.push_back(stem);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string template_source(const fs::path& path) {
  if (path.filename() == "tokenizer_config.json")
    return test::read_ordered_json(path)["chat_template"].get<std::string>();
  return test::read_text(path);
}

class ChatGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatGolden, MatchesJinja2) {
  const ordered_json golden = test::read_ordered_json(test::chat_golden_dir() / (GetParam() + ".json"));
  const ordered_json conversations = test::read_ordered_json(test::chat_golden_dir() / "conversations.json");
  ChatTemplate chat_template(template_source(test::shared_dir() / golden["template"].get<std::string>()), GetParam());
  int matched = 0;
  int total = 0;
  for (const auto& golden_case : golden["cases"]) {
    const auto& conversation = conversations["conversations"][golden_case["conversation"].get<std::string>()];
    ordered_json context = ordered_json::object();
    context["messages"] = conversation["messages"];
    context["tools"] = conversation.contains("tools") ? conversation["tools"] : ordered_json(nullptr);
    context["documents"] = nullptr;
    context["add_generation_prompt"] = golden_case["add_generation_prompt"];
    context["bos_token"] = golden["bos_token"];
    context["eos_token"] = golden["eos_token"];
    context["date_string"] = conversations["date_string"];
    for (const auto& [key, value] : golden["extra"].items()) context[key] = value;
    std::string label = golden_case["conversation"].get<std::string>() +
                        (golden_case["add_generation_prompt"].get<bool>() ? " +generation_prompt" : "");
    ++total;
    if (golden_case.contains("error")) {
      std::string jinja_error = golden_case["error"].get<std::string>();
      try {
        std::string output = chat_template.render_context(context);
        ADD_FAILURE() << label << ": jinja2 raised \"" << jinja_error << "\" but we rendered:\n" << output;
      } catch (const Error& error) {
        // raise_exception messages come from the template and must survive verbatim.
        const std::string prefix = "TemplateError: ";
        bool raised_by_template = jinja_error.rfind(prefix, 0) == 0;
        if (raised_by_template &&
            std::string(error.what()).find(jinja_error.substr(prefix.size())) == std::string::npos) {
          ADD_FAILURE() << label << ": expected \"" << jinja_error << "\", got \"" << error.what() << "\"";
        } else {
          ++matched;
        }
      }
      continue;
    }
    try {
      std::string difference = describe_difference(chat_template.render_context(context), golden_case["expected"]);
      if (difference.empty()) {
        ++matched;
      } else {
        ADD_FAILURE() << label << ": " << difference;
      }
    } catch (const Error& error) {
      ADD_FAILURE() << label << ": jinja2 rendered, we threw: " << error.what();
    }
  }
  std::cout << "[golden] " << GetParam() << ": " << matched << "/" << total << " cases match jinja2\n";
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatGolden, ::testing::ValuesIn(golden_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// Ollama's rendered examples use the conversations below.
ordered_json ollama_conversation(const std::string& name) {
  ordered_json system = {{"role", "system"}, {"content", "You are a helpful assistant."}};
  ordered_json hello = {{"role", "user"}, {"content", "Hello, how are you?"}};
  ordered_json answer = {{"role", "assistant"}, {"content", "I'm doing great. How can I help you today?"}};
  ordered_json follow_up = {{"role", "user"}, {"content", "I'd like to show off how chat templating works!"}};
  if (name == "user") return ordered_json::array({hello});
  if (name == "user-assistant-user") return ordered_json::array({hello, answer, follow_up});
  return ordered_json::array({system, hello, answer, follow_up});
}

const char* const kOllamaCases[] = {"user", "user-assistant-user", "system-user-assistant-user"};

// Ollama's llama3-instruct is the Llama 3.0 format: no BOS in the text and a system block only when
// there is a system message. The Llama 3.1+ templates always open with a system block carrying the
// knowledge-cutoff and date lines, so we compare against Ollama's text with that documented block
// (and the BOS, here rendered as "") in place of Ollama's optional system block.
void check_llama3_against_ollama(const ChatTemplate& chat_template, const ordered_json& extra) {
  const std::string header = "<|start_header_id|>system<|end_header_id|>\n\n";
  const std::string date_lines = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
  for (const char* name : kOllamaCases) {
    std::string ollama =
        test::read_text(test::shared_dir() / "chat_templates/ollama_testdata/llama3-instruct.gotmpl" / name);
    std::string system_message;
    if (ollama.rfind(header, 0) == 0) {
      size_t end = ollama.find("<|eot_id|>");
      system_message = ollama.substr(header.size(), end - header.size());
      ollama.erase(0, end + std::string("<|eot_id|>").size());
    }
    std::string expected = header + date_lines + system_message + "<|eot_id|>" + ollama;
    std::string actual = chat_template.render(ollama_conversation(name), /*add_generation_prompt=*/true, extra);
    EXPECT_EQ(describe_difference(actual, expected), "") << chat_template.name() << " / " << name;
  }
}

TEST(ChatOllama, Llama31TemplateMatchesOllamaLlama3ModuloDateHeader) {
  fs::path path = test::shared_dir() / "chat_templates/meta-llama-Llama-3.1-8B-Instruct.jinja";
  ChatTemplate chat_template(test::read_text(path), path.filename().string());
  chat_template.set_special_tokens({std::string(), std::string("<|eot_id|>")});
  check_llama3_against_ollama(chat_template, ordered_json::object());
}

TEST(ChatOllama, Llama32TokenizerTemplateMatchesOllamaLlama3ModuloDateHeader) {
  ChatTemplate chat_template = ChatTemplate::from_model_dir((test::shared_dir() / "tokenizers/llama-3.2").string());
  chat_template.set_special_tokens({std::string(), std::string("<|eot_id|>")});
  check_llama3_against_ollama(chat_template, {{"date_string", "26 Jul 2024"}});
}

// Mistral v0.3's template (like mistral-common) puts the system prompt in the last user turn;
// Ollama's mistral-instruct puts it in the first. Single-system cases are otherwise identical.
TEST(ChatOllama, MistralTemplateMatchesOllamaMistralInstruct) {
  ChatTemplate chat_template =
      ChatTemplate::from_model_dir((test::shared_dir() / "tokenizers/mistral-7b-instruct-v0.3").string());
  chat_template.set_special_tokens({std::string(), std::string("</s>")});
  const std::string system = "You are a helpful assistant.\n\n";
  for (const char* name : kOllamaCases) {
    std::string expected =
        test::read_text(test::shared_dir() / "chat_templates/ollama_testdata/mistral-instruct.gotmpl" / name);
    size_t in_first_turn = expected.find("[INST] " + system);
    if (in_first_turn != std::string::npos) {
      expected.erase(in_first_turn + 7, system.size());
      expected.insert(expected.rfind("[INST] ") + 7, system);
    }
    std::string actual = chat_template.render(ollama_conversation(name), /*add_generation_prompt=*/true);
    EXPECT_EQ(describe_difference(actual, expected), "") << name;
  }
}

}  // namespace
}  // namespace flotilla
