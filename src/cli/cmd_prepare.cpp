// flotilla prepare: one JSONL file -> train/valid/test.jsonl for fine-tuning (see data/prepare.h).
#include <iostream>

#include "cli/commands.h"
#include "flotilla/prepare.h"

namespace flotilla::cli {

void add_prepare_command(CLI::App& app, Action& action) {
  struct Flags {
    data::PrepareOptions options;
    std::string format = "auto";
    bool quiet = false;
  };
  auto f = std::make_shared<Flags>();
  auto& o = f->options;
  auto* cmd = app.add_subcommand("prepare", "Validate, deduplicate and split a JSONL dataset into train/valid/test.jsonl");
  cmd->add_option("input", o.input, "JSONL file: Dolly, messages, prompt-completion or text records")->required();
  cmd->add_option("--out", o.out_dir, "output folder")->required();
  cmd->add_option("--valid-fraction", o.valid_fraction, "share of records for valid.jsonl")->capture_default_str();
  cmd->add_option("--test-fraction", o.test_fraction, "share of records for test.jsonl (written when > 0)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "shuffle seed")->capture_default_str();
  cmd->add_option("--format", f->format, "input format, detected from the first record when auto")
      ->check(CLI::IsMember({"auto", "dolly", "messages", "prompt-completion", "text"}))
      ->capture_default_str();
  cmd->add_option("--system-prompt", o.system_prompt, "system message added to Dolly records (default: none)");
  cmd->add_option("--instruction-field", o.fields.instruction, "Dolly instruction key")->capture_default_str();
  cmd->add_option("--context-field", o.fields.context, "Dolly context key")->capture_default_str();
  cmd->add_option("--response-field", o.fields.response, "Dolly response key")->capture_default_str();
  cmd->add_option("--category-field", o.fields.category, "category key, used to stratify the split")->capture_default_str();
  cmd->add_option("--prompt-field", o.fields.prompt, "prompt key")->capture_default_str();
  cmd->add_option("--completion-field", o.fields.completion, "completion key")->capture_default_str();
  cmd->add_option("--text-field", o.fields.text, "text key")->capture_default_str();
  cmd->add_option("--model", o.model_dir, "model folder whose tokenizer measures lengths (drops records over the limit)");
  cmd->add_option("--max-seq-length", o.max_seq_length, "token limit with --model; longer records are dropped, never cut")
      ->capture_default_str();
  cmd->add_flag("--skip-invalid", o.skip_invalid, "count and skip bad records instead of stopping at the first");
  cmd->add_flag("--quiet,-q", f->quiet, "print nothing on success");
  cmd->callback([f, &action] {
    action = [f] {
      f->options.format = data::parse_format(f->format);
      auto report = data::prepare_dataset(f->options);
      if (!f->quiet) std::cout << data::format_report(report, f->options);
    };
  });
}

}  // namespace flotilla::cli
