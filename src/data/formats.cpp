#include "data/formats.h"

#include "core/error.h"
#include "data/jsonl.h"

namespace flotilla::data {

namespace {

using Json = nlohmann::ordered_json;

bool blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

// The string at key; RecordError when missing (unless optional), not a string, or blank (unless allowed).
const std::string* string_field(const Json& record, const std::string& key, bool required, bool allow_empty,
                                const std::string& label) {
  auto it = record.find(key);
  if (it == record.end()) {
    if (required) throw RecordError(fmt::format("missing field '{}'", label));
    return nullptr;
  }
  if (!it->is_string()) throw RecordError(fmt::format("field '{}' must be a string, got {}", label, type_name(*it)));
  const auto& text = it->get_ref<const std::string&>();
  if (!allow_empty && blank(text)) throw RecordError(fmt::format("field '{}' is empty", label));
  return &text;
}

void validate_messages(const Json& record, const FieldNames& fields) {
  auto it = record.find(fields.messages);
  if (it == record.end()) throw RecordError(fmt::format("missing field '{}'", fields.messages));
  if (!it->is_array()) throw RecordError(fmt::format("field '{}' must be an array, got {}", fields.messages, type_name(*it)));
  if (it->empty()) throw RecordError(fmt::format("field '{}' is empty", fields.messages));
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& message = (*it)[i];
    const std::string label = fmt::format("{}[{}]", fields.messages, i);
    if (!message.is_object()) throw RecordError(fmt::format("field '{}' must be an object, got {}", label, type_name(message)));
    string_field(message, "role", true, false, label + ".role");
    // An assistant turn that only calls tools may have no content (OpenAI's format).
    const bool tool_call = message.contains("tool_calls");
    auto content = message.find("content");
    if (tool_call && (content == message.end() || content->is_null())) continue;
    string_field(message, "content", true, true, label + ".content");
  }
  auto tools = record.find("tools");
  if (tools != record.end() && !tools->is_array() && !tools->is_null()) {
    throw RecordError(fmt::format("field 'tools' must be an array, got {}", type_name(*tools)));
  }
}

}  // namespace

std::string_view format_name(RecordFormat format) {
  switch (format) {
    case RecordFormat::dolly: return "dolly";
    case RecordFormat::messages: return "messages";
    case RecordFormat::prompt_completion: return "prompt-completion";
    case RecordFormat::text: return "text";
  }
  return "?";
}

std::optional<RecordFormat> parse_format(std::string_view name) {
  if (name == "auto") return std::nullopt;
  for (auto format : {RecordFormat::dolly, RecordFormat::messages, RecordFormat::prompt_completion, RecordFormat::text}) {
    if (name == format_name(format)) return format;
  }
  fail("data", "unknown format '{}'; expected auto, dolly, messages, prompt-completion or text", name);
}

std::optional<RecordFormat> detect_format(const Json& record, const FieldNames& fields, bool allow_dolly) {
  if (record.contains(fields.prompt) && record.contains(fields.completion)) return RecordFormat::prompt_completion;
  if (record.contains(fields.messages)) return RecordFormat::messages;
  if (allow_dolly && record.contains(fields.instruction) && record.contains(fields.response)) return RecordFormat::dolly;
  if (record.contains(fields.text)) return RecordFormat::text;
  return std::nullopt;
}

void validate_record(const Json& record, RecordFormat format, const FieldNames& fields) {
  switch (format) {
    case RecordFormat::dolly:
      string_field(record, fields.instruction, true, false, fields.instruction);
      string_field(record, fields.context, false, true, fields.context);
      string_field(record, fields.response, true, false, fields.response);
      break;
    case RecordFormat::messages:
      validate_messages(record, fields);
      break;
    case RecordFormat::prompt_completion:
      string_field(record, fields.prompt, true, false, fields.prompt);
      string_field(record, fields.completion, true, false, fields.completion);
      break;
    case RecordFormat::text:
      string_field(record, fields.text, true, false, fields.text);
      break;
  }
}

RecordConverter::RecordConverter(std::optional<RecordFormat> format, FieldNames fields, std::string system_prompt)
    : format_(format), fields_(std::move(fields)), system_prompt_(std::move(system_prompt)) {}

ConvertedRecord RecordConverter::convert(const Json& record) {
  if (!format_) {
    format_ = detect_format(record, fields_, /*allow_dolly=*/true);
    if (!format_) {
      std::string keys;
      for (const auto& item : record.items()) keys += (keys.empty() ? "" : ", ") + item.key();
      throw RecordError(fmt::format(
          "cannot tell the format: expected '{}', '{}' and '{}', '{}' and '{}' (Dolly), or '{}'; found keys: {}",
          fields_.messages, fields_.prompt, fields_.completion, fields_.instruction, fields_.response, fields_.text,
          keys.empty() ? "none" : keys));
    }
  }
  if (!system_prompt_.empty() && *format_ != RecordFormat::dolly) {
    fail("prepare", "a system prompt applies to Dolly records only; this input is {}", format_name(*format_));
  }
  validate_record(record, *format_, fields_);
  ConvertedRecord converted;
  if (const auto* category = string_field(record, fields_.category, false, true, fields_.category)) {
    converted.category = *category;
  }
  Json& out = converted.output;
  switch (*format_) {
    case RecordFormat::dolly: {
      // The tutorial's Dolly mapping: context, when there is one, follows the instruction.
      std::string user = record[fields_.instruction].get<std::string>();
      const auto* context = string_field(record, fields_.context, false, true, fields_.context);
      if (context && !blank(*context)) user += "\n\nContext: " + *context;
      Json messages = Json::array();
      if (!system_prompt_.empty()) messages.push_back({{"role", "system"}, {"content", system_prompt_}});
      messages.push_back({{"role", "user"}, {"content", user}});
      messages.push_back({{"role", "assistant"}, {"content", record[fields_.response]}});
      out["messages"] = std::move(messages);
      break;
    }
    case RecordFormat::messages:
      out["messages"] = record[fields_.messages];
      if (record.contains("tools") && !record["tools"].is_null()) out["tools"] = record["tools"];
      break;
    case RecordFormat::prompt_completion:
      out["prompt"] = record[fields_.prompt];
      out["completion"] = record[fields_.completion];
      break;
    case RecordFormat::text:
      out["text"] = record[fields_.text];
      break;
  }
  return converted;
}

}  // namespace flotilla::data
