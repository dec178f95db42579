// The public ChatTemplate: finds a model's template, parses it once and renders it per request.
#include "flotilla/chat_template.h"

#include <filesystem>

#include "chat/evaluator.h"
#include "chat/limits.h"
#include "chat/parser.h"
#include "core/error.h"
#include "core/file.h"

namespace flotilla {

struct ChatTemplate::Parsed {
  chat::StmtList body;
};

namespace {

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code error;
  std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) fail("chat_template", "cannot read {}: {}", path.string(), error.message());
  if (size > chat::kMaxConfigBytes)
    fail("chat_template", "{} is {} bytes, more than the {} allowed", path.string(), size, chat::kMaxConfigBytes);
  return read_file(path, "chat_template");
}

// tokenizer_config.json writes special tokens as a string or as an AddedToken object {"content": ...}.
std::optional<std::string> special_token(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  fail("chat_template", "tokenizer_config.json \"{}\" is neither a string nor an object with \"content\"", key);
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name, TemplateLimits limits)
    : source_(std::move(source)), name_(std::move(name)), limits_(limits) {
  if (source_.size() > chat::kMaxConfigBytes) {
    fail("chat_template", "{}: template of {} bytes exceeds {} bytes", name_, source_.size(), chat::kMaxConfigBytes);
  }
  auto parsed = std::make_shared<Parsed>();
  parsed->body = chat::parse_template(source_, name_);
  parsed_ = std::move(parsed);
}

std::optional<ChatTemplate> ChatTemplate::find_in_model_dir(const std::string& dir, const std::string& override_source) {
  namespace fs = std::filesystem;
  fs::path jinja_path = fs::path(dir) / "chat_template.jinja";
  fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(config_path)) {
    try {
      config = nlohmann::json::parse(read_text_file(config_path));
    } catch (const nlohmann::json::exception& error) {
      fail("chat_template", "{}: invalid JSON: {}", config_path.string(), error.what());
    }
    if (!config.is_object()) fail("chat_template", "{}: expected a JSON object", config_path.string());
  }
  std::string source;
  std::string name;
  if (!override_source.empty()) {
    source = override_source;
    name = "chat_template override";
  } else if (fs::exists(jinja_path)) {
    source = read_text_file(jinja_path);
    name = jinja_path.string();
  } else if (config.contains("chat_template") && config["chat_template"].is_string()) {
    source = config["chat_template"].get<std::string>();
    name = config_path.string() + ":chat_template";
  } else if (config.contains("chat_template") && config["chat_template"].is_array()) {
    std::string names;
    for (const auto& entry : config["chat_template"]) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template")) {
        fail("chat_template", "{}: chat_template list entries need \"name\" and \"template\"", config_path.string());
      }
      std::string entry_name = entry["name"].is_string() ? entry["name"].get<std::string>() : "";
      names += (names.empty() ? "" : ", ") + entry_name;
      if (entry_name == "default" && entry["template"].is_string()) source = entry["template"].get<std::string>();
    }
    if (source.empty())
      fail("chat_template", "{}: no \"default\" among the chat templates ({})", config_path.string(), names);
    name = config_path.string() + ":chat_template[default]";
  } else {
    return std::nullopt;
  }
  ChatTemplate result(std::move(source), std::move(name));
  result.special_tokens_.bos_token = special_token(config, "bos_token");
  result.special_tokens_.eos_token = special_token(config, "eos_token");
  return result;
}

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir) {
  auto found = find_in_model_dir(dir);
  if (!found)
    fail("chat_template",
         "no chat template in {} (looked for chat_template.jinja and \"chat_template\" in tokenizer_config.json)", dir);
  return std::move(*found);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra) const {
  if (!messages.is_array()) fail("chat_template", "{}: messages must be a JSON array", name_);
  if (!extra.is_object()) fail("chat_template", "{}: extra context must be a JSON object", name_);
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  if (special_tokens_.bos_token) context["bos_token"] = *special_tokens_.bos_token;
  if (special_tokens_.eos_token) context["eos_token"] = *special_tokens_.eos_token;
  for (const auto& [key, value] : extra.items()) context[key] = value;
  return render_context(context);
}

std::string ChatTemplate::render_context(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) fail("chat_template", "{}: the context must be a JSON object", name_);
  chat::Value variables;
  try {
    variables = chat::from_json(context);
  } catch (const chat::TemplateError& error) {
    fail("chat_template", "{}: {}", name_, error.what());
  }
  chat::Evaluator evaluator(name_, limits_);
  return evaluator.render(parsed_->body, variables);
}

}  // namespace flotilla
