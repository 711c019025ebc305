// Reference Transpose: output dim i is input dim axes[i] (axes empty: reversed). Walks the output
// in order and gathers each element from the input.
#include <vector>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

struct TransposePlan {
  std::vector<int64_t> out_dims;
  std::vector<int64_t> in_strides;  // input stride of the axis that becomes output axis i
};

std::vector<int> ResolveAxes(const KernelSpec& spec, const ops::TransposeParams& p,
                             const Shape& in) {
  const int rank = in.ndim();
  std::vector<int> axes(rank);
  for (int i = 0; i < rank; ++i) axes[i] = rank - 1 - i;
  if (p.axes.empty()) return axes;
  if (static_cast<int>(p.axes.size()) != rank) {
    ShapeMismatch(spec, "axes has " + std::to_string(p.axes.size()) + " entries for input " +
                            in.ToString());
  }
  std::vector<bool> seen(rank, false);
  for (int i = 0; i < rank; ++i) {
    axes[i] = NormaliseAxis(spec, p.axes[i], in);
    if (seen[axes[i]]) ShapeMismatch(spec, "axes repeat axis " + std::to_string(axes[i]));
    seen[axes[i]] = true;
  }
  return axes;
}

void RunTranspose(const TransposePlan& plan, const float* in, float* out) {
  for (int64_t d : plan.out_dims) {
    if (d == 0) return;
  }
  std::vector<int64_t> index(plan.out_dims.size(), 0);
  int64_t o = 0;
  do {
    int64_t offset = 0;
    for (size_t i = 0; i < index.size(); ++i) offset += index[i] * plan.in_strides[i];
    out[o++] = in[offset];
  } while (NextIndex(index, plan.out_dims));
}

}  // namespace

std::unique_ptr<Kernel> MakeTranspose(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::TransposeParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const Shape& in = spec.inputs[0].shape;
  const Shape& out = spec.outputs[0].shape;
  const std::vector<int> axes = ResolveAxes(spec, p, in);
  const std::vector<int64_t> strides = RowMajorStrides(in);
  TransposePlan plan;
  for (int axis : axes) {
    plan.out_dims.push_back(in[axis]);
    plan.in_strides.push_back(strides[axis]);
  }
  if (Shape(plan.out_dims) != out) {
    ShapeMismatch(spec, "output " + out.ToString() + " is not input " + in.ToString() +
                            " permuted to " + Shape(plan.out_dims).ToString());
  }
  return MakeKernel([plan](const KernelCall& call) {
    RunTranspose(plan, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
  });
}

}  // namespace tandem::ref
