#include "tokenizer/decoders.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/json_util.h"
#include "unicode/utf8.h"

namespace flotilla::tokenizer {

namespace {

constexpr const char* kSupported = "Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel";

// The byte of a "<0xXX>" token, or -1.
int fallback_byte(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = token[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// Characters of a token as separate strings.
std::vector<std::string_view> chars_of(const std::string& token) {
  std::vector<std::string_view> chars;
  for (size_t pos = 0; pos < token.size();) {
    const size_t length = unicode::char_length(token, pos);
    chars.emplace_back(token.data() + pos, length);
    pos += length;
  }
  return chars;
}

}  // namespace

Decoder Decoder::from_json(const nlohmann::json& decoder, const std::string& path) {
  Decoder result;
  if (!decoder.is_null()) result.add(decoder, path);
  return result;
}

void Decoder::add(const nlohmann::json& decoder, const std::string& path) {
  using namespace json_util;
  const std::string type = type_of(decoder, path);
  Step step{};
  if (type == "Sequence") {
    const Json& list = array_field(decoder, "decoders", path);
    for (size_t i = 0; i < list.size(); ++i) add(list[i], item(child(path, "decoders"), i));
    return;
  }
  if (type == "Replace") {
    step.kind = Kind::Replace;
    step.pattern = std::make_shared<const Pattern>(Pattern::from_json(field(decoder, "pattern", path), child(path, "pattern")));
    step.content = string_field(decoder, "content", path);
  } else if (type == "ByteFallback") {
    step.kind = Kind::ByteFallback;
  } else if (type == "Fuse") {
    step.kind = Kind::Fuse;
  } else if (type == "Strip") {
    step.kind = Kind::Strip;
    step.content = string_field(decoder, "content", path);
    if (unicode::count_chars(step.content) != 1) fail("tokenizer", "{}.content: expected one character", path);
    const int64_t start = int_field(decoder, "start", path), stop = int_field(decoder, "stop", path);
    if (start < 0 || stop < 0) fail("tokenizer", "{}: start and stop must not be negative", path);
    step.start = static_cast<size_t>(start);
    step.stop = static_cast<size_t>(stop);
  } else if (type == "Metaspace") {
    step.kind = Kind::Metaspace;
    step.content = string_field(decoder, "replacement", path);
    if (decoder.contains("prepend_scheme")) {
      step.strip_first = string_field(decoder, "prepend_scheme", path) != "never";
    } else {
      step.strip_first = bool_field(decoder, "add_prefix_space", path, true);
    }
  } else if (type == "ByteLevel") {
    step.kind = Kind::ByteLevel;
  } else {
    unsupported("decoder", type, path, kSupported);
  }
  steps_.push_back(std::move(step));
}

void Decoder::apply(const Step& step, std::vector<std::string>& tokens) {
  switch (step.kind) {
    case Kind::Replace:
      for (std::string& token : tokens) token = step.pattern->replace_all(token, step.content);
      break;
    case Kind::ByteFallback: {
      // Runs of <0xXX> become their text when valid UTF-8, else one U+FFFD per byte.
      std::vector<std::string> out;
      std::string bytes;
      size_t count = 0;
      const auto flush = [&] {
        if (count == 0) return;
        if (unicode::is_valid(bytes)) {
          out.push_back(bytes);
        } else {
          for (size_t i = 0; i < count; ++i) out.emplace_back(unicode::kReplacement);
        }
        bytes.clear();
        count = 0;
      };
      for (std::string& token : tokens) {
        const int byte = fallback_byte(token);
        if (byte >= 0) {
          bytes += static_cast<char>(byte);
          ++count;
        } else {
          flush();
          out.push_back(std::move(token));
        }
      }
      flush();
      tokens = std::move(out);
      break;
    }
    case Kind::Fuse: {
      std::string joined;
      for (const std::string& token : tokens) joined += token;
      tokens.assign(1, std::move(joined));
      break;
    }
    case Kind::Strip:
      for (std::string& token : tokens) {
        const auto chars = chars_of(token);
        size_t first = 0, last = chars.size();
        while (first < step.start && first < chars.size() && chars[first] == step.content) ++first;
        for (size_t i = 0; i < step.stop && last > first && chars[last - 1] == step.content; ++i) --last;
        std::string stripped;
        for (size_t i = first; i < last; ++i) stripped.append(chars[i]);
        token = std::move(stripped);
      }
      break;
    case Kind::Metaspace:
      for (size_t i = 0; i < tokens.size(); ++i) {
        // The first token loses every replacement character (tokenizers drops them all, not just the leading one).
        const std::string space = i == 0 && step.strip_first ? "" : " ";
        tokens[i] = Pattern::literal(step.content).replace_all(tokens[i], space);
      }
      break;
    case Kind::ByteLevel: {
      std::string bytes;
      for (const std::string& token : tokens) byte_level::decode_append(token, bytes);
      tokens.assign(1, unicode::sanitize(bytes));
      break;
    }
  }
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  if (steps_.empty()) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  for (const Step& step : steps_) apply(step, tokens);
  std::string joined;
  for (const std::string& token : tokens) joined += token;
  return joined;
}

}  // namespace flotilla::tokenizer
