// tandem/dtype.hpp — element types.
//
// DType names the element type of an NDArray. The numeric values of MXNet's mshadow type flags
// (used in .params files) are mapped by FromMXNetFlag / ToMXNetFlag. f16 and bf16 are storage
// types here (tandem::f16 / tandem::bf16 hold the raw bits).
//
// Thread safety: pure functions and constants; safe everywhere.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/error.hpp"

namespace tandem {

enum class DType : uint8_t { f32, f64, f16, bf16, u8, i8, i32, i64, boolean };

struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

// Conversions between float and the 16-bit formats, as the hardware does them: round to nearest
// even, overflow to infinity, subnormals kept, NaN stays a (quiet) NaN. Widening is exact.
inline float ToFloat(bf16 x) { return std::bit_cast<float>(static_cast<uint32_t>(x.bits) << 16); }

inline bf16 ToBFloat16(float v) {
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((bits >> 16) | 0x40)};
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry into the exponent is the
  // correct rounding up (to the next binade, or to infinity).
  const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return {static_cast<uint16_t>(rounded >> 16)};
}

inline float ToFloat(f16 x) {
  const uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  const uint32_t exponent = (x.bits >> 10) & 0x1fu;
  const uint32_t mantissa = x.bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa x 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign ? -magnitude : magnitude;
}

inline f16 ToFloat16(float v) {
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return {static_cast<uint16_t>(sign | 0x7e00u)};  // NaN
  if (magnitude >= 0x477ff000u) return {static_cast<uint16_t>(sign | 0x7c00u)};  // rounds to inf
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal, in units of 2^-24. Adding 0.5 in
    // float (exponent 2^-1) makes the FPU round the low bits away to nearest even for us.
    const float shifted = std::bit_cast<float>(magnitude) + 0.5f;
    return {static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(shifted) - 0x3f000000u))};
  }
  // Normal: rebias the exponent (127 -> 15) and round 13 mantissa bits away, half to even.
  const uint32_t rounded = magnitude + ((15u - 127u) << 23) + 0xfffu + ((magnitude >> 13) & 1u);
  return {static_cast<uint16_t>(sign | (rounded >> 13))};
}

inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::u8: return 1;
    case DType::i8: return 1;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

inline const char* DTypeName(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::u8: return "uint8";
    case DType::i8: return "int8";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

// Parses MXNet's spelling ("float32", "int8", ...); throws InvalidArgument for anything else.
inline DType ParseDType(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(DType::boolean); ++i) {
    DType t = static_cast<DType>(i);
    if (s == DTypeName(t)) return t;
  }
  if (s == "float16" || s == "half") return DType::f16;
  Throw<InvalidArgument>("unknown dtype '", s, "'");
}

// MXNet mshadow type flags: 0 f32, 1 f64, 2 f16, 3 u8, 4 i32, 5 i8, 6 i64, 7 bool, 12 bf16.
inline bool FromMXNetFlag(int flag, DType* out) {
  switch (flag) {
    case 0: *out = DType::f32; return true;
    case 1: *out = DType::f64; return true;
    case 2: *out = DType::f16; return true;
    case 3: *out = DType::u8; return true;
    case 4: *out = DType::i32; return true;
    case 5: *out = DType::i8; return true;
    case 6: *out = DType::i64; return true;
    case 7: *out = DType::boolean; return true;
    case 12: *out = DType::bf16; return true;
    default: return false;
  }
}

inline int ToMXNetFlag(DType t) {
  switch (t) {
    case DType::f32: return 0;
    case DType::f64: return 1;
    case DType::f16: return 2;
    case DType::u8: return 3;
    case DType::i32: return 4;
    case DType::i8: return 5;
    case DType::i64: return 6;
    case DType::boolean: return 7;
    case DType::bf16: return 12;
  }
  return -1;
}

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::f64; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::f16; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::bf16; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::i8; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::boolean; };
template <class T> inline constexpr DType kDTypeOf = DTypeOf<T>::value;

}  // namespace tandem
