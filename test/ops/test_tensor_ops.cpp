// The tensor family (lib/ops/tensor_ops.cpp) beyond the MXNet conformance cases: typed errors
// for bad attributes, shapes and indices; operators without inputs inside a graph; dot in
// reduced precision; dtypes of index outputs.
#include <tuple>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Op(const std::string& op, const AttrMap& attrs, const std::map<std::string, Symbol>& inputs,
          const std::string& name = "t") {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  for (const auto& [k, v] : inputs) b.SetInput(k, v);
  return b.CreateSymbol(name);
}

Symbol Var(const std::string& name) { return Symbol::Variable(name); }

std::vector<NDArray> Run(const Symbol& s, const std::map<std::string, NDArray>& inputs,
                         const std::map<std::string, NDArray>& params = {},
                         CachedOpFlags flags = CachedOpFlags{.reference_only = true}) {
  CachedOp op(s, params, Context::cpu(), flags);
  return op.Forward(inputs);
}

}  // namespace

TEST_CASE("take mode='raise' and gather_nd reject out-of-range indices", "[tensor]") {
  const Symbol take = Op("take", {{"mode", "raise"}}, {{"a", Var("a")}, {"indices", Var("i")}});
  const NDArray a = Iota({4, 2});
  CheckValues(Run(take, {{"a", a}, {"i", NDArray({3, 0}, Shape{2})}})[0], {2, 2}, {6, 7, 0, 1});
  for (float bad : {4.0f, -1.0f, 3.5f}) {
    INFO("index " << bad);
    CHECK_THROWS_AS(Run(take, {{"a", a}, {"i", NDArray({0, bad}, Shape{2})}}), InvalidArgument);
  }
  // clip (the default) and wrap never fail.
  const Symbol clip = Op("take", {}, {{"a", Var("a")}, {"indices", Var("i")}});
  CheckValues(Run(clip, {{"a", a}, {"i", NDArray({9, -3}, Shape{2})}})[0], {2, 2}, {6, 7, 0, 1});

  const Symbol gather = Op("gather_nd", {}, {{"data", Var("d")}, {"indices", Var("i")}});
  CheckValues(Run(gather, {{"d", a}, {"i", NDArray({-1, 1}, Shape{2, 1})}})[0], {1}, {7});
  CHECK_THROWS_AS(Run(gather, {{"d", a}, {"i", NDArray({4, 1}, Shape{2, 1})}}), InvalidArgument);
  CHECK_THROWS_AS(Run(gather, {{"d", a}, {"i", NDArray({0, -3}, Shape{2, 1})}}), InvalidArgument);
}

TEST_CASE("bad tensor-family attributes are FormatError or Unsupported", "[tensor]") {
  const Symbol d = Var("data");
  CHECK_THROWS_AS(Op("norm", {{"ord", "3"}}, {{"data", d}}), FormatError);
  CHECK_THROWS_AS(Op("topk", {{"ret_typ", "values"}}, {{"data", d}}), FormatError);
  CHECK_THROWS_AS(Op("take", {{"mode", "nearest"}}, {{"a", d}, {"indices", Var("i")}}),
                  FormatError);
  CHECK_THROWS_AS(Op("pick", {{"mode", "raise"}}, {{"data", d}, {"index", Var("i")}}), FormatError);
  CHECK_THROWS_AS(Op("pick", {{"axis", "None"}}, {{"data", d}, {"index", Var("i")}}), Unsupported);
  CHECK_THROWS_AS(Op("Embedding", {{"input_dim", "0"}, {"output_dim", "3"}}, {{"data", d}}),
                  FormatError);
  CHECK_THROWS_AS(Op("one_hot", {{"depth", "3"}, {"dtype", "float128"}}, {{"indices", d}}),
                  FormatError);
  CHECK_THROWS_AS(Op("_arange", {{"start", "0"}, {"stop", "4"}, {"step", "0"}}, {}), FormatError);
  CHECK_THROWS_AS(Op("_arange", {{"start", "4"}, {"stop", "0"}}, {}), ShapeError);
  CHECK_THROWS_AS(Op("_arange", {{"start", "0"}, {"infer_range", "True"}}, {}), Unsupported);
  CHECK_THROWS_AS(Op("_zeros", {{"shape", "()"}}, {}), FormatError);
  CHECK_THROWS_AS(Op("_full", {{"shape", "(2,)"}}, {}), FormatError);  // value is required
  CHECK_THROWS_AS(Op("GroupNorm", {{"num_groups", "0"}}, {{"data", d}}), FormatError);
}

