// Reference kernels of the element-wise family (lib/ops/elementwise.hpp): unary functions, binary
// functions (equal shapes or numpy broadcasting), functions with a scalar operand, and clip.
// Arithmetic is done in float32, as MXNet does for float32 tensors. Each loop is instantiated per
// function, from the same body the CUDA kernels use.
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "lib/ops/elementwise.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Element strides of `in` seen through the output's dims (right-aligned): 0 where `in` is
// broadcast. Throws unless every dim of `in` equals the output's or is 1.
std::vector<int64_t> BroadcastStrides(const KernelSpec& spec, const Shape& in, const Shape& out) {
  if (in.ndim() > out.ndim()) {
    ShapeMismatch(spec, "input " + in.ToString() + " has more dims than output " + out.ToString());
  }
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  std::vector<int64_t> strides(out.ndim(), 0);
  const int offset = out.ndim() - in.ndim();
  for (int i = 0; i < in.ndim(); ++i) {
    if (in[i] == out[offset + i]) {
      strides[offset + i] = in_strides[i];
    } else if (in[i] != 1) {
      ShapeMismatch(spec, "input " + in.ToString() + " does not broadcast to output " +
                              out.ToString());
    }
  }
  return strides;
}

struct BinaryPlan {
  std::vector<int64_t> out_dims, lhs_strides, rhs_strides;
};

template <class T, class F>
void RunBinary(const BinaryPlan& plan, F f, const T* lhs, const T* rhs, T* out) {
  std::vector<int64_t> index(plan.out_dims.size(), 0);
  for (int64_t d : plan.out_dims) {
    if (d == 0) return;
  }
  int64_t o = 0;
  do {
    int64_t l = 0, r = 0;
    for (size_t i = 0; i < index.size(); ++i) {
      l += index[i] * plan.lhs_strides[i];
      r += index[i] * plan.rhs_strides[i];
    }
    out[o++] = f(lhs[l], rhs[r]);
  } while (NextIndex(index, plan.out_dims));
}

void CheckSameSize(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " differs from input " +
                            spec.inputs[0].shape.ToString());
  }
}

// out[i] = f(in[i]) over input 0.
template <class F>
std::unique_ptr<Kernel> MakeMap(const KernelSpec& spec, F f) {
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([f, size](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t i = 0; i < size; ++i) out[i] = f(in[i]);
  });
}

// ---- integer tensors (MXNet models compute shapes and indices in int64) ----------------------
// Integer semantics as MXNet's: division truncates toward zero, mod takes the divisor's sign,
// comparisons give 1 / 0 in the tensor's dtype, a scalar operand is first converted to the dtype.
// Values pass through double, exact for the magnitudes of shapes and indices (below 2^53).

bool IsInteger(DType t) { return t == DType::i32 || t == DType::i64 || t == DType::u8 || t == DType::i8; }

// Calls fn(T{}) with the element type of integer dtype `t`.
template <class Fn>
void VisitInteger(DType t, Fn&& fn) {
  switch (t) {
    case DType::i32: fn(int32_t{}); return;
    case DType::i64: fn(int64_t{}); return;
    case DType::u8: fn(uint8_t{}); return;
    case DType::i8: fn(int8_t{}); return;
    default: Throw<InternalError>("not an integer dtype: ", DTypeName(t));
  }
}

double IntegerBinary(ops::BinaryKind kind, double a, double b) {
  using K = ops::BinaryKind;
  switch (kind) {
    case K::kAdd: return a + b;
    case K::kSub: return a - b;
    case K::kMul: return a * b;
    case K::kDiv: return b == 0 ? 0 : std::trunc(a / b);  // MXNet would fault; 0 is defined
    case K::kMod: return b == 0 ? 0 : ops::FloorModOf(a, b);
    case K::kPower: return std::pow(a, b);
    case K::kMaximum: return std::max(a, b);
    case K::kMinimum: return std::min(a, b);
    case K::kHypot: return std::trunc(std::hypot(a, b));
    case K::kEqual: return a == b;
    case K::kNotEqual: return a != b;
    case K::kGreater: return a > b;
    case K::kGreaterEqual: return a >= b;
    case K::kLesser: return a < b;
    case K::kLesserEqual: return a <= b;
    case K::kLogicalAnd: return a != 0 && b != 0;
    case K::kLogicalOr: return a != 0 || b != 0;
    case K::kLogicalXor: return (a != 0) != (b != 0);
  }
  return 0;
}

// The unary functions that mean something on integers; nullopt for the others (exp of an int).
std::optional<double> IntegerUnary(ops::UnaryKind kind, double x) {
  using K = ops::UnaryKind;
  switch (kind) {
    case K::kRelu: return std::max(x, 0.0);
    case K::kAbs: return std::fabs(x);
    case K::kNegative: return -x;
    case K::kSquare: return x * x;
    case K::kSign: return ops::Sign(static_cast<float>(x));
    case K::kLogicalNot: return x == 0;
    case K::kOnesLike: return 1;
    case K::kZerosLike: return 0;
    case K::kFloor: case K::kCeil: case K::kRound: case K::kRint: case K::kTrunc: return x;
    default: return std::nullopt;
  }
}

