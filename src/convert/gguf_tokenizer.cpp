#include "convert/gguf_tokenizer.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "flotilla/chat_template.h"
#include "flotilla/tokenizer.h"

using namespace flotilla::convert;

namespace flotilla::convert {

namespace {

using json = nlohmann::json;

// llama_token_type (llama.h).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// The Split regexes of byte-level pre-tokenizers, by llama.cpp's name for them (llama-vocab.cpp).
const std::map<std::string, std::string> kPreTokenizers = {
    {"llama-bpe",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"qwen2",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

// Every pre-tokenizer of a (possibly Sequence) entry, flattened.
std::vector<json> pre_tokenizers(const json& entry) {
  if (!entry.is_object()) return {};
  if (entry.value("type", "") != "Sequence") return {entry};
  std::vector<json> all;
  for (const auto& child : entry.value("pretokenizers", json::array())) {
    auto inner = pre_tokenizers(child);
    all.insert(all.end(), inner.begin(), inner.end());
  }
  return all;
}

struct VocabularyKind {
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // llama.cpp's pre-tokenizer name, gpt2 only
};

VocabularyKind vocabulary_kind(const json& tokenizer, const std::string& file) {
  const std::string type = tokenizer.at("model").value("type", "");
  if (type != "BPE") fail("gguf", "'{}': model type '{}' has no GGUF llama vocabulary; expected BPE", file, type);
  const auto pres = pre_tokenizers(tokenizer.value("pre_tokenizer", json()));
  const auto byte_level = std::find_if(pres.begin(), pres.end(), [](const json& p) { return p.value("type", "") == "ByteLevel"; });
  if (byte_level == pres.end()) return {"llama", ""};  // SentencePiece-style: '▁' for spaces, byte fallback
  std::vector<std::string> patterns;
  for (const auto& p : pres) {
    if (p.value("type", "") == "Split") patterns.push_back(p.at("pattern").value("Regex", p.at("pattern").value("String", "")));
  }
  if (patterns.empty() && byte_level->value("use_regex", true)) return {"gpt2", "gpt-2"};
  for (const auto& [name, regex] : kPreTokenizers) {
    if (patterns.size() == 1 && patterns[0] == regex) return {"gpt2", name};
  }
  std::string names;
  for (const auto& entry : kPreTokenizers) names += entry.first + ", ";
  fail("gguf", "'{}': byte-level pre-tokenizer with split pattern(s) '{}' has no llama.cpp pre-tokenizer name; expected the "
       "patterns of {}or GPT-2's ByteLevel regex", file, fmt::join(patterns, "' '"), names);
}

// SentencePiece merges the pair whose piece scores highest; tokenizer.json keeps the order as merge
// ranks, so a piece scores minus the rank of the first merge that makes it (lowest if none does).
std::vector<float> spm_scores(const json& merges, const std::vector<std::string>& tokens, const std::vector<int32_t>& types) {
  std::map<std::string, size_t> first_rank;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    std::string piece;
    if (m.is_string()) {
      const std::string text = m.get<std::string>();
      const auto space = text.find(' ');
      piece = space == std::string::npos ? text : text.substr(0, space) + text.substr(space + 1);
    } else {
      piece = m.at(0).get<std::string>() + m.at(1).get<std::string>();
    }
    first_rank.emplace(piece, rank);
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (types[id] != kNormal) continue;
    const auto it = first_rank.find(tokens[id]);
    scores[id] = -static_cast<float>(it != first_rank.end() ? it->second : merges.size() + id);
  }
  return scores;
}

std::vector<std::string> bpe_merges(const json& merges) {
  std::vector<std::string> out;
  out.reserve(merges.size());
  for (const auto& m : merges)
    out.push_back(m.is_string() ? m.get<std::string>() : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  return out;
}

void add_tokenizer(GgufWriter& w, const std::filesystem::path& dir, int64_t vocab_size) {
  const auto file = (dir / "tokenizer.json").string();
  const auto tokenizer = json::parse(read_file(file, "gguf"));
  const auto kind = vocabulary_kind(tokenizer, file);
  const bool spm = kind.model == "llama";
  const auto& model = tokenizer.at("model");
  const std::string unk = model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";
  std::vector<std::string> tokens(vocab_size);
  std::vector<int32_t> types(vocab_size, kUnused);
  auto place = [&](const std::string& text, int64_t id, int32_t type) {
    if (id < 0 || id >= vocab_size)
      fail("gguf", "'{}': token '{}' has id {}; the model's vocab_size is {}", file, text, id, vocab_size);
    tokens[id] = text, types[id] = type;
  };
  for (const auto& [text, id] : model.at("vocab").items()) {
    const bool byte = spm && text.size() == 6 && text.rfind("<0x", 0) == 0 && text.back() == '>';
    place(text, id.get<int64_t>(), spm && text == unk ? kUnknown : byte ? kByte : kNormal);
  }
  for (const auto& added : tokenizer.value("added_tokens", json::array())) {
    const std::string text = added.at("content");
    place(text, added.at("id").get<int64_t>(), spm && text == unk ? kUnknown : added.value("special", false) ? kControl : kUserDefined);
  }
  for (int64_t id = 0; id < vocab_size; ++id) {
    if (tokens[id].empty()) tokens[id] = "[PAD" + std::to_string(id) + "]";  // as llama.cpp's converter pads
  }

  w.add_string("tokenizer.ggml.model", kind.model);
  if (!kind.pre.empty()) w.add_string("tokenizer.ggml.pre", kind.pre);
  w.add_strings("tokenizer.ggml.tokens", tokens);
  if (spm) w.add_f32s("tokenizer.ggml.scores", spm_scores(model.at("merges"), tokens, types));
  w.add_i32s("tokenizer.ggml.token_type", types);
  if (!spm) w.add_strings("tokenizer.ggml.merges", bpe_merges(model.at("merges")));

  // Special tokens and what encode adds around a text, as Flotilla's tokenizer applies them.
  const auto flotilla_tokenizer = Tokenizer::from_dir(dir.string());
  const auto bos = flotilla_tokenizer.bos_id();
  const auto eos = flotilla_tokenizer.eos_ids();
  const auto framing = flotilla_tokenizer.encode("", /*add_special_tokens=*/true);
  if (bos) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*bos));
  if (!eos.empty()) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos.front()));
  if (const auto unk_id = spm && !unk.empty() ? flotilla_tokenizer.token_to_id(unk) : std::nullopt)
    w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*unk_id));
  if (const auto pad = flotilla_tokenizer.pad_id()) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*pad));
  w.add_bool("tokenizer.ggml.add_bos_token", bos && !framing.empty() && framing.front() == *bos);
  w.add_bool("tokenizer.ggml.add_eos_token", !eos.empty() && !framing.empty() && framing.back() == eos.front());
  if (const auto chat = ChatTemplate::find_in_model_dir(dir.string())) w.add_string("tokenizer.chat_template", chat->source());
}

}  // namespace

void add_gguf_tokenizer(GgufWriter& writer, const std::filesystem::path& dir, int64_t vocab_size) {
  try {
    add_tokenizer(writer, dir, vocab_size);
  } catch (const nlohmann::json::exception& e) {
    fail("gguf", "tokenizer files in '{}' are not as expected: {}", dir.string(), e.what());
  }
}

}  // namespace flotilla::convert
