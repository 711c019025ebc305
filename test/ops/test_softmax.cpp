// The softmax family: softmax, log_softmax, SoftmaxActivation, SoftmaxOutput. Every backend against
// the reference (axes incl. negative, temperature, modes), the reference against known values,
// typed errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Softmax(const std::string& op, AttrMap attrs = {}) {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol("sm");
}

NDArray Apply(const Symbol& symbol, const NDArray& x) {
  return RunReference1(symbol, {}, {{"data", x}});
}

const float kP1 = 0.0900305732f, kP2 = 0.2447284711f, kP3 = 0.6652409558f;  // softmax [1, 2, 3]

}  // namespace

TEST_CASE("softmax and log_softmax backends match the reference on every axis", "[softmax]") {
  struct Case {
    Shape data;
    int axis;
  };
  const std::vector<Case> cases = {{{3, 7}, -1},       {{3, 7}, 0},    {{2, 5, 3, 4}, 1},
                                   {{2, 3, 4}, -2},    {{2, 3, 4}, 2}, {{17}, 0},
                                   {{1, 3, 7, 5}, -1}, {{2, 1000}, -1}};
  uint32_t seed = 80;
  for (std::string op : {"softmax", "log_softmax"}) {
    for (const Case& c : cases) {
      INFO(op << " of " << c.data.ToString() << " along axis " << c.axis);
      CheckBackends(Softmax(op, {{"axis", std::to_string(c.axis)}}),
                    {{"data", testing::random_input(c.data, seed++, -5, 5)}}, Dnnl::kUsed);
    }
  }
}

TEST_CASE("softmax with a temperature stays with the reference and still matches", "[softmax]") {
  for (std::string op : {"softmax", "log_softmax"}) {
    INFO(op);
    CheckBackends(Softmax(op, {{"temperature", "2.5"}}),
                  {{"data", testing::random_input({3, 6}, 9, -5, 5)}}, Dnnl::kFallback);
  }
}

TEST_CASE("SoftmaxActivation backends match the reference in instance and channel mode",
          "[softmax]") {
  uint32_t seed = 90;
  for (std::string mode : {"instance", "channel"}) {
    for (Shape s : {Shape{3, 2, 3, 3}, Shape{4, 10}, Shape{1, 5, 7}}) {
      INFO("mode " << mode << " data " << s.ToString());
      CheckBackends(Softmax("SoftmaxActivation", {{"mode", mode}}),
                    {{"data", testing::random_input(s, seed++, -5, 5)}}, Dnnl::kUsed);
    }
  }
}

TEST_CASE("SoftmaxOutput backends match the reference without reading the label", "[softmax]") {
  struct Case {
    AttrMap attrs;
    Shape data;
  };
  const std::vector<Case> cases = {{{}, {3, 10}},
                                   {{}, {2, 3, 4, 5}},
                                   {{{"multi_output", "True"}}, {2, 3, 4, 5}},
                                   {{{"preserve_shape", "True"}}, {2, 3, 5}},
                                   {{{"grad_scale", "2"}, {"normalization", "batch"}}, {4, 7}}};
  uint32_t seed = 100;
  for (const Case& c : cases) {
    Symbol sm = Softmax("SoftmaxOutput", c.attrs);
    INFO("data " << c.data.ToString() << " with " << c.attrs.size() << " attributes");
    CHECK(sm.ListInputs() == std::vector<std::string>{"data", "sm_label"});
    CheckBackends(sm, {{"data", testing::random_input(c.data, seed++, -5, 5)}}, Dnnl::kUsed);
  }
}

TEST_CASE("reference softmax and log_softmax of [1, 2, 3]", "[softmax][reference]") {
  NDArray x({1, 2, 3}, Shape{3});
  CheckValues(Apply(Softmax("softmax"), x), {3}, {kP1, kP2, kP3});
  CheckValues(Apply(Softmax("log_softmax"), x), {3},
              {-2.4076059644f, -1.4076059644f, -0.4076059644f});
}

TEST_CASE("reference softmax divides by the temperature first", "[softmax][reference]") {
  NDArray x({1, 2, 3}, Shape{3});
  CheckValues(Apply(Softmax("softmax", {{"temperature", "2"}}), x), {3},
              {0.1863237232f, 0.3071958857f, 0.5064803911f});
  CheckValues(Apply(Softmax("log_softmax", {{"temperature", "2"}}), x), {3},
              {-1.6802696706f, -1.1802696706f, -0.6802696706f});
  CheckValues(Apply(Softmax("softmax", {{"temperature", "None"}}), x), {3}, {kP1, kP2, kP3});
}

TEST_CASE("reference softmax is stable for large inputs", "[softmax][reference]") {
  CheckValues(Apply(Softmax("softmax"), NDArray({1000, 1001}, Shape{2})), {2},
              {0.2689414214f, 0.7310585786f});
  CheckValues(Apply(Softmax("softmax"), NDArray({-1000, -1000}, Shape{2})), {2}, {0.5f, 0.5f});
}

