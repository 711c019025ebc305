// Reference kernels of the element-wise family (lib/ops/elementwise.hpp): unary functions, binary
// functions (equal shapes or numpy broadcasting), functions with a scalar operand, and clip.
// Arithmetic is done in float32, as MXNet does for float32 tensors. Each loop is instantiated per
// function, from the same body the CUDA kernels use.
#include <algorithm>
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

template <class F>
void RunBinary(const BinaryPlan& plan, F f, const float* lhs, const float* rhs, float* out) {
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

}  // namespace

std::unique_ptr<Kernel> MakeBinary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BinaryParams>(spec.params);
  RequireArity(spec, 2, 1);
  RequireFloat32(spec);
  const Shape& lhs = spec.inputs[0].shape;
  const Shape& rhs = spec.inputs[1].shape;
  const Shape& out = spec.outputs[0].shape;
  if (!p.broadcast && (lhs != out || rhs != out)) {
    ShapeMismatch(spec, "element-wise operands " + lhs.ToString() + " and " + rhs.ToString() +
                            " must both have the output's shape " + out.ToString());
  }
  BinaryPlan plan{out.dims(), BroadcastStrides(spec, lhs, out), BroadcastStrides(spec, rhs, out)};
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
  RequireFloat32(spec);
  CheckSameSize(spec);
  std::unique_ptr<Kernel> kernel;
  ops::VisitBinary(p.kind, [&](auto f) {
    kernel = MakeMap(spec, ops::WithScalar<decltype(f)>{f, static_cast<float>(p.scalar), p.reversed});
  });
  return kernel;
}

std::unique_ptr<Kernel> MakeUnary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::UnaryParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  CheckSameSize(spec);
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
