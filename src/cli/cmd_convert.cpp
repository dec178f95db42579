// flotilla convert: a llama2.c checkpoint + tokenizer -> a Hugging Face folder, or (mlx_lm.convert's
// flags) a Hugging Face folder -> an MLX folder, optionally quantized.
#include <iostream>

#include "cli/commands.h"
#include "convert/hf_to_mlx.h"
#include "convert/llama2c.h"
#include "core/error.h"

using namespace flotilla::convert;

namespace flotilla::cli {

void add_convert_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string checkpoint, tokenizer, out;
    HfConvertOptions hf;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert a llama2.c checkpoint to a Hugging Face folder, or a Hugging Face folder to MLX (-q quantizes)");
  cmd->add_option("--checkpoint", flags->checkpoint, "llama2.c model file, e.g. stories260K.bin")->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", flags->tokenizer, "llama2.c tokenizer file, e.g. tok512.bin")->check(CLI::ExistingFile);
  cmd->add_option("--out", flags->out, "output folder of a llama2.c conversion");
  cmd->add_option("--hf-path", flags->hf.hf_path, "Hugging Face model folder (config.json, *.safetensors)");
  cmd->add_option("--mlx-path", flags->hf.mlx_path, "output MLX folder (default mlx_model; must not exist)");
  cmd->add_flag("-q,--quantize", flags->hf.quantize, "quantize with MLX's affine rule");
  cmd->add_option("--q-bits", flags->hf.bits, "bits per weight: 2, 4 or 8 (default 4)");
  cmd->add_option("--q-group-size", flags->hf.group_size, "weights per scale and bias: 32, 64 or 128 (default 64)");
  cmd->add_option("--dtype", flags->hf.dtype, "float16, bfloat16 or float32 (default: the config's torch_dtype)");
  cmd->callback([flags, &action] {
    action = [flags] {
      const bool llama2c = !flags->checkpoint.empty() || !flags->tokenizer.empty() || !flags->out.empty();
      if (llama2c == !flags->hf.hf_path.empty())
        fail("convert", "pass either --checkpoint, --tokenizer and --out (llama2.c) or --hf-path (Hugging Face -> MLX)");
      if (!llama2c) {
        std::cout << convert_hf_to_mlx(flags->hf) << "\n";
        return;
      }
      if (flags->checkpoint.empty() || flags->tokenizer.empty() || flags->out.empty())
        fail("convert", "a llama2.c conversion needs --checkpoint, --tokenizer and --out");
      convert_llama2c(flags->checkpoint, flags->tokenizer, flags->out);
      std::cout << "Wrote " << flags->out << " (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)\n";
    };
  });
}

}  // namespace flotilla::cli
