// Internal: reference kernels of the "tensor" operator family (lib/ops/tensor_ops.cpp), and the
// small dtype helpers they share (indices arrive in any dtype; some outputs are integers).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "tandem/registry.hpp"

namespace tandem::ref {

// lib/ref/tensor_ops.cpp: normalisation layers and constants / shapes.
std::unique_ptr<Kernel> MakeL2Normalization(const KernelSpec&);
std::unique_ptr<Kernel> MakeInstanceNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeLayerNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeGroupNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeArange(const KernelSpec&);      // _arange, _contrib_arange_like
std::unique_ptr<Kernel> MakeFill(const KernelSpec&);        // _zeros, _ones, _full
std::unique_ptr<Kernel> MakeShapeArray(const KernelSpec&);  // shape_array, size_array

// lib/ref/tensor_reduce.cpp: reductions, arg-reductions, orderings.
std::unique_ptr<Kernel> MakeAxesReduce(const KernelSpec&);  // max min prod nansum nanprod norm
std::unique_ptr<Kernel> MakeArgReduce(const KernelSpec&);   // argmax argmin argmax_channel
std::unique_ptr<Kernel> MakeTopK(const KernelSpec&);        // topk sort argsort

// lib/ref/tensor_index.cpp: gathers.
std::unique_ptr<Kernel> MakeTake(const KernelSpec&);
std::unique_ptr<Kernel> MakeEmbedding(const KernelSpec&);
std::unique_ptr<Kernel> MakeGatherND(const KernelSpec&);
std::unique_ptr<Kernel> MakePick(const KernelSpec&);
std::unique_ptr<Kernel> MakeWhere(const KernelSpec&);
std::unique_ptr<Kernel> MakeOneHot(const KernelSpec&);

// lib/ref/tensor_dot.cpp: products.
std::unique_ptr<Kernel> MakeDot(const KernelSpec&);
std::unique_ptr<Kernel> MakeBatchDot(const KernelSpec&);

namespace tensor {

// Element i of a tensor of dtype `t`, as a double (exact for every integer up to 2^53).
inline double LoadAsDouble(DType t, const void* data, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(data)[i];
    case DType::f64: return static_cast<const double*>(data)[i];
    case DType::f16: return ToFloat(static_cast<const f16*>(data)[i]);
    case DType::bf16: return ToFloat(static_cast<const bf16*>(data)[i]);
    case DType::u8: return static_cast<const uint8_t*>(data)[i];
    case DType::i8: return static_cast<const int8_t*>(data)[i];
    case DType::i32: return static_cast<const int32_t*>(data)[i];
    case DType::i64: return static_cast<double>(static_cast<const int64_t*>(data)[i]);
    case DType::boolean: return static_cast<const bool*>(data)[i] ? 1.0 : 0.0;
  }
  return 0;
}

// An index element as MXNet reads it: static_cast<int64_t> of the stored value (truncation
// towards zero for floats). Values beyond int64 (or NaN) saturate rather than being undefined.
inline int64_t LoadIndex(DType t, const void* data, int64_t i) {
  switch (t) {
    case DType::i32: return static_cast<const int32_t*>(data)[i];
    case DType::i64: return static_cast<const int64_t*>(data)[i];
    case DType::u8: return static_cast<const uint8_t*>(data)[i];
    case DType::i8: return static_cast<const int8_t*>(data)[i];
    default: break;
  }
  const double v = LoadAsDouble(t, data, i);
  if (!(v == v)) return 0;
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(v);
}

// Stores `v` into element i of a tensor of dtype `t` the way a C++ static_cast would (floats
// round to nearest even, integers truncate; out-of-range values saturate instead of being UB).
inline void StoreFromDouble(DType t, void* data, int64_t i, double v) {
  auto to_int = [v](double lo, double hi) {
    if (!(v == v)) return 0.0;
    return v < lo ? lo : (v > hi ? hi : v);
  };
  switch (t) {
    case DType::f32: static_cast<float*>(data)[i] = static_cast<float>(v); return;
    case DType::f64: static_cast<double*>(data)[i] = v; return;
    case DType::f16: static_cast<f16*>(data)[i] = ToFloat16(static_cast<float>(v)); return;
    case DType::bf16: static_cast<bf16*>(data)[i] = ToBFloat16(static_cast<float>(v)); return;
    case DType::u8: static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(to_int(0, 255)); return;
    case DType::i8: static_cast<int8_t*>(data)[i] = static_cast<int8_t>(to_int(-128, 127)); return;
    case DType::i32:
      static_cast<int32_t*>(data)[i] = static_cast<int32_t>(to_int(-2147483648.0, 2147483647.0));
      return;
    case DType::i64:
      static_cast<int64_t*>(data)[i] = static_cast<int64_t>(to_int(-9.2e18, 9.2e18));
      return;
    case DType::boolean: static_cast<bool*>(data)[i] = v != 0; return;
  }
}

// Copies `count` elements of `width` bytes from element `from` of `src` to element `to` of `dst`.
inline void CopyElements(void* dst, int64_t to, const void* src, int64_t from, int64_t count,
                         size_t width) {
  std::memcpy(static_cast<char*>(dst) + static_cast<size_t>(to) * width,
              static_cast<const char*>(src) + static_cast<size_t>(from) * width,
              static_cast<size_t>(count) * width);
}

}  // namespace tensor
}  // namespace tandem::ref
