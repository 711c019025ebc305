// sum / mean: every axis set (none, one, several, negative, exclude), keepdims, against values
// computed by hand on 0..23 in a (2, 3, 4) array; inside a oneDNN graph on every backend; errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Reduce(const std::string& op, AttrMap attrs = {}) {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol("r");
}

// x[n][h][w] = 12n + 4h + w.
NDArray Apply(const Symbol& symbol) {
  return RunReference1(symbol, {}, {{"data", Iota({2, 3, 4})}});
}

}  // namespace

TEST_CASE("reference sum and mean over every axis give one element", "[reduce][reference]") {
  CheckValues(Apply(Reduce("sum")), {1}, {276});
  CheckValues(Apply(Reduce("mean")), {1}, {11.5f});
  CheckValues(Apply(Reduce("sum", {{"axis", "()"}})), {1}, {276});
  CheckValues(Apply(Reduce("sum", {{"axis", "None"}})), {1}, {276});
  CheckValues(Apply(Reduce("mean", {{"keepdims", "True"}})), {1, 1, 1}, {11.5f});
}

TEST_CASE("reference sum over one axis, positive or negative", "[reduce][reference]") {
  std::vector<float> over_n;  // 12 + 2i
  for (int i = 0; i < 12; ++i) over_n.push_back(12.0f + 2 * i);
  CheckValues(Apply(Reduce("sum", {{"axis", "0"}})), {3, 4}, over_n);
  CheckValues(Apply(Reduce("sum", {{"axis", "-3"}})), {3, 4}, over_n);
  // Over h: 36n + 12 + 3w.
  CheckValues(Apply(Reduce("sum", {{"axis", "1"}})), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  CheckValues(Apply(Reduce("sum", {{"axis", "(1,)"}})), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  // Over w: 48n + 16h + 6.
  CheckValues(Apply(Reduce("sum", {{"axis", "-1"}})), {2, 3}, {6, 22, 38, 54, 70, 86});
  CheckValues(Apply(Reduce("sum_axis", {{"axis", "2"}})), {2, 3}, {6, 22, 38, 54, 70, 86});
}

TEST_CASE("reference sum and mean over several axes, with keepdims", "[reduce][reference]") {
  // Over n and w: 60 + 32h.
  CheckValues(Apply(Reduce("sum", {{"axis", "(0, 2)"}})), {3}, {60, 92, 124});
  CheckValues(Apply(Reduce("sum", {{"axis", "(0, -1)"}, {"keepdims", "True"}})), {1, 3, 1},
              {60, 92, 124});
  CheckValues(Apply(Reduce("mean", {{"axis", "(0, 2)"}})), {3}, {7.5f, 11.5f, 15.5f});
  // Mean over h: 12n + 4 + w.
  CheckValues(Apply(Reduce("mean", {{"axis", "1"}, {"keepdims", "True"}})), {2, 1, 4},
              {4, 5, 6, 7, 16, 17, 18, 19});
}

TEST_CASE("reference reduce with exclude=True reduces every other axis", "[reduce][reference]") {
  CheckValues(Apply(Reduce("sum", {{"axis", "1"}, {"exclude", "True"}})), {3}, {60, 92, 124});
  CheckValues(Apply(Reduce("mean", {{"axis", "2"}, {"exclude", "True"}, {"keepdims", "True"}})),
              {1, 1, 4}, {10, 11, 12, 13});
}

TEST_CASE("reference mean of a 1-D array and of a single element", "[reduce][reference]") {
  CheckValues(
      RunReference1(Reduce("mean", {{"axis", "0"}}), {}, {{"data", NDArray({1, 2, 6}, Shape{3})}}),
      {1}, {3});
  CheckValues(RunReference1(Reduce("sum"), {}, {{"data", NDArray({-4}, Shape{1, 1})}}), {1}, {-4});
}

TEST_CASE("reduce inside a oneDNN graph matches the reference on every backend", "[reduce]") {
  // conv (oneDNN) -> mean over the spatial axes -> sum over channels with keepdims -> relu
  // (oneDNN).
  Symbol x = op::Convolution("conv", Data(), {.kernel = {3, 3}, .num_filter = 5, .pad = {1, 1}});
  x = Operator("mean").SetParam("axis", Shape{2, 3})(x).CreateSymbol("gap");
  x = Operator("sum").SetParam("axis", -1).SetParam("keepdims", true)(x).CreateSymbol("total");
  x = op::Activation("relu", x);
  for (Shape s : {Shape{1, 3, 7, 5}, Shape{3, 2, 4, 4}}) {
    INFO("data " << s.ToString());
    CheckBackends(x, {{"data", testing::random_input(s, 21)}}, Dnnl::kUsed);
  }
}

TEST_CASE("reduction axes out of range or repeated are ShapeErrors", "[reduce][errors]") {
  const std::map<std::string, Shape> data = {{"data", Shape{2, 3, 4}}};
  CHECK_THROWS_AS(InferredOutput(Reduce("sum", {{"axis", "3"}}), data), ShapeError);
  CHECK_THROWS_AS(InferredOutput(Reduce("mean", {{"axis", "-4"}}), data), ShapeError);
  CHECK_THROWS_AS(InferredOutput(Reduce("sum", {{"axis", "(1, -2)"}}), data), ShapeError);
  CachedOp op(Reduce("sum", {{"axis", "2"}}), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({2, 3})}), ShapeError);
  CHECK_NOTHROW(op.Forward({testing::random_input({2, 3, 4})}));
}

TEST_CASE("bad reduce attributes are FormatErrors", "[reduce][errors]") {
  CHECK_THROWS_AS(Reduce("sum", {{"axis", "40"}}), FormatError);
  CHECK_THROWS_AS(Reduce("sum", {{"axis", "(0, x)"}}), FormatError);
  CHECK_THROWS_AS(Reduce("mean", {{"keepdims", "maybe"}}), FormatError);
  CHECK_THROWS_AS(Reduce("mean", {{"exclude", "2"}}), FormatError);
}

TEST_CASE("reduce on int32 data is a TypeError", "[reduce][errors]") {
  CachedOp op(Reduce("sum"), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({NDArray(Shape{2, 2}, Context::cpu(), DType::i32)}), TypeError);
}
