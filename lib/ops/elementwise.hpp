// Internal: the element-wise operator family, one list for the schema (lib/ops/elemwise.cpp), the
// reference kernels (lib/ref/elemwise.cpp) and the CUDA kernels (lib/cuda/eltwise.cu).
//
// Each line of a TANDEM_*_FUNCTIONS list names one function and gives its body once, as an
// expression of float operands that compiles on the host and on the device (x, y: operands;
// a, b: attribute values). Each line of a TANDEM_*_OPS list names one MXNet operator (and its
// aliases) that computes that function. Adding an operator is one line here, plus its conformance
// case (test/conformance/cases/); the kernels of every backend come from the same body.
//
// Arithmetic is float32 on float32 tensors, as MXNet's CPU kernels do; comparisons and logical
// functions give 1 or 0 in the input's dtype, as MXNet does.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define TANDEM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TANDEM_HOST_DEVICE inline
#endif

namespace tandem::ops {

// MXNet's mod for floats: the result takes the divisor's sign (Python's %); 0 when y is 0.
TANDEM_HOST_DEVICE float FloorMod(float x, float y) {
  if (y == 0.0f) return 0.0f;
  float r = fmodf(x, y);
  if (r != 0.0f && ((r < 0.0f) != (y < 0.0f))) r += y;
  return r;
}

// The same rule in double, for integer tensors (lib/ref/elemwise.cpp); y is nonzero.
inline double FloorModOf(double x, double y) {
  double r = std::fmod(x, y);
  if (r != 0.0 && ((r < 0.0) != (y < 0.0))) r += y;
  return r;
}

// MXNet rounds half away from zero (round), and its sign gives 0 for 0.
TANDEM_HOST_DEVICE float Sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }
// MXNet's rint: the nearer of floor and ceil, ties to floor (rint(-0.5) = -1, rint(0.5) = 0).
TANDEM_HOST_DEVICE float Rint(float x) {
  const float lo = floorf(x), hi = ceilf(x);
  return (x - lo) <= (hi - x) ? lo : hi;
}
TANDEM_HOST_DEVICE float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// Unary functions: (Id, body of x, a, b). a and b are attributes (hard_sigmoid's alpha and beta).
#define TANDEM_UNARY_FUNCTIONS(X)                                   \
  X(Relu, x > 0.0f ? x : 0.0f)                                      \
  X(Sigmoid, Sigmoid(x))                                            \
  X(HardSigmoid, fminf(1.0f, fmaxf(0.0f, a * x + b)))               \
  X(Softsign, x / (1.0f + fabsf(x)))                                \
  X(Tanh, tanhf(x))                                                 \
  X(Exp, expf(x))                                                   \
  X(Expm1, expm1f(x))                                               \
  X(Log, logf(x))                                                   \
  X(Log1p, log1pf(x))                                               \
  X(Log2, log2f(x))                                                 \
  X(Log10, log10f(x))                                               \
  X(Sqrt, sqrtf(x))                                                 \
  X(Rsqrt, 1.0f / sqrtf(x))                                         \
  X(Cbrt, cbrtf(x))                                                 \
  X(Rcbrt, 1.0f / cbrtf(x))                                         \
  X(Square, x * x)                                                  \
  X(Abs, fabsf(x))                                                  \
  X(Negative, -x)                                                   \
  X(Reciprocal, 1.0f / x)                                           \
  X(Sign, Sign(x))                                                  \
  X(Floor, floorf(x))                                               \
  X(Ceil, ceilf(x))                                                 \
  X(Round, roundf(x))                                               \
  X(Rint, Rint(x))                                                  \
  X(Trunc, truncf(x))                                               \
  X(Sin, sinf(x))                                                   \
  X(Cos, cosf(x))                                                   \
  X(Tan, tanf(x))                                                   \
  X(Arcsin, asinf(x))                                               \
  X(Arccos, acosf(x))                                               \
  X(Arctan, atanf(x))                                               \
  X(Sinh, sinhf(x))                                                 \
  X(Cosh, coshf(x))                                                 \
  X(Arcsinh, asinhf(x))                                             \
  X(Arccosh, acoshf(x))                                             \
  X(Arctanh, atanhf(x))                                             \
  X(Erf, erff(x))                                                   \
  X(Gammaln, lgammaf(x))                                            \
  X(Degrees, x * 57.29577951308232f)                                \
  X(Radians, x * 0.017453292519943295f)                             \
  X(LogicalNot, x == 0.0f ? 1.0f : 0.0f)                            \
  X(OnesLike, 1.0f)                                                 \
  X(ZerosLike, 0.0f)

