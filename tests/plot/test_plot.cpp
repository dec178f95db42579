// Loss plots: a readable PNG with both curves drawn, edge cases that must not crash, the metrics.jsonl reader
// and `flotilla plot` end to end. The PNG is read back with cairo and its pixels counted by colour.
#include <cairo/cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include "core/error.h"
#include "plot/loss_plot.h"
#include "support/paths.h"
#include "support/run.h"

using namespace flotilla::plot;

namespace flotilla {
namespace {

struct PixelCounts {
  int width = 0, height = 0;
  int blue = 0, orange = 0, white = 0;  // near #1f77b4, #ff7f0e, #ffffff
  double white_fraction() const { return static_cast<double>(white) / (width * height); }
};

PixelCounts count_pixels(const std::string& png) {
  cairo_surface_t* image = cairo_image_surface_create_from_png(png.c_str());
  EXPECT_EQ(cairo_surface_status(image), CAIRO_STATUS_SUCCESS) << png;
  PixelCounts counts;
  if (cairo_surface_status(image) == CAIRO_STATUS_SUCCESS) {
    counts.width = cairo_image_surface_get_width(image);
    counts.height = cairo_image_surface_get_height(image);
    const int stride = cairo_image_surface_get_stride(image);
    const unsigned char* data = cairo_image_surface_get_data(image);
    auto near = [](uint32_t px, uint32_t rgb) {
      int distance = 0;
      for (int shift : {16, 8, 0}) distance += std::abs(int((px >> shift) & 0xff) - int((rgb >> shift) & 0xff));
      return distance < 40;
    };
    for (int y = 0; y < counts.height; ++y) {
      for (int x = 0; x < counts.width; ++x) {
        const uint32_t px = reinterpret_cast<const uint32_t*>(data + y * stride)[x];
        counts.blue += near(px, 0x1f77b4);
        counts.orange += near(px, 0xff7f0e);
        counts.white += (px & 0xffffff) == 0xffffff;
      }
    }
  }
  cairo_surface_destroy(image);
  return counts;
}

// A typical run: train loss every 10 iterations, validation every 100, both falling.
LossHistory typical_run() {
  LossHistory h;
  for (int64_t it = 10; it <= 1000; it += 10)
    h.train.emplace_back(it, 3.0 * std::exp(-it / 300.0) + 1.0 + 0.05 * std::sin(it));
  for (int64_t it = 1; it <= 1001; it += 100) h.valid.emplace_back(it, 3.1 * std::exp(-it / 320.0) + 1.1);
  return h;
}

TEST(Plot, PngHasBothCurvesOnWhite) {
  const auto dir = test::scratch_dir("plot");
  const auto png = (dir / "sub" / "loss.png").string();  // the missing folder is created
  const auto run = typical_run();
  plot_losses(run.train, run.valid, png);
  const PixelCounts c = count_pixels(png);
  EXPECT_EQ(c.width, 1000);
  EXPECT_EQ(c.height, 600);
  EXPECT_GT(c.blue, 2000) << "train line";
  EXPECT_GT(c.orange, 1000) << "validation line";
  EXPECT_GT(c.white_fraction(), 0.8);
  for (const auto& entry : std::filesystem::directory_iterator(dir / "sub"))
    EXPECT_EQ(entry.path().filename(), "loss.png") << "temp file left behind";
}

TEST(Plot, EdgeCasesDrawWithoutCrashing) {
  const auto dir = test::scratch_dir("edges");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    const char* name;
    LossSeries train, valid;
    bool blue, orange;  // which lines must show
  };
  const std::vector<Case> cases = {
      {"no_validation", typical_run().train, {}, true, false},
      {"single_point", {{5, 2.5}}, {{5, 2.7}}, true, true},
      {"constant_loss", {{1, 2.0}, {2, 2.0}, {3, 2.0}}, {{1, 2.0}, {3, 2.0}}, true, true},
      {"nan_points", {{1, 3.0}, {2, nan}, {3, 2.0}, {4, INFINITY}, {5, 1.5}}, {{1, nan}, {5, 1.7}}, true, true},
      {"only_nan", {{1, nan}}, {{1, nan}}, false, false},
      {"empty", {}, {}, false, false},
      {"huge_iterations", {{0, 1e-6}, {1000000, 2e-6}}, {}, true, false},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const auto png = (dir / (std::string(k.name) + ".png")).string();
    ASSERT_NO_THROW(plot_losses(k.train, k.valid, png, k.name));
    const PixelCounts c = count_pixels(png);
    EXPECT_EQ(c.width, 1000);
    EXPECT_EQ(c.blue > 30, k.blue) << c.blue;
    EXPECT_EQ(c.orange > 30, k.orange) << c.orange;
    EXPECT_GT(c.white_fraction(), 0.8);
  }
}

TEST(Plot, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 1000, 9), (std::vector<double>{0, 200, 400, 600, 800, 1000}));
  EXPECT_EQ(nice_ticks(-0.3, 0.3, 8), (std::vector<double>{-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3}));
  EXPECT_EQ(nice_ticks(1.2345, 1.2421, 8),
            (std::vector<double>{1.235, 1.236, 1.237, 1.238, 1.239, 1.24, 1.241, 1.242}));
  EXPECT_EQ(nice_ticks(9.5, 10.5, 9, /*min_step=*/1), (std::vector<double>{10}));
  EXPECT_TRUE(nice_ticks(1, 1, 8).empty());
  EXPECT_EQ(nice_ticks(1e20, 1e20 + 1e5, 3).size(), 3u);  // terminates where k + 1 == k in doubles
  for (double span : {0.013, 0.7, 3.0, 47.0, 12345.0}) {
    const auto ticks = nice_ticks(0.37, 0.37 + span, 7);
    EXPECT_GE(ticks.size(), 3u) << span;
    EXPECT_LE(ticks.size(), 7u) << span;
    const double step = ticks[1] - ticks[0], mantissa = step / std::pow(10, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6)
        << "span " << span << " step " << step;
  }
}

