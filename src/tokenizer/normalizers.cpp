#include "tokenizer/normalizers.h"

#include "tokenizer/json_util.h"
#include "unicode/normalize.h"
#include "unicode/utf8.h"

namespace flotilla::tokenizer {

namespace {

constexpr const char* kSupported = "Sequence, Prepend, Append, Replace, Strip, NFC";

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& normalizer, const std::string& path) {
  Normalizer result;
  if (!normalizer.is_null()) result.add(normalizer, path);
  return result;
}

void Normalizer::add(const nlohmann::json& normalizer, const std::string& path) {
  using namespace json_util;
  const std::string type = type_of(normalizer, path);
  if (type == "Sequence") {
    const Json& list = array_field(normalizer, "normalizers", path);
    for (size_t i = 0; i < list.size(); ++i) add(list[i], item(child(path, "normalizers"), i));
  } else if (type == "Prepend") {
    steps_.push_back({Kind::Prepend, string_field(normalizer, "prepend", path), {}});
  } else if (type == "Append") {
    steps_.push_back({Kind::Append, string_field(normalizer, "append", path), {}});
  } else if (type == "Replace") {
    Step step{Kind::Replace, string_field(normalizer, "content", path), {}};
    step.pattern.push_back(Pattern::from_json(field(normalizer, "pattern", path), child(path, "pattern")));
    steps_.push_back(std::move(step));
  } else if (type == "Strip") {
    Step step{Kind::Strip, "", {}};
    step.left = bool_field(normalizer, "strip_left", path, true);
    step.right = bool_field(normalizer, "strip_right", path, true);
    steps_.push_back(std::move(step));
  } else if (type == "NFC") {
    steps_.push_back({Kind::Nfc, "", {}});
  } else {
    unsupported("normalizer", type, path, kSupported);
  }
}

std::string Normalizer::apply(std::string text) const {
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::Prepend:
        if (!text.empty()) text.insert(0, step.content);
        break;
      case Kind::Append:
        if (!text.empty()) text += step.content;
        break;
      case Kind::Replace:
        text = step.pattern.front().replace_all(text, step.content);
        break;
      case Kind::Strip:
        if (step.right) text.resize(unicode::trailing_whitespace_start(text));
        if (step.left) text.erase(0, unicode::leading_whitespace_length(text));
        break;
      case Kind::Nfc:
        unicode::nfc_in_place(text);
        break;
    }
  }
  return text;
}

}  // namespace flotilla::tokenizer