// Binary functions: (Id, body of x, y).
#define TANDEM_BINARY_FUNCTIONS(X)                                  \
  X(Add, x + y)                                                     \
  X(Sub, x - y)                                                     \
  X(Mul, x * y)                                                     \
  X(Div, x / y)                                                     \
  X(Mod, FloorMod(x, y))                                            \
  X(Power, powf(x, y))                                              \
  X(Maximum, x < y ? y : x)                                         \
  X(Minimum, y < x ? y : x)                                         \
  X(Hypot, hypotf(x, y))                                            \
  X(Equal, x == y ? 1.0f : 0.0f)                                    \
  X(NotEqual, x != y ? 1.0f : 0.0f)                                 \
  X(Greater, x > y ? 1.0f : 0.0f)                                   \
  X(GreaterEqual, x >= y ? 1.0f : 0.0f)                             \
  X(Lesser, x < y ? 1.0f : 0.0f)                                    \
  X(LesserEqual, x <= y ? 1.0f : 0.0f)                              \
  X(LogicalAnd, (x != 0.0f && y != 0.0f) ? 1.0f : 0.0f)             \
  X(LogicalOr, (x != 0.0f || y != 0.0f) ? 1.0f : 0.0f)              \
  X(LogicalXor, ((x != 0.0f) != (y != 0.0f)) ? 1.0f : 0.0f)

#define TANDEM_ENUM_ENTRY(Id, ...) k##Id,
enum class UnaryKind { TANDEM_UNARY_FUNCTIONS(TANDEM_ENUM_ENTRY) };
enum class BinaryKind { TANDEM_BINARY_FUNCTIONS(TANDEM_ENUM_ENTRY) };
#undef TANDEM_ENUM_ENTRY

// One functor per function: the kernels are instantiated per functor, so the body is inlined in
// the loop (no switch per element).
#define TANDEM_UNARY_FUNCTOR(Id, body)                                   \
  struct Id##Fn {                                                        \
    float a = 0, b = 0;                                                  \
    TANDEM_HOST_DEVICE float operator()(float x) const {                 \
      (void)x;                                                           \
      return body;                                                       \
    }                                                                    \
  };
#define TANDEM_BINARY_FUNCTOR(Id, body)                                  \
  struct Id##Fn {                                                        \
    TANDEM_HOST_DEVICE float operator()(float x, float y) const { return body; } \
  };
namespace fn {
TANDEM_UNARY_FUNCTIONS(TANDEM_UNARY_FUNCTOR)
TANDEM_BINARY_FUNCTIONS(TANDEM_BINARY_FUNCTOR)
}  // namespace fn
#undef TANDEM_UNARY_FUNCTOR
#undef TANDEM_BINARY_FUNCTOR

// Calls visit(functor) with the functor of `kind` (attributes a, b set for unary ones).
template <class Visit>
void VisitUnary(UnaryKind kind, float a, float b, Visit&& visit) {
  switch (kind) {
#define TANDEM_VISIT(Id, ...)  \
  case UnaryKind::k##Id: {     \
    fn::Id##Fn f;              \
    f.a = a;                   \
    f.b = b;                   \
    visit(f);                  \
    return;                    \
  }
    TANDEM_UNARY_FUNCTIONS(TANDEM_VISIT)
#undef TANDEM_VISIT
  }
}

template <class Visit>
void VisitBinary(BinaryKind kind, Visit&& visit) {
  switch (kind) {
#define TANDEM_VISIT(Id, ...) \
  case BinaryKind::k##Id:     \
    visit(fn::Id##Fn{});      \
    return;
    TANDEM_BINARY_FUNCTIONS(TANDEM_VISIT)
#undef TANDEM_VISIT
  }
}

// A scalar operand wrapped as a unary functor: x op s, or s op x (`reversed`: _rminus_scalar).
template <class F>
struct WithScalar {
  F f;
  float s;
  bool reversed;
  TANDEM_HOST_DEVICE float operator()(float x) const { return reversed ? f(s, x) : f(x, s); }
};

struct UnaryParams {
  UnaryKind kind = UnaryKind::kRelu;
  float a = 0, b = 0;
};

struct BinaryParams {
  BinaryKind kind = BinaryKind::kAdd;
  bool broadcast = false;  // elemwise_* / _maximum require equal shapes; broadcast_* follow numpy
};

struct ScalarParams {
  BinaryKind kind = BinaryKind::kAdd;
  double scalar = 0;
  bool reversed = false;  // scalar op x (_rminus_scalar, _rdiv_scalar, ...)
};

}  // namespace tandem::ops
