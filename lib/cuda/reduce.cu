// Plain CUDA sum / mean over a set of axes, as lib/ref/reduce.cpp: the input's axes are split into
// kept and reduced ones; one thread block per output element walks the reduced elements,
// accumulating in double, and combines the partial sums in shared memory.
#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

struct ReducePlan {
  Strided kept, reduced;  // input dims and strides of each group of axes
  int64_t kept_count = 1, reduced_count = 1;
  bool mean = false;
};

constexpr int kReduceThreads = 256;
constexpr int64_t kMaxReduceBlocks = 1 << 16;

__global__ void ReduceKernel(ReducePlan plan, const float* in, float* out) {
  __shared__ double partial[kReduceThreads];
  for (int64_t o = blockIdx.x; o < plan.kept_count; o += gridDim.x) {
    const float* base = in + plan.kept.OffsetOf(o);
    double sum = 0;
    for (int64_t r = threadIdx.x; r < plan.reduced_count; r += blockDim.x)
      sum += base[plan.reduced.OffsetOf(r)];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int width = blockDim.x / 2; width > 0; width /= 2) {
      if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      // mean over nothing is 0/0 = NaN, as in numpy.
      const double total = partial[0];
      out[o] = static_cast<float>(plan.mean ? total / static_cast<double>(plan.reduced_count)
                                            : total);
    }
    __syncthreads();  // partial[] is reused by the next output
  }
}

std::vector<bool> ReducedAxes(const KernelSpec& spec, const ops::ReduceParams& p,
                              const Shape& in) {
  // MXNet: an empty axis list reduces everything, exclude or not.
  if (p.axis.empty()) return std::vector<bool>(in.ndim(), true);
  std::vector<bool> listed(in.ndim(), false);
  for (int64_t a : p.axis) listed[ref::NormaliseAxis(spec, a, in)] = true;
  if (p.exclude) listed.flip();
  return listed;
}

ReducePlan MakePlan(const KernelSpec& spec, const ops::ReduceParams& p) {
  const Shape& in = spec.inputs[0].shape;
  const std::vector<bool> reduced = ReducedAxes(spec, p, in);
  const std::vector<int64_t> strides = ref::RowMajorStrides(in);
  ReducePlan plan;
  plan.mean = p.kind == ops::ReduceKind::kMean;
  for (int i = 0; i < in.ndim(); ++i) {
    Strided& group = reduced[i] ? plan.reduced : plan.kept;
    group.dims[group.rank] = in[i];
    group.strides[group.rank] = strides[i];
    ++group.rank;
    (reduced[i] ? plan.reduced_count : plan.kept_count) *= in[i];
  }
  if (spec.outputs[0].shape.Size() != plan.kept_count) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() +
                                 " does not hold the " + std::to_string(plan.kept_count) +
                                 " elements left by reducing " + in.ToString());
  }
  return plan;
}

}  // namespace

std::unique_ptr<Kernel> MakeReduce(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ReduceParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  if (spec.inputs[0].shape.ndim() > kMaxRank) return nullptr;
  const ReducePlan plan = MakePlan(spec, p);
  return MakeKernel([plan](const KernelCall& call) {
    if (plan.kept_count == 0) return;
    CudaState& state = StateFor(call);
    const auto blocks = static_cast<unsigned>(std::min(plan.kept_count, kMaxReduceBlocks));
    ReduceKernel<<<blocks, kReduceThreads, 0, state.stream()>>>(
        plan, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace tandem::cuda
