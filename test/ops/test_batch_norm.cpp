// BatchNorm at inference: every backend against the reference (ranks 2-5, fix_gamma both ways,
// other axes), the reference against hand-computed values, typed errors.
#include <cmath>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol BatchNorm(bool fix_gamma, double eps = 1e-3, int axis = 1) {
  return Operator("BatchNorm")
      .SetParam("fix_gamma", fix_gamma)
      .SetParam("eps", eps)
      .SetParam("axis", axis)
      .SetInput("data", Data())
      .CreateSymbol("bn");
}

// gamma (5, 7) is ignored under fix_gamma; eps 0 keeps the arithmetic exact.
std::map<std::string, NDArray> KnownParams() {
  return {{"bn_gamma", NDArray({5, 7}, Shape{2})},
          {"bn_beta", NDArray({0.5f, -1}, Shape{2})},
          {"bn_moving_mean", NDArray({1, 3}, Shape{2})},
          {"bn_moving_var", NDArray({4, 0.25f}, Shape{2})}};
}

}  // namespace

TEST_CASE("BatchNorm backends match the reference for ranks 2 to 5 and both fix_gamma", "[bn]") {
  const std::vector<Shape> shapes = {{1, 3, 7, 5}, {3, 5, 4, 4},    {2, 3},
                                     {2, 4, 6},    {1, 2, 3, 4, 5}, {3, 16, 3, 3}};
  uint32_t seed = 20;
  for (bool fix_gamma : {true, false}) {
    for (const Shape& s : shapes) {
      INFO("data " << s.ToString() << " fix_gamma " << fix_gamma);
      CheckBackends(BatchNorm(fix_gamma, 2e-5), {{"data", testing::random_input(s, seed++, -3, 3)}},
                    Dnnl::kUsed, seed);
    }
  }
}

TEST_CASE("BatchNorm backends match the reference for a larger eps", "[bn]") {
  CheckBackends(BatchNorm(false, 0.1), {{"data", testing::random_input({2, 3, 5, 5}, 3)}},
                Dnnl::kUsed);
}

TEST_CASE("BatchNorm over the last axis runs on oneDNN (channels last); another axis stays with the "
          "reference; both match", "[bn]") {
  for (int axis : {-1, 2}) {  // the last axis of 3-D data: NWC
    INFO("axis " << axis);
    CheckBackends(BatchNorm(false, 1e-3, axis), {{"data", testing::random_input({2, 3, 4}, 7)}},
                  Dnnl::kUsed);
  }
  CheckBackends(BatchNorm(false, 1e-3, -1), {{"data", testing::random_input({2, 3, 4, 5}, 8)}},
                Dnnl::kUsed);  // NHWC
  CheckBackends(BatchNorm(false, 1e-3, 2), {{"data", testing::random_input({2, 3, 4, 5}, 9)}},
                Dnnl::kFallback);  // neither channels first nor last
}

TEST_CASE("BatchNorm with axis -3 on 3-D data is the channel axis", "[bn][shape]") {
  auto shapes = BatchNorm(false, 1e-3, -3).InferShapeMap({{"data", Shape{5, 2, 3}}});
  CHECK(shapes.at("bn_gamma") == Shape{5});
  CHECK(shapes.at("bn_moving_var") == Shape{5});
}

TEST_CASE("reference BatchNorm with fix_gamma=True ignores the stored gamma", "[bn][reference]") {
  NDArray data({1, 2, 3, 4}, Shape{1, 2, 1, 2});
  NDArray out = RunReference1(BatchNorm(true, 0), KnownParams(), {{"data", data}});
  // Channel 0: (x - 1) / 2 + 0.5; channel 1: (x - 3) / 0.5 - 1.
  CheckValues(out, {1, 2, 1, 2}, {0.5f, 1.0f, -1.0f, 1.0f});
}

TEST_CASE("reference BatchNorm with fix_gamma=False scales by gamma", "[bn][reference]") {
  NDArray data({1, 2, 3, 4}, Shape{1, 2, 1, 2});
  NDArray out = RunReference1(BatchNorm(false, 0), KnownParams(), {{"data", data}});
  CheckValues(out, {1, 2, 1, 2}, {0.5f, 3.0f, -1.0f, 13.0f});
}

TEST_CASE("reference BatchNorm adds eps to the variance", "[bn][reference]") {
  auto params = KnownParams();
  NDArray data({3, 3, 5, 5}, Shape{1, 2, 1, 2});
  NDArray out = RunReference1(BatchNorm(true, 0.75), params, {{"data", data}});
  // Channel 0: (3 - 1) / sqrt(4.75) + 0.5; channel 1: (5 - 3) / sqrt(1.0) - 1.
  const float c0 = 2.0f / std::sqrt(4.75f) + 0.5f;
  CheckValues(out, {1, 2, 1, 2}, {c0, c0, 1.0f, 1.0f});
}

TEST_CASE("reference BatchNorm on 2-D (N, C) data normalises each column", "[bn][reference]") {
  NDArray data({1, 3, 2, 4, 3, 5}, Shape{3, 2});
  NDArray out = RunReference1(BatchNorm(true, 0), KnownParams(), {{"data", data}});
  CheckValues(out, {3, 2}, {0.5f, -1.0f, 1.0f, 1.0f, 1.5f, 3.0f});
}

TEST_CASE("bad BatchNorm attributes: negative eps is a FormatError, output_mean_var Unsupported",
          "[bn][errors]") {
  CHECK_THROWS_AS(Operator("BatchNorm").SetParam("eps", -1.0)(Data()).CreateSymbol("bn"),
                  FormatError);
  CHECK_THROWS_AS(Operator("BatchNorm").SetParam("fix_gamma", "maybe")(Data()).CreateSymbol("bn"),
                  FormatError);
  CHECK_THROWS_AS(
      Operator("BatchNorm").SetParam("output_mean_var", true)(Data()).CreateSymbol("bn"),
      Unsupported);
}

TEST_CASE("BatchNorm shape errors: statistics of the wrong size, axis out of range",
          "[bn][errors]") {
  Symbol bn = BatchNorm(true);
  CHECK_THROWS_AS(bn.InferShapeMap({{"data", Shape{1, 3, 4, 4}}, {"bn_moving_var", Shape{4}}}),
                  ShapeError);
  CHECK_THROWS_AS(BatchNorm(true, 1e-3, 4).InferShapeMap({{"data", Shape{1, 3, 4, 4}}}),
                  ShapeError);
  // Parameters for 2 channels, data with 3.
  CachedOp op(bn, KnownParams(), Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 3, 2, 2})}), ShapeError);
  CHECK_NOTHROW(op.Forward({testing::random_input({1, 2, 2, 2})}));
}
