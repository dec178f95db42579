#include "plot/metrics_jsonl.h"

#include "core/error.h"
#include "data/jsonl.h"

using namespace flotilla::data;

namespace flotilla::plot {

void for_each_metrics_record(const std::string& path,
                             const std::function<void(const nlohmann::ordered_json&, int64_t)>& visit) {
  data::LineReader reader(path);
  data::Line line;
  while (reader.next(line)) {
    if (line.blank()) continue;
    try {
      if (line.too_long) throw data::RecordError("line too long for a metrics record");
      const auto record = data::parse_record(line.text);
      const auto iteration = record.find("iteration");
      if (iteration == record.end() || !iteration->is_number_integer())
        throw data::RecordError("expected an integer \"iteration\"");
      visit(record, iteration->get<int64_t>());
    } catch (const data::RecordError& e) {
      fail("metrics", "{}", data::describe(path, line.number, e));
    }
  }
}

}  // namespace flotilla::plot
