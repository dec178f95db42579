#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <queue>

#include "tokenizer/json_util.h"
#include "unicode/utf8.h"

namespace flotilla::tokenizer {

namespace {

// An optional string field: null and "" both mean none.
std::string optional_string(const nlohmann::json& object, const char* key, const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) fail("tokenizer", "{}: expected a string or null, got {}", json_util::child(path, key),
                             it->type_name());
  return it->get<std::string>();
}

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
// Words up to this many symbols merge by scanning pair ranks; longer ones through a priority queue.
constexpr size_t kScanLimit = 64;
// The cache keeps pieces up to this long, and at most this many of them.
constexpr size_t kCacheMaxBytes = 256;
constexpr size_t kCacheMaxEntries = 1 << 16;
// Symbols kept allocated between words, per thread.
constexpr size_t kScratchKeep = 4096;

// Never ~0, the empty-slot key of FlatMap.
uint64_t hash_bytes(std::string_view text) {
  const uint64_t hash = std::hash<std::string_view>()(text);
  return hash == ~uint64_t{0} ? 0 : hash;
}

}  // namespace

template <typename Value>
void BpeModel::FlatMap<Value>::reserve(size_t count) {
  size_t capacity = 16;
  while (capacity < 2 * count) capacity *= 2;
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, Value{});
  mask_ = capacity - 1;
  shift_ = 64 - __builtin_ctzll(capacity);
  size_ = 0;
}

template <typename Value>
void BpeModel::FlatMap<Value>::set(uint64_t key, Value value) {
  if (2 * (size_ + 1) > keys_.size()) {  // grow: keep the load at most 1/2
    std::vector<uint64_t> keys = std::move(keys_);
    std::vector<Value> values = std::move(values_);
    reserve(size_ + 1);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != kEmpty) set(keys[i], values[i]);
    }
  }
  size_t slot = hash(key);
  while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
  if (keys_[slot] == kEmpty) ++size_;
  keys_[slot] = key;
  values_[slot] = value;
}

std::pair<const int64_t*, size_t> BpeModel::Cache::find(std::string_view word, uint64_t hash) const {
  const uint32_t* index = index_.find(hash);
  if (index == nullptr) return {nullptr, 0};
  const Entry& entry = entries_[*index];
  if (std::string_view(text_).substr(entry.text, entry.text_length) != word) return {nullptr, 0};
  return {ids_.data() + entry.ids, entry.ids_length};
}

void BpeModel::Cache::insert(std::string_view word, uint64_t hash, const int64_t* ids, size_t count) {
  if (word.size() > kCacheMaxBytes || entries_.size() >= kCacheMaxEntries || index_.find(hash) != nullptr) return;
  index_.set(hash, static_cast<uint32_t>(entries_.size()));
  entries_.push_back({static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(word.size()),
                      static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(count)});
  text_.append(word);
  ids_.insert(ids_.end(), ids, ids + count);
}

const int32_t* BpeModel::find_token(std::string_view token) const {
  if (!token_index_complete_) {
    const auto it = vocab_.find(std::string(token));
    return it == vocab_.end() ? nullptr : &it->second;
  }
  const int32_t* id = token_index_.find(hash_bytes(token));
  return id != nullptr && tokens_[*id] == token ? id : nullptr;
}

int32_t BpeModel::require_id(const std::string& token, const std::string& where) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) fail("tokenizer", "{}: token {:?} is not in model.vocab", where, token);
  return it->second;
}

