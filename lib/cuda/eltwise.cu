// Plain CUDA element-wise arithmetic: binary ops (equal shapes or numpy broadcasting), ops with a
// scalar operand, and clip; float32 arithmetic as lib/ref/elemwise.cpp.
#include "lib/cuda/elementwise.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::cuda {
namespace {

__device__ float ApplyBinary(ops::BinaryKind kind, float a, float b) {
  switch (kind) {
    case ops::BinaryKind::kAdd: return a + b;
    case ops::BinaryKind::kSub: return a - b;
    case ops::BinaryKind::kMul: return a * b;
    case ops::BinaryKind::kDiv: return a / b;
    // std::max / std::min semantics (the first operand wins ties and NaN comparisons).
    case ops::BinaryKind::kMax: return a < b ? b : a;
    case ops::BinaryKind::kMin: return b < a ? b : a;
  }
  return 0.0f;
}

struct ScalarFn {
  ops::ScalarKind kind;
  float s;
  __device__ float operator()(float x) const {
    switch (kind) {
      case ops::ScalarKind::kPlus: return x + s;
      case ops::ScalarKind::kMinus: return x - s;
      case ops::ScalarKind::kRMinus: return s - x;
      case ops::ScalarKind::kMul: return x * s;
      case ops::ScalarKind::kDiv: return x / s;
      case ops::ScalarKind::kRDiv: return s / x;
      case ops::ScalarKind::kMax: return x < s ? s : x;
      case ops::ScalarKind::kMin: return s < x ? s : x;
    }
    return 0.0f;
  }
};

// std::min(std::max(x, lo), hi), NaN handling included.
struct ClipFn {
  float lo, hi;
  __device__ float operator()(float x) const {
    const float low_clipped = x < lo ? lo : x;
    return hi < low_clipped ? hi : low_clipped;
  }
};

// Output dims with the element strides of each operand seen through them (0 where broadcast).
struct BinaryPlan {
  ops::BinaryKind kind;
  int64_t size = 0;
  bool same_shapes = false;
  Strided lhs, rhs;
};

__global__ void BinaryKernel(BinaryPlan plan, const float* lhs, const float* rhs, float* out) {
  TANDEM_GRID_STRIDE_LOOP(i, plan.size) {
    const int64_t l = plan.same_shapes ? i : plan.lhs.OffsetOf(i);
    const int64_t r = plan.same_shapes ? i : plan.rhs.OffsetOf(i);
    out[i] = ApplyBinary(plan.kind, lhs[l], rhs[r]);
  }
}

// Strides of `in` right-aligned to `out`'s dims; throws unless every dim broadcasts.
Strided BroadcastStrides(const KernelSpec& spec, const Shape& in, const Shape& out) {
  if (in.ndim() > out.ndim()) {
    ref::ShapeMismatch(spec, "input " + in.ToString() + " has more dims than output " +
                                 out.ToString());
  }
  const std::vector<int64_t> in_strides = ref::RowMajorStrides(in);
  Strided s;
  s.rank = out.ndim();
  const int offset = out.ndim() - in.ndim();
  for (int i = 0; i < out.ndim(); ++i) s.dims[i] = out[i];
  for (int i = 0; i < in.ndim(); ++i) {
    if (in[i] == out[offset + i]) {
      s.strides[offset + i] = in_strides[i];
    } else if (in[i] != 1) {
      ref::ShapeMismatch(spec, "input " + in.ToString() + " does not broadcast to output " +
                                   out.ToString());
    }
  }
  return s;
}

}  // namespace

std::unique_ptr<Kernel> MakeBinary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BinaryParams>(spec.params);
  ref::RequireArity(spec, 2, 1);
  if (!AllFloat32(spec)) return nullptr;
  const Shape& lhs = spec.inputs[0].shape;
  const Shape& rhs = spec.inputs[1].shape;
  const Shape& out = spec.outputs[0].shape;
  if (!p.broadcast && (lhs != out || rhs != out)) {
    ref::ShapeMismatch(spec, "element-wise operands " + lhs.ToString() + " and " +
                                 rhs.ToString() + " must both have the output's shape " +
                                 out.ToString());
  }
  BinaryPlan plan;
  plan.kind = p.kind;
  plan.size = out.Size();
  plan.same_shapes = lhs == out && rhs == out;
  if (!plan.same_shapes) {
    if (out.ndim() > kMaxRank) return nullptr;
    plan.lhs = BroadcastStrides(spec, lhs, out);
    plan.rhs = BroadcastStrides(spec, rhs, out);
  }
  return MakeKernel([plan](const KernelCall& call) {
    if (plan.size == 0) return;
    CudaState& state = StateFor(call);
    BinaryKernel<<<BlocksFor(plan.size), kBlockSize, 0, state.stream()>>>(
        plan, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
        call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

std::unique_ptr<Kernel> MakeScalar(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ScalarParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  CheckSameSize(spec);
  return MakeMapKernel(spec.inputs[0].shape.Size(),
                       ScalarFn{p.kind, static_cast<float>(p.scalar)});
}

std::unique_ptr<Kernel> MakeClip(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ClipParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  CheckSameSize(spec);
  return MakeMapKernel(spec.inputs[0].shape.Size(),
                       ClipFn{static_cast<float>(p.a_min), static_cast<float>(p.a_max)});
}

}  // namespace tandem::cuda
