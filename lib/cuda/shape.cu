// Plain CUDA data movement: Copy (identity, _copy, Dropout, BlockGrad, Flatten, Reshape: a
// device-to-device byte copy on the call's stream), Concat and SliceChannel (contiguous blocks
// moved between (outer, extent, inner) views), Transpose (gather through permuted strides) and
// Cast (any dtype to any dtype, with the conversion rules of lib/ref/copy.cpp).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

// ---- Concat / SliceChannel ----

// One part of a joined tensor: `outer` rows of `block` elements, `row` elements apart in the
// joined tensor, starting at element `offset` of each row.
struct BlockPart {
  int64_t outer = 0, block = 0, row = 0, offset = 0;
};

// to_joined: part -> joined (Concat); otherwise joined -> part (SliceChannel).
__global__ void BlockCopyKernel(BlockPart part, const float* src, float* dst, bool to_joined) {
  TANDEM_GRID_STRIDE_LOOP(i, part.outer * part.block) {
    const int64_t joined = (i / part.block) * part.row + part.offset + i % part.block;
    if (to_joined) {
      dst[joined] = src[i];
    } else {
      dst[i] = src[joined];
    }
  }
}

void LaunchBlockCopy(const BlockPart& part, const void* src, void* dst, bool to_joined,
                     cudaStream_t stream) {
  const int64_t n = part.outer * part.block;
  if (n == 0) return;  // empty parts may have no buffer at all
  BlockCopyKernel<<<BlocksFor(n), kBlockSize, 0, stream>>>(part, static_cast<const float*>(src),
                                                           static_cast<float*>(dst), to_joined);
  TANDEM_CUDA_CHECK_LAUNCH();
}

// The parts of `joined` along `axis`, in order; throws unless they tile it exactly.
std::vector<BlockPart> PlanParts(const KernelSpec& spec, const Shape& joined, int axis,
                                 const std::vector<const Shape*>& parts) {
  const int64_t inner = joined.Prod(axis + 1, joined.ndim());
  const int64_t outer = joined.Prod(0, axis);
  const int64_t row = joined[axis] * inner;
  std::vector<BlockPart> plan;
  int64_t extent = 0;
  for (const Shape* part : parts) {
    bool fits = part->ndim() == joined.ndim();
    for (int d = 0; fits && d < joined.ndim(); ++d) fits = d == axis || (*part)[d] == joined[d];
    if (!fits) {
      ref::ShapeMismatch(spec, "part " + part->ToString() + " does not fit " +
                                   joined.ToString() + " along axis " + std::to_string(axis));
    }
    plan.push_back({outer, (*part)[axis] * inner, row, extent * inner});
    extent += (*part)[axis];
  }
  if (extent != joined[axis]) {
    ref::ShapeMismatch(spec, "parts add up to " + std::to_string(extent) + " along axis " +
                                 std::to_string(axis) + " but the whole " + joined.ToString() +
                                 " has " + std::to_string(joined[axis]));
  }
  return plan;
}

// ---- Transpose ----

// A permutation only moves elements: one instantiation per element width serves every dtype.
template <class Word>
__global__ void GatherKernel(Strided src, int64_t n, const Word* in, Word* out) {
  TANDEM_GRID_STRIDE_LOOP(i, n) { out[i] = in[src.OffsetOf(i)]; }
}

std::vector<int> ResolveAxes(const KernelSpec& spec, const ops::TransposeParams& p,
                             const Shape& in) {
  const int rank = in.ndim();
  std::vector<int> axes(rank);
  for (int i = 0; i < rank; ++i) axes[i] = rank - 1 - i;
  if (p.axes.empty()) return axes;
  if (static_cast<int>(p.axes.size()) != rank) {
    ref::ShapeMismatch(spec, "axes has " + std::to_string(p.axes.size()) + " entries for input " +
                                 in.ToString());
  }
  std::vector<bool> seen(rank, false);
  for (int i = 0; i < rank; ++i) {
    axes[i] = ref::NormaliseAxis(spec, p.axes[i], in);
    if (seen[axes[i]]) ref::ShapeMismatch(spec, "axes repeat axis " + std::to_string(axes[i]));
    seen[axes[i]] = true;
  }
  return axes;
}

// ---- Cast ----

// Device views of the stored element types (same bytes as tandem::f16 / bf16 / a bool byte).
struct Half16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
struct Bool8 {
  uint8_t byte;
};

template <class T>
constexpr bool kFloating = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                           std::is_same_v<T, Half16> || std::is_same_v<T, BFloat16>;

// The value of a floating element as a double (exact for every floating type).
template <class T>
__device__ double Widen(T x) {
  if constexpr (std::is_same_v<T, Half16>) {
    __half_raw raw;
    raw.x = x.bits;
    return static_cast<double>(__half2float(__half(raw)));
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    __nv_bfloat16_raw raw;
    raw.x = x.bits;
    return static_cast<double>(__bfloat162float(__nv_bfloat16(raw)));
  } else {
    return static_cast<double>(x);
  }
}

