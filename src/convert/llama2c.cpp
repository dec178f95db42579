#include "convert/llama2c.h"

#include <ATen/ops/empty.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "core/atomic_file.h"
#include "convert/rotary_rows.h"
#include "core/error.h"
#include "unicode/utf8.h"

using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla::convert {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

constexpr int64_t kHeaderBytes = 7 * sizeof(int32_t);
constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c export.py --version 1 and later
constexpr int kFirstByteToken = 3;                 // ids 3..258 are the bytes 0x00..0xFF
constexpr int kFirstMergedPiece = kFirstByteToken + 256;
const char* const kSpecialPieces[] = {"<unk>", "<s>", "</s>"};  // llama2.c stores "\n<s>\n", "\n</s>\n"

uint64_t file_size_of(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) fail("llama2c", "cannot read '{}': {}", path, ec.message());
  return size;
}

// One float32 array of the checkpoint, in file order; shape[0] is the layer index when per layer.
struct Segment {
  std::string key;
  std::vector<int64_t> shape;
};

std::vector<Segment> checkpoint_layout(const ModelConfig& c, bool tied) {
  const int64_t L = c.num_hidden_layers, C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t kv = c.num_key_value_heads * c.head_dim;
  std::vector<Segment> layout = {
      {"embed", {V, C}},     {"attn_norm", {L, C}}, {"wq", {L, C, C}},        {"wk", {L, kv, C}},
      {"wv", {L, kv, C}},    {"wo", {L, C, C}},     {"ffn_norm", {L, C}},     {"w1", {L, F, C}},
      {"w2", {L, C, F}},     {"w3", {L, F, C}},     {"norm", {C}},
      {"rope", {2, c.max_position_embeddings, c.head_dim / 2}},  // unused freq_cis tables
  };
  if (!tied) layout.push_back({"classifier", {V, C}});
  return layout;
}

// Checked, so that a corrupt header cannot wrap around to a plausible size.
uint64_t layout_bytes(const std::vector<Segment>& layout, const std::string& path) {
  uint64_t total = kHeaderBytes;
  for (const auto& segment : layout) {
    uint64_t bytes = sizeof(float);
    for (int64_t d : segment.shape) {
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
        fail("llama2c", "'{}': header sizes overflow 64 bits (corrupt header?)", path);
      }
    }
    if (__builtin_add_overflow(total, bytes, &total)) {
      fail("llama2c", "'{}': header sizes overflow 64 bits (corrupt header?)", path);
    }
  }
  return total;
}

ModelConfig config_from_header(const int32_t h[7], const std::string& path) {
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4], vocab = h[5], seq_len = h[6];
  const std::string header = fmt::format("dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab_size {}, seq_len {}",
                                         dim, hidden, layers, heads, kv_heads, vocab, seq_len);
  if (static_cast<uint32_t>(h[0]) == kVersionedMagic) {
    fail("llama2c", "'{}' is a versioned llama2.c export (magic 'ak42'); only the legacy version 0 format "
         "(export.py --version 0) is supported", path);
  }
  if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0 || vocab == 0 || seq_len <= 0) {
    fail("llama2c", "'{}': header ({}) must have positive sizes and a nonzero vocab_size", path, header);
  }
  if (dim % heads != 0 || (dim / heads) % 2 != 0) {
    fail("llama2c", "'{}': header ({}): dim must be n_heads times an even head size", path, header);
  }
  if (heads % kv_heads != 0) {
    fail("llama2c", "'{}': header ({}): n_heads must be a multiple of n_kv_heads", path, header);
  }
  ModelConfig config;
  config.model_type = "llama";
  config.hidden_size = dim;
  config.intermediate_size = hidden;
  config.num_hidden_layers = layers;
  config.num_attention_heads = heads;
  config.num_key_value_heads = kv_heads;
  config.head_dim = dim / heads;
  config.vocab_size = std::abs(vocab);
  config.max_position_embeddings = seq_len;
  config.rms_norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.tie_word_embeddings = vocab > 0;
  config.bos_token_id = 1;
  config.eos_token_ids = {2};
  config.torch_dtype = "float32";
  return config;
}

