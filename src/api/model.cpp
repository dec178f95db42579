// flotilla/model.h over the loader, the adapters and the text library.
#include "flotilla/model.h"

#include <filesystem>
#include <optional>

#include "api/model_state.h"
#include "core/error.h"
#include "data/training_examples.h"
#include "lora/adapters.h"

using namespace flotilla::lora;
using namespace flotilla::data;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla {

namespace {

nlohmann::ordered_json messages_json(const std::vector<ChatMessage>& messages) {
  auto json = nlohmann::ordered_json::array();
  for (const auto& m : messages) json.push_back({{"role", m.role}, {"content", m.content}});
  return json;
}

}  // namespace

Model Model::load(const std::string& dir, const ModelLoadSettings& settings) {
  LoadOptions options;
  if (!settings.dtype.empty()) options.dtype = parse_dtype(settings.dtype);
  options.device = parse_device(settings.device);
  Model model;
  model.state_ = std::make_shared<State>();
  auto& state = *model.state_;
  state.loaded = load_model(dir, options);
  state.compute_dtype_line = describe_compute_dtype(options, state.loaded.dtype);
  if (!settings.adapter_path.empty()) load_adapters(state.loaded.model, settings.adapter_path);
  if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) state.tokenizer = Tokenizer::from_dir(dir);
  return model;
}

const std::string& Model::dir() const { return state_->loaded.dir; }
const std::string& Model::compute_dtype_line() const { return state_->compute_dtype_line; }
bool Model::has_tokenizer() const { return state_->tokenizer.has_value(); }

const Tokenizer& Model::tokenizer() const {
  if (!state_->tokenizer) fail("model", "'{}' has no tokenizer.json", dir());
  return *state_->tokenizer;
}

bool Model::has_chat_template(const std::string& chat_template) const {
  return static_cast<bool>(data::conversation_renderer(dir(), chat_template));
}

std::vector<int64_t> Model::encode_chat(const std::vector<ChatMessage>& messages, const std::string& chat_template) const {
  return data::ExampleTokenizer(tokenizer(), data::conversation_renderer(dir(), chat_template)).encode_prompt(messages_json(messages));
}

}  // namespace flotilla
