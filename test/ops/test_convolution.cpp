// Convolution: every backend against the reference (odd sizes, groups, depthwise, stride / pad /
// dilate, 1-D and 3-D), the reference against hand-computed results, typed errors.
#include <algorithm>
#include <random>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

struct ConvCase {
  Shape data;
  Shape kernel;
  int64_t num_filter;
  Shape stride, pad, dilate;
  int64_t num_group = 1;
  bool no_bias = false;
};

// MXNet's channel-last layout name for `spatial` dims.
std::string ChannelsLastLayout(size_t spatial) {
  return spatial == 1 ? "NWC" : spatial == 2 ? "NHWC" : "NDHWC";
}

Symbol Conv(const ConvCase& c, const std::string& layout = "") {
  Operator b("Convolution");
  if (!layout.empty()) b.SetParam("layout", layout);
  b.SetParam("kernel", c.kernel)
      .SetParam("num_filter", c.num_filter)
      .SetParam("num_group", c.num_group)
      .SetParam("no_bias", c.no_bias);
  if (c.stride.ndim()) b.SetParam("stride", c.stride);
  if (c.pad.ndim()) b.SetParam("pad", c.pad);
  if (c.dilate.ndim()) b.SetParam("dilate", c.dilate);
  return b.SetInput("data", Data()).CreateSymbol("conv");
}

std::string Describe(const ConvCase& c) {
  return "data " + c.data.ToString() + " kernel " + c.kernel.ToString() + " filters " +
         std::to_string(c.num_filter) + " stride " + c.stride.ToString() + " pad " +
         c.pad.ToString() + " dilate " + c.dilate.ToString() + " groups " +
         std::to_string(c.num_group) + (c.no_bias ? " no_bias" : "");
}

void CheckCases(const std::vector<ConvCase>& cases) {
  uint32_t seed = 10;
  for (const ConvCase& c : cases) {
    INFO(Describe(c));
    CheckBackends(Conv(c), {{"data", testing::random_input(c.data, seed++)}}, Dnnl::kUsed, seed);
  }
}

// A single-channel 2-D convolution with the given weights (and optional bias).
NDArray RunConv2d(const NDArray& data, const NDArray& weight, const ConvCase& c,
                  const NDArray& bias = NDArray()) {
  std::map<std::string, NDArray> params = {{"conv_weight", weight}};
  if (!c.no_bias) params["conv_bias"] = bias;
  return RunReference1(Conv(c), params, {{"data", data}});
}

}  // namespace

TEST_CASE("Convolution backends match the reference on plain 2-D cases with odd sizes", "[conv]") {
  CheckCases({
      {{1, 3, 7, 5}, {3, 3}, 4, {}, {}, {}},
      {{3, 3, 7, 5}, {3, 3}, 5, {2, 2}, {1, 1}, {}},
      {{1, 3, 7, 5}, {1, 1}, 8, {}, {}, {}, 1, true},
      {{2, 2, 6, 7}, {2, 3}, 3, {2, 1}, {1, 0}, {}},
      {{1, 1, 9, 9}, {5, 5}, 2, {3, 3}, {2, 2}, {}},
      {{3, 16, 5, 5}, {3, 3}, 32, {}, {1, 1}, {}},
  });
}

TEST_CASE("Convolution backends match the reference with groups and depthwise filters", "[conv]") {
  CheckCases({
      {{2, 4, 9, 7}, {3, 3}, 6, {}, {1, 1}, {}, 2},
      {{1, 4, 7, 5}, {3, 3}, 4, {2, 2}, {}, {}, 2, true},
      {{1, 6, 8, 8}, {3, 3}, 6, {2, 2}, {1, 1}, {}, 6},  // depthwise
      {{3, 3, 7, 7}, {3, 3}, 6, {}, {1, 1}, {}, 3},      // depthwise, multiplier 2
      {{1, 8, 5, 7}, {1, 1}, 4, {}, {}, {}, 4, true},
  });
}

TEST_CASE("Convolution backends match the reference with dilation", "[conv]") {
  CheckCases({
      {{2, 3, 11, 9}, {3, 3}, 4, {}, {2, 2}, {2, 2}},
      {{1, 3, 12, 10}, {3, 3}, 4, {2, 2}, {1, 1}, {2, 3}},
      {{1, 4, 9, 9}, {3, 3}, 4, {}, {3, 3}, {3, 3}, 4},
  });
}

TEST_CASE("Convolution backends match the reference in 1-D and 3-D", "[conv]") {
  CheckCases({
      {{2, 3, 11}, {3}, 4, {2}, {1}, {}},
      {{1, 4, 13}, {5}, 4, {}, {2}, {2}, 2},
      {{1, 2, 5, 6, 4}, {3, 3, 3}, 3, {}, {1, 1, 1}, {}},
      {{2, 2, 4, 5, 3}, {2, 3, 1}, 4, {2, 1, 1}, {0, 1, 0}, {}, 2},
  });
}

