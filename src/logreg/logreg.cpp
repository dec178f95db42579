#include "logreg/logreg.h"

#include <cmath>

#include "core/error.h"

namespace flotilla::logreg {

Dataset or_gate() {
  return Dataset{{0, 0, 0, 1, 1, 0, 1, 1}, {0, 1, 1, 1}, /*rows=*/4, /*cols=*/2};
}

std::vector<float> predict(const Model& model, const Dataset& data) {
  if (static_cast<int64_t>(model.w.size()) != data.cols || static_cast<int64_t>(data.x.size()) != data.rows * data.cols ||
      static_cast<int64_t>(data.y.size()) != data.rows) {
    fail("logreg", "shapes do not fit: w has {} entries, x {} for {} rows x {} cols, y {}", model.w.size(),
         data.x.size(), data.rows, data.cols, data.y.size());
  }
  std::vector<float> p(data.rows);
  for (int64_t i = 0; i < data.rows; ++i) {
    float z = 0.0f;
    for (int64_t j = 0; j < data.cols; ++j) z += data.x[i * data.cols + j] * model.w[j];
    z += model.b;
    p[i] = 1.0f / (1.0f + std::exp(-z));
  }
  return p;
}

GradientSums local_gradient_sums(const Model& model, const Dataset& data) {
  const auto p = predict(model, data);
  GradientSums sums;
  sums.dw.assign(data.cols, 0.0f);
  sums.rows = data.rows;
  for (int64_t i = 0; i < data.rows; ++i) {
    const float y = data.y[i];
    // The tutorial's plain form, -(y log p + (1 - y) log(1 - p)), in float32 as MLX computes it.
    sums.loss += -(y * std::log(p[i]) + (1.0f - y) * std::log(1.0f - p[i]));
    const float error = p[i] - y;
    for (int64_t j = 0; j < data.cols; ++j) sums.dw[j] += data.x[i * data.cols + j] * error;
    sums.db += error;
  }
  return sums;
}

float step(Model& model, const GradientSums& sums, float learning_rate) {
  if (sums.rows <= 0) fail("logreg", "no rows to take a step on");
  const auto n = static_cast<float>(sums.rows);
  for (size_t j = 0; j < model.w.size(); ++j) model.w[j] -= learning_rate * (sums.dw[j] / n);
  model.b -= learning_rate * (sums.db / n);
  return sums.loss / n;
}

TrainResult train(const Dataset& data, const TrainOptions& options, const std::function<void(int, float)>& on_epoch) {
  TrainResult result;
  result.model.w.assign(data.cols, 0.0f);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    const float loss = step(result.model, local_gradient_sums(result.model, data), options.learning_rate);
    result.losses.push_back(loss);
    if (on_epoch) on_epoch(epoch, loss);
  }
  return result;
}

double accuracy(const std::vector<float>& probabilities, const Dataset& data) {
  if (data.rows == 0) return 0.0;
  int64_t correct = 0;
  for (int64_t i = 0; i < data.rows; ++i) correct += (probabilities[i] >= 0.5f ? 1.0f : 0.0f) == data.y[i];
  return static_cast<double>(correct) / static_cast<double>(data.rows);
}

}  // namespace flotilla::logreg
