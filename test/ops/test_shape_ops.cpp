// Ops that only move data: Flatten, Reshape (MXNet codes 0 -1 -2 -3 -4, reverse, the legacy
// target_shape), transpose, and the inference-time copies Dropout / identity / _copy / BlockGrad.
// Shape inference against MXNet's documented results, values through the reference, inside a
// oneDNN graph on every backend, and typed errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Reshape(const std::vector<int64_t>& codes, bool reverse = false) {
  return Operator("Reshape")
      .SetParam("shape", codes)
      .SetParam("reverse", reverse)
      .SetInput("data", Data())
      .CreateSymbol("reshape");
}

Shape Reshaped(const Shape& in, const std::vector<int64_t>& codes, bool reverse = false) {
  return InferredOutput(Reshape(codes, reverse), {{"data", in}});
}

Symbol Transpose(const std::vector<int64_t>& axes) {
  Operator b("transpose");
  if (!axes.empty()) b.SetParam("axes", axes);
  return b.SetInput("data", Data()).CreateSymbol("t");
}

Symbol Unary(const std::string& op, AttrMap attrs = {}) {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol("u");
}

// What transposing a row-major array of `in` by `axes` gives, computed index by index.
std::vector<float> TransposeByHand(const std::vector<float>& x, const Shape& in,
                                   const std::vector<int64_t>& axes) {
  const int n = in.ndim();
  std::vector<int64_t> out_dims(n), in_strides(n, 1);
  for (int i = n - 2; i >= 0; --i) in_strides[i] = in_strides[i + 1] * in[i + 1];
  for (int i = 0; i < n; ++i) out_dims[i] = in[static_cast<int>(axes[i])];
  std::vector<float> out;
  std::vector<int64_t> index(n, 0);
  for (int64_t k = 0; k < in.Size(); ++k) {
    int64_t offset = 0;
    for (int i = 0; i < n; ++i) offset += index[i] * in_strides[axes[i]];
    out.push_back(x[offset]);
    for (int i = n - 1; i >= 0 && ++index[i] == out_dims[i]; --i) index[i] = 0;
  }
  return out;
}

}  // namespace

TEST_CASE("Reshape codes 0 and -1 give MXNet's documented shapes", "[reshape][shape]") {
  CHECK(Reshaped({2, 3, 4}, {4, 0, 2}) == Shape{4, 3, 2});
  CHECK(Reshaped({2, 3, 4}, {2, 0, 0}) == Shape{2, 3, 4});
  CHECK(Reshaped({2, 3, 4}, {6, 1, -1}) == Shape{6, 1, 4});
  CHECK(Reshaped({2, 3, 4}, {3, -1, 8}) == Shape{3, 1, 8});
  CHECK(Reshaped({2, 3, 4}, {-1}) == Shape{24});
  CHECK(Reshaped({2, 3, 4}, {0, -1}) == Shape{2, 12});
}

TEST_CASE("Reshape code -2 copies the remaining dims", "[reshape][shape]") {
  CHECK(Reshaped({2, 3, 4}, {-2}) == Shape{2, 3, 4});
  CHECK(Reshaped({2, 3, 4}, {2, -2}) == Shape{2, 3, 4});
  CHECK(Reshaped({2, 3, 4}, {-2, 1, 1}) == Shape{2, 3, 4, 1, 1});
}

TEST_CASE("Reshape code -3 merges two dims", "[reshape][shape]") {
  CHECK(Reshaped({2, 3, 4}, {-3, 4}) == Shape{6, 4});
  CHECK(Reshaped({2, 3, 4, 5}, {-3, -3}) == Shape{6, 20});
  CHECK(Reshaped({2, 3, 4}, {0, -3}) == Shape{2, 12});
  CHECK(Reshaped({2, 3, 4}, {-3, -2}) == Shape{6, 4});
}

TEST_CASE("Reshape code -4 splits a dim, one side may be -1", "[reshape][shape]") {
  CHECK(Reshaped({2, 3, 4}, {-4, 1, 2, -2}) == Shape{1, 2, 3, 4});
  CHECK(Reshaped({2, 3, 4}, {2, -4, -1, 3, -2}) == Shape{2, 1, 3, 4});
  CHECK(Reshaped({6, 4}, {-4, 2, -1, 0}) == Shape{2, 3, 4});
}

