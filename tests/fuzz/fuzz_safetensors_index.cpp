// model.safetensors.index.json of a sharded model folder. The folder holds two small real shards
// (a, b in the first; c in the second); the input is the index, then every tensor it maps is loaded.
#include <ATen/ops/arange.h>

#include "core/error.h"
#include "fuzz_input.h"
#include "io/tensor_io.h"
#include "io/weight_store.h"

namespace {

const flotilla::fuzz::ScratchDir& model_dir() {
  static const flotilla::fuzz::ScratchDir dir;
  static const bool shards_written = [] {
    const auto values = at::arange(6, at::kFloat);
    flotilla::io::save_safetensors((dir.path() / "model-00001-of-00002.safetensors").string(),
                               {{"a", values.view({2, 3})}, {"b", values.slice(0, 0, 2)}});
    flotilla::io::save_safetensors((dir.path() / "model-00002-of-00002.safetensors").string(),
                               {{"c", values.to(at::kBFloat16)}});
    return true;
  }();
  (void)shards_written;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = model_dir();
  dir.write("model.safetensors.index.json", flotilla::fuzz::as_text(data, size));
  try {
    const auto store = flotilla::io::WeightStore::open_dir(dir.path().string());
    for (const auto& name : store.names()) (void)store.get(name).sum().item<double>();
  } catch (const flotilla::Error&) {
  }
  return 0;
}
