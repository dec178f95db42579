// What a flotilla::Model holds: the loaded model and its tokenizer (private to the library).
#pragma once
#include <optional>
#include <string>

#include "flotilla/model.h"
#include "model/loader.h"

namespace flotilla {

struct Model::State {
  model::LoadedModel loaded;
  std::optional<Tokenizer> tokenizer;
  std::string compute_dtype_line;
};

}  // namespace flotilla
