// flotilla fuse: base model + adapter -> a standalone model folder (mlx_lm.fuse's flags).
#include <iostream>

#include "cli/commands.h"
#include "flotilla/fuse.h"

namespace flotilla::cli {

void add_fuse_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string model, adapter_path = "adapters", save_path = "fused_model";
    FuseOptions options;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("fuse", "Merge a LoRA/DoRA adapter into its base model");
  cmd->add_option("--model", f->model, "base model folder")->required();
  cmd->add_option("--adapter-path", f->adapter_path, "folder with adapters.safetensors and adapter_config.json");
  cmd->add_option("--save-path", f->save_path, "output model folder (default fused_model)");
  cmd->add_flag("--dequantize", f->options.dequantize, "write dense weights instead of re-quantizing a quantized base");
  cmd->add_flag("--export-gguf", f->options.export_gguf,
                "also write the fused model as a GGUF file for llama.cpp / Ollama (llama architecture)");
  cmd->add_option("--gguf-path", f->options.gguf_path,
                  "GGUF file, relative to --save-path unless absolute (default ggml-model-<type>.gguf)");
  cmd->add_option("--gguf-type", f->options.gguf_type, "GGUF weight type: f16 (default), bf16, q8_0, q4_0 or f32")
      ->check(CLI::IsMember({"f16", "bf16", "q8_0", "q4_0", "f32"}));
  cmd->callback([f, &action] {
    action = [f] {
      const auto result = fuse_model(f->model, f->adapter_path, f->save_path, f->options);
      std::cout << "Fused model written to " << f->save_path << "\n";
      if (!result.gguf_path.empty())
        std::cout << "GGUF (" << f->options.gguf_type << ", " << result.gguf_bytes << " bytes) written to " << result.gguf_path << "\n";
    };
  });
}

}  // namespace flotilla::cli
