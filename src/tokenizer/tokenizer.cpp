#include "flotilla/tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_util.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "unicode/utf8.h"

// The public Tokenizer (namespace flotilla) over the components of tokenizer/.
using namespace flotilla::tokenizer;

namespace flotilla {

namespace detail {

struct TokenizerImpl {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  PostProcessor post_processor;
  Decoder decoder;
  AddedVocabulary added;
  std::optional<int64_t> bos, pad;
  std::vector<int64_t> eos;
  int64_t vocab_size = 0;

  std::vector<int64_t> encode(const std::string& input) const;
  // A piece between raw-text added tokens: normalize, cut out normalized added tokens, tokenize the rest.
  void encode_piece(std::string_view raw, bool at_start, std::vector<int64_t>& ids, BpeModel::Cache& cache) const;
  void encode_words(std::string_view text, bool at_start, std::vector<int64_t>& ids, BpeModel::Cache& cache) const;
  std::optional<int64_t> token_to_id(const std::string& token) const;
};

std::vector<int64_t> TokenizerImpl::encode(const std::string& input) const {
  const std::string text = unicode::sanitize(input);
  std::vector<int64_t> ids;
  BpeModel::Cache cache;  // per call: encoding keeps no state shared between threads
  size_t last = 0;
  for (const auto& match : added.find(text, /*normalized=*/false)) {
    if (match.begin > last) encode_piece(std::string_view(text).substr(last, match.begin - last), last == 0, ids, cache);
    ids.push_back(match.id);
    last = match.end;
  }
  if (last < text.size()) encode_piece(std::string_view(text).substr(last), last == 0, ids, cache);
  return ids;
}

void TokenizerImpl::encode_piece(std::string_view raw, bool at_start, std::vector<int64_t>& ids,
                                 BpeModel::Cache& cache) const {
  const std::string text = normalizer.apply(std::string(raw));
  size_t last = 0;
  for (const auto& match : added.find(text, /*normalized=*/true)) {
    if (match.begin > last) {
      encode_words(std::string_view(text).substr(last, match.begin - last), at_start && last == 0, ids, cache);
    }
    ids.push_back(match.id);
    last = match.end;
  }
  if (last < text.size()) encode_words(std::string_view(text).substr(last), at_start && last == 0, ids, cache);
}

void TokenizerImpl::encode_words(std::string_view text, bool at_start, std::vector<int64_t>& ids,
                                 BpeModel::Cache& cache) const {
  for (const Word& word : pre_tokenizer.apply({{std::string(text), at_start}})) model.tokenize(word.text, ids, cache);
}

std::optional<int64_t> TokenizerImpl::token_to_id(const std::string& token) const {
  if (const AddedToken* added_token = added.by_content(token)) return added_token->id;
  return model.token_to_id(token);
}

}  // namespace detail

namespace {

using detail::TokenizerImpl;
using Json = nlohmann::json;

Json parse_json(const std::string& text, const char* what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& error) {  // parse_error, or out_of_range for a number like 1e999
    fail("tokenizer", "{} is not valid JSON: {}", what, error.what());
  }
}

// A special token in tokenizer_config.json: "<s>", {"content": "<s>", ...} or null.
std::optional<std::string> config_token(const Json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && it->at("content").is_string()) {
    return it->at("content").get<std::string>();
  }
  fail("tokenizer", "tokenizer_config.json: {} must be a string, {{\"content\": ...}} or null, got {}", key, it->dump());
}

std::optional<int64_t> config_token_id(const TokenizerImpl& impl, const Json& config, const char* key) {
  const auto token = config_token(config, key);
  if (!token) return std::nullopt;
  const auto id = impl.token_to_id(*token);
  if (!id) fail("tokenizer", "tokenizer_config.json: {} {:?} is not in the vocabulary", key, *token);
  return id;
}

std::optional<bool> config_flag(const Json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail("tokenizer", "tokenizer_config.json: {} must be a boolean, got {}", key, it->dump());
  return it->get<bool>();
}

// add_bos_token / add_eos_token override the template when they disagree with it.
void apply_config_flags(TokenizerImpl& impl, const Json& config) {
  const auto add_bos = config_flag(config, "add_bos_token");
  const auto add_eos = config_flag(config, "add_eos_token");
  if (!add_bos && !add_eos) return;
  const std::optional<int64_t> eos = impl.eos.empty() ? std::nullopt : std::optional<int64_t>(impl.eos.front());
  const std::vector<int64_t> probe = impl.post_processor.apply({});
  const bool has_bos = impl.bos && !probe.empty() && probe.front() == *impl.bos;
  const bool has_eos = eos && !probe.empty() && probe.back() == *eos && (!has_bos || probe.size() > 1);
  const bool want_bos = add_bos.value_or(has_bos), want_eos = add_eos.value_or(has_eos);
  if (want_bos == has_bos && want_eos == has_eos) return;
  if (want_bos && !impl.bos) fail("tokenizer", "tokenizer_config.json: add_bos_token is true but there is no bos_token");
  if (want_eos && !eos) fail("tokenizer", "tokenizer_config.json: add_eos_token is true but there is no eos_token");
  impl.post_processor = PostProcessor::around(want_bos ? impl.bos : std::nullopt, want_eos ? eos : std::nullopt);
}

