// Hands each layer its tensors by Hugging Face name, converted to the compute dtype and device,
// and remembers which were used so unexpected tensors are reported rather than ignored.
#pragma once
#include <ATen/Tensor.h>

#include <set>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "model/config.h"
#include "model/linear.h"

namespace flotilla::model {

class WeightReader {
 public:
  WeightReader(const io::WeightStore& store, const ModelConfig& config, at::ScalarType dtype, at::Device device);

  at::Tensor dense(const std::string& name, const std::vector<int64_t>& shape);
  // Quantized when "<prefix>.scales" exists (MLX's rule), else dense; bias read when asked for.
  LinearWeights linear(const std::string& prefix, bool bias);
  // Projection `name` of every expert of the MLP at `mlp` ("model.layers.N.mlp"), stacked:
  // mlx-lm's "<mlp>.switch_mlp.<name>" (dense or quantized), else Hugging Face's per-expert
  // "<mlp>.experts.<e>.<name>.weight" stacked here.
  LinearWeights experts(const std::string& mlp, const std::string& name, int64_t count);
  bool contains(const std::string& name) const { return store_.contains(name); }
  void ignore(const std::string& name) { used_.insert(name); }
  // Throws listing tensors in the files that no layer asked for.
  void check_all_used() const;

 private:
  at::Tensor take(const std::string& name);
  const io::WeightStore& store_;
  const ModelConfig& config_;
  at::ScalarType dtype_;
  at::Device device_;
  std::set<std::string> used_;
};

}  // namespace flotilla::model
