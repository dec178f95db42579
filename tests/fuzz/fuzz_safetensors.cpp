// model.safetensors: the header (length, JSON, dtypes, shapes, offsets), then every tensor loaded as
// the model loader loads it and its bytes read here, where ASan sees the reads.
#include <cstdlib>

#include "core/error.h"
#include "fuzz_input.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flotilla::fuzz::MemoryFile file;
  try {
    const flotilla::io::SafetensorsFile safetensors(file.write(flotilla::fuzz::as_text(data, size)));
    for (const auto& info : safetensors.tensors()) {
      const at::Tensor tensor = flotilla::io::load_tensor(safetensors, *safetensors.find(info.name));
      if (tensor.nbytes() != info.end - info.begin) std::abort();
      const auto* bytes = static_cast<const volatile uint8_t*>(tensor.data_ptr());
      for (size_t i = 0; i < tensor.nbytes(); ++i) (void)bytes[i];
    }
  } catch (const flotilla::Error&) {
  }
  return 0;
}
