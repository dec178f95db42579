// Two independent reference encoders, for tests only: llama2.c's score-greedy encode (run.c) over
// tok*.bin pieces, and a plain rank-based SentencePiece-style BPE over a tokenizer.json.
#pragma once
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "convert/llama2c.h"

namespace flotilla::test {

// UTF-8 characters of text, as llama2.c splits them (at most 4 bytes each).
inline std::vector<std::string> utf8_chars(const std::string& text) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    while (i + length < text.size() && length < 4 && (static_cast<unsigned char>(text[i + length]) & 0xC0) == 0x80) {
      ++length;
    }
    chars.push_back(text.substr(i, length));
    i += length;
  }
  return chars;
}

// run.c encode(text, bos=0, eos=0): dummy prefix " ", characters (bytes + 3 as fallback), then merge
// the leftmost adjacent pair whose concatenation has the highest score until none is in the vocab.
inline std::vector<int64_t> llama2c_encode(const convert::Llama2cTokenizer& tokenizer, const std::string& text) {
  std::unordered_map<std::string, int64_t> lookup;
  for (size_t id = 0; id < tokenizer.pieces.size(); ++id) lookup.emplace(tokenizer.pieces[id], id);
  std::vector<int64_t> ids;
  if (!text.empty()) ids.push_back(lookup.at(" "));
  for (const auto& ch : utf8_chars(text)) {
    auto it = lookup.find(ch);
    if (it != lookup.end()) {
      ids.push_back(it->second);
    } else {
      for (unsigned char byte : ch) ids.push_back(byte + 3);
    }
  }
  while (true) {
    float best_score = -1e10f;
    int64_t best_id = -1;
    size_t best_index = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = lookup.find(tokenizer.pieces[ids[i]] + tokenizer.pieces[ids[i + 1]]);
      if (it != lookup.end() && tokenizer.scores[it->second] > best_score) {
        best_score = tokenizer.scores[it->second];
        best_id = it->second;
        best_index = i;
      }
    }
    if (best_id < 0) break;
    ids[best_index] = best_id;
    ids.erase(ids.begin() + best_index + 1);
  }
  return ids;
}

// Hugging Face BPE as configured by tokenizer.json: normalize (prepend '▁', spaces to '▁'), split
// into characters with <0xXX> byte fallback, then apply the lowest-ranked merge (leftmost) repeatedly.
class ReferenceBpe {
 public:
  explicit ReferenceBpe(const nlohmann::ordered_json& tokenizer_json) {
    for (const auto& [piece, id] : tokenizer_json.at("model").at("vocab").items()) vocab_[piece] = id.get<int64_t>();
    int64_t rank = 0;
    for (const auto& merge : tokenizer_json.at("model").at("merges")) {
      ranks_.emplace(std::make_pair(merge.at(0).get<std::string>(), merge.at(1).get<std::string>()), rank++);
    }
  }

  std::vector<int64_t> encode(const std::string& text) const {
    if (text.empty()) return {};
    std::string normalized = kSpace;
    for (char ch : text) normalized += ch == ' ' ? kSpace : std::string(1, ch);
    std::vector<std::string> symbols;
    for (const auto& ch : utf8_chars(normalized)) {
      if (vocab_.count(ch)) {
        symbols.push_back(ch);
      } else {
        for (unsigned char byte : ch) symbols.push_back(fmt::format("<0x{:02X}>", byte));
      }
    }
    while (true) {
      int64_t best_rank = -1;
      size_t best_index = 0;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = ranks_.find({symbols[i], symbols[i + 1]});
        if (it != ranks_.end() && (best_rank < 0 || it->second < best_rank)) {
          best_rank = it->second;
          best_index = i;
        }
      }
      if (best_rank < 0) break;
      symbols[best_index] += symbols[best_index + 1];
      symbols.erase(symbols.begin() + best_index + 1);
    }
    std::vector<int64_t> ids;
    for (const auto& symbol : symbols) ids.push_back(vocab_.at(symbol));
    return ids;
  }

 private:
  inline static const std::string kSpace = "\xe2\x96\x81";  // '▁'
  std::unordered_map<std::string, int64_t> vocab_;
  std::map<std::pair<std::string, std::string>, int64_t> ranks_;
};

}  // namespace flotilla::test