TEST_CASE("reference softmax along axis 0 and along negative axes", "[softmax][reference]") {
  NDArray x({1, 2, 3, 4}, Shape{2, 2});  // columns (1, 3) and (2, 4)
  const float lo = 0.1192029220f, hi = 0.8807970780f;
  CheckValues(Apply(Softmax("softmax", {{"axis", "0"}}), x), {2, 2}, {lo, lo, hi, hi});
  CheckValues(Apply(Softmax("softmax", {{"axis", "-2"}}), x), {2, 2}, {lo, lo, hi, hi});
  NDArray rows({1, 2, 3, 1, 2, 3}, Shape{2, 3});
  CheckValues(Apply(Softmax("softmax", {{"axis", "-1"}}), rows), {2, 3},
              {kP1, kP2, kP3, kP1, kP2, kP3});
}

TEST_CASE("reference SoftmaxOutput normalises over everything but the batch axis",
          "[softmax][reference]") {
  NDArray x({1, 2, 3, 4}, Shape{1, 2, 1, 2});
  CheckValues(Apply(Softmax("SoftmaxOutput"), x), {1, 2, 1, 2},
              {0.0320586033f, 0.0871443187f, 0.2368828181f, 0.6439142599f});
  // SoftmaxActivation in instance mode does not: MXNet's CPU kernel normalises over the last
  // axis (FlatTo2D), which test/conformance/cases/core.py checks against MXNet.
  CheckValues(Apply(Softmax("SoftmaxActivation"), x), {1, 2, 1, 2},
              {0.2689414214f, 0.7310585786f, 0.2689414214f, 0.7310585786f});
}

TEST_CASE("reference channel softmax normalises across channels at each position",
          "[softmax][reference]") {
  // Channel 0 holds (1, 2), channel 1 holds (3, 4): positions see (1, 3) and (2, 4).
  NDArray x({1, 2, 3, 4}, Shape{1, 2, 1, 2});
  const float lo = 0.1192029220f, hi = 0.8807970780f;
  CheckValues(Apply(Softmax("SoftmaxActivation", {{"mode", "channel"}}), x), {1, 2, 1, 2},
              {lo, lo, hi, hi});
  CheckValues(Apply(Softmax("SoftmaxOutput", {{"multi_output", "True"}}), x), {1, 2, 1, 2},
              {lo, lo, hi, hi});
  // preserve_shape: the last axis.
  CheckValues(Apply(Softmax("SoftmaxOutput", {{"preserve_shape", "True"}}), x), {1, 2, 1, 2},
              {0.2689414214f, 0.7310585786f, 0.2689414214f, 0.7310585786f});
}

TEST_CASE("Softmax is an alias of SoftmaxOutput", "[softmax]") {
  NDArray x({1, 2, 3}, Shape{1, 3});
  CheckValues(Apply(Softmax("Softmax"), x), {1, 3}, {kP1, kP2, kP3});
}

TEST_CASE("softmax axis out of range is a ShapeError", "[softmax][errors]") {
  CHECK_THROWS_AS(Softmax("softmax", {{"axis", "2"}}).InferShapeMap({{"data", Shape{2, 3}}}),
                  ShapeError);
  CHECK_THROWS_AS(Softmax("log_softmax", {{"axis", "-3"}}).InferShapeMap({{"data", Shape{2, 3}}}),
                  ShapeError);
  CachedOp op(Softmax("softmax", {{"axis", "3"}}), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({2, 3})}), ShapeError);
  CHECK_NOTHROW(op.Forward({testing::random_input({2, 3, 4, 5})}));
}

TEST_CASE("bad softmax attributes: FormatError, or Unsupported for use_length and dtype",
          "[softmax][errors]") {
  CHECK_THROWS_AS(Softmax("softmax", {{"temperature", "0"}}), FormatError);
  CHECK_THROWS_AS(Softmax("softmax", {{"axis", "x"}}), FormatError);
  CHECK_THROWS_AS(Softmax("SoftmaxActivation", {{"mode", "spatial"}}), FormatError);
  CHECK_THROWS_AS(Softmax("softmax", {{"use_length", "True"}}), Unsupported);
  CHECK_THROWS_AS(Softmax("softmax", {{"dtype", "float16"}}), Unsupported);
  CHECK_NOTHROW(Softmax("softmax", {{"dtype", "float32"}, {"use_length", "False"}}));
}

TEST_CASE("softmax on int32 data is a TypeError", "[softmax][errors]") {
  CachedOp op(Softmax("softmax"), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({NDArray(Shape{2, 3}, Context::cpu(), DType::i32)}), TypeError);
}
