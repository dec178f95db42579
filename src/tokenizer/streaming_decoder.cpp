#include "flotilla/tokenizer.h"

#include "unicode/utf8.h"

namespace flotilla {

namespace {

constexpr size_t kLongestCharacterTokens = 4;

bool ends_with_replacement(const std::string& text) {
  return text.size() >= unicode::kReplacement.size() &&
         text.compare(text.size() - unicode::kReplacement.size(), unicode::kReplacement.size(), unicode::kReplacement) == 0;
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDecoder::decode_from(size_t begin) const {
  return tokenizer_.decode(std::vector<int64_t>(ids_.begin() + begin, ids_.end()), skip_special_tokens_);
}

// The window [prefix_, end) always starts with ids already emitted, so decoders that strip a
// leading space (SentencePiece's Strip/Metaspace) strip it from text that was emitted already.
std::string StreamingDecoder::push(int64_t id) {
  ids_.push_back(id);
  const std::string text = decode_from(prefix_);
  // A trailing U+FFFD is (usually) a character whose remaining bytes are still to come. No UTF-8
  // character needs more than 4 byte tokens, so one that outlives them is final: holding on would
  // grow the window, and the decoding time, without end (a run of byte tokens after an invalid byte).
  replacement_holds_ = ends_with_replacement(text) ? replacement_holds_ + 1 : 0;
  if (text.size() <= prefix_text_.size() || (replacement_holds_ > 0 && replacement_holds_ < kLongestCharacterTokens))
    return "";
  replacement_holds_ = 0;
  std::string fresh = text.substr(prefix_text_.size());
  // Slide the window: drop what is before the old read point, keep the ids just emitted as context.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(read_));
  prefix_ = 0;
  read_ = ids_.size();
  prefix_text_ = decode_from(0);
  return fresh;
}

std::string StreamingDecoder::finish() {
  const std::string text = decode_from(prefix_);
  std::string fresh = text.size() > prefix_text_.size() ? text.substr(prefix_text_.size()) : "";
  ids_.clear();
  prefix_ = read_ = replacement_holds_ = 0;
  prefix_text_.clear();
  return fresh;
}

}  // namespace flotilla
