// Hugging Face chat templates: a Jinja2 interpreter with the semantics transformers uses
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson filter,
// raise_exception and strftime_now). Templates are untrusted: no file, environment or process
// access, and recursion, loop iterations and output size are bounded.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace flotilla {

struct TemplateLimits {
  int max_recursion_depth = 64;             // nested macro calls
  int64_t max_loop_iterations = 1'000'000;  // for-loop iterations over the whole render; also caps list sizes
  size_t max_output_bytes = 16 << 20;       // rendered text; also caps any string built on the way
};

// bos_token/eos_token as tokenizer_config.json names them; absent ones stay undefined in templates.
struct SpecialTokens {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
};

class ChatTemplate {
 public:
  // Parses `source`; syntax errors throw flotilla::Error naming `name`:line:column.
  ChatTemplate(std::string source, std::string name = "chat_template", TemplateLimits limits = {});

  // chat_template.jinja if present, else tokenizer_config.json "chat_template" (a string, or a list of
  // {name, template} of which "default" is used). bos/eos tokens come from tokenizer_config.json.
  static ChatTemplate from_model_dir(const std::string& dir);
  // The same lookup, empty when the folder has no template. A non-empty override_source replaces
  // the folder's template; bos/eos tokens still come from its tokenizer_config.json.
  static std::optional<ChatTemplate> find_in_model_dir(const std::string& dir, const std::string& override_source = "");

  // Context as transformers builds it: messages, add_generation_prompt, tools=None, documents=None,
  // the special tokens, then every key of `extra` (tools, date_string, ...), which wins.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  // Renders with exactly `context` (a JSON object) as the template variables.
  std::string render_context(const nlohmann::ordered_json& context) const;

  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }
  const SpecialTokens& special_tokens() const { return special_tokens_; }
  void set_special_tokens(SpecialTokens tokens) { special_tokens_ = std::move(tokens); }

 private:
  struct Parsed;
  std::string source_;
  std::string name_;
  TemplateLimits limits_;
  SpecialTokens special_tokens_;
  std::shared_ptr<const Parsed> parsed_;
};

}  // namespace flotilla