TEST_CASE("tensor-family shape errors are ShapeError", "[tensor]") {
  auto infer = [](const Symbol& s, const std::map<std::string, Shape>& shapes) {
    std::vector<Shape> args, outs, aux;
    s.InferShape(shapes, &args, &outs, &aux);
    return outs.at(0);
  };
  const Symbol d = Var("data");
  CHECK_THROWS_AS(
      infer(Op("GroupNorm", {{"num_groups", "2"}}, {{"data", d}}), {{"data", {2, 5, 3}}}),
      ShapeError);
  CHECK_THROWS_AS(infer(Op("InstanceNorm", {}, {{"data", d}}), {{"data", {2, 5}}}), ShapeError);
  CHECK_THROWS_AS(
      infer(Op("L2Normalization", {{"mode", "channel"}}, {{"data", d}}), {{"data", {2, 5}}}),
      ShapeError);
  CHECK_THROWS_AS(infer(Op("LayerNorm", {{"axis", "2"}}, {{"data", d}}), {{"data", {2, 5}}}),
                  ShapeError);
  CHECK_THROWS_AS(infer(Op("topk", {{"k", "6"}}, {{"data", d}}), {{"data", {2, 5}}}), ShapeError);
  CHECK_THROWS_AS(infer(Op("max", {{"axis", "(1, 1)"}}, {{"data", d}}), {{"data", {2, 5}}}),
                  ShapeError);
  CHECK_THROWS_AS(infer(Op("argmax", {{"axis", "-3"}}, {{"data", d}}), {{"data", {2, 5}}}),
                  ShapeError);
  const Symbol dot = Op("dot", {}, {{"lhs", Var("a")}, {"rhs", Var("b")}});
  CHECK_THROWS_AS(infer(dot, {{"a", {2, 3}}, {"b", {4, 5}}}), ShapeError);
  CHECK(infer(dot, {{"a", {2, 3, 4}}, {"b", {4, 5}}}) == Shape{2, 3, 5});
  const Symbol batch = Op("batch_dot", {}, {{"lhs", Var("a")}, {"rhs", Var("b")}});
  CHECK_THROWS_AS(infer(batch, {{"a", {3, 4}}, {"b", {4, 5}}}), ShapeError);
  CHECK_THROWS_AS(infer(batch, {{"a", {2, 3, 4}}, {"b", {3, 4, 5}}}), ShapeError);
  const Symbol where = Op("where", {}, {{"condition", Var("c")}, {"x", Var("x")}, {"y", Var("y")}});
  CHECK_THROWS_AS(infer(where, {{"c", {3}}, {"x", {2, 4}}, {"y", {2, 4}}}), ShapeError);
  CHECK_THROWS_AS(infer(where, {{"c", {2, 4}}, {"x", {2, 4}}, {"y", {2, 3}}}), ShapeError);
  const Symbol gather = Op("gather_nd", {}, {{"data", Var("a")}, {"indices", Var("b")}});
  CHECK_THROWS_AS(infer(gather, {{"a", {2, 3}}, {"b", {3}}}), ShapeError);
  CHECK_THROWS_AS(infer(gather, {{"a", {2, 3}}, {"b", {3, 1}}}), ShapeError);
}

TEST_CASE("operators without inputs run inside a graph and alone", "[tensor]") {
  const Symbol range = Op("_arange", {{"start", "1"}, {"stop", "4"}}, {}, "range");
  const Symbol sum = Op("elemwise_add", {}, {{"lhs", Var("data")}, {"rhs", range}}, "sum");
  const NDArray data({10, 20, 30}, Shape{3});
  for (bool reference : {true, false}) {
    INFO("reference_only " << reference);
    CachedOpFlags flags;
    flags.reference_only = reference;
    CheckValues(Run(sum, {{"data", data}}, {}, flags)[0], {3}, {11, 22, 33});
    const std::vector<NDArray> alone = Run(
        Op("_full", {{"shape", "(2, 2)"}, {"value", "3"}, {"dtype", "int32"}}, {}), {}, {}, flags);
    REQUIRE(alone.size() == 1);
    CHECK(alone[0].dtype() == DType::i32);
    CHECK(alone[0].ToVector<int32_t>() == std::vector<int32_t>{3, 3, 3, 3});
  }
}

TEST_CASE("index outputs have MXNet's dtypes", "[tensor]") {
  const NDArray x({0.5f, -1, 2, 0.25f}, Shape{2, 2});
  const std::vector<NDArray> both =
      Run(Op("topk", {{"ret_typ", "both"}, {"dtype", "int64"}}, {{"data", Var("data")}}),
          {{"data", x}});
  REQUIRE(both.size() == 2);
  CHECK(both[0].dtype() == DType::f32);
  CHECK(both[1].dtype() == DType::i64);
  CHECK(both[1].ToVector<int64_t>() == std::vector<int64_t>{0, 0});
  const NDArray shape = Run(Op("shape_array", {}, {{"data", Var("data")}}), {{"data", x}})[0];
  CHECK(shape.dtype() == DType::i64);
  CHECK(shape.ToVector<int64_t>() == std::vector<int64_t>{2, 2});
  const NDArray argmax =
      Run(Op("argmax", {{"axis", "1"}}, {{"data", Var("data")}}), {{"data", x}})[0];
  CheckValues(argmax, {2}, {0, 0});
}

