// Per-rank throughput bar chart: bar heights measured from the PNG's pixels, input checks, the
// rank_tokens_per_sec reader and `flotilla plot --ranks-out` end to end.
#include <cairo/cairo.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "plot/throughput_plot.h"
#include "support/paths.h"
#include "support/run.h"

using namespace flotilla::plot;

namespace flotilla {
namespace {

// A PNG read back with cairo; blue means near matplotlib's #1f77b4.
class Png {
 public:
  explicit Png(const std::string& path) : image_(cairo_image_surface_create_from_png(path.c_str())) {}
  ~Png() { cairo_surface_destroy(image_); }
  bool ok() const { return cairo_surface_status(image_) == CAIRO_STATUS_SUCCESS; }
  int width() const { return cairo_image_surface_get_width(image_); }
  int height() const { return cairo_image_surface_get_height(image_); }
  bool blue(int x, int y) const {
    const auto* row = cairo_image_surface_get_data(image_) + y * cairo_image_surface_get_stride(image_);
    const uint32_t px = reinterpret_cast<const uint32_t*>(row)[x];
    return std::abs(int((px >> 16) & 0xff) - 0x1f) + std::abs(int((px >> 8) & 0xff) - 0x77) +
               std::abs(int(px & 0xff) - 0xb4) < 40;
  }
  // Centres of the runs of blue pixels along row y.
  std::vector<int> blue_runs(int y) const {
    std::vector<int> centres;
    for (int x = 0, start = -1; x <= width(); ++x) {
      const bool b = x < width() && blue(x, y);
      if (b && start < 0) start = x;
      if (!b && start >= 0) centres.push_back((start + x - 1) / 2), start = -1;
    }
    return centres;
  }
  // First and last blue row in column x; the bar's top and its base.
  std::pair<int, int> blue_extent(int x) const {
    int top = -1, bottom = -1;
    for (int y = 0; y < height(); ++y)
      if (blue(x, y)) bottom = y, top = top < 0 ? y : top;
    return {top, bottom};
  }