TEST_CASE("reference Convolution: 2x2 kernel with bias on a 3x3 image", "[conv][reference]") {
  ConvCase c{{1, 1, 3, 3}, {2, 2}, 1, {}, {}, {}};
  NDArray out = RunConv2d(Iota({1, 1, 3, 3}, 1), NDArray({1, 2, 3, 4}, Shape{1, 1, 2, 2}), c,
                          NDArray({0.5f}, Shape{1}));
  // e.g. top-left: 1*1 + 2*2 + 4*3 + 5*4 + 0.5.
  CheckValues(out, {1, 1, 2, 2}, {37.5f, 47.5f, 67.5f, 77.5f});
}

TEST_CASE("reference Convolution: padding 1 sums each 3x3 neighbourhood", "[conv][reference]") {
  ConvCase c{{1, 1, 3, 3}, {3, 3}, 1, {}, {1, 1}, {}, 1, true};
  NDArray ones({1, 1, 1, 1, 1, 1, 1, 1, 1}, Shape{1, 1, 3, 3});
  NDArray out = RunConv2d(Iota({1, 1, 3, 3}, 1), ones, c);
  CheckValues(out, {1, 1, 3, 3}, {12, 21, 16, 27, 45, 33, 24, 39, 28});
}

TEST_CASE("reference Convolution: stride 2 with dilation 2 picks every other pixel",
          "[conv][reference]") {
  ConvCase c{{1, 1, 5, 5}, {2, 2}, 1, {2, 2}, {}, {2, 2}, 1, true};
  NDArray out = RunConv2d(Iota({1, 1, 5, 5}), NDArray({1, 1, 1, 1}, Shape{1, 1, 2, 2}), c);
  // Output (i, j) sums x[2i][2j], x[2i][2j+2], x[2i+2][2j], x[2i+2][2j+2] with x[r][c] = 5r + c.
  CheckValues(out, {1, 1, 2, 2}, {24, 32, 64, 72});
}

TEST_CASE("reference Convolution: groups never mix channels", "[conv][reference]") {
  ConvCase c{{1, 2, 1, 1}, {1, 1}, 2, {}, {}, {}, 2, true};
  NDArray out =
      RunConv2d(NDArray({2, 3}, Shape{1, 2, 1, 1}), NDArray({10, 100}, Shape{2, 1, 1, 1}), c);
  CheckValues(out, {1, 2, 1, 1}, {20, 300});
}

TEST_CASE("reference Convolution: 1-D with two filters over two channels", "[conv][reference]") {
  ConvCase c{{1, 2, 4}, {2}, 2, {}, {}, {}};
  Symbol conv = Conv(c);
  // Filter 0 takes channel 0 forward difference; filter 1 sums channel 1 pairs.
  NDArray weight({-1, 1, 0, 0, 0, 0, 1, 1}, Shape{2, 2, 2});
  NDArray bias({0, 100}, Shape{2});
  NDArray data({1, 4, 9, 16, 1, 2, 3, 4}, Shape{1, 2, 4});
  NDArray out =
      RunReference1(conv, {{"conv_weight", weight}, {"conv_bias", bias}}, {{"data", data}});
  CheckValues(out, {1, 2, 3}, {3, 5, 7, 103, 105, 107});
}

TEST_CASE("Convolution shape inference gives the weight, bias and output shapes", "[conv][shape]") {
  Symbol conv = Conv({{}, {3, 3}, 8, {2, 2}, {1, 1}, {}, 2});
  auto shapes = conv.InferShapeMap({{"data", Shape{2, 4, 7, 5}}});
  CHECK(shapes.at("conv_weight") == Shape{8, 2, 3, 3});
  CHECK(shapes.at("conv_bias") == Shape{8});
  CHECK(shapes.at("conv_output") == Shape{2, 8, 4, 3});
}

TEST_CASE("channel-last Convolution shape inference: data (N, H, W, C), weight OHWI, output "
          "(N, H', W', F)", "[conv][shape][layout]") {
  Symbol conv = Conv({{}, {3, 3}, 8, {2, 2}, {1, 1}, {}, 2}, "NHWC");
  auto shapes = conv.InferShapeMap({{"data", Shape{2, 7, 5, 4}}});
  CHECK(shapes.at("conv_weight") == Shape{8, 3, 3, 2});
  CHECK(shapes.at("conv_bias") == Shape{8});
  CHECK(shapes.at("conv_output") == Shape{2, 4, 3, 8});
  // The channels are the last dim: 5 is not divisible by num_group 2.
  CHECK_THROWS_AS(conv.InferShapeMap({{"data", Shape{2, 8, 8, 5}}}), ShapeError);
  auto ndhwc = Conv({{}, {3, 1, 2}, 6, {}, {}, {}}, "NDHWC").InferShapeMap({{"data", Shape{1, 4, 5, 6, 3}}});
  CHECK(ndhwc.at("conv_weight") == Shape{6, 3, 1, 2, 3});
  CHECK(ndhwc.at("conv_output") == Shape{1, 2, 5, 5, 6});
}

