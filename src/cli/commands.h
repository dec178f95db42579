// Each subcommand registers its flags and its action on the root app; main() runs the chosen one.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace flotilla::distributed {
class Group;
}

namespace flotilla::cli {

using Action = std::function<void()>;

// Adds the subcommand; sets `action` when it is the one selected on the command line.
void add_convert_command(CLI::App& app, Action& action);
void add_generate_command(CLI::App& app, Action& action);
void add_logreg_command(CLI::App& app, Action& action);
void add_prepare_command(CLI::App& app, Action& action);
void add_plot_command(CLI::App& app, Action& action);
void add_train_command(CLI::App& app, Action& action);
void add_fuse_command(CLI::App& app, Action& action);
void add_export_adapter_command(CLI::App& app, Action& action);
void add_cache_prompt_command(CLI::App& app, Action& action);
void add_pirate_command(CLI::App& app, Action& action);
void add_tokenize_command(CLI::App& app, Action& action);

// --threads: 0 means one per core. Applied before any work starts.
void apply_thread_count(int threads);

// Runs `work`; under several ranks an error on this one is printed with its rank and ends every
// rank (exit code 1), instead of leaving the others waiting in their next sum.
void run_on_every_rank(distributed::Group& group, const std::function<void()>& work);

}  // namespace flotilla::cli
