// Element-wise arithmetic: elemwise_* (equal shapes), broadcast_* (numpy rules), the _*_scalar ops
// and clip. Every backend against the reference, the reference against known values, typed errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Binary(const std::string& op) {
  return Operator(op)(Data("lhs"))(Data("rhs")).CreateSymbol("bin");
}

Symbol Unary(const std::string& op, AttrMap attrs) {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol("un");
}

// Divisors kept away from zero so relative errors stay meaningful.
std::map<std::string, NDArray> Operands(const Shape& lhs, const Shape& rhs, uint32_t seed) {
  return {{"lhs", testing::random_input(lhs, seed, -2, 2)},
          {"rhs", testing::random_input(rhs, seed + 1, 0.5f, 2)}};
}

NDArray ApplyBinary(const std::string& op, const NDArray& lhs, const NDArray& rhs) {
  return RunReference1(Binary(op), {}, {{"lhs", lhs}, {"rhs", rhs}});
}

NDArray ApplyUnary(const std::string& op, AttrMap attrs, const std::vector<float>& x) {
  return RunReference1(Unary(op, std::move(attrs)), {},
                       {{"data", NDArray(x, Shape{static_cast<int64_t>(x.size())})}});
}

const std::vector<std::string> kElemwise = {"elemwise_add", "elemwise_sub", "elemwise_mul",
                                            "elemwise_div"};
const std::vector<std::string> kBroadcast = {"broadcast_add", "broadcast_sub", "broadcast_mul",
                                             "broadcast_div"};

}  // namespace

TEST_CASE("elemwise_* backends match the reference on equal shapes", "[elemwise]") {
  uint32_t seed = 110;
  for (const std::string& op : kElemwise) {
    for (Shape s : {Shape{3, 4, 5}, Shape{1, 3, 7, 5}, Shape{17}, Shape{2, 1, 3, 1, 2}}) {
      INFO(op << " on " << s.ToString());
      CheckBackends(Binary(op), Operands(s, s, seed += 2), Dnnl::kUsed);
    }
  }
}

TEST_CASE("broadcast_* backends match the reference when only rhs broadcasts",
          "[elemwise][broadcast]") {
  struct Case {
    Shape lhs, rhs;
  };
  const std::vector<Case> cases = {{{3, 4, 5}, {4, 5}},       {{3, 4, 5}, {1, 4, 1}},
                                   {{2, 3, 4, 5}, {3, 1, 1}}, {{3, 4}, {1}},
                                   {{3, 4}, {3, 4}},          {{2, 3, 7, 5}, {1, 3, 1, 1}}};
  uint32_t seed = 130;
  for (const std::string& op : kBroadcast) {
    for (const Case& c : cases) {
      INFO(op << " of " << c.lhs.ToString() << " and " << c.rhs.ToString());
      CheckBackends(Binary(op), Operands(c.lhs, c.rhs, seed += 2), Dnnl::kUsed);
    }
  }
}

TEST_CASE("broadcast_* when lhs broadcasts: commutative ops still use oneDNN",
          "[elemwise][broadcast]") {
  uint32_t seed = 150;
  for (const std::string& op : kBroadcast) {
    const bool commutes = op == "broadcast_add" || op == "broadcast_mul";
    for (auto [lhs, rhs] :
         {std::pair{Shape{4, 5}, Shape{3, 4, 5}}, std::pair{Shape{1, 5}, Shape{3, 5}}}) {
      INFO(op << " of " << lhs.ToString() << " and " << rhs.ToString());
      CheckBackends(Binary(op), Operands(lhs, rhs, seed += 2),
                    commutes ? Dnnl::kUsed : Dnnl::kFallback);
    }
  }
}

TEST_CASE("broadcast_* when both sides broadcast falls back to the reference",
          "[elemwise][broadcast]") {
  uint32_t seed = 170;
  for (const std::string& op : kBroadcast) {
    INFO(op);
    CheckBackends(Binary(op), Operands({3, 1, 5}, {1, 4, 1}, seed += 2), Dnnl::kFallback);
    CheckBackends(Binary(op), Operands({3, 1}, {4}, seed += 2), Dnnl::kFallback);
  }
}

TEST_CASE("broadcast output shapes follow numpy rules", "[elemwise][broadcast][shape]") {
  Symbol add = Binary("broadcast_add");
  CHECK(InferredOutput(add, {{"lhs", Shape{3, 1, 5}}, {"rhs", Shape{1, 4, 1}}}) == Shape{3, 4, 5});
  CHECK(InferredOutput(add, {{"lhs", Shape{3, 1}}, {"rhs", Shape{4}}}) == Shape{3, 4});
  CHECK(InferredOutput(add, {{"lhs", Shape{1}}, {"rhs", Shape{2, 3, 4}}}) == Shape{2, 3, 4});
}

