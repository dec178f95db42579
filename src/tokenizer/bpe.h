// The tokenizer.json BPE model: vocab, ranked merges, byte_fallback to <0xXX>, unk (+ fuse_unk),
// ignore_merges, continuing_subword_prefix and end_of_word_suffix, as Hugging Face tokenizers.
// Merging repeatedly joins the adjacent pair of lowest rank (then leftmost): a scan over cached
// pair ranks for short words, a priority queue (O(n log n)) for long ones.
// SentencePiece-style files have no pre-tokenizer, so a whole text can be a single word; when no
// token has "▁" after another character (checked on load), no merge can cross the start of a
// "▁" run, so such a word is merged piece by piece, with the same result.
// A Cache (one per encode call, so encoding keeps no shared mutable state) remembers the ids of
// pieces already merged.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flotilla::tokenizer {

class BpeModel {
 public:
  static BpeModel from_json(const nlohmann::json& model, const std::string& path);

  class Cache;

  // Appends the ids of one pre-tokenized word (valid UTF-8), remembering short pieces in `cache`.
  void tokenize(std::string_view word, std::vector<int64_t>& out, Cache& cache) const;

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
  // Open addressing over 64-bit keys (the hot lookups: merges by pair, ids of single characters).
  template <typename Value>
  class FlatMap {
   public:
    void reserve(size_t count);
    void set(uint64_t key, Value value);
    const Value* find(uint64_t key) const {
      if (keys_.empty()) return nullptr;
      for (size_t slot = hash(key);; slot = (slot + 1) & mask_) {
        if (keys_[slot] == key) return &values_[slot];
        if (keys_[slot] == kEmpty) return nullptr;
      }
    }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    // Fibonacci hashing takes the product's top bits: low bits depend on the key's low bits only,
    // and merge keys (left << 32 | right) sharing a right token would crowd the same slots.
    size_t hash(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<uint64_t> keys_;
    std::vector<Value> values_;
    size_t mask_ = 0, size_ = 0;
    int shift_ = 63;  // 64 - log2(capacity)
  };
  int32_t require_id(const std::string& token, const std::string& where) const;
  const int32_t* find_token(std::string_view token) const;  // through token_index_
  void tokenize_piece(std::string_view word, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id
  std::vector<bool> has_token_;      // ids may have holes
  FlatMap<Merge> merges_;
  FlatMap<int32_t> char_ids_;        // code point -> id of the single-character token
  FlatMap<int32_t> token_index_;     // hash of a token -> its id
  bool token_index_complete_ = false;  // false if two tokens share a hash (then vocab_ serves)
  bool split_before_metaspace_ = false;
  std::array<int32_t, 256> byte_ids_{};  // id of <0xXX>, or -1
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix
};

// Ids of words already merged, for one encode call: words by 64-bit hash (checked against the
// stored bytes; a word whose hash is taken by another is simply not cached).
class BpeModel::Cache {
 public:
  // The ids of `word` if cached: (pointer, count), else (nullptr, 0).
  std::pair<const int64_t*, size_t> find(std::string_view word, uint64_t hash) const;
  void insert(std::string_view word, uint64_t hash, const int64_t* ids, size_t count);

 private:
  struct Entry {
    uint32_t text, text_length, ids, ids_length;  // offsets into text_ and ids_
  };
  FlatMap<uint32_t> index_;  // hash -> entry
  std::vector<Entry> entries_;
  std::string text_;
  std::vector<int64_t> ids_;
};

}  // namespace flotilla::tokenizer
