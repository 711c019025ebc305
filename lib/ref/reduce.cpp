// Reference sum / mean over a set of axes. For each output element (an index over the kept axes)
// it walks every index of the reduced axes, accumulating in double.
#include <vector>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Input dims and strides split into the axes that are kept and the axes that are reduced.
struct ReducePlan {
  std::vector<int64_t> kept_dims, kept_strides, reduced_dims, reduced_strides;
  int64_t reduced_count = 1;
  bool mean = false;
};

std::vector<bool> ReducedAxes(const KernelSpec& spec, const ops::ReduceParams& p,
                              const Shape& in) {
  // MXNet: an empty axis list reduces everything, exclude or not.
  if (p.axis.empty()) return std::vector<bool>(in.ndim(), true);
  std::vector<bool> listed(in.ndim(), false);
  for (int64_t a : p.axis) listed[NormaliseAxis(spec, a, in)] = true;
  if (p.exclude) listed.flip();
  return listed;
}

ReducePlan MakePlan(const KernelSpec& spec, const ops::ReduceParams& p) {
  const Shape& in = spec.inputs[0].shape;
  const std::vector<bool> reduced = ReducedAxes(spec, p, in);
  const std::vector<int64_t> strides = RowMajorStrides(in);
  ReducePlan plan;
  plan.mean = p.kind == ops::ReduceKind::kMean;
  int64_t kept_count = 1;
  for (int i = 0; i < in.ndim(); ++i) {
    if (reduced[i]) {
      plan.reduced_dims.push_back(in[i]);
      plan.reduced_strides.push_back(strides[i]);
      plan.reduced_count *= in[i];
    } else {
      plan.kept_dims.push_back(in[i]);
      plan.kept_strides.push_back(strides[i]);
      kept_count *= in[i];
    }
  }
  if (spec.outputs[0].shape.Size() != kept_count) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold the " +
                            std::to_string(kept_count) + " elements left by reducing " +
                            in.ToString());
  }
  return plan;
}

// Offset of a multi-index over `dims` laid out with `strides`.
int64_t Offset(const std::vector<int64_t>& index, const std::vector<int64_t>& strides) {
  int64_t offset = 0;
  for (size_t i = 0; i < index.size(); ++i) offset += index[i] * strides[i];
  return offset;
}

bool AnyZero(const std::vector<int64_t>& dims) {
  for (int64_t d : dims) {
    if (d == 0) return true;
  }
  return false;
}

double ReduceOne(const ReducePlan& plan, const float* base) {
  double sum = 0;
  if (!AnyZero(plan.reduced_dims)) {
    std::vector<int64_t> index(plan.reduced_dims.size(), 0);
    do {
      sum += base[Offset(index, plan.reduced_strides)];
    } while (NextIndex(index, plan.reduced_dims));
  }
  // mean over nothing is 0/0 = NaN, as in numpy.
  return plan.mean ? sum / static_cast<double>(plan.reduced_count) : sum;
}

void RunReduce(const ReducePlan& plan, const float* in, float* out) {
  if (AnyZero(plan.kept_dims)) return;
  std::vector<int64_t> index(plan.kept_dims.size(), 0);
  int64_t o = 0;
  do {
    out[o++] = static_cast<float>(ReduceOne(plan, in + Offset(index, plan.kept_strides)));
  } while (NextIndex(index, plan.kept_dims));
}

}  // namespace

std::unique_ptr<Kernel> MakeReduce(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ReduceParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const ReducePlan plan = MakePlan(spec, p);
  return MakeKernel([plan](const KernelCall& call) {
    RunReduce(plan, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
  });
}

}  // namespace tandem::ref
