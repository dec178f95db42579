// flotilla convert: llama2.c checkpoint + tokenizer -> Hugging Face model folder.
#include <iostream>

#include "cli/commands.h"
#include "convert/llama2c.h"

using namespace flotilla::convert;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla::cli {

void add_convert_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string checkpoint, tokenizer, out;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("convert", "Convert a llama2.c checkpoint (.bin) and tokenizer to a Hugging Face folder");
  cmd->add_option("--checkpoint", flags->checkpoint, "llama2.c model file, e.g. stories260K.bin")->required()->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", flags->tokenizer, "llama2.c tokenizer file, e.g. tok512.bin")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", flags->out, "output folder (config.json, model.safetensors, tokenizer.json)")->required();
  cmd->callback([flags, &action] {
    action = [flags] {
      convert_llama2c(flags->checkpoint, flags->tokenizer, flags->out);
      std::cout << "Wrote " << flags->out << " (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)\n";
    };
  });
}

}  // namespace flotilla::cli