TEST_CASE("channel-last Convolution (NWC, NHWC, NDHWC) on the reference is the channel-first "
          "result transposed, bit for bit; oneDNN runs it too (nwc / nhwc / ndhwc, ohwi weights)", "[conv][layout]") {
  const std::vector<ConvCase> cases = {
      {{2, 3, 7, 5}, {3, 3}, 4, {}, {}, {}},
      {{1, 3, 9, 8}, {3, 2}, 5, {2, 1}, {1, 1}, {2, 1}},  // stride, pad, dilate
      {{2, 4, 9, 7}, {3, 3}, 6, {}, {1, 1}, {}, 2},       // groups
      {{1, 6, 8, 8}, {3, 3}, 6, {2, 2}, {1, 1}, {}, 6, true},  // depthwise, no bias
      {{2, 3, 11}, {3}, 4, {2}, {1}, {}},
      {{2, 2, 4, 5, 3}, {2, 3, 1}, 4, {2, 1, 1}, {0, 1, 0}, {}, 2},
  };
  uint32_t seed = 300;
  for (const ConvCase& c : cases) {
    INFO(Describe(c));
    const std::string layout = ChannelsLastLayout(c.kernel.ndim());
    const NDArray data = testing::random_input(c.data, seed++);
    auto params = testing::random_params(Conv(c), {{"data", c.data}}, seed++);
    const NDArray want = ChannelsLast(RunReference1(Conv(c), params, {{"data", data}}));
    // OIHW -> OHWI is the same move of axis 1 to the end.
    params["conv_weight"] = ChannelsLast(params.at("conv_weight"));
    const NDArray got = RunReference1(Conv(c, layout), params, {{"data", ChannelsLast(data)}});
    REQUIRE(got.shape() == want.shape());
    CHECK(got.ToVector<float>() == want.ToVector<float>());  // the same sums in the same order
    const auto report = CheckBackends(Conv(c, layout), {{"data", ChannelsLast(data)}}, Dnnl::kUsed, seed,
                                      kTolerance, Gpu::kMayDecline);
    // cuDNN runs 2-D NHWC; the plain CUDA kernels decline channel-last layouts.
    if (c.kernel.ndim() == 2 && GpuAvailable())
      CHECK(std::count(report.backends.begin(), report.backends.end(), "cudnn") == 1);
  }
}

TEST_CASE("reference NHWC Convolution: a filter that reads channel 0 sums the even elements",
          "[conv][reference][layout]") {
  ConvCase c{{1, 2, 2, 2}, {2, 2}, 1, {}, {}, {}};
  // NHWC: element (h, w, c) is at (2h + w) * 2 + c, so channel 0 holds 1, 3, 5, 7.
  const NDArray data = Iota({1, 2, 2, 2}, 1);
  const NDArray weight({1, 0, 1, 0, 1, 0, 1, 0}, Shape{1, 2, 2, 2});  // OHWI: c == 0 only
  const NDArray out = RunReference1(Conv(c, "NHWC"), {{"conv_weight", weight}, {"conv_bias", NDArray({0.5f}, Shape{1})}},
                                    {{"data", data}});
  CheckValues(out, {1, 1, 1, 1}, {16.5f});
}

TEST_CASE("bad Convolution attributes are FormatErrors at graph construction", "[conv][errors]") {
  auto make = [](AttrMap attrs) {
    Operator b("Convolution");
    for (const auto& [k, v] : attrs) b.SetParam(k, v);
    return b.SetInput("data", Data()).CreateSymbol("conv");
  };
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "0"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "-2"}}), FormatError);
  CHECK_THROWS_AS(make({{"num_filter", "4"}}), FormatError);  // no kernel
  CHECK_THROWS_AS(make({{"kernel", "(3, 0)"}, {"num_filter", "4"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"stride", "(0, 1)"}}),
                  FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"pad", "(1, 1, 1)"}}),
                  FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "5"}, {"num_group", "2"}}),
                  FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"num_group", "0"}}),
                  FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "four"}}), FormatError);
  // A layout must match the kernel's rank.
  for (const char* layout : {"NCDHW", "NDHWC", "NWC", "NCHW8c"}) {
    INFO(layout);
    CHECK_THROWS_AS(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"layout", layout}}),
                    Unsupported);
  }
  CHECK_THROWS_WITH(make({{"kernel", "(3,)"}, {"num_filter", "4"}, {"layout", "NHWC"}}),
                    Catch::Contains("conv") && Catch::Contains("NHWC"));
  CHECK_NOTHROW(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"layout", "NCHW"}}));
  CHECK_NOTHROW(make({{"kernel", "(3, 3)"}, {"num_filter", "4"}, {"layout", "NHWC"}}));
}