 private:
  cairo_surface_t* image_;
};

TEST(ThroughputPlot, BarHeightsAreProportional) {
  const auto png = (test::scratch_dir("bars") / "sub" / "ranks.png").string();  // the missing folder is created
  plot_rank_throughput({1000, 500}, png);
  const Png image(png);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image.width(), 1000);
  EXPECT_EQ(image.height(), 600);
  const int row = image.height() * 4 / 5;  // low enough to cross both bars
  const auto centres = image.blue_runs(row);
  ASSERT_EQ(centres.size(), 2u) << "one bar per rank";
  const auto [top0, base0] = image.blue_extent(centres[0]);
  const auto [top1, base1] = image.blue_extent(centres[1]);
  EXPECT_NEAR(base0, base1, 1) << "bars share the y = 0 baseline";
  const double h0 = base0 - top0 + 1, h1 = base1 - top1 + 1;
  std::cout << "bar heights " << h0 << " and " << h1 << " px, ratio " << h0 / h1 << " (expected 2, tolerance 0.02)\n";
  EXPECT_GT(h0, 200) << "the tallest bar fills most of the frame";
  EXPECT_NEAR(h0 / h1, 2.0, 0.02);
}

TEST(ThroughputPlot, ManyRanksAndZerosDraw) {
  const auto dir = test::scratch_dir("many");
  std::vector<double> many(64);
  for (size_t i = 0; i < many.size(); ++i) many[i] = 900 + 10.0 * (i % 7);
  const std::vector<std::pair<const char*, std::vector<double>>> cases = {
      {"many", many}, {"one", {1234.5}}, {"zeros", {0, 0}}, {"tiny", {0.25, 0.5}}};
  for (const auto& [name, values] : cases) {
    SCOPED_TRACE(name);
    const auto png = (dir / (std::string(name) + ".png")).string();
    ASSERT_NO_THROW(plot_rank_throughput(values, png, name));
    const Png image(png);
    ASSERT_TRUE(image.ok());
    EXPECT_EQ(image.width(), 1000);
  }
  const Png image((dir / "many.png").string());
  EXPECT_EQ(image.blue_runs(image.height() * 4 / 5).size(), 64u);
}

TEST(ThroughputPlot, RejectsBadInput) {
  const auto png = (test::scratch_dir("bad_bars") / "ranks.png").string();
  const std::vector<std::pair<std::vector<double>, std::string>> cases = {
      {{}, "[plot] no per-rank throughput to plot"},
      {{10, -1}, "[plot] rank 1 has throughput -1"},
      {{std::numeric_limits<double>::quiet_NaN()}, "[plot] rank 0 has throughput nan"},
  };
  for (const auto& [values, message] : cases) {
    try {
      plot_rank_throughput(values, png);
      ADD_FAILURE() << "accepted " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists(png));
}

std::string write_metrics(const std::filesystem::path& dir, const std::string& text) {
  const auto path = dir / "metrics.jsonl";
  std::ofstream(path) << text;
  return path.string();
}

TEST(ThroughputPlot, ReaderAveragesPerRank) {
  const auto dir = test::scratch_dir("rank_metrics");
  const auto path = write_metrics(dir,
                                  "{\"iteration\":1,\"val_loss\":3.5}\n"
                                  "{\"iteration\":10,\"train_loss\":3.2,\"rank_tokens_per_sec\":[1000, 400.5]}\n"
                                  "\n"
                                  "{\"iteration\":20,\"train_loss\":3.1}\n"
                                  "{\"iteration\":30,\"train_loss\":3.0,\"rank_tokens_per_sec\":[]}\n"
                                  "{\"iteration\":40,\"train_loss\":2.9,\"rank_tokens_per_sec\":[1200, 600.5]}\n");
  EXPECT_EQ(read_rank_throughput(path), (std::vector<double>{1100, 500.5}));
  EXPECT_TRUE(read_rank_throughput(write_metrics(dir, "{\"iteration\":10,\"train_loss\":3.2}\n")).empty());
  EXPECT_TRUE(read_rank_throughput(write_metrics(dir, "")).empty());
}

TEST(ThroughputPlot, ReaderErrorsNameFileAndLine) {
  const auto dir = test::scratch_dir("bad_rank_metrics");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"iteration\":1,\"rank_tokens_per_sec\":[1]}\n{\"iteration\":2,\"rank_tokens_per_sec\":[\n", ":2"},
      {"{\"rank_tokens_per_sec\":[1]}\n", ":1: expected an integer \"iteration\""},
      {"{\"iteration\":1,\"rank_tokens_per_sec\":5}\n", ":1: \"rank_tokens_per_sec\" is a number, expected an array"},
      {"{\"iteration\":1,\"rank_tokens_per_sec\":[1,\"x\"]}\n", ":1: \"rank_tokens_per_sec\"[1] is a string"},
      {"{\"iteration\":1,\"rank_tokens_per_sec\":[1,2]}\n{\"iteration\":2,\"rank_tokens_per_sec\":[1]}\n",
       ":2: \"rank_tokens_per_sec\" has 1 ranks, earlier records had 2"},
  };
  for (const auto& [text, where] : cases) {
    SCOPED_TRACE(text);
    const auto path = write_metrics(dir, text);
    try {
      read_rank_throughput(path);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[metrics] " + path + where), std::string::npos) << e.what();
    }
  }
}

TEST(ThroughputPlot, CliRanksOut) {
  const auto dir = test::scratch_dir("cli_ranks");
  const auto loss = (dir / "loss.png").string(), ranks = (dir / "ranks.png").string();
  auto metrics = write_metrics(dir,
                               "{\"iteration\":10,\"train_loss\":3.2,\"rank_tokens_per_sec\":[1000,900]}\n"
                               "{\"iteration\":20,\"train_loss\":3.0,\"rank_tokens_per_sec\":[1100,950]}\n");
  auto r = test::run_command(test::cli_path() + " plot --metrics " + metrics + " --out " + loss + " --ranks-out " + ranks);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, loss + "\n" + ranks + "\n");
  EXPECT_EQ(Png(ranks).blue_runs(480).size(), 2u);

  std::filesystem::remove(loss);
  std::filesystem::remove(ranks);
  metrics = write_metrics(dir, "{\"iteration\":10,\"train_loss\":3.2}\n");
  r = test::run_command(test::cli_path() + " plot --metrics " + metrics + " --out " + loss + " --ranks-out " + ranks);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no rank_tokens_per_sec in " + metrics + "; it is written by `flotilla train` under mpirun"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(loss)) << "nothing is written when an input is missing";
  EXPECT_FALSE(std::filesystem::exists(ranks));
}

}  // namespace
}  // namespace flotilla
