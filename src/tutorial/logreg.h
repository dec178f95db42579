// The tutorial's warm-up: logistic regression from scratch with hand-written gradients, in float32
// like its MLX version. Gradients come as sums over local rows so that ranks holding different rows
// can add them with one all-reduce before the step divides by the global row count.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace flotilla::distributed {
class Group;
}

namespace flotilla::tutorial::logreg {

struct Dataset {
  std::vector<float> x;  // rows x cols, row-major
  std::vector<float> y;  // 0 or 1 per row
  int64_t rows = 0, cols = 0;
};

Dataset or_gate();  // X = [[0,0],[0,1],[1,0],[1,1]], y = [0,1,1,1]

// Rows rank, rank + ranks, rank + 2·ranks, ... of data: every row on exactly one rank, the same
// split on every run. A rank past the last row gets an empty shard.
Dataset shard_rows(const Dataset& data, int rank, int ranks);

struct Model {
  std::vector<float> w;  // cols
  float b = 0.0f;
};

// Sums over this rank's rows; add them across ranks, then call step.
struct GradientSums {
  std::vector<float> dw;  // sum over rows of x_i * (p_i - y_i)
  float db = 0.0f;        // sum of (p_i - y_i)
  float loss = 0.0f;      // sum of binary cross-entropy terms
  int64_t rows = 0;
};

// p = sigmoid(x·w + b) per row.
std::vector<float> predict(const Model& model, const Dataset& data);

GradientSums local_gradient_sums(const Model& model, const Dataset& data);

// Plain gradient descent with the mean gradients (sums / rows). Returns the mean loss.
float step(Model& model, const GradientSums& sums, float learning_rate);

struct TrainOptions {
  int epochs = 1000;
  float learning_rate = 0.1f;
};

struct TrainResult {
  Model model;
  std::vector<float> losses;  // mean loss per epoch, before that epoch's update
};

// Zero weights and bias, then epochs of full-batch gradient descent over all of data's rows.
// Each rank of group computes sums over its shard_rows; one all-reduce of [dw..., db, loss] per
// epoch gives every rank the same global sums, hence the same model. on_epoch(epoch, loss) is
// called on every rank after each epoch when set.
TrainResult train(const Dataset& data, const TrainOptions& options, distributed::Group& group,
                  const std::function<void(int, float)>& on_epoch = nullptr);

// The same in one process.
TrainResult train(const Dataset& data, const TrainOptions& options,
                  const std::function<void(int, float)>& on_epoch = nullptr);

// Fraction of rows where (p >= 0.5) equals y.
double accuracy(const std::vector<float>& probabilities, const Dataset& data);

}  // namespace flotilla::tutorial::logreg
