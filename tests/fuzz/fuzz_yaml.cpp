// YAML config files (--config): any bytes either parse to JSON or throw flotilla::Error.
#include "config/yaml.h"
#include "core/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(flotilla::fuzz::as_text(data, size));
  try {
    // dump() throws on invalid UTF-8 in a string: parse_yaml promises valid UTF-8 out.
    (void)flotilla::config::parse_yaml(text, "fuzz.yaml").dump();
  } catch (const flotilla::Error&) {
  }
  return 0;
}