TEST_CASE("LayerNorm and GroupNorm list MXNet's outputs", "[tensor]") {
  const Symbol d = Var("data");
  CHECK(Op("LayerNorm", {}, {{"data", d}}).ListOutputs().size() == 1);
  CHECK(Op("LayerNorm", {{"output_mean_var", "True"}}, {{"data", d}}).ListOutputs().size() == 3);
  CHECK(Op("GroupNorm", {{"output_mean_var", "True"}}, {{"data", d}}).ListOutputs().size() == 3);
  CHECK(Op("InstanceNorm", {}, {{"data", d}}).ListOutputs().size() == 1);
  CHECK(Op("L2Normalization", {}, {{"data", d}}).ListOutputs().size() == 1);
  CHECK(Op("topk", {{"ret_typ", "value"}}, {{"data", d}}).ListOutputs().size() == 1);
  CHECK(Op("sort", {}, {{"data", d}}).ListOutputs().size() == 1);
}

TEST_CASE("dot and batch_dot in float16 stay close to float32", "[tensor]") {
  const Symbol dot = Op("dot", {{"transpose_b", "True"}}, {{"lhs", Var("a")}, {"rhs", Var("b")}});
  const Symbol batch =
      Op("batch_dot", {{"transpose_a", "True"}}, {{"lhs", Var("a")}, {"rhs", Var("b")}});
  for (const auto& [symbol, a, b] : {std::tuple{dot, Shape{3, 8}, Shape{5, 8}},
                                     std::tuple{batch, Shape{2, 8, 3}, Shape{2, 8, 4}}}) {
    const std::map<std::string, NDArray> in = {{"a", testing::random_input(a, 3)},
                                               {"b", testing::random_input(b, 4)}};
    const std::vector<float> want = Run(symbol, in)[0].ToVector<float>();
    // On the CPU only the reference kernels compute in float16 (oneDNN's are float32 only).
    CachedOpFlags flags;
    flags.use_dnnl = false;
    flags.compute_dtype = DType::f16;
    const NDArray got = Run(symbol, in, {}, flags)[0];
    REQUIRE(got.dtype() == DType::f32);
    const std::vector<float> v = got.ToVector<float>();
    REQUIRE(v.size() == want.size());
    for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(want[i]).margin(2e-2));
  }
}

TEST_CASE("dot and batch_dot run on oneDNN and match the reference", "[tensor]") {
  struct Shapes {
    Shape a, b;
    bool ta, tb;
  };
  const std::vector<Shapes> dots = {{{3, 4}, {4, 5}, false, false},
                                    {{4, 3}, {5, 4}, true, true},
                                    {{2, 3, 4}, {4, 5, 2}, false, false},
                                    {{2, 3, 4}, {2, 3, 5}, true, false},
                                    {{4}, {3, 4}, false, true}};
  for (const Shapes& s : dots) {
    INFO("dot " << s.a.ToString() << " x " << s.b.ToString() << " ta " << s.ta << " tb " << s.tb);
    const Symbol dot = Op(
        "dot", {{"transpose_a", s.ta ? "True" : "False"}, {"transpose_b", s.tb ? "True" : "False"}},
        {{"lhs", Var("a")}, {"rhs", Var("b")}});
    CheckBackends(dot, {{"a", testing::random_input(s.a, 1)}, {"b", testing::random_input(s.b, 2)}},
                  Dnnl::kUsed);
  }
  const std::vector<Shapes> batches = {{{2, 3, 4}, {2, 4, 5}, false, false},
                                       {{3, 4, 2}, {3, 5, 4}, true, true},
                                       {{2, 2, 3, 4}, {2, 2, 5, 4}, false, true}};
  for (const Shapes& s : batches) {
    INFO("batch_dot " << s.a.ToString() << " x " << s.b.ToString());
    const Symbol dot =
        Op("batch_dot",
           {{"transpose_a", s.ta ? "True" : "False"}, {"transpose_b", s.tb ? "True" : "False"}},
           {{"lhs", Var("a")}, {"rhs", Var("b")}});
    CheckBackends(dot, {{"a", testing::random_input(s.a, 1)}, {"b", testing::random_input(s.b, 2)}},
                  Dnnl::kUsed);
  }
}
