// Reference Copy (identity, _copy, Dropout, BlockGrad, Flatten, Reshape: a byte copy) and Cast
// (any dtype to any dtype).
//
// Cast goes through long double, which holds every value of every supported dtype exactly
// (x86-64: 64-bit mantissa, enough for int64), so each conversion rounds once:
// - to float16 / bfloat16: round to nearest even, overflow to inf, subnormals kept, NaN stays NaN;
// - floating to integer: truncation toward zero, saturated to the target's range, NaN -> 0
//   (C++ leaves these undefined; MXNet inherits whatever the hardware does);
// - integer to integer: two's-complement wrap (static_cast);
// - to bool: nonzero -> 1; from bool: any nonzero byte reads as 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Bool tensors hold one byte per element; reading arbitrary bytes as C++ bool is undefined.
struct Bool8 {
  uint8_t byte;
};

// IEEE-style binary formats narrower than float: float16 (5, 10) and bfloat16 (8, 7).
struct SmallFloatFormat {
  int exponent_bits, mantissa_bits;
};
constexpr SmallFloatFormat kHalf{5, 10};
constexpr SmallFloatFormat kBFloat{8, 7};

long double DecodeSmallFloat(uint16_t bits, SmallFloatFormat f) {
  const int bias = (1 << (f.exponent_bits - 1)) - 1;
  const uint32_t exponent_mask = (1u << f.exponent_bits) - 1;
  const uint32_t mantissa = bits & ((1u << f.mantissa_bits) - 1);
  const uint32_t exponent = (bits >> f.mantissa_bits) & exponent_mask;
  const bool negative = (bits >> (f.exponent_bits + f.mantissa_bits)) & 1;
  long double magnitude;
  if (exponent == exponent_mask) {
    magnitude = mantissa ? std::numeric_limits<long double>::quiet_NaN()
                         : std::numeric_limits<long double>::infinity();
  } else if (exponent == 0) {  // zero or subnormal
    magnitude = std::ldexp(static_cast<long double>(mantissa), 1 - bias - f.mantissa_bits);
  } else {
    magnitude = std::ldexp(static_cast<long double>(mantissa | (1u << f.mantissa_bits)),
                           static_cast<int>(exponent) - bias - f.mantissa_bits);
  }
  return negative ? -magnitude : magnitude;
}

uint16_t EncodeSmallFloat(long double v, SmallFloatFormat f) {
  const int bias = (1 << (f.exponent_bits - 1)) - 1;
  const uint32_t exponent_all_ones = (1u << f.exponent_bits) - 1;
  const uint32_t implicit_one = 1u << f.mantissa_bits;
  const uint32_t sign = std::signbit(v) ? 1u << (f.exponent_bits + f.mantissa_bits) : 0;
  const uint32_t infinity = sign | (exponent_all_ones << f.mantissa_bits);
  if (std::isnan(v)) return static_cast<uint16_t>(infinity | (implicit_one >> 1));  // quiet NaN
  const long double magnitude = std::fabs(v);
  if (std::isinf(magnitude)) return static_cast<uint16_t>(infinity);
  if (magnitude == 0) return static_cast<uint16_t>(sign);
  // Unbiased exponent of the result, floored at the smallest normal one (subnormals share it).
  int frexp_exponent;
  std::frexp(magnitude, &frexp_exponent);
  int exponent = std::max(frexp_exponent - 1, 1 - bias);
  // Scaling by a power of two is exact; rint rounds half to even.
  long double significand = std::rint(std::ldexp(magnitude, f.mantissa_bits - exponent));
  if (significand >= 2 * static_cast<long double>(implicit_one)) {  // rounded up to next binade
    significand /= 2;
    ++exponent;
  }
  const auto digits = static_cast<uint32_t>(significand);
  if (digits < implicit_one) return static_cast<uint16_t>(sign | digits);  // subnormal or zero
  if (exponent > bias) return static_cast<uint16_t>(infinity);
  const auto biased = static_cast<uint32_t>(exponent + bias);
  return static_cast<uint16_t>(sign | (biased << f.mantissa_bits) | (digits - implicit_one));
}

template <class T>
long double ToLongDouble(T x) {
  if constexpr (std::is_same_v<T, f16>) {
    return DecodeSmallFloat(x.bits, kHalf);
  } else if constexpr (std::is_same_v<T, bf16>) {
    return DecodeSmallFloat(x.bits, kBFloat);
  } else if constexpr (std::is_same_v<T, Bool8>) {
    return x.byte != 0 ? 1 : 0;
  } else {
    return static_cast<long double>(x);
  }
}

