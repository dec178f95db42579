// The tokenizer.json BPE model: vocab, ranked merges, byte_fallback to <0xXX>, unk (+ fuse_unk),
// ignore_merges, continuing_subword_prefix and end_of_word_suffix, as Hugging Face tokenizers.
// Merging uses a priority queue over a linked list of symbols (lowest rank first, then leftmost),
// O(n log n) in the word length: SentencePiece-style files have no pre-tokenizer, so a whole
// text can be a single word.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flotilla {

class BpeModel {
 public:
  static BpeModel from_json(const nlohmann::json& model, const std::string& path);

  // Appends the ids of one pre-tokenized word (valid UTF-8).
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;

  std::optional<int64_t> token_to_id(const std::string& token) const;
  const std::string* id_to_token(int64_t id) const;  // null if the vocab has no such id
  int64_t max_id() const { return static_cast<int64_t>(tokens_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  int32_t require_id(const std::string& token, const std::string& where) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id
  std::vector<bool> has_token_;      // ids may have holes
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of <0xXX>, or -1
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix
};

}  // namespace flotilla