TEST_CASE("reference elemwise_* on known values", "[elemwise][reference]") {
  NDArray a({1, 2, 3, 4}, Shape{2, 2}), b({2, 4, -1, 0.5f}, Shape{2, 2});
  CheckValues(ApplyBinary("elemwise_add", a, b), {2, 2}, {3, 6, 2, 4.5f});
  CheckValues(ApplyBinary("elemwise_sub", a, b), {2, 2}, {-1, -2, 4, 3.5f});
  CheckValues(ApplyBinary("elemwise_mul", a, b), {2, 2}, {2, 8, -3, 2});
  CheckValues(ApplyBinary("elemwise_div", a, b), {2, 2}, {0.5f, 0.5f, -3, 8});
}

TEST_CASE("reference elemwise aliases compute the same op", "[elemwise][reference]") {
  NDArray a({1, 2}, Shape{2}), b({4, 8}, Shape{2});
  for (std::string op : {"_Plus", "_plus", "_add"})
    CheckValues(ApplyBinary(op, a, b), {2}, {5, 10});
  for (std::string op : {"_Minus", "_minus", "_sub"})
    CheckValues(ApplyBinary(op, a, b), {2}, {-3, -6});
  for (std::string op : {"_Mul", "_mul"}) CheckValues(ApplyBinary(op, a, b), {2}, {4, 16});
  for (std::string op : {"_Div", "_div"}) CheckValues(ApplyBinary(op, a, b), {2}, {0.25f, 0.25f});
  CheckValues(ApplyBinary("broadcast_plus", a, b), {2}, {5, 10});
  CheckValues(ApplyBinary("broadcast_minus", a, b), {2}, {-3, -6});
}

