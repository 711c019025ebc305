// Concat and SliceChannel (split): every backend against the reference (every dim incl. negative,
// uneven pieces, many inputs), the reference against known values, typed errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

// Concat of inputs named x0, x1, ... along `dim`.
Symbol Concat(size_t count, int dim) {
  Operator b("Concat");
  b.SetParam("num_args", count).SetParam("dim", dim);
  for (size_t i = 0; i < count; ++i) b(Data("x" + std::to_string(i)));
  return b.CreateSymbol("cat");
}

Symbol Split(int num_outputs, int axis, bool squeeze = false) {
  return Operator("SliceChannel")
      .SetParam("num_outputs", num_outputs)
      .SetParam("axis", axis)
      .SetParam("squeeze_axis", squeeze)
      .SetInput("data", Data())
      .CreateSymbol("split");
}

std::map<std::string, NDArray> RandomInputs(const std::vector<Shape>& shapes, uint32_t seed) {
  std::map<std::string, NDArray> inputs;
  for (size_t i = 0; i < shapes.size(); ++i)
    inputs["x" + std::to_string(i)] =
        testing::random_input(shapes[i], seed + static_cast<uint32_t>(i));
  return inputs;
}

}  // namespace

TEST_CASE("Concat backends match the reference along every dim", "[concat]") {
  struct Case {
    std::vector<Shape> inputs;
    int dim;
  };
  const std::vector<Case> cases = {
      {{{2, 3, 4, 5}, {2, 5, 4, 5}, {2, 1, 4, 5}}, 1},
      {{{1, 3}, {3, 3}}, 0},
      {{{2, 3, 4}, {2, 3, 1}}, -1},
      {{{2, 3, 4}, {2, 3, 1}}, 2},
      {{{1, 3, 7, 5}, {1, 3, 2, 5}}, -2},
      {{{3, 2, 5}, {3, 7, 5}}, -2},
      {{{4, 6}}, 1},  // a single input is a copy
      {{{2, 1, 3}, {2, 2, 3}, {2, 3, 3}, {2, 4, 3}, {2, 5, 3}}, 1},
      {{{1, 3, 7, 5}, {1, 3, 7, 5}}, -4},
  };
  uint32_t seed = 200;
  for (const Case& c : cases) {
    INFO(c.inputs.size() << " inputs along dim " << c.dim << ", first " << c.inputs[0].ToString());
    CheckBackends(Concat(c.inputs.size(), c.dim), RandomInputs(c.inputs, seed += 10), Dnnl::kUsed);
  }
}

TEST_CASE("SliceChannel into Concat round trips on every backend", "[split][concat]") {
  for (int axis : {1, -1, 0}) {
    INFO("axis " << axis);
    Symbol parts = Split(3, axis);
    Symbol joined = Operator("Concat")
                        .SetParam("num_args", 3)
                        .SetParam("dim", axis)(parts[0])(parts[2])(parts[1])
                        .CreateSymbol("cat");
    CheckBackends(joined, {{"data", testing::random_input({3, 6, 3}, 7)}}, Dnnl::kUsed);
  }
}

TEST_CASE("SliceChannel backends match the reference (multi-output)", "[split]") {
  uint32_t seed = 220;
  for (int axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    auto report =
        CheckBackends(Split(2, axis), {{"data", testing::random_input({4, 6, 2}, seed++)}});
    // Two outputs each, when a backend other than the reference ran.
    CHECK(report.comparisons.size() == 2 * (report.backends.size() - 1));
  }
}

TEST_CASE("reference Concat on known values along dims 0 and 1", "[concat][reference]") {
  NDArray a({1, 2, 3, 4}, Shape{2, 2});
  CheckValues(RunReference1(Concat(2, 0), {}, {{"x0", a}, {"x1", NDArray({5, 6}, Shape{1, 2})}}),
              {3, 2}, {1, 2, 3, 4, 5, 6});
  CheckValues(RunReference1(Concat(2, 1), {}, {{"x0", a}, {"x1", NDArray({5, 6}, Shape{2, 1})}}),
              {2, 3}, {1, 2, 5, 3, 4, 6});
  CheckValues(RunReference1(Concat(2, -1), {}, {{"x0", a}, {"x1", NDArray({5, 6}, Shape{2, 1})}}),
              {2, 3}, {1, 2, 5, 3, 4, 6});
  CheckValues(RunReference1(Concat(3, 1), {},
                            {{"x0", NDArray({1}, Shape{1, 1})},
                             {"x1", NDArray({2, 3}, Shape{1, 2})},
                             {"x2", NDArray({4}, Shape{1, 1})}}),
              {1, 4}, {1, 2, 3, 4});
}

TEST_CASE("Concat's lowercase alias and default dim 1", "[concat][reference]") {
  Symbol cat =
      Operator("concat").SetParam("num_args", 2)(Data("x0"))(Data("x1")).CreateSymbol("cat");
  NDArray a({1, 2}, Shape{2, 1}), b({3, 4}, Shape{2, 1});
  CheckValues(RunReference1(cat, {}, {{"x0", a}, {"x1", b}}), {2, 2}, {1, 3, 2, 4});
}

