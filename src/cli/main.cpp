// flotilla: the command-line front end. Library errors become a message and exit code 1.
#include <ATen/Parallel.h>

#include <iostream>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "core/blas_kernels.h"
#include "core/memory.h"
#include "core/error.h"
#include "distributed/group.h"

using namespace flotilla::distributed;

namespace flotilla::cli {

void apply_thread_count(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads > 0 ? threads : cores);
}

void run_on_every_rank(Group& group, const std::function<void()>& work) {
  if (group.size() == 1) return work();
  try {
    work();
  } catch (const std::exception& e) {
    // One write, so mpirun's abort banner cannot land inside the message.
    const std::string message = "error on rank " + std::to_string(group.rank()) + " of " +
                                std::to_string(group.size()) + ": " + e.what() + "\nerror: ending every rank\n";
    std::cerr << message << std::flush;
    group.abort(1);
  }
}

}  // namespace flotilla::cli

int main(int argc, char** argv) {
  flotilla::use_native_blas_kernels(argv);
  flotilla::keep_freed_memory_for_reuse();
  CLI::App app{"Flotilla: fine-tune and run Llama-family models with LoRA, on one machine or many"};
  app.require_subcommand(1);
  flotilla::cli::Action action;
  flotilla::cli::add_convert_command(app, action);
  flotilla::cli::add_generate_command(app, action);
  flotilla::cli::add_cache_prompt_command(app, action);
  flotilla::cli::add_logreg_command(app, action);
  flotilla::cli::add_prepare_command(app, action);
  flotilla::cli::add_plot_command(app, action);
  flotilla::cli::add_train_command(app, action);
  flotilla::cli::add_fuse_command(app, action);
  flotilla::cli::add_export_adapter_command(app, action);
  flotilla::cli::add_pirate_command(app, action);
  flotilla::cli::add_tokenize_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    action();
  } catch (const flotilla::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
