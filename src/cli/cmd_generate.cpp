// flotilla generate: stream a completion from a model folder, then print mlx-lm's stats lines.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "flotilla/generate.h"
#include "flotilla/model.h"

namespace flotilla::cli {

namespace {

struct GenerateFlags {
  std::string model;
  std::string adapter_path;
  std::string prompt;
  std::string system_prompt;
  std::string prompt_ids;
  bool ignore_chat_template = false;
  std::string chat_template;
  std::vector<std::string> extra_eos;  // ids or token strings
  int64_t max_tokens = 100;
  int64_t max_kv_size = 0;
  std::string draft_model;
  int64_t num_draft_tokens = 3;
  std::string prompt_cache_file;
  std::string saving_cache_to;  // cache-prompt: the file being written, not one to continue
  SamplingParams sampling;
  std::string dtype;  // empty: the model's torch_dtype
  std::string device = "auto";
  int threads = 0;
  bool no_cache = false;
};

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("generate", "--prompt-ids: '{}' is not an integer; expected comma-separated ids like 1,403,407", item);
    }
  }
  return ids;
}

// --chat-template: a file's contents when the value names a file, else the template source itself.
std::string chat_template_override(const std::string& value) {
  if (value.empty() || !std::filesystem::is_regular_file(value)) return value;
  return read_file(value, "generate");
}

// As mlx-lm's add_eos_token: an integer is an id, anything else a token of the vocabulary.
std::vector<int64_t> extra_stop_tokens(const std::vector<std::string>& values, const Model& model) {
  std::vector<int64_t> ids;
  for (const auto& value : values) {
    char* end = nullptr;
    errno = 0;
    const long long id = std::strtoll(value.c_str(), &end, 10);
    if (!value.empty() && *end == '\0' && errno == 0) {
      ids.push_back(id);
    } else if (const auto token = model.has_tokenizer() ? model.tokenizer().token_to_id(value) : std::nullopt) {
      ids.push_back(*token);
    } else {
      fail("generate", "--extra-eos-token '{}' is neither a token id nor a token of this tokenizer", value);
    }
  }
  return ids;
}

// --prompt-ids; else --prompt through the chat template, or as it is (with BOS) without one. A
// prompt continuing a prompt cache is plain text without BOS.
std::vector<int64_t> encode_prompt(const GenerateFlags& f, const Model& model) {
  std::vector<int64_t> prompt;
  const std::string chat_template = chat_template_override(f.chat_template);
  if (!f.prompt_ids.empty()) {
    prompt = parse_ids(f.prompt_ids);
  } else if (model.has_tokenizer() && !f.prompt_cache_file.empty() && f.prompt_cache_file != f.saving_cache_to) {
    prompt = model.tokenizer().encode(f.prompt, /*add_special_tokens=*/false);
  } else if (model.has_tokenizer() && !f.ignore_chat_template && !f.prompt.empty() && model.has_chat_template(chat_template)) {
    std::vector<ChatMessage> messages;
    if (!f.system_prompt.empty()) messages.push_back({"system", f.system_prompt});
    messages.push_back({"user", f.prompt});
    prompt = model.encode_chat(messages, chat_template);
  } else if (model.has_tokenizer()) {
    prompt = model.tokenizer().encode(f.prompt, /*add_special_tokens=*/true);
  } else if (!f.prompt.empty()) {
    fail("generate", "'{}' has no tokenizer.json to encode --prompt; pass --prompt-ids instead", f.model);
  }
  return prompt;
}

void run_generate(GenerateFlags f) {
  if (f.prompt == "-") {  // mlx-lm: read the prompt from standard input
    std::ostringstream text;
    text << std::cin.rdbuf();
    f.prompt = text.str();
  }
  apply_thread_count(f.threads);
  const auto model = Model::load(f.model, {f.dtype, f.device, f.adapter_path});
  std::cerr << model.compute_dtype_line() << "\n";
  const auto prompt = encode_prompt(f, model);

  GenerateSettings settings;
  settings.max_tokens = f.max_tokens;
  settings.sampling = f.sampling;
  settings.extra_stop_tokens = extra_stop_tokens(f.extra_eos, model);
  settings.use_kv_cache = !f.no_cache;
  settings.max_kv_size = f.max_kv_size;
  std::optional<Model> draft;
  if (!f.draft_model.empty()) draft.emplace(Model::load(f.draft_model, {f.dtype, f.device, ""}));
  settings.draft_model = draft ? &*draft : nullptr;
  settings.num_draft_tokens = f.num_draft_tokens;
  settings.prompt_cache_file = f.prompt_cache_file;
  std::cout << "==========\n";
  const bool has_text = model.has_tokenizer();
  auto result = generate(model, prompt, settings, [&](int64_t token, const std::string& text) {
    std::cout << (has_text ? text : " " + std::to_string(token)) << std::flush;
  });
  std::cout << "\n==========\n" << result.stats;
}

