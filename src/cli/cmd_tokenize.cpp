// flotilla tokenize: print the token ids (or id and piece per line) of a text or of a conversation
// rendered through the model's chat template, like llama.cpp's llama-tokenize; for debugging data.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "data/training_examples.h"
#include "flotilla/tokenizer.h"

using namespace flotilla::data;

namespace flotilla::cli {

namespace {

struct TokenizeFlags {
  std::string model;
  std::string text;
  std::string file;
  bool pieces = false;
  bool no_special = false;
  bool chat = false;
  bool add_generation_prompt = false;
};

std::string read_input(const TokenizeFlags& f) {
  if (f.file.empty()) return f.text;
  return read_file(f.file, "tokenize");
}

// Control characters, quotes and backslashes escaped so each piece stays on one line; UTF-8 as is.
std::string escape_piece(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::vector<int64_t> encode_chat(const Tokenizer& tokenizer, const TokenizeFlags& f, const std::string& input) {
  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(input);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number like 1e999
    fail("tokenize", "--chat: input is not valid JSON: {}", error.what());
  }
  auto tools = nlohmann::ordered_json();
  if (json.is_object() && json.contains("messages")) {
    tools = json.value("tools", nlohmann::ordered_json());
    json = json["messages"];
  }
  if (!json.is_array()) {
    fail("tokenize", "--chat: expected a JSON array of messages or an object with \"messages\", got {}",
         json.type_name());
  }
  auto renderer = data::conversation_renderer(f.model);
  if (!renderer) {
    fail("tokenize", "--chat: '{}' has no chat template (chat_template.jinja or \"chat_template\" in "
         "tokenizer_config.json)", f.model);
  }
  // The template writes BOS itself; the post-processor would add a second one.
  return tokenizer.encode(renderer(json, f.add_generation_prompt, tools), /*add_special_tokens=*/false);
}

void run_tokenize(const TokenizeFlags& f) {
  if (!std::filesystem::is_regular_file(std::filesystem::path(f.model) / "tokenizer.json")) {
    fail("tokenize", "'{}' has no tokenizer.json; --model takes a model or tokenizer folder", f.model);
  }
  const auto tokenizer = Tokenizer::from_dir(f.model);
  const auto input = read_input(f);
  const auto ids = f.chat ? encode_chat(tokenizer, f, input) : tokenizer.encode(input, /*add_special_tokens=*/!f.no_special);
  if (f.pieces) {
    for (auto id : ids) std::cout << id << "\t'" << escape_piece(tokenizer.id_to_token(id)) << "'\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
}

}  // namespace

void add_tokenize_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<TokenizeFlags>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text or a chat conversation");
  cmd->add_option("--model", f->model, "model or tokenizer folder (tokenizer.json, optional tokenizer_config.json)")
      ->required();
  auto* text = cmd->add_option("text", f->text, "text to tokenize (with --chat: a JSON messages array)");
  auto* file = cmd->add_option("--file,-f", f->file, "read the text (or the --chat JSON) from this file");
  text->excludes(file);
  cmd->add_flag("--pieces", f->pieces, "one line per token: id<TAB>'piece'");
  auto* no_special = cmd->add_flag("--no-special", f->no_special, "encode without the BOS/EOS the tokenizer adds");
  auto* chat = cmd->add_flag("--chat", f->chat, "input is a JSON messages array, rendered through the chat template");
  cmd->add_flag("--add-generation-prompt", f->add_generation_prompt, "with --chat: end with the assistant prompt")
      ->needs(chat);
  no_special->excludes(chat);
  cmd->callback([f, text, file, &action] {
    if (text->count() == 0 && file->count() == 0) throw CLI::RequiredError("TEXT or --file");
    action = [f] { run_tokenize(*f); };
  });
}

}  // namespace flotilla::cli
