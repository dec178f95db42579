// The README's first command: the demo finishes and its adapter makes the model talk like a pirate.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {

TEST(Demo, FinishesAndTheAdapterRaisesThePirateScore) {
  const auto build = std::filesystem::path(test::cli_path()).parent_path();
  const auto script = std::filesystem::path(FLOTILLA_SOURCE_DIR) / "scripts" / "demo.sh";
  const auto out = test::scratch_dir("demo");
  auto r = test::run_command("FLOTILLA_DEMO_OUT=" + out.string() + " FLOTILLA_SHARED=" + test::shared_dir().string() +
                             " " + script.string() + " " + build.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(base ([0-9.]+) -> adapter ([0-9.]+))"))) << r.output;
  const double before = std::stod(m[1]), after = std::stod(m[2]);
  std::cout << "[demo] pirate-ness " << before << " -> " << after << "\n";
  EXPECT_GT(after, before + 0.05);
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(2 ranks \(mpirun\) +[0-9.]+ +[0-9.]+x)"))) << r.output;
  EXPECT_TRUE(std::filesystem::exists(out / "loss.png"));
  EXPECT_TRUE(std::filesystem::exists(out / "ranks.png"));
  EXPECT_TRUE(std::filesystem::exists(out / "adapters" / "adapters.safetensors"));
}

}  // namespace
}  // namespace flotilla
