// The tokenizer.json "post_processor" for single sequences: TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel (offsets only, no ids) and Sequence of those.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flotilla::tokenizer {

class PostProcessor {
 public:
  static PostProcessor from_json(const nlohmann::json& post_processor, const std::string& path);
  // [bos] A [eos]: what transformers' LlamaTokenizerFast builds from add_bos_token/add_eos_token.
  static PostProcessor around(std::optional<int64_t> bos, std::optional<int64_t> eos);

  // The ids with the special tokens added (encode with add_special_tokens = true).
  std::vector<int64_t> apply(const std::vector<int64_t>& ids) const;

 private:
  struct Template {
    std::vector<int64_t> before, after;  // ids around sequence A
  };
  void add(const nlohmann::json& post_processor, const std::string& path);
  std::vector<Template> steps_;
};

}  // namespace flotilla::tokenizer
