// tokenizer.json (+ tokenizer_config.json), then encoding and decoding text with it.
// Input: tokenizer.json NUL tokenizer_config.json (may be empty) NUL text; without NULs the whole
// input is both the tokenizer and the text.
#include <cstdlib>

#include "core/error.h"
#include "flotilla/tokenizer.h"
#include "fuzz_input.h"
#include "unicode/utf8.h"

namespace {

using flotilla::Tokenizer;

void exercise(const Tokenizer& tokenizer, const std::string& text) {
  for (const bool special : {true, false}) {
    const std::vector<int64_t> ids = tokenizer.encode(text, special);
    const std::string decoded = tokenizer.decode(ids, special);
    if (!flotilla::unicode::is_valid(decoded)) std::abort();  // decode promises valid UTF-8
    flotilla::StreamingDecoder stream(tokenizer, special);
    std::string streamed;
    for (const int64_t id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    for (const int64_t id : ids) {
      (void)tokenizer.id_to_token(id);
      (void)tokenizer.is_special(id);
    }
  }
  // Ids the vocabulary may not have: decode skips them, id_to_token throws.
  std::vector<int64_t> ids;
  for (size_t i = 0; i + 1 < text.size() && ids.size() < 64; i += 2) {
    ids.push_back(static_cast<int8_t>(text[i]) * 256 + static_cast<uint8_t>(text[i + 1]));
  }
  (void)tokenizer.decode(ids, false);
  (void)tokenizer.token_to_id(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = flotilla::fuzz::as_text(data, size);
  const std::string json(flotilla::fuzz::take_part(rest));
  const std::string config(flotilla::fuzz::take_part(rest));
  const std::string text = rest.empty() ? json : std::string(rest);
  try {
    exercise(Tokenizer::from_json_text(json, config), text);
  } catch (const flotilla::Error&) {
  }
  return 0;
}
