// prepare on a large synthetic Dolly file (default 1,000,000 lines): time and peak resident memory,
// to check that memory stays bounded (about 24 bytes a record plus buffers), not file-sized.
// Usage: bench_prepare [lines] [model_dir]   (model_dir: also measure lengths with its tokenizer)
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "core/memory.h"
#include "core/timer.h"
#include "flotilla/prepare.h"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {

double peak_mib() { return peak_memory_gb() * 1e9 / (1 << 20); }

// Dolly-like records of about 300 bytes in 8 categories; one line in 100 repeats an earlier one.
void write_input(const fs::path& path, uint64_t lines) {
  const char* categories[] = {"open_qa", "general_qa", "classification", "closed_qa",
                              "brainstorming", "information_extraction", "summarization", "creative_writing"};
  std::ofstream out(path, std::ios::binary);
  for (uint64_t i = 0; i < lines; ++i) {
    const uint64_t id = i % 100 == 99 ? i / 2 : i;
    out << fmt::format(
        R"({{"instruction":"Question number {} about ships, the sea and the weather?","context":"{}","response":"Answer {}: the ship sails when the wind is fair and the crew is ready, and not one moment before.","category":"{}"}})"
        "\n",
        id, id % 3 ? "" : "Some context that goes with the question.", id, categories[id % 8]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t lines = argc > 1 ? std::stoull(argv[1]) : 1000000;
  const std::string model = argc > 2 ? argv[2] : "";
  const fs::path dir = fs::temp_directory_path() / ("flotilla-bench-prepare-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  Timer timer;
  write_input(dir / "dolly.jsonl", lines);
  const double input_mib = static_cast<double>(fs::file_size(dir / "dolly.jsonl")) / (1 << 20);
  std::cout << fmt::format("input: {} lines, {:.1f} MiB, written in {:.2f} s\n", lines, input_mib, timer.seconds());

  const double before = peak_mib();
  data::PrepareOptions options;
  options.input = (dir / "dolly.jsonl").string();
  options.out_dir = (dir / "out").string();
  options.test_fraction = 0.1;
  options.model_dir = model;
  timer.restart();
  const auto report = data::prepare_dataset(options);
  const double seconds = timer.seconds();
  std::cout << data::format_report(report, options);
  std::cout << fmt::format("prepare: {:.2f} s ({:.0f} lines/s, {:.1f} MiB/s)\n", seconds, static_cast<double>(lines) / seconds,
                           input_mib / seconds);
  std::cout << fmt::format("peak RSS: {:.1f} MiB (before prepare {:.1f} MiB, +{:.1f} MiB = {:.1f} bytes/line)\n", peak_mib(),
                           before, peak_mib() - before, (peak_mib() - before) * (1 << 20) / static_cast<double>(lines));
  fs::remove_all(dir);
  return 0;
}
