// config.json of a model folder (Hugging Face and mlx-lm forms). A config that parses must also
// survive the round trip through to_json, which convert and fuse write back.
#include <cstdlib>

#include "core/error.h"
#include "fuzz_input.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flotilla::fuzz::MemoryFile file;
  flotilla::model::ModelConfig config;
  try {
    config = flotilla::model::load_model_config(file.write(flotilla::fuzz::as_text(data, size)));
  } catch (const flotilla::Error&) {
    return 0;
  }
  try {
    (void)flotilla::model::parse_model_config(config.to_json(), "round trip").to_json().dump();
  } catch (const flotilla::Error&) {
    std::abort();  // to_json wrote something the reader refuses
  }
  return 0;
}
