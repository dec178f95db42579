// Fine-tune with LoRA from C++ with the training callbacks: clip the gradient norm after backward,
// and collect the reported losses. Usage: example_train_lora MODEL_DIR DATA_DIR ADAPTER_DIR
#include <ATen/ATen.h>

#include <cmath>
#include <iostream>

#include "distributed/group.h"
#include "train/fine_tune.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR DATA_DIR ADAPTER_DIR\n";
    return 2;
  }
  using namespace flotilla;
  auto config = default_train_config();  // mlx_lm.lora's defaults; override what this run needs
  merge_train_config(config, {{"model", argv[1]}, {"data", argv[2]}, {"adapter_path", argv[3]}, {"train", true},
                              {"iters", 50}, {"num_layers", -1}, {"learning_rate", 1e-4}, {"steps_per_eval", 25}},
                     "example");
  TrainingCallbacks callbacks;
  callbacks.on_after_backward = [](int64_t, NamedTensors& gradients) {
    // Scale all gradients so their global norm is at most 1.
    double squared = 0;
    for (auto& [name, g] : gradients) squared += g.pow(2).sum().item<double>();
    const double norm = std::sqrt(squared);
    if (norm > 1.0)
      for (auto& [name, g] : gradients) g.mul_(1.0 / norm);
  };
  std::vector<double> losses;
  callbacks.on_train_loss_report = [&](const TrainReport& r) { losses.push_back(r.train_loss); };
  callbacks.on_val_loss_report = [](const ValReport& r) { std::cout << "validation loss " << r.val_loss << "\n"; };
  try {
    auto group = init_group();  // also works under mpirun: each rank trains its shard
    auto result = fine_tune(config, *group, callbacks);
    std::cout << "reports: " << losses.size() << ", last train loss " << (losses.empty() ? NAN : losses.back())
              << ", final validation loss " << result.final_val_loss << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
