// Plain CUDA Pooling (max / avg / sum) over 1-D, 2-D and 3-D inputs, one thread per output
// element, with MXNet's window arithmetic exactly as lib/ref/pooling.cpp: the window of output o
// along a dim is [o*s - p, min(o*s - p + k, x + p)), whose length is the pool size when
// count_include_pad; the elements read are that window clipped to [0, x).
#include <cfloat>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

struct PoolGeometry {
  int64_t planes = 0;  // batch * channels
  Dims3 in, out, kernel, stride;
  Dims3 pad = Dims3::Zeros();  // unused leading dims mean no padding
  ops::PoolType pool = ops::PoolType::kMax;
  bool count_include_pad = true;
};

__device__ float PoolPoint(const PoolGeometry& g, const float* plane, const int64_t (&o)[3]) {
  int64_t begin[3], end[3];
  int64_t pool_size = 1, valid = 1;
  for (int d = 0; d < 3; ++d) {
    const int64_t start = o[d] * g.stride[d] - g.pad[d];
    const int64_t stop = min(start + g.kernel[d], g.in[d] + g.pad[d]);
    begin[d] = max(start, int64_t{0});
    end[d] = min(stop, g.in[d]);
    pool_size *= stop - start;
    valid *= max(end[d] - begin[d], int64_t{0});
  }
  float sum = 0.0f;
  float max_value = -FLT_MAX;
  for (int64_t i0 = begin[0]; i0 < end[0]; ++i0) {
    for (int64_t i1 = begin[1]; i1 < end[1]; ++i1) {
      for (int64_t i2 = begin[2]; i2 < end[2]; ++i2) {
        const float v = plane[(i0 * g.in[1] + i1) * g.in[2] + i2];
        sum += v;
        max_value = fmaxf(max_value, v);
      }
    }
  }
  switch (g.pool) {
    case ops::PoolType::kMax: return max_value;
    case ops::PoolType::kSum: return sum;
    case ops::PoolType::kAvg:
      if (valid == 0) return 0.0f;
      return sum / static_cast<float>(g.count_include_pad ? pool_size : valid);
  }
  return 0.0f;
}

__global__ void PoolingKernel(PoolGeometry g, const float* x, float* y) {
  const int64_t out_plane = g.out.Prod();
  const int64_t in_plane = g.in.Prod();
  TANDEM_GRID_STRIDE_LOOP(idx, g.planes * out_plane) {
    const int64_t n = idx / out_plane;
    const int64_t p = idx % out_plane;
    const int64_t o[3] = {p / (g.out[1] * g.out[2]), (p / g.out[2]) % g.out[1], p % g.out[2]};
    y[idx] = PoolPoint(g, x + n * in_plane, o);
  }
}

PoolGeometry MakeGeometry(const KernelSpec& spec, const ops::PoolingParams& p) {
  const Shape& x = spec.inputs[0].shape;
  const Shape& y = spec.outputs[0].shape;
  const int spatial = x.ndim() - 2;
  if (spatial < 1 || spatial > 3 || y.ndim() != x.ndim() || y[0] != x[0] || y[1] != x[1]) {
    ref::ShapeMismatch(spec, "pooling needs 3-D to 5-D data with a matching output; got data " +
                                 x.ToString() + " and output " + y.ToString());
  }
  if (!p.global_pool && static_cast<int>(p.kernel.size()) != spatial) {
    ref::ShapeMismatch(spec, "kernel has " + std::to_string(p.kernel.size()) +
                                 " dims but data " + x.ToString() + " has " +
                                 std::to_string(spatial) + " spatial dims");
  }
  PoolGeometry g;
  g.planes = x[0] * x[1];
  g.pool = p.pool;
  g.count_include_pad = p.count_include_pad;
  for (int i = 0; i < spatial; ++i) {
    const int d = 3 - spatial + i;
    g.in[d] = x[2 + i];
    g.out[d] = y[2 + i];
    if (p.global_pool) {
      g.kernel[d] = x[2 + i];  // whole extent, stride 1, no pad
      continue;
    }
    g.kernel[d] = p.kernel[i];
    g.stride[d] = SpatialAt(p.stride, i, 1);
    g.pad[d] = SpatialAt(p.pad, i, 0);
  }
  return g;
}

}  // namespace

std::unique_ptr<Kernel> MakePooling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::PoolingParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  // Channel-last is cuDNN's alone: this direct kernel indexes NCHW.
  if (!AllFloat32(spec) || p.channels_last) return nullptr;
  const PoolGeometry g = MakeGeometry(spec, p);
  const int64_t total = spec.outputs[0].shape.Size();
  return MakeKernel([g, total](const KernelCall& call) {
    if (total == 0) return;
    CudaState& state = StateFor(call);
    PoolingKernel<<<BlocksFor(total), kBlockSize, 0, state.stream()>>>(
        g, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace tandem::cuda
