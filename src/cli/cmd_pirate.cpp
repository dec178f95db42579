// flotilla pirate: the demo's data. `data` samples stories from a model and writes them as
// pirate-speech Dolly records; `score` prints pirate markers per word of a text.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "tutorial/pirate.h"
#include "infer/generate.h"
#include "model/loader.h"
#include "flotilla/tokenizer.h"

using namespace flotilla::infer;
using namespace flotilla::model;
using namespace flotilla::io;

namespace flotilla::cli {

namespace {

struct PirateFlags {
  std::string model, out, text, file;
  int64_t count = 200, max_tokens = 160;
  uint64_t seed = 0;
  int threads = 0;
};

void write_pirate_data(const PirateFlags& f) {
  apply_thread_count(f.threads);
  auto loaded = load_model(f.model);
  auto tokenizer = Tokenizer::from_dir(f.model);
  std::vector<std::string> stories;
  GenerationOptions options;
  options.max_tokens = f.max_tokens;
  options.stop_tokens = loaded.config.eos_token_ids;
  Progress progress("sampling stories", f.count);
  for (int64_t i = 0; i < f.count; ++i) {
    options.sampling = {/*temperature=*/0.8f, /*top_k=*/0, /*top_p=*/0.95f, /*min_p=*/0.f, /*seed=*/f.seed + i};
    auto result = generate(loaded.model, {loaded.config.bos_token_id}, options);
    stories.push_back(tokenizer.decode(result.tokens));
    progress.advance();
  }
  progress.finish();
  tutorial::write_pirate_dolly(f.out, stories, f.seed);
  std::cout << "Wrote " << stories.size() << " pirate Dolly records to " << f.out << "\n";
}

void print_score(const PirateFlags& f) {
  std::string text = f.text;
  if (!f.file.empty()) text = read_file(f.file, "pirate");
  std::cout << fmt::format("{:.3f}", tutorial::pirate_score(text)) << "\n";
}

}  // namespace

void add_pirate_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<PirateFlags>();
  auto* cmd = app.add_subcommand("pirate", "The demo's pirate-speech data and score");
  cmd->require_subcommand(1);
  auto* data = cmd->add_subcommand("data", "Sample stories from a model and write them as pirate Dolly JSONL");
  data->add_option("--model", f->model, "model folder to sample stories from")->required();
  data->add_option("--out", f->out, "output JSONL (instruction, context, response, category)")->required();
  data->add_option("--count", f->count, "number of stories (default 200)")->check(CLI::PositiveNumber);
  data->add_option("--max-tokens", f->max_tokens, "longest story in tokens (default 160)")->check(CLI::PositiveNumber);
  data->add_option("--seed", f->seed, "seed for sampling and translation (default 0)");
  data->add_option("--threads", f->threads, "intra-op threads (0: one per core)");
  data->callback([f, &action] { action = [f] { write_pirate_data(*f); }; });
  auto* score = cmd->add_subcommand("score", "Print pirate markers per word of a text");
  score->add_option("text", f->text, "the text");
  score->add_option("--file", f->file, "read the text from a file")->check(CLI::ExistingFile);
  score->callback([f, &action] { action = [f] { print_score(*f); }; });
}

}  // namespace flotilla::cli
