// flotilla fuse: base model + adapter -> a standalone model folder (mlx_lm.fuse's flags).
#include <iostream>

#include "cli/commands.h"
#include "flotilla/fuse.h"

namespace flotilla::cli {

void add_fuse_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string model, adapter_path = "adapters", save_path = "fused_model";
    bool dequantize = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("fuse", "Merge a LoRA/DoRA adapter into its base model");
  cmd->add_option("--model", f->model, "base model folder")->required();
  cmd->add_option("--adapter-path", f->adapter_path, "folder with adapters.safetensors and adapter_config.json");
  cmd->add_option("--save-path", f->save_path, "output model folder (default fused_model)");
  cmd->add_flag("--dequantize", f->dequantize, "write dense weights instead of re-quantizing a quantized base");
  cmd->callback([f, &action] {
    action = [f] {
      fuse_model(f->model, f->adapter_path, f->save_path, FuseOptions{f->dequantize});
      std::cout << "Fused model written to " << f->save_path << "\n";
    };
  });
}

}  // namespace flotilla::cli