TEST_CASE("Reshape reverse applies the codes from the right", "[reshape][shape]") {
  CHECK(Reshaped({10, 5, 4}, {-1, 0}) == Shape{40, 5});
  CHECK(Reshaped({10, 5, 4}, {-1, 0}, true) == Shape{50, 4});
  // Right-aligned: -1 pairs with the last input dim, 0 copies the one before it.
  CHECK(Reshaped({2, 3, 4}, {0, -1}, true) == Shape{3, 8});
  CHECK(Reshaped({2, 3, 4}, {0, -1}) == Shape{2, 12});
}

TEST_CASE("Reshape's legacy target_shape and keep_highest map onto the codes", "[reshape][shape]") {
  Symbol infer_one =
      Operator("Reshape").SetParam("target_shape", Shape{0, 4})(Data()).CreateSymbol("r");
  CHECK(InferredOutput(infer_one, {{"data", Shape{2, 3, 4}}}) == Shape{6, 4});
  Symbol keep = Operator("Reshape")
                    .SetParam("target_shape", Shape{5, 0})
                    .SetParam("keep_highest", true)(Data())
                    .CreateSymbol("r");
  CHECK(InferredOutput(keep, {{"data", Shape{2, 3, 4}}}) == Shape{2, 12});
}

TEST_CASE("reference Reshape and Flatten keep the values in row-major order",
          "[reshape][flatten][reference]") {
  NDArray x = Iota({2, 3, 4});
  const std::vector<float> values = x.ToVector<float>();
  CHECK(RunReference1(Reshape({4, -1}), {}, {{"data", x}}).shape() == Shape{4, 6});
  CHECK(RunReference1(Reshape({4, -1}), {}, {{"data", x}}).ToVector<float>() == values);
  CHECK(RunReference1(Operator("reshape").SetParam("shape", Shape{-3, 0})(Data()).CreateSymbol("r"),
                      {}, {{"data", x}})
            .shape() == Shape{6, 4});
  for (std::string op : {"Flatten", "flatten"}) {
    NDArray flat = RunReference1(Unary(op), {}, {{"data", x}});
    CHECK(flat.shape() == Shape{2, 12});
    CHECK(flat.ToVector<float>() == values);
  }
  CHECK(RunReference1(Unary("Flatten"), {}, {{"data", Iota({5})}}).shape() == Shape{5, 1});
}

TEST_CASE("reference transpose: default reverses the axes", "[transpose][reference]") {
  NDArray m = Iota({2, 3});  // [[0 1 2] [3 4 5]]
  CheckValues(RunReference1(Transpose({}), {}, {{"data", m}}), {3, 2}, {0, 3, 1, 4, 2, 5});
  NDArray cube = Iota({2, 3, 4});
  CheckValues(RunReference1(Transpose({}), {}, {{"data", cube}}), {4, 3, 2},
              TransposeByHand(cube.ToVector<float>(), {2, 3, 4}, {2, 1, 0}));
}

TEST_CASE("reference transpose with explicit axes", "[transpose][reference]") {
  // out[i][j][k] = in[j][i][k].
  CheckValues(RunReference1(Transpose({1, 0, 2}), {}, {{"data", Iota({2, 2, 2})}}), {2, 2, 2},
              {0, 1, 4, 5, 2, 3, 6, 7});
  NDArray x = Iota({2, 3, 4, 5});
  for (std::vector<int64_t> axes :
       {std::vector<int64_t>{2, 0, 1, 3}, {0, 3, 1, 2}, {3, 2, 1, 0}, {0, 1, 2, 3}}) {
    INFO("axes " << Shape(axes).ToString());
    Shape out{x.shape()[static_cast<int>(axes[0])], x.shape()[static_cast<int>(axes[1])],
              x.shape()[static_cast<int>(axes[2])], x.shape()[static_cast<int>(axes[3])]};
    CheckValues(RunReference1(Transpose(axes), {}, {{"data", x}}), out,
                TransposeByHand(x.ToVector<float>(), x.shape(), axes));
  }
  Symbol alias = Operator("Transpose").SetParam("axes", Shape{1, 0})(Data()).CreateSymbol("t");
  CheckValues(RunReference1(alias, {}, {{"data", Iota({2, 3})}}), {3, 2}, {0, 3, 1, 4, 2, 5});
}

TEST_CASE("reference Dropout, identity, _copy, BlockGrad and stop_gradient pass data through",
          "[copy][reference]") {
  NDArray x = testing::random_input({2, 3, 5}, 3);
  const std::vector<float> values = x.ToVector<float>();
  for (std::string op : {"Dropout", "identity", "_copy", "BlockGrad", "stop_gradient"}) {
    INFO(op);
    NDArray out = RunReference1(Unary(op), {}, {{"data", x}});
    CHECK(out.shape() == x.shape());
    CHECK(out.ToVector<float>() == values);
  }
  // Dropout is a no-op at inference whatever p and mode are: no 1/(1-p) scaling.
  NDArray dropped =
      RunReference1(Unary("Dropout", {{"p", "0.5"}, {"mode", "always"}}), {}, {{"data", x}});
  CHECK(dropped.ToVector<float>() == values);
}