// Hugging Face pieces: fixed special names, '▁' for the spaces llama2.c stores.
std::vector<std::string> hf_pieces(const Llama2cTokenizer& tokenizer) {
  const auto& raw = tokenizer.pieces;
  if (raw.size() < static_cast<size_t>(kFirstMergedPiece)) {
    fail("llama2c", "tokenizer has {} pieces; need at least {} (3 specials and 256 byte tokens)", raw.size(),
         kFirstMergedPiece);
  }
  std::vector<std::string> pieces(raw.size());
  for (size_t id = 0; id < raw.size(); ++id) {
    if (id < kFirstByteToken) {
      pieces[id] = kSpecialPieces[id];
    } else if (id < kFirstMergedPiece) {
      const std::string expected = fmt::format("<0x{:02X}>", id - kFirstByteToken);
      if (raw[id] != expected) fail("llama2c", "tokenizer piece {} is '{}', expected byte token '{}'", id, raw[id], expected);
      pieces[id] = raw[id];
    } else {
      // tokenizer.json is JSON text; llama2.c's exporter wrote each SentencePiece piece as UTF-8.
      if (!unicode::is_valid(raw[id])) fail("llama2c", "tokenizer piece {} is not valid UTF-8", id);
      for (char ch : raw[id]) pieces[id] += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
    }
  }
  return pieces;
}