std::filesystem::path write_metrics(const std::filesystem::path& dir, const std::string& text) {
  const auto path = dir / "metrics.jsonl";
  std::ofstream(path) << text;
  return path;
}

TEST(Plot, ReadsMetricsJsonl) {
  const auto path = write_metrics(test::scratch_dir("metrics"),
                                  "{\"iteration\":1,\"val_loss\":3.5,\"val_time\":0.1}\n"
                                  "{\"iteration\":10,\"train_loss\":3.25,\"learning_rate\":1e-05}\n"
                                  "\n"
                                  "{\"iteration\":20,\"train_loss\":null}\n"
                                  "{\"iteration\":20,\"event\":\"checkpoint\"}\n");
  const LossHistory h = read_metrics_jsonl(path.string());
  ASSERT_EQ(h.train.size(), 2u);
  EXPECT_EQ(h.train[0], (std::pair<int64_t, double>{10, 3.25}));
  EXPECT_EQ(h.train[1].first, 20);
  EXPECT_TRUE(std::isnan(h.train[1].second));
  ASSERT_EQ(h.valid.size(), 1u);
  EXPECT_EQ(h.valid[0], (std::pair<int64_t, double>{1, 3.5}));
}

TEST(Plot, MetricsErrorsNameFileAndLine) {
  const auto dir = test::scratch_dir("bad_metrics");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"iteration\":1,\"train_loss\":2}\n{\"iteration\":2,\"train_loss\":\n", ":2"},
      {"{\"iteration\":1,\"train_loss\":2}\n\n{\"train_loss\":2}\n", ":3: expected an integer \"iteration\""},
      {"{\"iteration\":1.5,\"val_loss\":2}\n", ":1: expected an integer \"iteration\""},
      {"{\"iteration\":1,\"val_loss\":\"low\"}\n", ":1: \"val_loss\" is a string, expected a number"},
      {"[1, 2]\n", ":1"},
  };
  for (const auto& [text, where] : cases) {
    SCOPED_TRACE(text);
    const auto path = write_metrics(dir, text).string();
    try {
      read_metrics_jsonl(path);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[metrics] " + path + where), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(read_metrics_jsonl((dir / "missing.jsonl").string()), Error);
}

TEST(Plot, CliWritesPngAndPrintsItsPath) {
  const auto dir = test::scratch_dir("cli");
  const auto run = typical_run();
  std::string text;
  for (const auto& [it, loss] : run.train) text += fmt::format("{{\"iteration\":{},\"train_loss\":{}}}\n", it, loss);
  for (const auto& [it, loss] : run.valid) text += fmt::format("{{\"iteration\":{},\"val_loss\":{}}}\n", it, loss);
  const auto metrics = write_metrics(dir, text).string();

  const auto out = (dir / "loss.png").string();
  auto r = test::run_command(test::cli_path() + " plot --metrics " + metrics + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, out + "\n");
  EXPECT_EQ(count_pixels(out).width, 1000);

  r = test::run_command("cd " + dir.string() + " && " + test::cli_path() + " plot --metrics metrics.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(r.output, m, std::regex(R"((graphs/metrics_\d{8}_\d{6}\.png)\n)"))) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / m[1].str()));

  write_metrics(dir, "{\"iteration\":1}\n{oops}\n");
  r = test::run_command(test::cli_path() + " plot --metrics " + metrics + " --out " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(metrics + ":2"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace flotilla
