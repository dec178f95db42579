// Fine-tune with LoRA through the public API: typed settings (unset ones keep mlx_lm.lora's
// defaults) and callbacks that collect the reported losses.
// Usage: example_train_lora MODEL_DIR DATA_DIR ADAPTER_DIR
#include <flotilla/flotilla.h>

#include <cmath>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR DATA_DIR ADAPTER_DIR\n";
    return 2;
  }
  flotilla::FineTuneSettings settings;
  settings.model = argv[1];
  settings.data = argv[2];
  settings.adapter_path = argv[3];
  settings.train = true;
  settings.iters = 50;
  settings.num_layers = -1;
  settings.learning_rate = 1e-4;
  settings.steps_per_eval = 25;
  std::vector<double> losses;
  flotilla::FineTuneCallbacks callbacks;
  callbacks.on_train_report = [&](const flotilla::TrainReport& r) { losses.push_back(r.train_loss); };
  callbacks.on_val_report = [](const flotilla::ValReport& r) { std::cout << "validation loss " << r.val_loss << "\n"; };
  try {
    // Under mpirun each rank trains its share of every batch.
    const auto outcome = flotilla::fine_tune(settings, callbacks);
    std::cout << "reports: " << losses.size() << ", last train loss " << (losses.empty() ? NAN : losses.back())
              << ", final validation loss " << outcome.final_val_loss << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
