// Hugging Face tokenizer.json tokenizers: SentencePiece-style BPE (Llama-2, TinyLlama, Mistral)
// and byte-level BPE (Llama-3, Qwen2), reproducing the Rust `tokenizers` library id for id.
//
// encode: added tokens are cut out of the raw text first (longest match), each remaining piece is
// normalized, pre-tokenized and run through the BPE model; add_special_tokens applies the
// post-processor template, rebuilt as [bos] A [eos] where tokenizer_config.json's add_bos_token /
// add_eos_token disagree with it (as transformers' LlamaTokenizerFast does).
// Invalid UTF-8 input: each maximal ill-formed subpart becomes U+FFFD before encoding (what
// Python's decode(errors="replace") gives), then encoded like any other character.
// decode follows tokenizers too: unknown ids are skipped and no clean_up_tokenization_spaces is applied.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flotilla {

namespace detail {
struct TokenizerImpl;
}

class Tokenizer {
 public:
  // dir/tokenizer.json, plus dir/tokenizer_config.json when present.
  static Tokenizer from_dir(const std::string& dir);
  static Tokenizer from_file(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "");
  // The same from JSON text (config may be empty).
  static Tokenizer from_json_text(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "");

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  // From tokenizer_config.json (bos_token / eos_token / pad_token); none without a config.
  std::optional<int64_t> bos_id() const;
  std::vector<int64_t> eos_ids() const;
  std::optional<int64_t> pad_id() const;

  int64_t vocab_size() const;  // max id + 1 over the model vocab and the added tokens
  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;  // throws for an id with no token
  bool is_special(int64_t id) const;          // an added token marked "special"

 private:
  explicit Tokenizer(std::shared_ptr<const detail::TokenizerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::TokenizerImpl> impl_;
};

// Text for generation, one id at a time: push returns the newly completed text, never a partial
// UTF-8 character, and keeps SentencePiece spaces right by decoding each new id together with the
// ones before it. For well-formed output, the concatenation of every push and finish equals
// decode(all ids) (the approach of text-generation-inference's decode_token).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  std::string push(int64_t id);
  std::string finish();  // whatever is still held back (e.g. an incomplete character, as U+FFFD)

 private:
  std::string decode_from(size_t begin) const;
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::vector<int64_t> ids_;
  size_t prefix_ = 0;        // window start: ids before it are already emitted and no longer needed
  size_t read_ = 0;          // ids before it have been emitted
  std::string prefix_text_;  // decode of ids_[prefix_, read_)
  size_t replacement_holds_ = 0;  // pushes in a row held back for a trailing U+FFFD
};

}  // namespace flotilla
