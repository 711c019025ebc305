// Reference element-wise arithmetic: binary ops (equal shapes or numpy broadcasting), ops with a
// scalar operand, and clip. Arithmetic is done in float32, as MXNet does for float32 tensors.
#include <algorithm>
#include <vector>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

float ApplyBinary(ops::BinaryKind kind, float a, float b) {
  switch (kind) {
    case ops::BinaryKind::kAdd: return a + b;
    case ops::BinaryKind::kSub: return a - b;
    case ops::BinaryKind::kMul: return a * b;
    case ops::BinaryKind::kDiv: return a / b;
    case ops::BinaryKind::kMax: return std::max(a, b);
    case ops::BinaryKind::kMin: return std::min(a, b);
  }
  return 0.0f;
}

float ApplyScalar(ops::ScalarKind kind, float x, float s) {
  switch (kind) {
    case ops::ScalarKind::kPlus: return x + s;
    case ops::ScalarKind::kMinus: return x - s;
    case ops::ScalarKind::kRMinus: return s - x;
    case ops::ScalarKind::kMul: return x * s;
    case ops::ScalarKind::kDiv: return x / s;
    case ops::ScalarKind::kRDiv: return s / x;
    case ops::ScalarKind::kMax: return std::max(x, s);
    case ops::ScalarKind::kMin: return std::min(x, s);
  }
  return 0.0f;
}

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
  ops::BinaryKind kind;
  std::vector<int64_t> out_dims, lhs_strides, rhs_strides;
};

void RunBinary(const BinaryPlan& plan, const float* lhs, const float* rhs, float* out) {
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
    out[o++] = ApplyBinary(plan.kind, lhs[l], rhs[r]);
  } while (NextIndex(index, plan.out_dims));
}

void CheckSameSize(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " differs from input " +
                            spec.inputs[0].shape.ToString());
  }
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
  BinaryPlan plan{p.kind, out.dims(), BroadcastStrides(spec, lhs, out),
                  BroadcastStrides(spec, rhs, out)};
  return MakeKernel([plan](const KernelCall& call) {
    RunBinary(plan, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
              call.outputs[0].as<float>());
  });
}

std::unique_ptr<Kernel> MakeScalar(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ScalarParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  CheckSameSize(spec);
  const ops::ScalarKind kind = p.kind;
  const float scalar = static_cast<float>(p.scalar);
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([kind, scalar, size](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t i = 0; i < size; ++i) out[i] = ApplyScalar(kind, in[i], scalar);
  });
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
