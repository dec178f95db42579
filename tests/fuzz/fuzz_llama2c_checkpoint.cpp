// llama2.c checkpoints (.bin) as `flotilla convert` reads them: the 7-int32 header, the exact
// size it implies, the weights in Hugging Face layout and the config.json written from it.
#include "convert/llama2c.h"
#include "core/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flotilla::fuzz::MemoryFile file;
  try {
    const auto checkpoint = flotilla::convert::read_llama2c_checkpoint(file.write(flotilla::fuzz::as_text(data, size)));
    (void)checkpoint.config.to_json().dump();
    for (const auto& [name, tensor] : checkpoint.tensors) (void)tensor.sum().item<float>();
  } catch (const flotilla::Error&) {
  }
  return 0;
}
