#include "tokenizer/post_processors.h"

#include "tokenizer/json_util.h"

namespace flotilla::tokenizer {

namespace {

constexpr const char* kSupported = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

// A ["token", id] pair of Bert/RobertaProcessing.
int64_t pair_id(const nlohmann::json& processor, const char* key, const std::string& path) {
  const nlohmann::json& pair = json_util::field(processor, key, path);
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer()) {
    fail("tokenizer", "{}: expected [\"token\", id], got {}", json_util::child(path, key), pair.dump());
  }
  return pair[1].get<int64_t>();
}

}  // namespace

PostProcessor PostProcessor::from_json(const nlohmann::json& post_processor, const std::string& path) {
  PostProcessor result;
  if (!post_processor.is_null()) result.add(post_processor, path);
  return result;
}

PostProcessor PostProcessor::around(std::optional<int64_t> bos, std::optional<int64_t> eos) {
  PostProcessor result;
  Template step;
  if (bos) step.before.push_back(*bos);
  if (eos) step.after.push_back(*eos);
  result.steps_.push_back(std::move(step));
  return result;
}

void PostProcessor::add(const nlohmann::json& post_processor, const std::string& path) {
  using namespace json_util;
  const std::string type = type_of(post_processor, path);
  if (type == "Sequence") {
    const Json& list = array_field(post_processor, "processors", path);
    for (size_t i = 0; i < list.size(); ++i) add(list[i], item(child(path, "processors"), i));
  } else if (type == "ByteLevel") {
    // Only trims offsets; ids are unchanged.
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    steps_.push_back({{pair_id(post_processor, "cls", path)}, {pair_id(post_processor, "sep", path)}});
  } else if (type == "TemplateProcessing") {
    const Json& single = array_field(post_processor, "single", path);
    const Json& specials = field(post_processor, "special_tokens", path);
    const std::string single_path = child(path, "single");
    Template step;
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const Json& piece = single[i];
      const std::string where = item(single_path, i);
      if (piece.is_object() && piece.contains("Sequence")) {
        const std::string id = string_field(field(piece, "Sequence", where), "id", child(where, "Sequence"));
        if (id != "A" || seen_sequence) fail("tokenizer", "{}: a single-sequence template holds sequence A once", where);
        seen_sequence = true;
      } else if (piece.is_object() && piece.contains("SpecialToken")) {
        const std::string name = string_field(field(piece, "SpecialToken", where), "id", child(where, "SpecialToken"));
        const std::string special_path = child(child(path, "special_tokens"), name);
        if (!specials.is_object() || !specials.contains(name)) {
          fail("tokenizer", "{}: special token {:?} is not in {}", where, name, child(path, "special_tokens"));
        }
        for (const Json& id : array_field(specials.at(name), "ids", special_path)) {
          if (!id.is_number_integer()) fail("tokenizer", "{}.ids: expected integers", special_path);
          (seen_sequence ? step.after : step.before).push_back(id.get<int64_t>());
        }
      } else {
        fail("tokenizer", "{}: expected {{\"Sequence\": ...}} or {{\"SpecialToken\": ...}}, got {}", where, piece.dump());
      }
    }
    if (!seen_sequence) fail("tokenizer", "{}: the template has no sequence A", single_path);
    steps_.push_back(std::move(step));
  } else {
    json_util::unsupported("post_processor", type, path, kSupported);
  }
}

std::vector<int64_t> PostProcessor::apply(const std::vector<int64_t>& ids) const {
  std::vector<int64_t> out = ids;
  for (const Template& step : steps_) {
    std::vector<int64_t> next = step.before;
    next.insert(next.end(), out.begin(), out.end());
    next.insert(next.end(), step.after.begin(), step.after.end());
    out = std::move(next);
  }
  return out;
}

}  // namespace flotilla::tokenizer
