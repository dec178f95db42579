// Walks the records of a metrics.jsonl written by MetricsLog; every chart's reader goes through it.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace flotilla::plot {

// Calls visit(record, iteration) for each non-blank line, in order. A line that is not a JSON object with an
// integer "iteration", or a data::RecordError thrown by visit, fails as "[metrics] file:line: message".
void for_each_metrics_record(const std::string& path,
                             const std::function<void(const nlohmann::ordered_json&, int64_t)>& visit);

}  // namespace flotilla::plot