TEST_CASE("copy ops pass non-float data through unchanged", "[copy][reference]") {
  std::vector<int32_t> ints = {1, -2, 3, 2147483647};
  NDArray x(ints, Shape{2, 2});
  for (std::string op : {"identity", "Flatten", "Dropout"}) {
    INFO(op);
    NDArray out = RunReference1(Unary(op), {}, {{"data", x}});
    CHECK(out.dtype() == DType::i32);
    CHECK(out.ToVector<int32_t>() == ints);
  }
  NDArray r = RunReference1(Reshape({-1}), {}, {{"data", x}});
  CHECK(r.shape() == Shape{4});
  CHECK(r.ToVector<int32_t>() == ints);
}

TEST_CASE("shape ops between oneDNN ops match the reference on every backend",
          "[reshape][transpose][copy]") {
  // conv (oneDNN) -> Reshape -> transpose -> Dropout -> relu (oneDNN) -> Flatten -> FC (oneDNN).
  Symbol x = op::Convolution("conv", Data(), {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  x = Operator("Reshape").SetParam("shape", Shape{0, 0, -3})(x).CreateSymbol("r");
  x = Operator("transpose").SetParam("axes", Shape{0, 2, 1})(x).CreateSymbol("t");
  x = op::Dropout("drop", x);
  x = Operator("identity")(x).CreateSymbol("id");
  x = op::Activation("relu", x);
  x = Operator("BlockGrad")(x).CreateSymbol("bg");
  x = op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 6});
  for (Shape s : {Shape{1, 3, 7, 5}, Shape{3, 3, 4, 4}}) {
    INFO("data " << s.ToString());
    const NDArray data = testing::random_input(s, 8);
    CheckBackends(x, {{"data", data}}, Dnnl::kUsed);
    if (BuildHasDnnl()) {
      const auto params = testing::random_params(x, {{"data", s}}, 1);
      CHECK(DnnlNodes(x, params, {{"data", data}}) ==
            std::vector<std::string>{"conv", "t", "relu", "fc"});
    }
  }
}

TEST_CASE("Reshape that changes the element count or misuses a code is a ShapeError",
          "[reshape][errors]") {
  const Shape in{2, 3, 4};
  CHECK_THROWS_AS(Reshaped(in, {5, 5}), ShapeError);
  CHECK_THROWS_AS(Reshaped(in, {-1, -1}), ShapeError);
  CHECK_THROWS_AS(Reshaped(in, {-1, 5}), ShapeError);
  CHECK_THROWS_AS(Reshaped(in, {0, 0, 0, 0}), ShapeError);  // 0 past the input dims
  CHECK_THROWS_AS(Reshaped(in, {-3, -3}), ShapeError);      // only one dim left for the second
  CHECK_THROWS_AS(Reshaped(in, {-4, 4, -1, -2}), ShapeError);
  CHECK_THROWS_AS(Reshaped(in, {-4, -1, -1, -2}), ShapeError);
  CHECK_THROWS_AS(Reshaped(in, {-4, 2}), ShapeError);
  CHECK_THROWS_WITH(Reshaped(in, {5, 5}), Catch::Contains("reshape"));
  CachedOp op(Reshape({3, 8}), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({2, 3, 5})}), ShapeError);
  CHECK_NOTHROW(op.Forward({testing::random_input({2, 3, 4})}));
}

TEST_CASE("bad Reshape and transpose attributes are FormatErrors", "[reshape][transpose][errors]") {
  CHECK_THROWS_AS(Reshape({2, -5}), FormatError);
  CHECK_THROWS_AS(Unary("Reshape"), FormatError);  // no shape
  CHECK_THROWS_AS(Unary("Reshape", {{"shape", "(2, x)"}}), FormatError);
  CHECK_THROWS_AS(Transpose({0, 0}), FormatError);
  CHECK_THROWS_AS(Transpose({1, 2}), FormatError);
}

TEST_CASE("transpose axes that do not fit the data are a ShapeError", "[transpose][errors]") {
  CHECK_THROWS_AS(InferredOutput(Transpose({1, 0}), {{"data", Shape{2, 3, 4}}}), ShapeError);
  CHECK(InferredOutput(Transpose({1, 0, 2}), {{"data", Shape{2, 3, 4}}}) == Shape{3, 2, 4});
}
