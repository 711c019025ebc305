// tandem/dtype.hpp — element types.
//
// DType names the element type of an NDArray. The numeric values of MXNet's mshadow type flags
// (used in .params files) are mapped by FromMXNetFlag / ToMXNetFlag. f16 and bf16 are storage
// types here (tandem::f16 / tandem::bf16 hold the raw bits).
//
// Thread safety: pure functions and constants; safe everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/error.hpp"

namespace tandem {

enum class DType : uint8_t { f32, f64, f16, bf16, u8, i8, i32, i64, boolean };

struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

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
