// A rule-based pirate-speech translator and a Dolly-style data generator, to make the tutorial's
// pirate fine-tuning data from plain stories (which the caller samples from a model).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::tutorial {

struct PirateOptions {
  uint64_t seed = 0;
  double interjection_rate = 0.25;  // chance of "Arr!" and the like after each sentence
};

// Word rules (the -> th', you -> ye, hello -> ahoy, friend -> matey, playing -> playin', ...)
// keeping each word's capitalization and all punctuation; seeded interjections after sentences.
// The same text and options always give the same result.
std::string to_pirate(std::string_view text, const PirateOptions& options = {});

// Pirate markers per word: words that are lexicon outputs (ahoy, matey, be, ye, ...), end in
// "in'" or contain "th'". 0 for text without words.
double pirate_score(std::string_view text);

// One Dolly record (instruction, context, response, category) per story: an instruction from a
// small set of templates, the story translated to pirate speech as the response. Written
// atomically as JSONL; deterministic for a seed.
void write_pirate_dolly(const std::string& path, const std::vector<std::string>& stories, uint64_t seed);

}  // namespace flotilla::tutorial
