// One training example as token ids, with how many of them form the prompt.
#pragma once
#include <cstdint>
#include <vector>

namespace flotilla::data {

struct TokenizedExample {
  std::vector<int64_t> tokens;
  int64_t prompt_length = 0;  // tokens before the completion; only later ones are trained with mask_prompt
};

}  // namespace flotilla::data