template <class Dst>
Dst SaturatingTruncate(long double v) {
  if (std::isnan(v)) return 0;
  const long double t = std::trunc(v);
  if (t <= static_cast<long double>(std::numeric_limits<Dst>::min())) {
    return std::numeric_limits<Dst>::min();
  }
  if (t >= static_cast<long double>(std::numeric_limits<Dst>::max())) {
    return std::numeric_limits<Dst>::max();
  }
  return static_cast<Dst>(t);
}

template <class Src, class Dst>
Dst Convert(Src x) {
  // float <-> float16 / bfloat16 is the hot path of reduced-precision plans: the bit-level
  // conversions of tandem/dtype.hpp round the same way (test_precision checks every value).
  if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, f16>) {
    return ToFloat16(x);
  } else if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, bf16>) {
    return ToBFloat16(x);
  } else if constexpr ((std::is_same_v<Src, f16> || std::is_same_v<Src, bf16>) &&
                       std::is_same_v<Dst, float>) {
    return ToFloat(x);
  } else if constexpr (std::is_same_v<Dst, Bool8>) {
    return Bool8{static_cast<uint8_t>(ToLongDouble(x) != 0)};
  } else if constexpr (std::is_same_v<Dst, f16>) {
    return f16{EncodeSmallFloat(ToLongDouble(x), kHalf)};
  } else if constexpr (std::is_same_v<Dst, bf16>) {
    return bf16{EncodeSmallFloat(ToLongDouble(x), kBFloat)};
  } else if constexpr (std::is_floating_point_v<Dst>) {
    return static_cast<Dst>(ToLongDouble(x));
  } else if constexpr (std::is_integral_v<Src>) {
    return static_cast<Dst>(x);
  } else if constexpr (std::is_same_v<Src, Bool8>) {
    return static_cast<Dst>(x.byte != 0);
  } else {
    return SaturatingTruncate<Dst>(ToLongDouble(x));
  }
}

template <class T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<T>{}) with T the element type stored for dtype `t`.
template <class F>
void VisitDType(DType t, F&& fn) {
  switch (t) {
    case DType::f32: return fn(Tag<float>{});
    case DType::f64: return fn(Tag<double>{});
    case DType::f16: return fn(Tag<f16>{});
    case DType::bf16: return fn(Tag<bf16>{});
    case DType::u8: return fn(Tag<uint8_t>{});
    case DType::i8: return fn(Tag<int8_t>{});
    case DType::i32: return fn(Tag<int32_t>{});
    case DType::i64: return fn(Tag<int64_t>{});
    case DType::boolean: return fn(Tag<Bool8>{});
  }
  Throw<InternalError>("unknown dtype ", static_cast<int>(t));
}

using CastFn = void (*)(const void* src, void* dst, int64_t n);

template <class Src, class Dst>
void CastArray(const void* src, void* dst, int64_t n) {
  const auto* in = static_cast<const Src*>(src);
  auto* out = static_cast<Dst*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = Convert<Src, Dst>(in[i]);
}

CastFn FindCast(DType from, DType to) {
  CastFn fn = nullptr;
  VisitDType(from, [&](auto src) {
    VisitDType(to, [&](auto dst) {
      fn = &CastArray<typename decltype(src)::type, typename decltype(dst)::type>;
    });
  });
  return fn;
}

void CheckSameCount(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " and input " +
                            spec.inputs[0].shape.ToString() + " have different element counts");
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeCopy(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  CheckSameCount(spec);
  if (spec.inputs[0].dtype != spec.outputs[0].dtype) {
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): output dtype ",
                     DTypeName(spec.outputs[0].dtype), " differs from input dtype ",
                     DTypeName(spec.inputs[0].dtype));
  }
  const size_t bytes = spec.inputs[0].shape.Size() * DTypeSize(spec.inputs[0].dtype);
  return MakeKernel([bytes](const KernelCall& call) {
    // The planner may alias output and input (in-place identity); nothing to do then.
    if (bytes == 0 || call.outputs[0].data == call.inputs[0].data) return;
    std::memcpy(call.outputs[0].data, call.inputs[0].data, bytes);
  });
}

std::unique_ptr<Kernel> MakeCast(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  CheckSameCount(spec);
  const CastFn cast = FindCast(spec.inputs[0].dtype, spec.outputs[0].dtype);
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([cast, size](const KernelCall& call) {
    if (size == 0) return;
    cast(call.inputs[0].data, call.outputs[0].data, size);
  });
}

}  // namespace tandem::ref
