// The tokenizer.json "decoder": Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace and
// ByteLevel, each a step over the list of token strings, joined at the end (tokenizers' decode_chain).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/pattern.h"

namespace flotilla::tokenizer {

class Decoder {
 public:
  // `decoder` may be null: tokens are then joined with spaces, as tokenizers does.
  static Decoder from_json(const nlohmann::json& decoder, const std::string& path);

  std::string decode(std::vector<std::string> tokens) const;

 private:
  enum class Kind { Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel };
  struct Step {
    Kind kind;
    std::shared_ptr<const Pattern> pattern;  // Replace
    std::string content;  // Replace content, Strip character, Metaspace replacement
    size_t start = 0, stop = 0;  // Strip
    bool strip_first = false;  // Metaspace: prepend_scheme is not "never"
  };
  void add(const nlohmann::json& decoder, const std::string& path);
  static void apply(const Step& step, std::vector<std::string>& tokens);
  std::vector<Step> steps_;
};

}  // namespace flotilla::tokenizer
