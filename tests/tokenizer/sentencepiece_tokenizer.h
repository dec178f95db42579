// A SentencePiece tokenizer.model through libsentencepiece: the reference the tokenizer.json
// SentencePiece-style files are checked against, and a tokenizer for models that ship only a .model.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flotilla {

class SentencePieceTokenizer {
 public:
  static SentencePieceTokenizer from_file(const std::string& model_path);

  std::vector<int64_t> encode(const std::string& text, bool add_bos = false, bool add_eos = false) const;
  std::string decode(const std::vector<int64_t>& ids) const;  // throws for ids outside the vocab

  std::optional<int64_t> bos_id() const;
  std::optional<int64_t> eos_id() const;
  int64_t vocab_size() const;
  std::optional<int64_t> token_to_id(const std::string& piece) const;
  std::string id_to_token(int64_t id) const;

 private:
  struct Impl;
  explicit SentencePieceTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace flotilla
