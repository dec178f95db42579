#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <queue>

#include "tokenizer/json_util.h"
#include "tokenizer/utf8.h"

namespace flotilla {

namespace {

// An optional string field: null and "" both mean none.
std::string optional_string(const nlohmann::json& object, const char* key, const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) fail("tokenizer", "{}: expected a string or null, got {}", tokjson::child(path, key),
                             it->type_name());
  return it->get<std::string>();
}

}  // namespace

int32_t BpeModel::require_id(const std::string& token, const std::string& where) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) fail("tokenizer", "{}: token {:?} is not in model.vocab", where, token);
  return it->second;
}

BpeModel BpeModel::from_json(const nlohmann::json& model, const std::string& path) {
  using namespace tokjson;
  BpeModel bpe;
  const Json& vocab = field(model, "vocab", path);
  if (!vocab.is_object()) fail("tokenizer", "{}: expected an object of token -> id", child(path, "vocab"));
  bpe.vocab_.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() > INT32_MAX) {
      fail("tokenizer", "{}: id of {:?} must be an integer in [0, 2^31), got {}", child(path, "vocab"), token,
           id_json.dump());
    }
    const auto id = static_cast<int32_t>(id_json.get<int64_t>());
    bpe.vocab_[token] = id;
    if (static_cast<size_t>(id) >= bpe.tokens_.size()) {
      bpe.tokens_.resize(id + 1);
      bpe.has_token_.resize(id + 1, false);
    }
    bpe.tokens_[id] = token;
    bpe.has_token_[id] = true;
  }

  bpe.prefix_ = optional_string(model, "continuing_subword_prefix", path);
  bpe.suffix_ = optional_string(model, "end_of_word_suffix", path);
  bpe.fuse_unk_ = bool_field(model, "fuse_unk", path, false);
  bpe.byte_fallback_ = bool_field(model, "byte_fallback", path, false);
  bpe.ignore_merges_ = bool_field(model, "ignore_merges", path, false);
  if (const auto it = model.find("dropout"); it != model.end() && it->is_number() && it->get<double>() > 0.0) {
    fail("tokenizer", "{}: BPE dropout {} is not supported (training-time randomness)", child(path, "dropout"),
         it->dump());
  }
  const std::string unk = optional_string(model, "unk_token", path);
  if (!unk.empty()) bpe.unk_id_ = bpe.require_id(unk, child(path, "unk_token"));
  for (int byte = 0; byte < 256; ++byte) {
    const auto it = bpe.vocab_.find(fmt::format("<0x{:02X}>", byte));
    bpe.byte_ids_[byte] = it == bpe.vocab_.end() ? -1 : it->second;
  }

  // Merges come as "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
  const Json& merges = array_field(model, "merges", path);
  const std::string merges_path = child(path, "merges");
  bpe.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) {
        fail("tokenizer", "{}: merge {:?} is not two tokens separated by a space", item(merges_path, rank), text);
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      fail("tokenizer", "{}: expected \"a b\" or [\"a\", \"b\"], got {}", item(merges_path, rank), merge.dump());
    }
    const std::string where = item(merges_path, rank);
    const int32_t left_id = bpe.require_id(left, where);
    const int32_t right_id = bpe.require_id(right, where);
    // A continuing right part loses its prefix inside the merged token ("##b" + "##c" -> "##bc").
    const bool continuing = !bpe.prefix_.empty() && right.compare(0, bpe.prefix_.size(), bpe.prefix_) == 0;
    const int32_t merged_id = bpe.require_id(left + right.substr(continuing ? bpe.prefix_.size() : 0), where);
    // A repeated pair keeps its last rank, as a Rust HashMap collected from the list does.
    bpe.merges_[pair_key(left_id, right_id)] = {static_cast<int32_t>(rank), merged_id};
  }
  return bpe;
}

std::optional<int64_t> BpeModel::token_to_id(const std::string& token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(tokens_.size()) || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t length;  // bytes covered; 0 once merged into the symbol on its left
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](int32_t id, size_t length) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, static_cast<int32_t>(length)});
  };

  // Characters to initial symbols, as tokenizers' BPE::merge_word (including where a pending unk is flushed).
  int32_t pending_unk = -1;  // an unk symbol not yet added (fuse_unk grows it)
  size_t pending_length = 0;
  std::string piece;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = utf8::char_length(word, pos);
    const bool first = pos == 0;
    const bool last = pos + length >= word.size();
    piece.clear();
    if (!first) piece += prefix_;
    piece.append(word.substr(pos, length));
    if (last) piece += suffix_;
    const std::string_view bytes = word.substr(pos, length);
    pos += length;

    if (const auto it = vocab_.find(piece); it != vocab_.end()) {
      if (pending_unk >= 0) {
        add(pending_unk, pending_length);
        pending_unk = -1;
      }
      add(it->second, length);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (const char c : piece) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (const char c : piece) add(byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && fuse_unk_) {
        pending_length += bytes.size();
      } else {
        if (pending_unk >= 0) add(pending_unk, pending_length);
        pending_unk = *unk_id_;
        pending_length = bytes.size();
      }
    }
    // Without an unk token an unknown character is dropped, as in tokenizers.
  }
  if (pending_unk >= 0) add(pending_unk, pending_length);

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t id;
    bool operator<(const Candidate& other) const {  // std::priority_queue pops the largest
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::vector<Candidate> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(storage));
  const auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.length == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // Stale entry: one side has merged since this candidate was queued.
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.id != top.id) continue;

    left.id = top.id;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }

  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace flotilla
