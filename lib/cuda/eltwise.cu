// Plain CUDA kernels of the element-wise family (lib/ops/elementwise.hpp): unary functions, binary
// functions (equal shapes or numpy broadcasting), functions with a scalar operand, and clip. Each
// kernel is instantiated per function from the body the reference kernels use.
#include "lib/cuda/elementwise.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/elementwise.hpp"
#include "lib/ops/params.hpp"

namespace tandem::cuda {
namespace {

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
  int64_t size = 0;
  bool same_shapes = false;
  Strided lhs, rhs;
};

template <class F>
__global__ void BinaryKernel(BinaryPlan plan, F f, const float* lhs, const float* rhs, float* out) {
  TANDEM_GRID_STRIDE_LOOP(i, plan.size) {
    const int64_t l = plan.same_shapes ? i : plan.lhs.OffsetOf(i);
    const int64_t r = plan.same_shapes ? i : plan.rhs.OffsetOf(i);
    out[i] = f(lhs[l], rhs[r]);
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
  plan.size = out.Size();
  plan.same_shapes = lhs == out && rhs == out;
  if (!plan.same_shapes) {
    if (out.ndim() > kMaxRank) return nullptr;
    plan.lhs = BroadcastStrides(spec, lhs, out);
    plan.rhs = BroadcastStrides(spec, rhs, out);
  }
  std::unique_ptr<Kernel> kernel;
  ops::VisitBinary(p.kind, [&](auto f) {
    kernel = MakeKernel([plan, f](const KernelCall& call) {
      if (plan.size == 0) return;
      CudaState& state = StateFor(call);
      BinaryKernel<<<BlocksFor(plan.size), kBlockSize, 0, state.stream()>>>(
          plan, f, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
          call.outputs[0].as<float>());
      TANDEM_CUDA_CHECK_LAUNCH();
    });
  });
  return kernel;
}

std::unique_ptr<Kernel> MakeScalar(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ScalarParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  CheckSameSize(spec);
  std::unique_ptr<Kernel> kernel;
  ops::VisitBinary(p.kind, [&](auto f) {
    kernel = MakeMapKernel(spec.inputs[0].shape.Size(),
                           ops::WithScalar<decltype(f)>{f, static_cast<float>(p.scalar), p.reversed});
  });
  return kernel;
}

std::unique_ptr<Kernel> MakeUnary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::UnaryParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  CheckSameSize(spec);
  std::unique_ptr<Kernel> kernel;
  ops::VisitUnary(p.kind, p.a, p.b, [&](auto f) { kernel = MakeMapKernel(spec.inputs[0].shape.Size(), f); });
  return kernel;
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
