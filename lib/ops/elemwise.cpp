// The element-wise family: unary math (exp, sigmoid, logical_not, ...), binary arithmetic and
// comparison on equal shapes (elemwise_add, _maximum, _equal, ...) or with numpy broadcasting
// (broadcast_*), and the same functions with a scalar attribute (_plus_scalar, _rdiv_scalar, ...).
// The functions themselves are in lib/ops/elementwise.hpp; each line below registers one MXNet
// operator name for one of them.
#include <algorithm>

#include "lib/ops/builtin_table.hpp"
#include "lib/ops/elementwise.hpp"
#include "lib/ops/schema_util.hpp"
#include "lib/ref/kernels.hpp"
#if TANDEM_HAVE_DNNL
#include "lib/dnnl/kernels.hpp"
#endif
#if TANDEM_HAVE_CUDA
#include "lib/cuda/kernels.hpp"
#endif

namespace tandem::ops {
namespace {

using Aliases = std::vector<std::string>;

// elemwise_*: either operand's shape may be learnt from the other's or from the output's.
void InferElemwise(ShapeInferenceArgs& a) {
  Shape known;
  for (const Shape* s : {&a.in.at(0), &a.in.at(1), &a.out.at(0)})
    if (s->known()) {
      known = *s;
      break;
    }
  if (!known.known()) return;
  AssignShape(a.in, 0, known, a.node, "lhs");
  AssignShape(a.in, 1, known, a.node, "rhs");
  AssignShape(a.out, 0, known, a.node, "output");
}

void InferBroadcast(ShapeInferenceArgs& a) {
  const Shape& lhs = a.in.at(0);
  const Shape& rhs = a.in.at(1);
  if (!lhs.known() || !rhs.known()) return;
  const int ndim = std::max(lhs.ndim(), rhs.ndim());
  std::vector<int64_t> out(static_cast<size_t>(ndim));
  for (int i = 0; i < ndim; ++i) {
    const int li = i - (ndim - lhs.ndim()), ri = i - (ndim - rhs.ndim());
    const int64_t l = li >= 0 ? lhs[li] : 1, r = ri >= 0 ? rhs[ri] : 1;
    if (l != r && l != 1 && r != 1)
      FailShape(a.node, "shapes ", lhs.ToString(), " and ", rhs.ToString(),
                " cannot be broadcast together");
    out[i] = l == 1 ? r : l;
  }
  AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
}

// Functions that keep their meaning in float16 / bfloat16 (no division, no transcendental with a
// large dynamic range).
bool LowPrecisionSafe(BinaryKind k) {
  return k == BinaryKind::kAdd || k == BinaryKind::kSub || k == BinaryKind::kMul ||
         k == BinaryKind::kMaximum || k == BinaryKind::kMinimum;
}
bool LowPrecisionSafe(UnaryKind k) {
  return k == UnaryKind::kRelu || k == UnaryKind::kSigmoid || k == UnaryKind::kTanh ||
         k == UnaryKind::kNegative || k == UnaryKind::kAbs || k == UnaryKind::kOnesLike ||
         k == UnaryKind::kZerosLike;
}

OpSchema UnarySchema(std::string name, Aliases aliases, UnaryKind kind) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.parse = [kind](const AttrReader& r) {
    UnaryParams p{kind};
    if (kind == UnaryKind::kHardSigmoid) {  // MXNet's defaults
      p.a = static_cast<float>(r.Float("alpha", 0.2));
      p.b = static_cast<float>(r.Float("beta", 0.5));
    }
    return std::any(p);
  };
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.low_precision = LowPrecisionSafe(kind);
  return s;
}

OpSchema BinarySchema(std::string name, Aliases aliases, BinaryKind kind, bool broadcast) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.parse = [kind, broadcast](const AttrReader&) { return std::any(BinaryParams{kind, broadcast}); };
  s.arguments = FixedNames({"lhs", "rhs"});
  s.infer_shape = broadcast ? InferBroadcast : InferElemwise;
  s.elementwise = broadcast ? OpSchema::Elementwise::kBroadcast : OpSchema::Elementwise::kBinary;
  s.low_precision = LowPrecisionSafe(kind);
  return s;
}