// The options both commands load a model and read a prompt with.
void add_model_and_prompt_options(CLI::App* cmd, GenerateFlags& f, const std::string& prompt_help) {
  cmd->add_option("--model", f.model, "model folder (config.json, *.safetensors, tokenizer.json)")->required();
  cmd->add_option("--adapter-path", f.adapter_path, "folder with adapters.safetensors and adapter_config.json");
  cmd->add_option("--prompt,-p", f.prompt, prompt_help);
  cmd->add_option("--prompt-ids", f.prompt_ids, "prompt as comma-separated token ids, instead of text");
  cmd->add_option("--dtype", f.dtype, "compute dtype: float32 or bfloat16 (default: the model's torch_dtype)");
  cmd->add_option("--device", f.device, "auto (MPS on Apple Silicon when libtorch has it, else cpu), cpu, cuda, cuda:N or mps");
  cmd->add_option("--threads", f.threads, "intra-op threads (0: one per core)");
}

}  // namespace

void add_cache_prompt_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<GenerateFlags>();
  auto* cmd = app.add_subcommand("cache-prompt", "Prefill a prompt and save its KV cache for generate --prompt-cache-file");
  add_model_and_prompt_options(cmd, *f, "prompt text, encoded as it is with BOS (no chat template)");
  cmd->add_option("--prompt-cache-file", f->prompt_cache_file, "the file to write")->required();
  cmd->callback([f, &action] {
    action = [f] {
      apply_thread_count(f->threads);
      const auto model = Model::load(f->model, {f->dtype, f->device, f->adapter_path});
      f->ignore_chat_template = true;
      f->saving_cache_to = f->prompt_cache_file;
      const auto prompt = encode_prompt(*f, model);
      cache_prompt(model, prompt, f->prompt_cache_file);
      std::cout << "Prompt of " << prompt.size() << " tokens cached in " << f->prompt_cache_file << "\n";
    };
  });
}

void add_generate_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<GenerateFlags>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a model folder");
  add_model_and_prompt_options(cmd, *f, "prompt text, or - to read it from standard input (default: just the BOS token)");
  cmd->add_option("--system-prompt", f->system_prompt, "system message put before the prompt in the chat template");
  auto* ignore_template =
      cmd->add_flag("--ignore-chat-template", f->ignore_chat_template, "encode the prompt as it is, without the chat template");
  cmd->add_option("--chat-template", f->chat_template, "chat template to use instead of the model's: a file or Jinja source")
      ->excludes(ignore_template);
  cmd->add_option("--extra-eos-token", f->extra_eos, "more tokens that end generation: ids or token strings");
  cmd->add_option("--max-tokens,-m", f->max_tokens, "maximum number of tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--max-kv-size", f->max_kv_size,
                  "a rotating KV cache of this many tokens, keeping the first 4 (bounded memory for long chats)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--prompt-cache-file", f->prompt_cache_file,
                  "a prompt `flotilla cache-prompt` prefilled: --prompt continues it, as plain text (no BOS, no template)");
  cmd->add_option("--draft-model", f->draft_model,
                  "a smaller model with the same tokenizer for speculative decoding (same output, faster)");
  cmd->add_option("--num-draft-tokens", f->num_draft_tokens, "tokens the draft model proposes at a time (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temp", f->sampling.temperature, "sampling temperature; 0 is greedy");
  cmd->add_option("--top-p", f->sampling.top_p, "nucleus sampling: keep the smallest set with this probability");
  cmd->add_option("--min-p", f->sampling.min_p, "drop tokens below min-p times the top probability");
  cmd->add_option("--top-k", f->sampling.top_k, "keep only the k most likely tokens (0: off)");
  cmd->add_option("--seed", f->sampling.seed, "random seed for sampling");
  cmd->add_flag("--no-kv-cache", f->no_cache, "recompute the whole sequence for every token (slow; for checks)");
  cmd->callback([f, &action] { action = [f] { run_generate(*f); }; });
}

}  // namespace flotilla::cli
