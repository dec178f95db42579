// The tokenizer.json "added_tokens": special and ordinary added tokens, found in the text before
// the model sees it, leftmost first and longest at a position (tokenizers' AhoCorasick
// LeftmostLongest), honouring the lstrip/rstrip/single_word flags. Tokens with "normalized": false
// are matched in the raw text, the others in the normalized pieces, against their normalized form.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flotilla::tokenizer {

class Normalizer;

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool single_word = false;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` turns the content of tokens with normalized=true into the text they match.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer& normalizer);
  static std::vector<AddedToken> parse(const nlohmann::json& added_tokens, const std::string& path);

  struct Match {
    size_t begin, end;  // bytes, including whitespace taken by lstrip/rstrip
    int64_t id;
  };
  // Token occurrences in `text`, left to right (raw text when normalized=false, else normalized text).
  std::vector<Match> find(std::string_view text, bool normalized) const;

  const AddedToken* by_id(int64_t id) const;
  const AddedToken* by_content(const std::string& content) const;
  bool is_special(const std::string& content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie over the patterns of one matching set.
  struct Trie {
    std::vector<int32_t> token;  // per node: index in tokens_ ending here, or -1
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> node
    bool first_byte[256] = {};
    void insert(std::string_view pattern, int32_t token_index);
    // Longest pattern starting at text[pos]: (length, token index), or length 0.
    std::pair<size_t, int32_t> longest(std::string_view text, size_t pos) const;
  };
  std::vector<AddedToken> tokens_;
  std::unordered_map<int64_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace flotilla::tokenizer
