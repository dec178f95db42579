#include "model/weight_reader.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "model/expert_layout.h"
#include "tensor/shape.h"

using namespace flotilla::tensor;
using namespace flotilla::io;

namespace flotilla::model {

WeightReader::WeightReader(const WeightStore& store, const ModelConfig& config, at::ScalarType dtype,
                           at::Device device)
    : store_(store), config_(config), dtype_(dtype), device_(device) {}

at::Tensor WeightReader::take(const std::string& name) {
  used_.insert(name);
  return store_.get(name).to(device_);
}

at::Tensor WeightReader::dense(const std::string& name, const std::vector<int64_t>& shape) {
  auto t = take(name);
  if (t.sizes() != at::IntArrayRef(shape))
    fail("model", "'{}' in '{}' has shape {}; expected {}", name, store_.source(), shape_string(t.sizes()),
         shape_string(shape));
  return t.to(dtype_);
}

LinearWeights WeightReader::linear(const std::string& prefix, bool bias) {
  LinearWeights w;
  if (store_.contains(prefix + ".scales")) {
    QuantSpec spec = config_.quantization.for_layer(prefix);
    if (!spec.enabled())
      fail("model", "'{}' is quantized in '{}' but config.json has no 'quantization' for it", prefix, store_.source());
    w.quantized = QuantizedWeight{take(prefix + ".weight"), take(prefix + ".scales"), take(prefix + ".biases"), spec};
  } else {
    w.weight = take(prefix + ".weight");
  }
  if (bias) w.bias = take(prefix + ".bias");
  return w;
}

LinearWeights WeightReader::experts(const std::string& mlp, const std::string& name, int64_t count) {
  const std::string stacked = mlp + ".switch_mlp." + name, first = per_expert_name(stacked, 0);
  if (store_.contains(stacked + ".weight")) return linear(stacked, false);
  if (store_.contains(first + ".scales"))
    fail("model", "'{}' in '{}' is quantized per expert; expected the experts stacked in '{}'", first, store_.source(), stacked);
  LinearWeights w;
  w.weight = read_stacking_experts(first + ".weight", count, [&](const std::string& tensor) { return take(tensor); })->second;
  return w;
}

void WeightReader::check_all_used() const {
  std::vector<std::string> unused;
  for (const auto& name : store_.names()) {
    if (!used_.count(name)) unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string list;
  for (size_t i = 0; i < unused.size() && i < 8; ++i) list += (i ? ", " : "") + unused[i];
  fail("model", "'{}' holds {} tensor(s) the '{}' architecture does not use: {}{}", store_.source(), unused.size(),
       config_.model_type, list, unused.size() > 8 ? ", ..." : "");
}

}  // namespace flotilla::model
