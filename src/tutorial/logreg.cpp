#include "tutorial/logreg.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "distributed/group.h"

using namespace flotilla::distributed;

namespace flotilla::tutorial::logreg {

Dataset or_gate() {
  return Dataset{{0, 0, 0, 1, 1, 0, 1, 1}, {0, 1, 1, 1}, /*rows=*/4, /*cols=*/2};
}

Dataset shard_rows(const Dataset& data, int rank, int ranks) {
  if (ranks < 1 || rank < 0 || rank >= ranks) fail("logreg", "rank {} of {} is not a valid shard", rank, ranks);
  if (static_cast<int64_t>(data.x.size()) != data.rows * data.cols || static_cast<int64_t>(data.y.size()) != data.rows) {
    fail("logreg", "shapes do not fit: x has {} entries for {} rows x {} cols, y {}", data.x.size(), data.rows,
         data.cols, data.y.size());
  }
  Dataset shard;
  shard.cols = data.cols;
  for (int64_t i = rank; i < data.rows; i += ranks) {
    shard.x.insert(shard.x.end(), data.x.begin() + i * data.cols, data.x.begin() + (i + 1) * data.cols);
    shard.y.push_back(data.y[i]);
    ++shard.rows;
  }
  return shard;
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

namespace {

// Local sums -> global sums: one float32 all-reduce of [dw..., db, loss]. In one process the
// round trip through the tensor is exact, so the single-process path is the plain float32 math.
GradientSums all_sum(const GradientSums& local, int64_t global_rows, Group& group) {
  const auto cols = static_cast<int64_t>(local.dw.size());
  at::Tensor flat = at::empty({cols + 2}, at::kFloat);
  float* v = flat.data_ptr<float>();
  for (int64_t j = 0; j < cols; ++j) v[j] = local.dw[j];
  v[cols] = local.db;
  v[cols + 1] = local.loss;
  group.all_sum(flat);
  v = flat.data_ptr<float>();
  GradientSums global;
  global.dw.assign(v, v + cols);
  global.db = v[cols];
  global.loss = v[cols + 1];
  global.rows = global_rows;
  return global;
}

}  // namespace

TrainResult train(const Dataset& data, const TrainOptions& options, Group& group,
                  const std::function<void(int, float)>& on_epoch) {
  const Dataset shard = shard_rows(data, group.rank(), group.size());
  TrainResult result;
  result.model.w.assign(data.cols, 0.0f);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    const GradientSums sums = all_sum(local_gradient_sums(result.model, shard), data.rows, group);
    const float loss = step(result.model, sums, options.learning_rate);
    result.losses.push_back(loss);
    if (on_epoch) on_epoch(epoch, loss);
  }
  return result;
}

TrainResult train(const Dataset& data, const TrainOptions& options, const std::function<void(int, float)>& on_epoch) {
  auto group = make_single_process_group();
  return train(data, options, *group, on_epoch);
}

double accuracy(const std::vector<float>& probabilities, const Dataset& data) {
  if (data.rows == 0) return 0.0;
  int64_t correct = 0;
  for (int64_t i = 0; i < data.rows; ++i) correct += (probabilities[i] >= 0.5f ? 1.0f : 0.0f) == data.y[i];
  return static_cast<double>(correct) / static_cast<double>(data.rows);
}

}  // namespace flotilla::tutorial::logreg