BpeModel BpeModel::from_json(const nlohmann::json& model, const std::string& path) {
  using namespace json_util;
  BpeModel bpe;
  const Json& vocab = field(model, "vocab", path);
  if (!vocab.is_object()) fail("tokenizer", "{}: expected an object of token -> id", child(path, "vocab"));
  bpe.vocab_.reserve(vocab.size());
  // Ids may leave holes, but the table by id must stay near the vocabulary's size (a stray 2e9 would ask for 64 GB).
  const int64_t id_limit = std::min<int64_t>(INT32_MAX, 4 * static_cast<int64_t>(vocab.size()) + 65536);
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() >= id_limit) {
      fail("tokenizer", "{}: id of {:?} must be an integer in [0, {}) for {} entries, got {}", child(path, "vocab"), token,
           id_limit, vocab.size(), id_json.dump());
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
    bpe.merges_.set(pair_key(left_id, right_id), {static_cast<int32_t>(rank), merged_id});
  }

  bpe.char_ids_.reserve(1024);
  bool metaspace_inside = false;
  for (const auto& [token, id] : bpe.vocab_) {
    if (!token.empty() && unicode::char_length(token, 0) == token.size() && unicode::is_valid(token)) {
      size_t pos = 0;
      bpe.char_ids_.set(unicode::next(token, pos), id);
    }
    size_t run = 0;  // skip the leading run of ▁, then look for another
    while (token.compare(run, kMetaspace.size(), kMetaspace) == 0) run += kMetaspace.size();
    metaspace_inside = metaspace_inside || token.find(kMetaspace, run) != std::string::npos;
  }
  bpe.token_index_.reserve(bpe.vocab_.size());
  // find_token checks a hit against tokens_[id], which needs one token per id.
  bpe.token_index_complete_ =
      bpe.vocab_.size() == static_cast<size_t>(std::count(bpe.has_token_.begin(), bpe.has_token_.end(), true));
  for (const auto& [token, id] : bpe.vocab_) {
    if (!bpe.token_index_complete_) break;
    const uint64_t hash = hash_bytes(token);
    if (bpe.token_index_.find(hash) != nullptr) {  // two tokens share a hash: look tokens up in vocab_ instead
      bpe.token_index_complete_ = false;
      break;
    }
    bpe.token_index_.set(hash, id);
  }
  bpe.split_before_metaspace_ = !metaspace_inside && bpe.prefix_.empty() && bpe.suffix_.empty() &&
                                bpe.vocab_.count(std::string(kMetaspace)) > 0;
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

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out, Cache& cache) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const int32_t* id = find_token(word)) {
      out.push_back(*id);
      return;
    }
  }
  const auto piece = [&](std::string_view text) {
    if (text.size() > kCacheMaxBytes) return tokenize_piece(text, out);  // never cached
    const uint64_t hash = hash_bytes(text);
    if (const auto [ids, count] = cache.find(text, hash); ids != nullptr) {
      out.insert(out.end(), ids, ids + count);
      return;
    }
    const size_t first = out.size();
    tokenize_piece(text, out);
    cache.insert(text, hash, out.data() + first, out.size() - first);
  };
  if (!split_before_metaspace_) return piece(word);
  // Pieces start at each run of ▁ that follows another character.
  size_t begin = 0;
  for (size_t pos = word.find(kMetaspace, 1); pos != std::string_view::npos; pos = word.find(kMetaspace, pos + 1)) {
    if (pos >= kMetaspace.size() && word.compare(pos - kMetaspace.size(), kMetaspace.size(), kMetaspace) == 0) continue;
    piece(word.substr(begin, pos - begin));
    begin = pos;
  }
  piece(word.substr(begin));
}

void BpeModel::tokenize_piece(std::string_view word, std::vector<int64_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t length;  // bytes covered; 0 once merged into the symbol on its left
  };
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  const auto add = [&](int32_t id, size_t length) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, static_cast<int32_t>(length)});
  };

  // Characters to initial symbols, as tokenizers' BPE::merge_word (including where a pending unk is flushed).
  const bool plain = prefix_.empty() && suffix_.empty();
  int32_t pending_unk = -1;  // an unk symbol not yet added (fuse_unk grows it)
  size_t pending_length = 0;
  std::string piece;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = unicode::char_length(word, pos);
    const std::string_view bytes = word.substr(pos, length);
    std::optional<int32_t> id;
    if (plain) {
      size_t next = pos;
      if (const int32_t* found = char_ids_.find(unicode::next(word, next))) {
        id = *found;
      } else {
        piece.assign(bytes);
      }
    } else {
      piece.clear();
      if (pos != 0) piece += prefix_;
      piece.append(bytes);
      if (pos + length >= word.size()) piece += suffix_;
      if (const int32_t* found = find_token(piece)) id = *found;
    }
    pos += length;

    if (id) {
      if (pending_unk >= 0) {
        add(pending_unk, pending_length);
        pending_unk = -1;
      }
      add(*id, length);
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
  if (symbols.empty()) return;

  if (symbols.size() <= kScanLimit) {
    // Short words: keep the merge of each adjacent pair and scan for the lowest rank, leftmost first.
    thread_local std::vector<Merge> pair_merge;  // pair_merge[i]: merge of (i, symbols[i].next), rank INT_MAX if none
    pair_merge.resize(symbols.size());
    const auto update = [&](int32_t left) {
      const int32_t right = symbols[left].next;
      const Merge* merge = right < 0 ? nullptr : merges_.find(pair_key(symbols[left].id, symbols[right].id));
      pair_merge[left] = merge != nullptr ? *merge : Merge{INT_MAX, -1};
    };
    for (int32_t i = 0; i < static_cast<int32_t>(symbols.size()); ++i) update(i);
    while (true) {
      int32_t best = -1, best_rank = INT_MAX;
      for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        if (pair_merge[i].rank < best_rank) {
          best_rank = pair_merge[i].rank;
          best = i;
        }
      }
      if (best < 0) break;
      Symbol& left = symbols[best];
      Symbol& right = symbols[left.next];
      left.id = pair_merge[best].id;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[left.next].prev = best;
      update(best);
      if (left.prev >= 0) update(left.prev);
    }
  } else {
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
      if (const Merge* merge = merges_.find(pair_key(symbols[left].id, symbols[right].id))) {
        queue.push({merge->rank, left, merge->id});
      }
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.pos];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      // Stale entry: one side has merged since this candidate was queued.
      const Merge* merge = merges_.find(pair_key(left.id, right.id));
      if (merge == nullptr || merge->id != top.id) continue;

      left.id = top.id;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[left.next].prev = top.pos;
      if (left.prev >= 0) push_pair(left.prev);
      push_pair(top.pos);
    }
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
  if (symbols.capacity() > kScratchKeep) std::vector<Symbol>().swap(symbols);  // a huge word keeps no memory
}

}  // namespace flotilla::tokenizer