TEST_CASE("Convolution with channels not divisible by num_group is a ShapeError",
          "[conv][errors]") {
  Symbol conv = Conv({{}, {3, 3}, 4, {}, {}, {}, 2});
  CHECK_THROWS_AS(conv.InferShapeMap({{"data", Shape{1, 3, 5, 5}}}), ShapeError);
  CHECK_THROWS_WITH(conv.InferShapeMap({{"data", Shape{1, 3, 5, 5}}}), Catch::Contains("conv"));
  // Weights that fit 4 channels; Forward then gets 3.
  auto params = testing::random_params(conv, {{"data", Shape{1, 4, 5, 5}}});
  CachedOp op(conv, params, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 3, 5, 5})}), ShapeError);
}

TEST_CASE("Convolution shape errors: kernel past the padded input, wrong rank, wrong weight",
          "[conv][errors]") {
  Symbol conv = Conv({{}, {5, 5}, 4, {}, {1, 1}, {}});
  CHECK_THROWS_AS(conv.InferShapeMap({{"data", Shape{1, 3, 2, 9}}}), ShapeError);
  CHECK_THROWS_AS(conv.InferShapeMap({{"data", Shape{1, 3, 9}}}), ShapeError);
  CHECK_THROWS_AS(
      conv.InferShapeMap({{"data", Shape{1, 3, 9, 9}}, {"conv_weight", Shape{4, 2, 5, 5}}}),
      ShapeError);
  Symbol dilated = Conv({{}, {3, 3}, 4, {}, {}, {4, 4}});  // extent 9 > 7
  CHECK_THROWS_AS(dilated.InferShapeMap({{"data", Shape{1, 3, 7, 7}}}), ShapeError);
}

TEST_CASE("Convolution on int32 data is a TypeError", "[conv][errors]") {
  Symbol conv = Conv({{}, {1, 1}, 2, {}, {}, {}});
  auto params = testing::random_params(conv, {{"data", Shape{1, 2, 3, 3}}});
  CachedOp op(conv, params, Context::cpu());
  CHECK_THROWS_AS(op.Forward({NDArray(Shape{1, 2, 3, 3}, Context::cpu(), DType::i32)}), TypeError);
}

TEST_CASE("Convolution backends match the reference on a seeded sweep of small geometries",
          "[conv][sweep]") {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int checked = 0;
  while (checked < 60) {
    const int64_t groups = pick(1, 3);
    ConvCase c{{pick(1, 2), groups * pick(1, 3), pick(1, 9), pick(1, 8)},
               {pick(1, 4), pick(1, 4)},
               groups * pick(1, 3),
               {pick(1, 3), pick(1, 3)},
               {pick(0, 2), pick(0, 2)},
               {pick(1, 3), pick(1, 2)},
               groups,
               pick(0, 1) == 1};
    bool fits = true;
    for (int i = 0; i < 2; ++i)
      fits = fits && c.dilate[i] * (c.kernel[i] - 1) + 1 <= c.data[i + 2] + 2 * c.pad[i];
    if (!fits) continue;
    INFO(Describe(c));
    CheckBackends(Conv(c),
                  {{"data", testing::random_input(c.data, static_cast<uint32_t>(checked))}},
                  Dnnl::kUsed);
    ++checked;
  }
}

TEST_CASE("Convolution with weights fed as data inputs agrees with bound weights", "[conv]") {
  ConvCase c{{2, 4, 7, 5}, {3, 3}, 6, {2, 1}, {1, 1}, {}, 2};
  Symbol conv = Conv(c);
  NDArray x = testing::random_input(c.data, 1);
  auto params = testing::random_params(conv, {{"data", c.data}}, 2);
  // Weights that change per call cannot be pre-packed: every backend must still run.
  CachedOp bound(conv, params, Context::cpu());
  CachedOp fed(conv, {}, Context::cpu(), CachedOpFlags{.data_indices = {0, 1, 2}});
  std::vector<NDArray> expected = bound.Forward({{"data", x}});
  std::vector<NDArray> got = fed.Forward({{"data", x},
                                          {"conv_weight", params.at("conv_weight")},
                                          {"conv_bias", params.at("conv_bias")}});
  REQUIRE(got.size() == 1);
  auto cmp = testing::compare_arrays(got[0], expected[0], kTolerance);
  INFO("max abs " << cmp.max_abs_error);
  CHECK(cmp.ok());
}
