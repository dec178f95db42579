// Real chat templates (../shared) rendering untrusted conversations, as prepare and train do.
// Input: one byte picking the template, one byte of flags (bit 0: add_generation_prompt), then
// JSON: {"messages": [...], other context keys...}, or a bare message list; anything else becomes
// the content of one user message.
#include <cstdio>
#include <cstdlib>

#include "chat_context.h"
#include "core/error.h"
#include "core/file.h"
#include "fuzz_input.h"

namespace {

using flotilla::ChatTemplate;
using Json = nlohmann::ordered_json;

std::vector<ChatTemplate> load_templates() {
  std::vector<ChatTemplate> templates;
  for (const auto& path : flotilla::fuzz::real_template_paths(FLOTILLA_SHARED_DIR)) {
    templates.emplace_back(flotilla::read_file(path, "fuzz"), path.filename().string(), flotilla::fuzz::fuzz_limits());
    templates.back().set_special_tokens({"<s>", "</s>"});
  }
  if (templates.empty()) {
    std::fprintf(stderr, "fuzz_chat_messages: no *.jinja under %s\n", FLOTILLA_SHARED_DIR);
    std::abort();
  }
  return templates;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<ChatTemplate> templates = load_templates();
  if (size < 2) return 0;
  const ChatTemplate& chat_template = templates[data[0] % templates.size()];
  const bool add_generation_prompt = data[1] & 1;
  const std::string_view text = flotilla::fuzz::as_text(data + 2, size - 2);

  Json input = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  Json messages, extra = Json::object();
  if (input.is_object() && input.contains("messages")) {
    messages = std::move(input["messages"]);
    input.erase("messages");
    extra = std::move(input);
  } else if (input.is_array()) {
    messages = std::move(input);
  } else {
    messages = Json::array({{{"role", "user"}, {"content", std::string(text)}}});
  }
  try {
    (void)chat_template.render(messages, add_generation_prompt, extra);
  } catch (const flotilla::Error&) {
  }
  return 0;
}
