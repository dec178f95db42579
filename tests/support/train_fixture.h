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

}  // namespace flotilla::test