std::shared_ptr<const TokenizerImpl> build(const Json& root, const Json* config) {
  using namespace json_util;
  if (!root.is_object()) fail("tokenizer", "tokenizer.json: expected an object at the top level");
  auto impl = std::make_shared<TokenizerImpl>();
  const auto optional = [&](const char* key) -> const Json& {
    static const Json null;
    const auto it = root.find(key);
    return it == root.end() ? null : *it;
  };

  const Json& model = field(root, "model", "");
  const std::string model_type = model.contains("type") ? type_of(model, "model") : "BPE";
  if (model_type != "BPE") unsupported("model", model_type, "model", "BPE");
  impl->model = BpeModel::from_json(model, "model");
  impl->normalizer = Normalizer::from_json(optional("normalizer"), "normalizer");
  impl->pre_tokenizer = PreTokenizer::from_json(optional("pre_tokenizer"), "pre_tokenizer");
  impl->post_processor = PostProcessor::from_json(optional("post_processor"), "post_processor");
  impl->decoder = Decoder::from_json(optional("decoder"), "decoder");
  impl->added = AddedVocabulary(AddedVocabulary::parse(optional("added_tokens"), "added_tokens"), impl->normalizer);

  impl->vocab_size = impl->model.max_id() + 1;
  for (const AddedToken& token : impl->added.tokens()) impl->vocab_size = std::max(impl->vocab_size, token.id + 1);

  if (config != nullptr) {
    if (!config->is_object()) fail("tokenizer", "tokenizer_config.json: expected an object at the top level");
    impl->bos = config_token_id(*impl, *config, "bos_token");
    impl->pad = config_token_id(*impl, *config, "pad_token");
    if (const auto eos = config_token_id(*impl, *config, "eos_token")) impl->eos.push_back(*eos);
    apply_config_flags(*impl, *config);
  }
  return impl;
}

}  // namespace

Tokenizer Tokenizer::from_json_text(const std::string& tokenizer_json, const std::string& tokenizer_config_json) {
  const Json root = parse_json(tokenizer_json, "tokenizer.json");
  if (tokenizer_config_json.empty()) return Tokenizer(build(root, nullptr));
  const Json config = parse_json(tokenizer_config_json, "tokenizer_config.json");
  return Tokenizer(build(root, &config));
}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json, const std::string& tokenizer_config_json) {
  const std::string text = read_file(tokenizer_json, "tokenizer");
  const std::string config = tokenizer_config_json.empty() ? "" : read_file(tokenizer_config_json, "tokenizer");
  try {
    return from_json_text(text, config);
  } catch (const Error& error) {
    // Name the file: the component paths alone do not say which tokenizer was being read.
    throw Error(std::string(error.what()) + " (in '" + tokenizer_json + "')");
  }
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const std::filesystem::path root(dir);
  const std::filesystem::path json = root / "tokenizer.json";
  if (!std::filesystem::is_regular_file(json)) fail("tokenizer", "no tokenizer.json in '{}'", dir);
  const std::filesystem::path config = root / "tokenizer_config.json";
  return from_file(json.string(), std::filesystem::is_regular_file(config) ? config.string() : "");
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int64_t> ids = impl_->encode(text);
  return add_special_tokens ? impl_->post_processor.apply(ids) : ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int64_t id : ids) {
    if (const AddedToken* added = impl_->added.by_id(id)) {
      if (!skip_special_tokens || !added->special) tokens.push_back(added->content);
    } else if (const std::string* token = impl_->model.id_to_token(id)) {
      if (!skip_special_tokens || !impl_->added.is_special(*token)) tokens.push_back(*token);
    }
  }
  return impl_->decoder.decode(std::move(tokens));
}

std::optional<int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::vector<int64_t> Tokenizer::eos_ids() const { return impl_->eos; }
std::optional<int64_t> Tokenizer::pad_id() const { return impl_->pad; }
int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const { return impl_->token_to_id(token); }

std::string Tokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* added = impl_->added.by_id(id)) return added->content;
  if (const std::string* token = impl_->model.id_to_token(id)) return *token;
  fail("tokenizer", "id {} has no token (vocab size {})", id, impl_->vocab_size);
}

bool Tokenizer::is_special(int64_t id) const {
  const AddedToken* added = impl_->added.by_id(id);
  return added != nullptr && added->special;
}

}  // namespace flotilla