TEST_CASE("reference SliceChannel cuts an axis into equal pieces", "[split][reference]") {
  NDArray x = Iota({2, 4});  // rows [0 1 2 3] and [4 5 6 7]
  std::vector<NDArray> cols = RunReference(Split(2, 1), {}, {{"data", x}});
  REQUIRE(cols.size() == 2);
  CheckValues(cols[0], {2, 2}, {0, 1, 4, 5});
  CheckValues(cols[1], {2, 2}, {2, 3, 6, 7});
  std::vector<NDArray> last = RunReference(Split(4, -1), {}, {{"data", x}});
  REQUIRE(last.size() == 4);
  CheckValues(last[3], {2, 1}, {3, 7});
  std::vector<NDArray> rows = RunReference(Split(2, 0), {}, {{"data", Iota({2, 3})}});
  REQUIRE(rows.size() == 2);
  CheckValues(rows[0], {1, 3}, {0, 1, 2});
  CheckValues(rows[1], {1, 3}, {3, 4, 5});
}

TEST_CASE("reference SliceChannel with squeeze_axis drops the split axis", "[split][reference]") {
  std::vector<NDArray> rows = RunReference(Split(3, 0, true), {}, {{"data", Iota({3, 2})}});
  REQUIRE(rows.size() == 3);
  CheckValues(rows[0], {2}, {0, 1});
  CheckValues(rows[1], {2}, {2, 3});
  CheckValues(rows[2], {2}, {4, 5});
  std::vector<NDArray> cols = RunReference(Split(2, 1, true), {}, {{"data", Iota({3, 2})}});
  REQUIRE(cols.size() == 2);
  CheckValues(cols[1], {3}, {1, 3, 5});
}

TEST_CASE("SliceChannel names its outputs and the split alias works", "[split]") {
  Symbol s = Split(3, 1);
  CHECK(s.ListOutputs() ==
        std::vector<std::string>{"split_output0", "split_output1", "split_output2"});
  Symbol alias = Operator("split").SetParam("num_outputs", 2)(Data()).CreateSymbol("sp");
  std::vector<NDArray> parts = RunReference(alias, {}, {{"data", Iota({1, 4})}});
  REQUIRE(parts.size() == 2);
  CheckValues(parts[1], {1, 2}, {2, 3});
}

TEST_CASE("Concat with mismatched shapes is a ShapeError", "[concat][errors]") {
  Symbol cat = Concat(2, 1);
  CHECK_THROWS_AS(cat.InferShapeMap({{"x0", Shape{2, 3}}, {"x1", Shape{3, 3}}}), ShapeError);
  CHECK_THROWS_AS(cat.InferShapeMap({{"x0", Shape{2, 3}}, {"x1", Shape{2, 3, 1}}}), ShapeError);
  CHECK_THROWS_AS(Concat(2, 2).InferShapeMap({{"x0", Shape{2, 3}}, {"x1", Shape{2, 3}}}),
                  ShapeError);
  CHECK_THROWS_AS(Concat(2, -3).InferShapeMap({{"x0", Shape{2, 3}}, {"x1", Shape{2, 3}}}),
                  ShapeError);
  CachedOp op(cat, {}, Context::cpu());
  CHECK_THROWS_AS(
      op.Forward({{"x0", testing::random_input({2, 3})}, {"x1", testing::random_input({3, 3})}}),
      ShapeError);
  CHECK_THROWS_WITH(
      op.Forward({{"x0", testing::random_input({2, 3})}, {"x1", testing::random_input({3, 3})}}),
      Catch::Contains("cat"));
}

TEST_CASE("SliceChannel that cannot split evenly or squeeze is a ShapeError", "[split][errors]") {
  CHECK_THROWS_AS(Split(4, 1).InferShapeMap({{"data", Shape{2, 6}}}), ShapeError);
  CHECK_THROWS_AS(Split(2, 1, true).InferShapeMap({{"data", Shape{2, 6}}}), ShapeError);
  CHECK_THROWS_AS(Split(2, 2).InferShapeMap({{"data", Shape{2, 6}}}), ShapeError);
  CHECK_THROWS_AS(Split(2, 0, true).InferShapeMap({{"data", Shape{2}}}), ShapeError);  // 0-d pieces
}

TEST_CASE("bad Concat and SliceChannel attributes are FormatErrors", "[concat][split][errors]") {
  CHECK_THROWS_AS(Operator("Concat").SetParam("num_args", 0).CreateSymbol("cat"), FormatError);
  CHECK_THROWS_AS(Operator("Concat")(Data("a")).CreateSymbol("cat"), FormatError);  // no num_args
  CHECK_THROWS_AS(
      Operator("Concat").SetParam("num_args", 1).SetParam("dim", "one")(Data()).CreateSymbol("cat"),
      FormatError);
  CHECK_THROWS_AS(Split(0, 1), FormatError);
  CHECK_THROWS_AS(Operator("SliceChannel")(Data()).CreateSymbol("split"),
                  FormatError);  // no num_outputs
  CHECK_THROWS_AS(Split(2, 40), FormatError);
}

TEST_CASE("Concat of the same input twice, and of split pieces added together", "[concat][split]") {
  Symbol x = Data();
  Symbol twice =
      Operator("Concat").SetParam("num_args", 2).SetParam("dim", 1)(x)(x).CreateSymbol("cat");
  CheckBackends(twice, {{"data", testing::random_input({2, 3, 4}, 3)}}, Dnnl::kUsed);
  CheckValues(RunReference1(twice, {}, {{"data", NDArray({1, 2}, Shape{2, 1})}}), {2, 2},
              {1, 1, 2, 2});
  Symbol parts = Split(2, 1);
  Symbol sum = Operator("elemwise_add")(parts[0])(parts[1]).CreateSymbol("sum");
  CheckBackends(sum, {{"data", testing::random_input({2, 6, 3}, 4)}}, Dnnl::kUsed);
  CheckValues(RunReference1(sum, {}, {{"data", Iota({1, 4})}}), {1, 2}, {2, 4});
}