TEST_CASE("reference broadcast_* on known values", "[elemwise][broadcast][reference]") {
  NDArray m({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CheckValues(ApplyBinary("broadcast_add", m, NDArray({10, 20, 30}, Shape{3})), {2, 3},
              {11, 22, 33, 14, 25, 36});
  CheckValues(ApplyBinary("broadcast_div", m, NDArray({1, 2}, Shape{2, 1})), {2, 3},
              {1, 2, 3, 2, 2.5f, 3});
  NDArray col({2, 3}, Shape{2, 1}), row({1, 10, 100}, Shape{1, 3});
  CheckValues(ApplyBinary("broadcast_mul", col, row), {2, 3}, {2, 20, 200, 3, 30, 300});
  CheckValues(ApplyBinary("broadcast_sub", col, row), {2, 3}, {1, -8, -98, 2, -7, -97});
  CheckValues(ApplyBinary("broadcast_sub", row, col), {2, 3}, {-1, 8, 98, -2, 7, 97});
}

TEST_CASE("reference scalar ops on known values", "[elemwise][scalar][reference]") {
  const std::vector<float> x = {-2, 0, 3};
  const AttrMap s = {{"scalar", "1.5"}};
  CheckValues(ApplyUnary("_plus_scalar", s, x), {3}, {-0.5f, 1.5f, 4.5f});
  CheckValues(ApplyUnary("_minus_scalar", s, x), {3}, {-3.5f, -1.5f, 1.5f});
  CheckValues(ApplyUnary("_rminus_scalar", s, x), {3}, {3.5f, 1.5f, -1.5f});
  CheckValues(ApplyUnary("_mul_scalar", s, x), {3}, {-3, 0, 4.5f});
  CheckValues(ApplyUnary("_div_scalar", s, x), {3}, {-4.0f / 3, 0, 2});
  // Legacy spellings, and MXNet 1.8's is_int attribute.
  CheckValues(ApplyUnary("_PlusScalar", s, x), {3}, {-0.5f, 1.5f, 4.5f});
  CheckValues(ApplyUnary("_MinusScalar", s, x), {3}, {-3.5f, -1.5f, 1.5f});
  CheckValues(ApplyUnary("_RMinusScalar", s, x), {3}, {3.5f, 1.5f, -1.5f});
  CheckValues(ApplyUnary("_MulScalar", {{"scalar", "2"}, {"is_int", "True"}}, x), {3}, {-4, 0, 6});
  CheckValues(ApplyUnary("_DivScalar", {{"scalar", "-2"}}, x), {3}, {1, 0, -1.5f});
}

TEST_CASE("reference clip limits values to [a_min, a_max]", "[elemwise][clip][reference]") {
  CheckValues(ApplyUnary("clip", {{"a_min", "-1"}, {"a_max", "2"}}, {-3, -1, 0.5f, 2, 5}), {5},
              {-1, -1, 0.5f, 2, 2});
  CheckValues(ApplyUnary("clip", {{"a_min", "0"}, {"a_max", "0"}}, {-3, 4}), {2}, {0, 0});
}

TEST_CASE("scalar ops and clip inside a oneDNN graph match the reference", "[elemwise][scalar]") {
  // relu (oneDNN) -> _mul_scalar -> clip -> broadcast_add (oneDNN) with a bias-like rhs.
  Symbol x = Operator("Activation").SetParam("act_type", "relu")(Data()).CreateSymbol("relu");
  x = Operator("_mul_scalar").SetParam("scalar", 3.0)(x).CreateSymbol("mul");
  x = Operator("clip").SetParam("a_min", -0.5).SetParam("a_max", 1.5)(x).CreateSymbol("clip");
  x = Operator("broadcast_add")(x)(Data("bias")).CreateSymbol("add");
  CheckBackends(x,
                {{"data", testing::random_input({2, 3, 4, 5}, 5)},
                 {"bias", testing::random_input({3, 1, 1}, 6)}},
                Dnnl::kUsed);
}

TEST_CASE("elemwise_* with different shapes is a ShapeError", "[elemwise][errors]") {
  for (const std::string& op : kElemwise) {
    INFO(op);
    CHECK_THROWS_AS(Binary(op).InferShapeMap({{"lhs", Shape{2, 3}}, {"rhs", Shape{3, 2}}}),
                    ShapeError);
    CHECK_THROWS_AS(Binary(op).InferShapeMap({{"lhs", Shape{2, 3}}, {"rhs", Shape{3}}}),
                    ShapeError);
  }
  CachedOp op(Binary("elemwise_add"), {}, Context::cpu());
  CHECK_THROWS_AS(
      op.Forward({{"lhs", testing::random_input({2, 3})}, {"rhs", testing::random_input({2, 4})}}),
      ShapeError);
}

TEST_CASE("broadcast_* with incompatible shapes is a ShapeError", "[elemwise][broadcast][errors]") {
  for (const std::string& op : kBroadcast) {
    INFO(op);
    CHECK_THROWS_AS(Binary(op).InferShapeMap({{"lhs", Shape{2, 3}}, {"rhs", Shape{4}}}),
                    ShapeError);
    CHECK_THROWS_AS(Binary(op).InferShapeMap({{"lhs", Shape{2, 3, 4}}, {"rhs", Shape{3, 1, 4}}}),
                    ShapeError);
  }
}

TEST_CASE("bad scalar and clip attributes are FormatErrors", "[elemwise][errors]") {
  CHECK_THROWS_AS(Unary("_plus_scalar", {}), FormatError);
  CHECK_THROWS_AS(Unary("_mul_scalar", {{"scalar", "two"}}), FormatError);
  CHECK_THROWS_AS(Unary("clip", {{"a_min", "0"}}), FormatError);
  CHECK_THROWS_AS(Unary("clip", {{"a_max", "0"}}), FormatError);
  CHECK_THROWS_AS(Unary("clip", {{"a_min", "2"}, {"a_max", "1"}}), FormatError);
}

TEST_CASE("element-wise ops compute on integer data; mixed dtypes and int exp are TypeErrors",
          "[elemwise][errors]") {
  // Integer semantics (MXNet's, checked against MXNet in the conformance cases): truncating
  // division, mod with the divisor's sign.
  NDArray lhs(std::vector<int32_t>{7, -7, 7, -7}, Shape{2, 2});
  NDArray rhs(std::vector<int32_t>{3, 3, -3, -3}, Shape{2, 2});
  CHECK(CachedOp(Binary("elemwise_div"), {}, Context::cpu()).Forward({{"lhs", lhs}, {"rhs", rhs}})[0]
            .ToVector<int32_t>() == std::vector<int32_t>{2, -2, -2, 2});
  CHECK(CachedOp(Binary("_mod"), {}, Context::cpu()).Forward({{"lhs", lhs}, {"rhs", rhs}})[0]
            .ToVector<int32_t>() == std::vector<int32_t>{1, 2, -2, -1});
  CachedOp add(Binary("elemwise_add"), {}, Context::cpu());
  CHECK_THROWS_AS(add.Forward({{"lhs", lhs}, {"rhs", testing::random_input({2, 2})}}), TypeError);
  CachedOp exp(Unary("exp", {}), {}, Context::cpu());
  CHECK_THROWS_AS(exp.Forward({lhs}), TypeError);
}

TEST_CASE("a binary op reading the same input twice matches the reference", "[elemwise]") {
  Symbol x = Data();
  for (std::string op : {"elemwise_mul", "elemwise_add", "elemwise_sub", "broadcast_div"}) {
    INFO(op);
    CheckBackends(Operator(op)(x)(x).CreateSymbol("self"),
                  {{"data", testing::random_input({3, 7, 5}, 2, 0.5f, 2)}}, Dnnl::kUsed);
  }
  CheckValues(RunReference1(Operator("elemwise_mul")(x)(x).CreateSymbol("sq"), {},
                            {{"data", NDArray({-3, 2}, Shape{2})}}),
              {2}, {9, 4});
}

TEST_CASE("a value used by two consumers and added back matches the reference", "[elemwise]") {
  // y = relu(x) + sigmoid(relu(x)): relu's output must stay alive for both readers.
  Symbol r = op::Activation("relu", Data());
  Symbol s = op::Activation("sig", r, {.act_type = "sigmoid"});
  Symbol y = Operator("elemwise_add")(r)(s).CreateSymbol("sum");
  CheckBackends(y, {{"data", testing::random_input({2, 3, 7, 5}, 3)}}, Dnnl::kUsed);
  CheckValues(RunReference1(y, {}, {{"data", NDArray({-1, 0}, Shape{2})}}), {2}, {0.5f, 0.5f});
}