OpSchema ScalarSchema(std::string name, Aliases aliases, BinaryKind kind, bool reversed) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  // MXNet 1.8+ also writes is_int; the value is applied as a float either way.
  s.parse = [kind, reversed](const AttrReader& r) {
    return std::any(ScalarParams{kind, RequiredFloat(r, "scalar"), reversed});
  };
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.low_precision = LowPrecisionSafe(kind);
  return s;
}

}  // namespace
}  // namespace tandem::ops

namespace tandem::detail {
namespace {

using ops::BinaryKind;
using ops::UnaryKind;

BuiltinOp Unary(std::string name, UnaryKind kind, ops::Aliases aliases = {}) {
  return {[=] { return ops::UnarySchema(name, aliases, kind); }, ref::MakeUnary, nullptr,
          CUDA_KERNEL(MakeUnary)};
}

// One binary function under its MXNet names: equal shapes, broadcasting, and with a scalar on
// the right (and on the left, for the functions that do not commute). An empty name: none.
struct BinaryNames {
  BinaryKind kind;
  std::string elemwise;
  ops::Aliases elemwise_aliases;
  std::string broadcast;
  ops::Aliases broadcast_aliases;
  std::string scalar;
  ops::Aliases scalar_aliases;
  std::string rscalar = {};
  ops::Aliases rscalar_aliases = {};
};

void AddBinary(std::vector<BuiltinOp>& out, const BinaryNames& n) {
  auto binary = [&](const std::string& name, const ops::Aliases& aliases, bool broadcast) {
    out.push_back({[=, kind = n.kind] { return ops::BinarySchema(name, aliases, kind, broadcast); },
                   ref::MakeBinary, DNNL_KERNEL(MakeBinary), CUDA_KERNEL(MakeBinary)});
  };
  auto scalar = [&](const std::string& name, const ops::Aliases& aliases, bool reversed) {
    out.push_back({[=, kind = n.kind] { return ops::ScalarSchema(name, aliases, kind, reversed); },
                   ref::MakeScalar, nullptr, CUDA_KERNEL(MakeScalar)});
  };
  if (!n.elemwise.empty()) binary(n.elemwise, n.elemwise_aliases, false);
  if (!n.broadcast.empty()) binary(n.broadcast, n.broadcast_aliases, true);
  if (!n.scalar.empty()) scalar(n.scalar, n.scalar_aliases, false);
  if (!n.rscalar.empty()) scalar(n.rscalar, n.rscalar_aliases, true);
}

}  // namespace

// clang-format off
std::vector<BuiltinOp> ElementwiseOps() {
  std::vector<BuiltinOp> ops = {
    Unary("relu", UnaryKind::kRelu),            Unary("sigmoid", UnaryKind::kSigmoid),
    Unary("hard_sigmoid", UnaryKind::kHardSigmoid), Unary("softsign", UnaryKind::kSoftsign),
    Unary("tanh", UnaryKind::kTanh),            Unary("exp", UnaryKind::kExp),
    Unary("expm1", UnaryKind::kExpm1),          Unary("log", UnaryKind::kLog),
    Unary("log1p", UnaryKind::kLog1p),          Unary("log2", UnaryKind::kLog2),
    Unary("log10", UnaryKind::kLog10),          Unary("sqrt", UnaryKind::kSqrt),
    Unary("rsqrt", UnaryKind::kRsqrt),          Unary("cbrt", UnaryKind::kCbrt),
    Unary("rcbrt", UnaryKind::kRcbrt),          Unary("square", UnaryKind::kSquare),
    Unary("abs", UnaryKind::kAbs),              Unary("negative", UnaryKind::kNegative),
    Unary("reciprocal", UnaryKind::kReciprocal), Unary("sign", UnaryKind::kSign),
    Unary("floor", UnaryKind::kFloor),          Unary("ceil", UnaryKind::kCeil),
    Unary("round", UnaryKind::kRound),          Unary("rint", UnaryKind::kRint),
    Unary("trunc", UnaryKind::kTrunc),          Unary("fix", UnaryKind::kTrunc),
    Unary("sin", UnaryKind::kSin),              Unary("cos", UnaryKind::kCos),
    Unary("tan", UnaryKind::kTan),              Unary("arcsin", UnaryKind::kArcsin),
    Unary("arccos", UnaryKind::kArccos),        Unary("arctan", UnaryKind::kArctan),
    Unary("sinh", UnaryKind::kSinh),            Unary("cosh", UnaryKind::kCosh),
    Unary("arcsinh", UnaryKind::kArcsinh),      Unary("arccosh", UnaryKind::kArccosh),
    Unary("arctanh", UnaryKind::kArctanh),      Unary("erf", UnaryKind::kErf),
    Unary("gammaln", UnaryKind::kGammaln),      Unary("degrees", UnaryKind::kDegrees),
    Unary("radians", UnaryKind::kRadians),      Unary("logical_not", UnaryKind::kLogicalNot),
    Unary("ones_like", UnaryKind::kOnesLike),   Unary("zeros_like", UnaryKind::kZerosLike),
  };
  const BinaryNames binary[] = {
    {BinaryKind::kAdd, "elemwise_add", {"_Plus", "_plus", "_add"}, "broadcast_add", {"broadcast_plus"},
     "_plus_scalar", {"_PlusScalar"}},
    {BinaryKind::kSub, "elemwise_sub", {"_Minus", "_minus", "_sub"}, "broadcast_sub", {"broadcast_minus"},
     "_minus_scalar", {"_MinusScalar"}, "_rminus_scalar", {"_RMinusScalar"}},
    {BinaryKind::kMul, "elemwise_mul", {"_Mul", "_mul"}, "broadcast_mul", {},
     "_mul_scalar", {"_MulScalar"}},
    {BinaryKind::kDiv, "elemwise_div", {"_Div", "_div"}, "broadcast_div", {},
     "_div_scalar", {"_DivScalar"}, "_rdiv_scalar", {"_RDivScalar"}},
    {BinaryKind::kMod, "_mod", {"_Mod"}, "broadcast_mod", {},
     "_mod_scalar", {"_ModScalar"}, "_rmod_scalar", {"_RModScalar"}},
    {BinaryKind::kPower, "_power", {"_Power", "_pow"}, "broadcast_power", {"broadcast_pow"},
     "_power_scalar", {"_PowerScalar"}, "_rpower_scalar", {"_RPowerScalar"}},
    {BinaryKind::kMaximum, "_maximum", {"_Maximum"}, "broadcast_maximum", {},
     "_maximum_scalar", {"_MaximumScalar"}},
    {BinaryKind::kMinimum, "_minimum", {"_Minimum"}, "broadcast_minimum", {},
     "_minimum_scalar", {"_MinimumScalar"}},
    {BinaryKind::kHypot, "_hypot", {}, "broadcast_hypot", {}, "_hypot_scalar", {"_HypotScalar"}},
    {BinaryKind::kEqual, "_equal", {}, "broadcast_equal", {}, "_equal_scalar", {"_EqualScalar"}},
    {BinaryKind::kNotEqual, "_not_equal", {}, "broadcast_not_equal", {},
     "_not_equal_scalar", {"_NotEqualScalar"}},
    {BinaryKind::kGreater, "_greater", {}, "broadcast_greater", {},
     "_greater_scalar", {"_GreaterScalar"}},
    {BinaryKind::kGreaterEqual, "_greater_equal", {}, "broadcast_greater_equal", {},
     "_greater_equal_scalar", {"_GreaterEqualScalar"}},
    {BinaryKind::kLesser, "_lesser", {}, "broadcast_lesser", {},
     "_lesser_scalar", {"_LesserScalar"}},
    {BinaryKind::kLesserEqual, "_lesser_equal", {}, "broadcast_lesser_equal", {},
     "_lesser_equal_scalar", {"_LesserEqualScalar"}},
    {BinaryKind::kLogicalAnd, "_logical_and", {}, "broadcast_logical_and", {},
     "_logical_and_scalar", {"_LogicalAndScalar"}},
    {BinaryKind::kLogicalOr, "_logical_or", {}, "broadcast_logical_or", {},
     "_logical_or_scalar", {"_LogicalOrScalar"}},
    {BinaryKind::kLogicalXor, "_logical_xor", {}, "broadcast_logical_xor", {},
     "_logical_xor_scalar", {"_LogicalXorScalar"}},
  };
  for (const BinaryNames& n : binary) AddBinary(ops, n);
  return ops;
}
// clang-format on

}  // namespace tandem::detail
