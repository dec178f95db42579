#include "tokenizer/added_tokens.h"

#include "tokenizer/json_util.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/regex.h"
#include "unicode/utf8.h"

namespace flotilla::tokenizer {

namespace {

// \w as Rust's regex has it, for single_word tokens.
const Regex& word_char() {
  static const Regex regex("\\w", "added_tokens single_word");
  return regex;
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  const auto match = word_char().find(text.substr(0, unicode::char_length(text, 0)));
  return match.has_value();
}

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t begin = text.size() - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  return word_char().find(text.substr(begin)).has_value();
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t token_index) {
  if (pattern.empty()) return;
  if (token.empty()) token.push_back(-1);
  int32_t node = 0;
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
  for (const char c : pattern) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
    const auto it = edges.find(key);
    if (it != edges.end()) {
      node = it->second;
    } else {
      const auto created = static_cast<int32_t>(token.size());
      token.push_back(-1);
      edges.emplace(key, created);
      node = created;
    }
  }
  // The first token with a given pattern wins, as the first pattern does in AhoCorasick.
  if (token[node] < 0) token[node] = token_index;
}

std::pair<size_t, int32_t> AddedVocabulary::Trie::longest(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  if (token.empty() || !first_byte[static_cast<unsigned char>(text[pos])]) return best;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto it = edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (token[node] >= 0) best = {i + 1 - pos, token[node]};
  }
  return best;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer& normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    by_id_.emplace(token.id, i);
    by_content_.emplace(token.content, i);
    if (token.normalized) {
      normalized_.insert(normalizer.apply(token.content), static_cast<int32_t>(i));
    } else {
      raw_.insert(token.content, static_cast<int32_t>(i));
    }
  }
}

std::vector<AddedToken> AddedVocabulary::parse(const nlohmann::json& added_tokens, const std::string& path) {
  using namespace json_util;
  std::vector<AddedToken> tokens;
  if (added_tokens.is_null()) return tokens;
  if (!added_tokens.is_array()) fail("tokenizer", "{}: expected an array, got {}", path, added_tokens.type_name());
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const Json& entry = added_tokens[i];
    const std::string where = item(path, i);
    AddedToken token;
    token.content = string_field(entry, "content", where);
    token.id = int_field(entry, "id", where);
    if (token.id < 0) fail("tokenizer", "{}.id: negative id {}", where, token.id);
    token.special = bool_field(entry, "special", where, false);
    token.lstrip = bool_field(entry, "lstrip", where, false);
    token.rstrip = bool_field(entry, "rstrip", where, false);
    token.normalized = bool_field(entry, "normalized", where, !token.special);
    token.single_word = bool_field(entry, "single_word", where, false);
    if (token.content.empty()) continue;  // tokenizers ignores empty added tokens
    if (!unicode::is_valid(token.content)) fail("tokenizer", "{}.content: not valid UTF-8", where);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::vector<AddedVocabulary::Match> AddedVocabulary::find(std::string_view text, bool normalized) const {
  const Trie& trie = normalized ? normalized_ : raw_;
  std::vector<Match> matches;
  size_t consumed = 0;  // end of the previous match
  for (size_t pos = 0; pos < text.size();) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {  // the usual case, kept out of longest()
      ++pos;
      continue;
    }
    const auto [length, index] = trie.longest(text, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t begin = pos, end = pos + length;
    if (token.single_word &&
        ((begin > 0 && ends_with_word(text.substr(0, begin))) || (end < text.size() && starts_with_word(text.substr(end))))) {
      // Not a whole word: tokenizers skips this match and resumes after it.
      pos = end;
      continue;
    }
    if (token.lstrip) begin = std::max(unicode::trailing_whitespace_start(text.substr(0, begin)), consumed);
    if (token.rstrip) end += unicode::leading_whitespace_length(text.substr(end));
    matches.push_back({begin, end, token.id});
    consumed = end;
    pos = end;
  }
  return matches;
}

const AddedToken* AddedVocabulary::by_id(int64_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(const std::string& content) const {
  const auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

bool AddedVocabulary::is_special(const std::string& content) const {
  const AddedToken* token = by_content(content);
  return token != nullptr && token->special;
}

}  // namespace flotilla::tokenizer
