// FullyConnected: every backend against the reference (flatten both ways, no_bias, odd sizes),
// the reference against a hand-computed product, typed errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol FullyConnected(int64_t num_hidden, bool flatten = true, bool no_bias = false) {
  return Operator("FullyConnected")
      .SetParam("num_hidden", num_hidden)
      .SetParam("flatten", flatten)
      .SetParam("no_bias", no_bias)
      .SetInput("data", Data())
      .CreateSymbol("fc");
}

// Rows [1, 2, 3] and [4, 5, 6]; weights [1, 0, -1] and [0.5, 0.5, 0.5]; bias [10, -1].
std::map<std::string, NDArray> KnownParams(bool bias = true) {
  std::map<std::string, NDArray> p = {
      {"fc_weight", NDArray({1, 0, -1, 0.5f, 0.5f, 0.5f}, Shape{2, 3})}};
  if (bias) p["fc_bias"] = NDArray({10, -1}, Shape{2});
  return p;
}

}  // namespace

TEST_CASE("FullyConnected backends match the reference with flatten=True", "[fc]") {
  struct Case {
    Shape data;
    int64_t hidden;
    bool no_bias;
  };
  const std::vector<Case> cases = {{{1, 7}, 5, false},   {{3, 3, 7, 5}, 10, false},
                                   {{2, 3, 4}, 1, true}, {{1, 1}, 1, false},
                                   {{5, 64}, 33, false}, {{3, 2, 3, 4, 5}, 7, true}};
  uint32_t seed = 60;
  for (const Case& c : cases) {
    INFO("data " << c.data.ToString() << " num_hidden " << c.hidden << " no_bias " << c.no_bias);
    CheckBackends(FullyConnected(c.hidden, true, c.no_bias),
                  {{"data", testing::random_input(c.data, seed++)}}, Dnnl::kUsed, seed);
  }
}

TEST_CASE("FullyConnected backends match the reference with flatten=False", "[fc]") {
  uint32_t seed = 70;
  for (Shape s : {Shape{3, 4, 6}, Shape{2, 3, 4, 5}, Shape{5, 3}, Shape{1, 1, 9}}) {
    for (bool no_bias : {false, true}) {
      INFO("data " << s.ToString() << " no_bias " << no_bias);
      CheckBackends(FullyConnected(5, false, no_bias), {{"data", testing::random_input(s, seed++)}},
                    Dnnl::kUsed, seed);
    }
  }
}

TEST_CASE("FullyConnected on 1-D data without flatten falls back to the reference", "[fc]") {
  CheckBackends(FullyConnected(4, false), {{"data", testing::random_input({7}, 3)}},
                Dnnl::kFallback);
}

TEST_CASE("reference FullyConnected computes x W^T + b", "[fc][reference]") {
  NDArray x({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CheckValues(RunReference1(FullyConnected(2), KnownParams(), {{"data", x}}), {2, 2},
              {8, 2, 8, 6.5f});
  CheckValues(RunReference1(FullyConnected(2, true, true), KnownParams(false), {{"data", x}}),
              {2, 2}, {-2, 3, -2, 7.5f});
}

TEST_CASE("reference FullyConnected flattens trailing dims, or maps the last axis",
          "[fc][reference]") {
  // (2, 1, 3) flattened is the same (2, 3) matrix.
  NDArray x({1, 2, 3, 4, 5, 6}, Shape{2, 1, 3});
  CheckValues(RunReference1(FullyConnected(2), KnownParams(), {{"data", x}}), {2, 2},
              {8, 2, 8, 6.5f});
  // Without flatten the last axis is mapped and leading dims are kept.
  CheckValues(RunReference1(FullyConnected(2, false), KnownParams(), {{"data", x}}), {2, 1, 2},
              {8, 2, 8, 6.5f});
}

TEST_CASE("FullyConnected shape inference: weight (num_hidden, features), bias, output",
          "[fc][shape]") {
  auto flat = FullyConnected(10).InferShapeMap({{"data", Shape{4, 3, 5, 5}}});
  CHECK(flat.at("fc_weight") == Shape{10, 75});
  CHECK(flat.at("fc_bias") == Shape{10});
  CHECK(flat.at("fc_output") == Shape{4, 10});
  auto last = FullyConnected(10, false).InferShapeMap({{"data", Shape{4, 3, 5}}});
  CHECK(last.at("fc_weight") == Shape{10, 5});
  CHECK(last.at("fc_output") == Shape{4, 3, 10});
  CHECK(FullyConnected(3, true, true).ListInputs() ==
        std::vector<std::string>{"data", "fc_weight"});
}

TEST_CASE("bad FullyConnected attributes are FormatErrors", "[fc][errors]") {
  CHECK_THROWS_AS(FullyConnected(0), FormatError);
  CHECK_THROWS_AS(FullyConnected(-3), FormatError);
  CHECK_THROWS_AS(Operator("FullyConnected")(Data()).CreateSymbol("fc"), FormatError);
  CHECK_THROWS_AS(Operator("FullyConnected")
                      .SetParam("num_hidden", 2)
                      .SetParam("flatten", "yes")(Data())
                      .CreateSymbol("fc"),
                  FormatError);
}

TEST_CASE("FullyConnected with a weight of the wrong shape is a ShapeError", "[fc][errors]") {
  Symbol fc = FullyConnected(2);
  CHECK_THROWS_AS(fc.InferShapeMap({{"data", Shape{2, 3}}, {"fc_weight", Shape{2, 4}}}),
                  ShapeError);
  CHECK_THROWS_AS(fc.InferShapeMap({{"data", Shape{2, 3}}, {"fc_bias", Shape{3}}}), ShapeError);
  CachedOp op(fc, KnownParams(), Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({2, 4})}), ShapeError);
  CHECK_THROWS_WITH(op.Forward({testing::random_input({2, 4})}), Catch::Contains("fc"));
}

TEST_CASE("FullyConnected with weights fed as data inputs agrees with bound weights", "[fc]") {
  Symbol fc = FullyConnected(2);
  NDArray x({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  auto params = KnownParams();
  CachedOp fed(fc, {}, Context::cpu(), CachedOpFlags{.data_indices = {0, 1, 2}});
  std::vector<NDArray> got = fed.Forward(
      {{"data", x}, {"fc_weight", params.at("fc_weight")}, {"fc_bias", params.at("fc_bias")}});
  REQUIRE(got.size() == 1);
  CheckValues(got[0], {2, 2}, {8, 2, 8, 6.5f});
}
