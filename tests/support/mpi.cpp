#include "support/mpi.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

namespace flotilla::test {

std::string mpirun_command(int ranks) {
  return "mpirun -np " + std::to_string(ranks) + " --allow-run-as-root --oversubscribe --bind-to none ";
}

int64_t reported_wire_bytes(const std::string& output, const std::string& dtype) {
  const auto at = output.find(" bytes of " + dtype + " per step");
  EXPECT_NE(at, std::string::npos) << "no gradient all-reduce line for " << dtype << " in:\n" << output;
  return at == std::string::npos ? 0 : std::stoll(output.substr(output.rfind(' ', at - 1) + 1));
}

TwoHostsRun run_on_two_hosts(const std::string& command, const std::string& options) {
  TwoHostsRun run;
  run.result = run_command(std::string(FLOTILLA_SOURCE_DIR) + "/scripts/two_hosts.sh " + options + " -- " + command);
  std::smatch m;
  if (run.result.exit_code == 77 && std::regex_search(run.result.output, m, std::regex("two_hosts: SKIP: (.*)")))
    run.skip_reason = m[1];
  if (std::regex_search(run.result.output, m, std::regex(R"(tx_bytes=(\d+) rx_bytes=(\d+))"))) {
    run.tx_bytes = std::stoll(m[1]);
    run.rx_bytes = std::stoll(m[2]);
  }
  return run;
}

std::vector<LogRegLoss> logreg_losses(const std::string& output) {
  static const std::regex line(R"(Epoch\s+(\d+) \| Loss: ([0-9.eE+-]+))");
  std::vector<LogRegLoss> lines;
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it)
    lines.push_back({std::stoi((*it)[1]), std::stod((*it)[2])});
  return lines;
}

void expect_same_logreg_losses(const std::string& expected, const std::string& got, const std::string& label) {
  const auto a = logreg_losses(expected), b = logreg_losses(got);
  ASSERT_FALSE(a.empty()) << expected;
  ASSERT_EQ(b.size(), a.size()) << got;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].epoch, a[i].epoch);
    worst = std::max(worst, std::abs(b[i].loss - a[i].loss) / std::abs(a[i].loss));
  }
  std::cout << label << " logreg vs 1 process, " << a.size() << " printed losses: max relative diff = " << worst
            << " (tolerance 1e-6)\n";
  EXPECT_LE(worst, 1e-6);
}

}  // namespace flotilla::test
