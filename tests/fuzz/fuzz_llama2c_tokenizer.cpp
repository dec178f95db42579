// llama2.c tokenizers (tok*.bin) as `flotilla convert` reads them, into the tokenizer.json it
// writes, which must then load and encode. Input: vocab_size as a little-endian uint16, then the file.
#include "convert/llama2c.h"
#include "core/error.h"
#include "flotilla/tokenizer.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flotilla::fuzz::MemoryFile file;
  if (size < 2) return 0;
  const int64_t vocab_size = data[0] | data[1] << 8;
  try {
    const auto vocab =
        flotilla::convert::read_llama2c_tokenizer(file.write(flotilla::fuzz::as_text(data + 2, size - 2)), vocab_size);
    const std::string json = flotilla::convert::llama2c_tokenizer_json(vocab).dump(2);
    const std::string config = flotilla::convert::llama2c_tokenizer_config_json(512).dump(2);
    const auto tokenizer = flotilla::Tokenizer::from_json_text(json, config);
    const std::vector<int64_t> ids = tokenizer.encode("Once upon a time, a little 🦙 said hi.\n");
    (void)tokenizer.decode(ids);
  } catch (const flotilla::Error&) {
  }
  return 0;
}
