#include "train/metrics.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"

using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::model;
using namespace flotilla::data;

namespace flotilla::train {

std::string format_train_report(const TrainReport& r) {
  return fmt::format(
      "Iter {}: Train loss {:.3f}, Learning Rate {:.3e}, It/sec {:.3f}, Tokens/sec {:.3f}, Trained Tokens {}, Peak mem {:.3f} GB",
      r.iteration, r.train_loss, r.learning_rate, r.iterations_per_sec, r.tokens_per_sec, r.trained_tokens,
      r.peak_memory_gb);
}

std::string format_val_report(const ValReport& r) {
  return fmt::format("Iter {}: Val loss {:.3f}, Val took {:.3f}s", r.iteration, r.val_loss, r.seconds);
}

nlohmann::ordered_json train_report_json(const TrainReport& r) {
  return {{"iteration", r.iteration},         {"train_loss", r.train_loss},         {"learning_rate", r.learning_rate},
          {"iterations_per_sec", r.iterations_per_sec}, {"tokens_per_sec", r.tokens_per_sec},
          {"trained_tokens", r.trained_tokens}, {"peak_memory_gb", r.peak_memory_gb},
          {"rank_tokens_per_sec", r.rank_tokens_per_sec},
          {"rank_step_seconds",
           {{"compute", r.rank_compute_seconds},
            {"communication", r.rank_communication_seconds},
            {"update", r.rank_update_seconds}}}};
}

nlohmann::ordered_json val_report_json(const ValReport& r) {
  return {{"iteration", r.iteration}, {"val_loss", r.val_loss}, {"val_time", r.seconds}};
}

MetricsLog::MetricsLog(std::string path, int64_t resumed_iteration) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!in) {
    write_text_atomically(path_, "");
    return;
  }
  std::ostringstream kept;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (resumed_iteration > 0 && record.is_object() && record.value("iteration", int64_t{0}) <= resumed_iteration)
      kept << line << "\n";
  }
  write_text_atomically(path_, kept.str());
}

// One write of a whole line: a full disk is an error, and a torn last line is dropped on --resume.
void MetricsLog::append(const nlohmann::ordered_json& record) { append_to_file(path_, record.dump() + "\n"); }

}  // namespace flotilla::train
