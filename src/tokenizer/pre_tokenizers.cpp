#include "tokenizer/pre_tokenizers.h"

#include <algorithm>

#include "tokenizer/byte_level.h"
#include "tokenizer/json_util.h"

namespace flotilla::tokenizer {

namespace {

constexpr const char* kSupported = "Sequence, Split, ByteLevel, Metaspace, Digits";

SplitBehavior behavior_from(const std::string& name, const std::string& path) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  fail("tokenizer", "{}: unknown split behavior \"{}\" (supported: Removed, Isolated, MergedWithPrevious, "
       "MergedWithNext, Contiguous)", path, name);
}

}  // namespace

std::vector<Regex::Span> split_spans(size_t text_size, const std::vector<Regex::Span>& matches,
                                     SplitBehavior behavior, bool invert) {
  // The whole text as alternating (span, is_delimiter) pieces, as tokenizers' Pattern::find_matches.
  std::vector<std::pair<Regex::Span, bool>> pieces;
  size_t last = 0;
  for (const auto& match : matches) {
    if (match.first > last) pieces.push_back({{last, match.first}, invert});
    pieces.push_back({match, !invert});
    last = match.second;
  }
  if (last < text_size) pieces.push_back({{last, text_size}, invert});

  std::vector<Regex::Span> out;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const auto& [span, delimiter] : pieces) {
        if (!delimiter) out.push_back(span);
      }
      break;
    case SplitBehavior::Isolated:
      for (const auto& piece : pieces) out.push_back(piece.first);
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& [span, delimiter] : pieces) {
        if (delimiter == previous && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous = delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& [span, delimiter] : pieces) {
        if (delimiter && !previous && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous = delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        const auto& [span, delimiter] = *it;
        if (delimiter && !previous && !out.empty()) {
          out.back().first = span.first;
        } else {
          out.push_back(span);
        }
        previous = delimiter;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  std::vector<Regex::Span> non_empty;
  for (const auto& span : out) {
    if (span.second > span.first) non_empty.push_back(span);
  }
  return non_empty;
}

PreTokenizer PreTokenizer::from_json(const nlohmann::json& pre_tokenizer, const std::string& path) {
  PreTokenizer result;
  if (!pre_tokenizer.is_null()) result.add(pre_tokenizer, path);
  return result;
}

void PreTokenizer::add(const nlohmann::json& pre_tokenizer, const std::string& path) {
  using namespace json_util;
  const std::string type = type_of(pre_tokenizer, path);
  Step step{};
  if (type == "Sequence") {
    const Json& list = array_field(pre_tokenizer, "pretokenizers", path);
    for (size_t i = 0; i < list.size(); ++i) add(list[i], item(child(path, "pretokenizers"), i));
    return;
  }
  if (type == "Split") {
    step.kind = Kind::Split;
    step.pattern = std::make_shared<const Pattern>(
        Pattern::from_json(field(pre_tokenizer, "pattern", path), child(path, "pattern")));
    step.behavior = behavior_from(string_field(pre_tokenizer, "behavior", path), child(path, "behavior"));
    step.invert = bool_field(pre_tokenizer, "invert", path, false);
  } else if (type == "Digits") {
    step.kind = Kind::Split;
    const bool individual = bool_field(pre_tokenizer, "individual_digits", path, false);
    step.pattern = std::make_shared<const Pattern>(
        Pattern::from_json({{"Regex", individual ? "\\p{N}" : "\\p{N}+"}}, path));
    step.behavior = SplitBehavior::Isolated;
  } else if (type == "ByteLevel") {
    step.kind = Kind::ByteLevel;
    step.add_prefix_space = bool_field(pre_tokenizer, "add_prefix_space", path, true);
    if (bool_field(pre_tokenizer, "use_regex", path, true)) {
      step.pattern = std::make_shared<const Pattern>(Pattern::from_json({{"Regex", byte_level::kGpt2Pattern}}, path));
    }
  } else if (type == "Metaspace") {
    step.kind = Kind::Metaspace;
    step.replacement = string_field(pre_tokenizer, "replacement", path);
    if (pre_tokenizer.contains("prepend_scheme")) {
      const std::string scheme = string_field(pre_tokenizer, "prepend_scheme", path);
      if (scheme == "always") {
        step.prepend = Prepend::Always;
      } else if (scheme == "first") {
        step.prepend = Prepend::First;
      } else if (scheme == "never") {
        step.prepend = Prepend::Never;
      } else {
        fail("tokenizer", "{}: unknown prepend_scheme \"{}\" (supported: always, first, never)",
             child(path, "prepend_scheme"), scheme);
      }
    } else {
      // Files written before prepend_scheme existed carry add_prefix_space instead.
      step.prepend = bool_field(pre_tokenizer, "add_prefix_space", path, true) ? Prepend::Always : Prepend::Never;
    }
    step.split = bool_field(pre_tokenizer, "split", path, true);
  } else {
    unsupported("pre_tokenizer", type, path, kSupported);
  }
  steps_.push_back(std::move(step));
}

namespace {

// Appends the pieces of `word` at `spans`; only a piece at byte 0 of a word at the start stays at the start.
void append_pieces(const Word& word, const std::vector<Regex::Span>& spans, std::vector<Word>& out) {
  for (const auto& [begin, end] : spans) {
    out.push_back({word.text.substr(begin, end - begin), word.at_start && begin == 0});
  }
}

}  // namespace

void PreTokenizer::apply_step(const Step& step, std::vector<Word>& words) {
  std::vector<Word> out;
  out.reserve(words.size());
  for (Word& word : words) {
    switch (step.kind) {
      case Kind::Split:
        append_pieces(word, split_spans(word.text.size(), step.pattern->find_all(word.text), step.behavior,
                                        step.invert), out);
        break;
      case Kind::ByteLevel: {
        if (step.add_prefix_space && word.text.front() != ' ') word.text.insert(0, " ");
        std::vector<Word> pieces;
        if (step.pattern) {
          append_pieces(word, split_spans(word.text.size(), step.pattern->find_all(word.text),
                                          SplitBehavior::Isolated, false), pieces);
        } else {
          pieces.push_back(std::move(word));
        }
        for (Word& piece : pieces) out.push_back({byte_level::encode(piece.text), piece.at_start});
        break;
      }
      case Kind::Metaspace: {
        std::string text = Pattern::literal(" ").replace_all(word.text, step.replacement);
        const bool starts = text.compare(0, step.replacement.size(), step.replacement) == 0;
        if (!starts && (step.prepend == Prepend::Always || (step.prepend == Prepend::First && word.at_start))) {
          text.insert(0, step.replacement);
        }
        Word replaced{std::move(text), word.at_start};
        if (step.split) {
          append_pieces(replaced, split_spans(replaced.text.size(),
                                              Pattern::literal(step.replacement).find_all(replaced.text),
                                              SplitBehavior::MergedWithNext, false), out);
        } else {
          out.push_back(std::move(replaced));
        }
        break;
      }
    }
  }
  words = std::move(out);
}

std::vector<Word> PreTokenizer::apply(std::vector<Word> words) const {
  for (const Step& step : steps_) apply_step(step, words);
  return words;
}

}  // namespace flotilla::tokenizer
