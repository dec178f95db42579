#include "tokenizer/pattern.h"

#include "tokenizer/json_util.h"

namespace flotilla::tokenizer {

Pattern Pattern::from_json(const nlohmann::json& pattern, const std::string& path) {
  if (pattern.is_object() && pattern.size() == 1 && pattern.begin().value().is_string()) {
    const std::string& key = pattern.begin().key();
    const std::string value = pattern.begin().value().get<std::string>();
    if (key == "String") return literal(value);
    if (key == "Regex") {
      Pattern result;
      result.regex_ = std::make_shared<const Regex>(value, path);
      return result;
    }
  }
  fail("tokenizer", "{}: expected {{\"String\": ...}} or {{\"Regex\": ...}}, got {}", path, pattern.dump());
}

Pattern Pattern::literal(std::string text) {
  Pattern result;
  result.literal_ = std::move(text);
  return result;
}

std::vector<Regex::Span> Pattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<Regex::Span> spans;
  if (literal_.empty()) return spans;
  for (size_t pos = text.find(literal_); pos != std::string_view::npos; pos = text.find(literal_, pos)) {
    spans.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
  return spans;
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  const auto spans = find_all(text);
  if (spans.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size() + spans.size() * content.size());
  size_t last = 0;
  for (const auto& [begin, end] : spans) {
    out.append(text.substr(last, begin - last));
    out.append(content);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

}  // namespace flotilla::tokenizer
