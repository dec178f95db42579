// flotilla export-adapter: an mlx-lm / Flotilla adapter folder in another tool's format (PEFT).
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "lora/peft.h"

namespace flotilla::cli {

void add_export_adapter_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string adapter_path = "adapters", format = "peft", output, base_model;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("export-adapter", "Write an adapter folder in Hugging Face PEFT's format");
  cmd->add_option("--adapter-path", f->adapter_path, "folder with adapters.safetensors and adapter_config.json");
  cmd->add_option("--format", f->format, "output format: peft (adapter_model.safetensors + adapter_config.json)");
  cmd->add_option("--output", f->output, "output folder")->required();
  cmd->add_option("--base-model", f->base_model,
                  "base_model_name_or_path to record (default: the model named in adapter_config.json)");
  cmd->callback([f, &action] {
    action = [f] {
      if (f->format != "peft") fail("export-adapter", "--format '{}': the supported format is peft", f->format);
      const auto adapted = lora::export_peft_adapter(f->adapter_path, f->output, f->base_model);
      std::cout << "PEFT adapter (" << adapted << " projections) written to " << f->output << "\n";
    };
  });
}

}  // namespace flotilla::cli