// Rank-ordered merges that reproduce llama2.c's "merge the highest-scoring pair" loop: every split
// of every merged piece into two vocabulary pieces, pieces by score descending (ties by id).
ojson merges_json(const std::vector<std::string>& pieces, const std::vector<float>& scores,
                  const std::map<std::string, int64_t>& ids) {
  auto is_merged_piece = [&](const std::string& piece) {
    auto it = ids.find(piece);
    return it != ids.end() && it->second >= kFirstMergedPiece;
  };
  std::vector<int64_t> order(pieces.size() - kFirstMergedPiece);
  std::iota(order.begin(), order.end(), kFirstMergedPiece);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });

  ojson merges = ojson::array();
  for (int64_t id : order) {
    const std::string& piece = pieces[id];
    for (size_t split = 1; split < piece.size(); ++split) {
      if ((static_cast<unsigned char>(piece[split]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      const std::string left = piece.substr(0, split), right = piece.substr(split);
      if (is_merged_piece(left) && is_merged_piece(right)) merges.push_back({left, right});
    }
  }
  return merges;
}

ojson special_token_json(const std::string& content) {
  return {{"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},    {"normalized", false},  {"special", true}};
}

ojson replace_json(const std::string& from, const std::string& to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

}  // namespace

Llama2cCheckpoint read_llama2c_checkpoint(const std::string& path) {
  const uint64_t size = file_size_of(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("llama2c", "cannot open '{}'", path);
  int32_t header[7];
  if (size < kHeaderBytes || !in.read(reinterpret_cast<char*>(header), kHeaderBytes)) {
    fail("llama2c", "'{}' has {} bytes, too few for the {}-byte header", path, size, kHeaderBytes);
  }
  Llama2cCheckpoint checkpoint;
  checkpoint.config = config_from_header(header, path);
  const ModelConfig& c = checkpoint.config;
  const auto layout = checkpoint_layout(c, c.tie_word_embeddings);
  const uint64_t expected = layout_bytes(layout, path);
  if (size != expected) {
    fail("llama2c", "'{}': header (dim {}, n_layers {}, vocab_size {}{}) implies {} bytes but the file has {} ({})",
         path, c.hidden_size, c.num_hidden_layers, c.vocab_size, c.tie_word_embeddings ? "" : " untied", expected,
         size, size < expected ? "truncated" : "trailing bytes; not a legacy llama2.c checkpoint?");
  }

  std::map<std::string, at::Tensor> arrays;
  for (const auto& segment : layout) {
    at::Tensor array = at::empty(segment.shape, at::kFloat);
    if (!in.read(reinterpret_cast<char*>(array.data_ptr<float>()), array.nbytes())) {
      fail("llama2c", "'{}': read failed in '{}' array", path, segment.key);
    }
    arrays[segment.key] = array;
  }

  auto& out = checkpoint.tensors;
  out.emplace_back("model.embed_tokens.weight", arrays["embed"]);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string prefix = fmt::format("model.layers.{}.", l);
    out.emplace_back(prefix + "input_layernorm.weight", arrays["attn_norm"][l]);
    out.emplace_back(prefix + "self_attn.q_proj.weight", interleaved_to_halves(arrays["wq"][l], c.num_attention_heads));
    out.emplace_back(prefix + "self_attn.k_proj.weight", interleaved_to_halves(arrays["wk"][l], c.num_key_value_heads));
    out.emplace_back(prefix + "self_attn.v_proj.weight", arrays["wv"][l]);
    out.emplace_back(prefix + "self_attn.o_proj.weight", arrays["wo"][l]);
    out.emplace_back(prefix + "post_attention_layernorm.weight", arrays["ffn_norm"][l]);
    out.emplace_back(prefix + "mlp.gate_proj.weight", arrays["w1"][l]);
    out.emplace_back(prefix + "mlp.down_proj.weight", arrays["w2"][l]);
    out.emplace_back(prefix + "mlp.up_proj.weight", arrays["w3"][l]);
  }
  out.emplace_back("model.norm.weight", arrays["norm"]);
  if (!c.tie_word_embeddings) out.emplace_back("lm_head.weight", arrays["classifier"]);
  return checkpoint;
}

Llama2cTokenizer read_llama2c_tokenizer(const std::string& path, int64_t vocab_size) {
  const uint64_t size = file_size_of(path);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes(size);
  if (!in || !in.read(bytes.data(), static_cast<std::streamsize>(size))) fail("llama2c", "cannot read '{}'", path);

  uint64_t offset = 0;
  auto need = [&](uint64_t n, const char* what, int64_t id) {
    if (size - offset < n) {
      fail("llama2c", "'{}' is truncated: {} of token {} needs {} bytes at offset {} but the file has {} bytes",
           path, what, id, n, offset, size);
    }
  };
  auto take = [&](void* dst, uint64_t n, const char* what, int64_t id) {
    need(n, what, id);
    std::memcpy(dst, bytes.data() + offset, n);
    offset += n;
  };
  Llama2cTokenizer tokenizer;
  take(&tokenizer.max_token_length, sizeof(int32_t), "max_token_length before", 0);
  if (tokenizer.max_token_length <= 0) {
    fail("llama2c", "'{}': max_token_length is {}, must be positive", path, tokenizer.max_token_length);
  }
  for (int64_t id = 0; id < vocab_size; ++id) {
    float score = 0.f;
    int32_t length = 0;
    take(&score, sizeof(float), "the score", id);
    take(&length, sizeof(int32_t), "the length", id);
    if (length < 0) fail("llama2c", "'{}': token {} at offset {} has negative length {}", path, id, offset - 4, length);
    need(static_cast<uint64_t>(length), "the bytes", id);  // before allocating what a corrupt length asks for
    std::string piece(static_cast<size_t>(length), '\0');
    take(piece.data(), piece.size(), "the bytes", id);
    tokenizer.pieces.push_back(std::move(piece));
    tokenizer.scores.push_back(score);
  }
  if (offset != size) {
    fail("llama2c", "'{}' has {} bytes after token {} at offset {}: it holds more tokens than the checkpoint's "
         "vocab_size {}", path, size - offset, vocab_size - 1, offset, vocab_size);
  }
  return tokenizer;
}

ojson llama2c_tokenizer_json(const Llama2cTokenizer& tokenizer) {
  const auto pieces = hf_pieces(tokenizer);
  std::map<std::string, int64_t> ids;
  ojson vocab = ojson::object();
  for (size_t id = 0; id < pieces.size(); ++id) {
    auto [it, fresh] = ids.emplace(pieces[id], id);
    if (!fresh) fail("llama2c", "tokenizer pieces {} and {} are both '{}'", it->second, id, pieces[id]);
    // Appended directly: ordered_json's own insert searches linearly, quadratic for a 32k vocab.
    vocab.get_ref<ojson::object_t&>().emplace_back(pieces[id], id);
  }
  ojson added = ojson::array();
  for (int id = 0; id < kFirstByteToken; ++id) {
    ojson token = {{"id", id}};
    token.update(special_token_json(kSpecialPieces[id]));
    added.push_back(token);
  }
  const std::string space = "\xe2\x96\x81";  // '▁'
  auto template_item = [](const char* kind, const char* id, int type_id) {
    return ojson{{kind, {{"id", id}, {"type_id", type_id}}}};
  };

  ojson json;
  json["version"] = "1.0";
  json["truncation"] = nullptr;
  json["padding"] = nullptr;
  json["added_tokens"] = added;
  json["normalizer"] = {{"type", "Sequence"},
                        {"normalizers", {{{"type", "Prepend"}, {"prepend", space}}, replace_json(" ", space)}}};
  json["pre_tokenizer"] = nullptr;
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {template_item("SpecialToken", "<s>", 0), template_item("Sequence", "A", 0)}},
      {"pair",
       {template_item("SpecialToken", "<s>", 0), template_item("Sequence", "A", 0),
        template_item("SpecialToken", "<s>", 1), template_item("Sequence", "B", 1)}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  json["decoder"] = {{"type", "Sequence"},
                     {"decoders",
                      {replace_json(space, " "),
                       {{"type", "ByteFallback"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  json["model"] = {{"type", "BPE"},
                   {"dropout", nullptr},
                   {"unk_token", "<unk>"},
                   {"continuing_subword_prefix", nullptr},
                   {"end_of_word_suffix", nullptr},
                   {"fuse_unk", true},
                   {"byte_fallback", true},
                   {"ignore_merges", false},
                   {"vocab", vocab},
                   {"merges", merges_json(pieces, tokenizer.scores, ids)}};
  return json;
}

ojson llama2c_tokenizer_config_json(int64_t model_max_length) {
  ojson decoder = ojson::object();
  for (int id = 0; id < kFirstByteToken; ++id) decoder[std::to_string(id)] = special_token_json(kSpecialPieces[id]);
  // llama2.c models have no chat format; this minimal one lets chat-format data train and prompt them
  // ("user: ...\nassistant: ...</s>"), and --ignore-chat-template still continues plain text.
  const char* chat_template =
      "{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}"
      "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
      "{% if add_generation_prompt %}assistant: {% endif %}";
  return {{"add_bos_token", true},
          {"add_eos_token", false},
          {"added_tokens_decoder", decoder},
          {"bos_token", "<s>"},
          {"chat_template", chat_template},
          {"clean_up_tokenization_spaces", false},
          {"eos_token", "</s>"},
          {"legacy", false},
          {"model_max_length", model_max_length},
          {"tokenizer_class", "LlamaTokenizer"},
          {"unk_token", "<unk>"}};
}

}  // namespace flotilla::convert

// The public entry point (include/flotilla/convert.h).
namespace flotilla {

void convert_llama2c(const std::string& checkpoint, const std::string& tokenizer, const std::string& out_dir) {
  namespace fs = std::filesystem;
  const fs::path out = fs::weakly_canonical(out_dir);
  for (const auto& input : {checkpoint, tokenizer}) {
    if (fs::weakly_canonical(input).parent_path() == out) {
      fail("convert", "output folder '{}' holds the input '{}'; choose a new folder", out_dir, input);
    }
  }
  // Read and validate everything first, so bad inputs leave no partial output behind.
  const convert::Llama2cCheckpoint model = convert::read_llama2c_checkpoint(checkpoint);
  const convert::Llama2cTokenizer vocab = convert::read_llama2c_tokenizer(tokenizer, model.config.vocab_size);
  const std::string tokenizer_json = convert::llama2c_tokenizer_json(vocab).dump(2) + "\n";

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail("convert", "cannot create output folder '{}': {}", out_dir, ec.message());
  write_text_atomically((out / "config.json").string(), model.config.to_json().dump(2) + "\n");
  save_safetensors((out / "model.safetensors").string(), model.tensors, {{"format", "pt"}});
  write_text_atomically((out / "tokenizer.json").string(), tokenizer_json);
  write_text_atomically((out / "tokenizer_config.json").string(),
                        convert::llama2c_tokenizer_config_json(model.config.max_position_embeddings).dump(2) + "\n");
}

}  // namespace flotilla