// The value of any element as a double: floating exactly, integers rounded once (int64 beyond
// 2^53 only), bool as 0 / 1.
template <class T>
__device__ double AsDouble(T x) {
  if constexpr (kFloating<T>) {
    return Widen(x);
  } else if constexpr (std::is_same_v<T, Bool8>) {
    return x.byte != 0 ? 1.0 : 0.0;
  } else {
    return static_cast<double>(x);
  }
}

// An integer type's range, as the values and as doubles to compare against.
template <class T>
struct IntRange;
template <> struct IntRange<uint8_t> {
  static constexpr uint8_t min = 0, max = 255;
  static constexpr double lo = 0, hi = 255;
};
template <> struct IntRange<int8_t> {
  static constexpr int8_t min = -128, max = 127;
  static constexpr double lo = -128, hi = 127;
};
template <> struct IntRange<int32_t> {
  static constexpr int32_t min = -2147483647 - 1, max = 2147483647;
  static constexpr double lo = -2147483648.0, hi = 2147483647.0;
};
template <> struct IntRange<int64_t> {
  static constexpr int64_t min = -9223372036854775807LL - 1, max = 9223372036854775807LL;
  static constexpr double lo = -9223372036854775808.0, hi = 9223372036854775808.0;  // 2^63
};

// Floating to integer: truncation toward zero, saturated to the target's range, NaN -> 0.
template <class Dst>
__device__ Dst SaturatingTruncate(double v) {
  if (isnan(v)) return 0;
  const double t = trunc(v);
  if (t <= IntRange<Dst>::lo) return IntRange<Dst>::min;
  if (t >= IntRange<Dst>::hi) return IntRange<Dst>::max;
  return static_cast<Dst>(t);
}

template <class Src, class Dst>
__device__ Dst Convert(Src x) {
  if constexpr (std::is_same_v<Dst, Bool8>) {
    if constexpr (kFloating<Src>) return Bool8{static_cast<uint8_t>(Widen(x) != 0.0)};
    else if constexpr (std::is_same_v<Src, Bool8>) return Bool8{static_cast<uint8_t>(x.byte != 0)};
    else return Bool8{static_cast<uint8_t>(x != 0)};
  } else if constexpr (std::is_same_v<Dst, Half16>) {
    // Round to nearest even, overflow to inf, subnormals kept, NaN stays NaN.
    return Half16{static_cast<__half_raw>(__double2half(AsDouble(x))).x};
  } else if constexpr (std::is_same_v<Dst, BFloat16>) {
    return BFloat16{static_cast<__nv_bfloat16_raw>(__double2bfloat16(AsDouble(x))).x};
  } else if constexpr (std::is_floating_point_v<Dst>) {
    if constexpr (kFloating<Src> || std::is_same_v<Src, Bool8>) return static_cast<Dst>(AsDouble(x));
    else return static_cast<Dst>(x);  // one rounding, straight from the integer
  } else if constexpr (std::is_same_v<Src, Bool8>) {
    return static_cast<Dst>(x.byte != 0);
  } else if constexpr (kFloating<Src>) {
    return SaturatingTruncate<Dst>(Widen(x));
  } else {
    return static_cast<Dst>(x);  // integer to integer: two's-complement wrap
  }
}

template <class Src, class Dst>
__global__ void CastKernel(const Src* in, Dst* out, int64_t n) {
  TANDEM_GRID_STRIDE_LOOP(i, n) { out[i] = Convert<Src, Dst>(in[i]); }
}

using CastFn = void (*)(const void* src, void* dst, int64_t n, cudaStream_t stream);

template <class Src, class Dst>
void LaunchCast(const void* src, void* dst, int64_t n, cudaStream_t stream) {
  CastKernel<Src, Dst><<<BlocksFor(n), kBlockSize, 0, stream>>>(static_cast<const Src*>(src),
                                                                 static_cast<Dst*>(dst), n);
  TANDEM_CUDA_CHECK_LAUNCH();
}

template <class T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<T>{}) with T the device element type stored for dtype `t`.
template <class F>
void VisitDType(DType t, F&& fn) {
  switch (t) {
    case DType::f32: return fn(Tag<float>{});
    case DType::f64: return fn(Tag<double>{});
    case DType::f16: return fn(Tag<Half16>{});
    case DType::bf16: return fn(Tag<BFloat16>{});
    case DType::u8: return fn(Tag<uint8_t>{});
    case DType::i8: return fn(Tag<int8_t>{});
    case DType::i32: return fn(Tag<int32_t>{});
    case DType::i64: return fn(Tag<int64_t>{});
    case DType::boolean: return fn(Tag<Bool8>{});
  }
  Throw<InternalError>("unknown dtype ", static_cast<int>(t));
}

CastFn FindCast(DType from, DType to) {
  CastFn fn = nullptr;
  VisitDType(from, [&](auto src) {
    VisitDType(to, [&](auto dst) {
      fn = &LaunchCast<typename decltype(src)::type, typename decltype(dst)::type>;
    });
  });
  return fn;
}

