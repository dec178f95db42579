// The tokenizer.json "pre_tokenizer": Sequence, Split, ByteLevel, Metaspace and Digits, each
// splitting words further the way Hugging Face tokenizers does (empty words are dropped).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/pattern.h"

namespace flotilla::tokenizer {

struct Word {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original text (Metaspace prepend_scheme "first")
};

// How a Split keeps its delimiters (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Pieces of `text` cut at `matches` (sorted, non-overlapping byte spans) per `behavior`; with
// `invert` the matches are the words and the rest the delimiters. Empty pieces are dropped.
std::vector<Regex::Span> split_spans(size_t text_size, const std::vector<Regex::Span>& matches,
                                     SplitBehavior behavior, bool invert);

class PreTokenizer {
 public:
  // `pre_tokenizer` may be null: the whole piece is one word.
  static PreTokenizer from_json(const nlohmann::json& pre_tokenizer, const std::string& path);

  std::vector<Word> apply(std::vector<Word> words) const;

 private:
  enum class Kind { Split, ByteLevel, Metaspace };
  enum class Prepend { Always, First, Never };
  struct Step {
    Kind kind;
    std::shared_ptr<const Pattern> pattern;  // Split; ByteLevel with use_regex
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel
    std::string replacement;  // Metaspace
    Prepend prepend = Prepend::Always;
    bool split = true;  // Metaspace
  };
  void add(const nlohmann::json& pre_tokenizer, const std::string& path);
  static void apply_step(const Step& step, std::vector<Word>& words);
  std::vector<Step> steps_;
};

}  // namespace flotilla::tokenizer