std::unique_ptr<Kernel> MakeIntegerBinary(const KernelSpec& spec, ops::BinaryKind kind, const BinaryPlan& plan) {
  std::unique_ptr<Kernel> kernel;
  VisitInteger(spec.outputs[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    auto f = [kind](T a, T b) { return static_cast<T>(IntegerBinary(kind, a, b)); };
    kernel = MakeKernel([plan, f](const KernelCall& call) {
      RunBinary(plan, f, call.inputs[0].as<const T>(), call.inputs[1].as<const T>(), call.outputs[0].as<T>());
    });
  });
  return kernel;
}

// out[i] = f(in[i]) over input 0 of integer type.
template <class F>
std::unique_ptr<Kernel> MakeIntegerMap(const KernelSpec& spec, F f) {
  const int64_t size = spec.inputs[0].shape.Size();
  std::unique_ptr<Kernel> kernel;
  VisitInteger(spec.outputs[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    kernel = MakeKernel([f, size](const KernelCall& call) {
      const T* in = call.inputs[0].as<const T>();
      T* out = call.outputs[0].as<T>();
      for (int64_t i = 0; i < size; ++i) out[i] = static_cast<T>(f(static_cast<double>(in[i])));
    });
  });
  return kernel;
}

// Integer inputs and outputs, all of one dtype (the integer path), or float32 (RequireFloat32).
bool IntegerSpec(const KernelSpec& spec) {
  const DType t = spec.outputs[0].dtype;
  bool all = IsInteger(t);
  for (const TensorDesc& in : spec.inputs) all = all && in.dtype == t;
  if (!all) RequireFloat32(spec);
  return all;
}

}  // namespace

std::unique_ptr<Kernel> MakeBinary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BinaryParams>(spec.params);
  RequireArity(spec, 2, 1);
  const bool integer = IntegerSpec(spec);
  const Shape& lhs = spec.inputs[0].shape;
  const Shape& rhs = spec.inputs[1].shape;
  const Shape& out = spec.outputs[0].shape;
  if (!p.broadcast && (lhs != out || rhs != out)) {
    ShapeMismatch(spec, "element-wise operands " + lhs.ToString() + " and " + rhs.ToString() +
                            " must both have the output's shape " + out.ToString());
  }
  BinaryPlan plan{out.dims(), BroadcastStrides(spec, lhs, out), BroadcastStrides(spec, rhs, out)};
  if (integer) return MakeIntegerBinary(spec, p.kind, plan);
  std::unique_ptr<Kernel> kernel;
  ops::VisitBinary(p.kind, [&](auto f) {
    kernel = MakeKernel([plan, f](const KernelCall& call) {
      RunBinary(plan, f, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
                call.outputs[0].as<float>());
    });
  });
  return kernel;
}

std::unique_ptr<Kernel> MakeScalar(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ScalarParams>(spec.params);
  RequireArity(spec, 1, 1);
  CheckSameSize(spec);
  if (IntegerSpec(spec)) {
    std::unique_ptr<Kernel> kernel;
    VisitInteger(spec.outputs[0].dtype, [&](auto zero) {
      const double s = static_cast<double>(static_cast<decltype(zero)>(p.scalar));  // MXNet: DType(scalar)
      const ops::BinaryKind kind = p.kind;
      const bool reversed = p.reversed;
      kernel = MakeIntegerMap(spec, [=](double x) { return reversed ? IntegerBinary(kind, s, x) : IntegerBinary(kind, x, s); });
    });
    return kernel;
  }
  std::unique_ptr<Kernel> kernel;
  ops::VisitBinary(p.kind, [&](auto f) {
    kernel = MakeMap(spec, ops::WithScalar<decltype(f)>{f, static_cast<float>(p.scalar), p.reversed});
  });
  return kernel;
}

std::unique_ptr<Kernel> MakeUnary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::UnaryParams>(spec.params);
  RequireArity(spec, 1, 1);
  CheckSameSize(spec);
  if (IntegerSpec(spec)) {
    const ops::UnaryKind kind = p.kind;
    if (!IntegerUnary(kind, 0))
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): not defined for integer dtype ",
                       DTypeName(spec.outputs[0].dtype));
    return MakeIntegerMap(spec, [kind](double x) { return *IntegerUnary(kind, x); });
  }
  std::unique_ptr<Kernel> kernel;
  ops::VisitUnary(p.kind, p.a, p.b, [&](auto f) { kernel = MakeMap(spec, f); });
  return kernel;
}

std::unique_ptr<Kernel> MakeClip(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ClipParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  CheckSameSize(spec);
  const float lo = static_cast<float>(p.a_min);
  const float hi = static_cast<float>(p.a_max);
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([lo, hi, size](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t i = 0; i < size; ++i) out[i] = std::min(std::max(in[i], lo), hi);
  });
}

}  // namespace tandem::ref
