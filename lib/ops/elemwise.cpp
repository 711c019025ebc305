// Element-wise arithmetic: elemwise_* (equal shapes), broadcast_* (numpy broadcasting) and the
// _*_scalar ops (tensor with a scalar attribute).
#include <algorithm>

#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

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

OpSchema BinarySchema(std::string name, std::vector<std::string> aliases, BinaryKind kind,
                      bool broadcast) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.parse = [kind, broadcast](const AttrReader&) { return std::any(BinaryParams{kind, broadcast}); };
  s.arguments = FixedNames({"lhs", "rhs"});
  s.infer_shape = broadcast ? InferBroadcast : InferElemwise;
  return s;
}

OpSchema ScalarSchema(std::string name, std::vector<std::string> aliases, ScalarKind kind) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  // MXNet 1.8+ also writes is_int; the value is applied as a float either way.
  s.parse = [kind](const AttrReader& r) {
    return std::any(ScalarParams{kind, RequiredFloat(r, "scalar")});
  };
  return s;
}

}  // namespace

OpSchema ElemwiseAddSchema() {
  return BinarySchema("elemwise_add", {"_Plus", "_plus", "_add"}, BinaryKind::kAdd, false);
}
OpSchema ElemwiseSubSchema() {
  return BinarySchema("elemwise_sub", {"_Minus", "_minus", "_sub"}, BinaryKind::kSub, false);
}
OpSchema ElemwiseMulSchema() {
  return BinarySchema("elemwise_mul", {"_Mul", "_mul"}, BinaryKind::kMul, false);
}
OpSchema ElemwiseDivSchema() {
  return BinarySchema("elemwise_div", {"_Div", "_div"}, BinaryKind::kDiv, false);
}
OpSchema BroadcastAddSchema() {
  return BinarySchema("broadcast_add", {"broadcast_plus"}, BinaryKind::kAdd, true);
}
OpSchema BroadcastSubSchema() {
  return BinarySchema("broadcast_sub", {"broadcast_minus"}, BinaryKind::kSub, true);
}
OpSchema BroadcastMulSchema() {
  return BinarySchema("broadcast_mul", {}, BinaryKind::kMul, true);
}
OpSchema BroadcastDivSchema() {
  return BinarySchema("broadcast_div", {}, BinaryKind::kDiv, true);
}

OpSchema PlusScalarSchema() {
  return ScalarSchema("_plus_scalar", {"_PlusScalar"}, ScalarKind::kPlus);
}
OpSchema MinusScalarSchema() {
  return ScalarSchema("_minus_scalar", {"_MinusScalar"}, ScalarKind::kMinus);
}
OpSchema RMinusScalarSchema() {
  return ScalarSchema("_rminus_scalar", {"_RMinusScalar"}, ScalarKind::kRMinus);
}
OpSchema MulScalarSchema() {
  return ScalarSchema("_mul_scalar", {"_MulScalar"}, ScalarKind::kMul);
}
OpSchema DivScalarSchema() {
  return ScalarSchema("_div_scalar", {"_DivScalar"}, ScalarKind::kDiv);
}

}  // namespace tandem::ops
