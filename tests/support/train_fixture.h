// A converted stories260K model and a small text dataset, made once per test binary run.
#pragma once
#include <filesystem>
#include <string>

namespace flotilla::test {

// <scratch>/stories260K: the llama2.c checkpoint converted with `flotilla convert`.
std::filesystem::path converted_stories();

// A data folder with train.jsonl / valid.jsonl / test.jsonl of short sentences in a made-up style.
std::filesystem::path sentence_dataset(int train_records = 48);

// The common part of a `flotilla train` command on those two.
std::string train_command(const std::filesystem::path& adapters, int iters);

// Flags under which a distributed run must match one process: a report per step, no validation,
// one thread, and a learning rate at which Adam is not chaotic (see tests/mpi/test_mpi_train.cpp).
inline constexpr char kEquivalenceFlags[] = " --steps-per-report 1 --val-batches 0 --threads 1 --learning-rate 1e-4";

// Expects two adapter folders to hold the same `steps` train losses and adapters within
// `tolerance`, printing the largest differences under `label`.
void expect_same_training(const std::filesystem::path& one, const std::filesystem::path& two, int steps,
                          const std::string& label = "[mpi]", double tolerance = 1e-5);

}  // namespace flotilla::test