void CheckSameCount(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " and input " +
                                 spec.inputs[0].shape.ToString() +
                                 " have different element counts");
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeConcat(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConcatParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  const Shape& out = spec.outputs[0].shape;
  const int axis = ref::NormaliseAxis(spec, p.dim, out);
  std::vector<const Shape*> shapes;
  for (const TensorDesc& in : spec.inputs) shapes.push_back(&in.shape);
  std::vector<BlockPart> parts = PlanParts(spec, out, axis, shapes);
  return MakeKernel([parts](const KernelCall& call) {
    CudaState& state = StateFor(call);
    for (size_t i = 0; i < parts.size(); ++i) {
      LaunchBlockCopy(parts[i], call.inputs[i].data, call.outputs[0].data, true, state.stream());
    }
  });
}

std::unique_ptr<Kernel> MakeSliceChannel(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SliceChannelParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  const Shape& in = spec.inputs[0].shape;
  const int axis = ref::NormaliseAxis(spec, p.axis, in);
  const int64_t pieces = static_cast<int64_t>(spec.outputs.size());
  if (pieces != p.num_outputs || in[axis] % pieces != 0) {
    ref::ShapeMismatch(spec, "cannot split " + in.ToString() + " into " +
                                 std::to_string(p.num_outputs) + " equal parts along axis " +
                                 std::to_string(axis) + " (" + std::to_string(pieces) +
                                 " outputs)");
  }
  // squeeze_axis only drops the axis from the output shapes; the data layout is the same.
  Shape piece = in;
  piece[axis] = in[axis] / pieces;
  for (const TensorDesc& o : spec.outputs) {
    if (o.shape.Size() != piece.Size()) {
      ref::ShapeMismatch(spec, "output " + o.shape.ToString() + " should hold a " +
                                   piece.ToString() + " slice of " + in.ToString());
    }
  }
  std::vector<BlockPart> parts =
      PlanParts(spec, in, axis, std::vector<const Shape*>(pieces, &piece));
  return MakeKernel([parts](const KernelCall& call) {
    CudaState& state = StateFor(call);
    for (size_t i = 0; i < parts.size(); ++i) {
      LaunchBlockCopy(parts[i], call.inputs[0].data, call.outputs[i].data, false, state.stream());
    }
  });
}

std::unique_ptr<Kernel> MakeCopy(const KernelSpec& spec) {
  ref::RequireArity(spec, 1, 1);
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
    CudaState& state = StateFor(call);
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(call.outputs[0].data, call.inputs[0].data, bytes,
                                      cudaMemcpyDeviceToDevice, state.stream()));
  });
}

std::unique_ptr<Kernel> MakeTranspose(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::TransposeParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  const size_t width = DTypeSize(spec.inputs[0].dtype);
  if (spec.outputs[0].dtype != spec.inputs[0].dtype || (width != 4 && width != 2)) return nullptr;
  const Shape& in = spec.inputs[0].shape;
  const Shape& out = spec.outputs[0].shape;
  const std::vector<int> axes = ResolveAxes(spec, p, in);
  const std::vector<int64_t> strides = ref::RowMajorStrides(in);
  std::vector<int64_t> out_dims;
  for (int axis : axes) out_dims.push_back(in[axis]);
  if (Shape(out_dims) != out) {
    ref::ShapeMismatch(spec, "output " + out.ToString() + " is not input " + in.ToString() +
                                 " permuted to " + Shape(out_dims).ToString());
  }
  if (in.ndim() > kMaxRank) return nullptr;
  Strided src;
  src.rank = in.ndim();
  for (int i = 0; i < src.rank; ++i) {
    src.dims[i] = out_dims[i];
    src.strides[i] = strides[axes[i]];
  }
  const int64_t size = out.Size();
  return MakeKernel([src, size, width](const KernelCall& call) {
    if (size == 0) return;
    CudaState& state = StateFor(call);
    if (width == 4) {
      GatherKernel<<<BlocksFor(size), kBlockSize, 0, state.stream()>>>(
          src, size, call.inputs[0].as<const uint32_t>(), call.outputs[0].as<uint32_t>());
    } else {
      GatherKernel<<<BlocksFor(size), kBlockSize, 0, state.stream()>>>(
          src, size, call.inputs[0].as<const uint16_t>(), call.outputs[0].as<uint16_t>());
    }
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

std::unique_ptr<Kernel> MakeCast(const KernelSpec& spec) {
  ref::RequireArity(spec, 1, 1);
  CheckSameCount(spec);
  const CastFn cast = FindCast(spec.inputs[0].dtype, spec.outputs[0].dtype);
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([cast, size](const KernelCall& call) {
    if (size == 0) return;
    CudaState& state = StateFor(call);
    cast(call.inputs[0].data, call.outputs[0].data, size, state.stream());
  });
}

}  // namespace tandem::cuda
