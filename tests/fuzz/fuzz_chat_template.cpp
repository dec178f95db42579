// Jinja chat templates from a model folder: the input is the template, rendered with a fixed conversation.
#include "chat_context.h"
#include "core/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flotilla;
  try {
    ChatTemplate chat_template(std::string(fuzz::as_text(data, size)), "fuzz.jinja", fuzz::fuzz_limits());
    chat_template.set_special_tokens({"<s>", "</s>"});
    for (const bool add_generation_prompt : {false, true}) {
      try {
        (void)chat_template.render(fuzz::sample_messages(), add_generation_prompt, fuzz::sample_extra());
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
