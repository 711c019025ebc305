// Reference Pooling (max / avg / sum) over 1-D, 2-D and 3-D inputs, channel-first or channel-last
// (the loops index through per-layout strides), following MXNet's window
// arithmetic: the window of output o along a dim is [o*s - p, min(o*s - p + k, x + p)), whose
// length is the pool size when count_include_pad; the elements read are that window clipped to
// [0, x). The output shape comes from shape inference (it already applied the convention).
#include <algorithm>
#include <array>
#include <limits>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

constexpr int kMaxSpatial = 3;

struct PoolGeometry {
  int64_t batch = 0, channels = 0;
  Dims3 in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, pad{0, 0, 0};
  LayoutStrides x, y;
  ops::PoolType pool = ops::PoolType::kMax;
  bool count_include_pad = true;
};

// The part of one window along one dim: `full` elements counting padding, [begin, end) read.
struct WindowExtent {
  int64_t full, begin, end;
};

WindowExtent Window(int64_t o, int64_t in, int64_t k, int64_t s, int64_t p) {
  const int64_t start = o * s - p;
  const int64_t stop = std::min(start + k, in + p);
  return {stop - start, std::max<int64_t>(start, 0), std::min(stop, in)};
}

PoolGeometry MakeGeometry(const KernelSpec& spec, const ops::PoolingParams& p) {
  const Shape& x = spec.inputs[0].shape;
  const Shape& y = spec.outputs[0].shape;
  const int spatial = x.ndim() - 2;
  const bool last = p.channels_last;
  const int c_axis = ops::ChannelAxis(last, x.ndim());
  if (spatial < 1 || spatial > kMaxSpatial || y.ndim() != x.ndim() || y[0] != x[0] ||
      y[c_axis] != x[c_axis]) {
    ShapeMismatch(spec, "pooling needs 3-D to 5-D data with a matching output; got data " +
                            x.ToString() + " and output " + y.ToString());
  }
  if (!p.global_pool && static_cast<int>(p.kernel.size()) != spatial) {
    ShapeMismatch(spec, "kernel has " + std::to_string(p.kernel.size()) +
                            " dims but data " + x.ToString() + " has " +
                            std::to_string(spatial) + " spatial dims");
  }
  PoolGeometry g;
  g.batch = x[0];
  g.channels = x[c_axis];
  g.pool = p.pool;
  g.count_include_pad = p.count_include_pad;
  const int offset = kMaxSpatial - spatial;
  for (int i = 0; i < spatial; ++i) {
    const int d = offset + i;
    g.in[d] = x[ops::SpatialAxis(last, i)];
    g.out[d] = y[ops::SpatialAxis(last, i)];
    if (p.global_pool) {
      g.kernel[d] = g.in[d];  // whole extent, stride 1, no pad
      continue;
    }
    g.kernel[d] = p.kernel[i];
    if (i < static_cast<int>(p.stride.size())) g.stride[d] = p.stride[i];
    if (i < static_cast<int>(p.pad.size())) g.pad[d] = p.pad[i];
  }
  g.x = StridesOf(g.channels, g.in, last);
  g.y = StridesOf(g.channels, g.out, last);
  return g;
}

float PoolPoint(const PoolGeometry& g, const float* plane, const Dims3& o) {
  std::array<WindowExtent, kMaxSpatial> w;
  int64_t pool_size = 1, valid = 1;
  for (int d = 0; d < kMaxSpatial; ++d) {
    w[d] = Window(o[d], g.in[d], g.kernel[d], g.stride[d], g.pad[d]);
    pool_size *= w[d].full;
    valid *= std::max<int64_t>(w[d].end - w[d].begin, 0);
  }
  double sum = 0;
  float max = std::numeric_limits<float>::lowest();
  for (int64_t i0 = w[0].begin; i0 < w[0].end; ++i0) {
    for (int64_t i1 = w[1].begin; i1 < w[1].end; ++i1) {
      for (int64_t i2 = w[2].begin; i2 < w[2].end; ++i2) {
        const float v = plane[g.x.At(i0, i1, i2)];
        sum += v;
        max = std::max(max, v);
      }
    }
  }
  switch (g.pool) {
    case ops::PoolType::kMax: return max;
    case ops::PoolType::kSum: return static_cast<float>(sum);
    case ops::PoolType::kAvg:
      if (valid == 0) return 0.0f;
      return static_cast<float>(sum / static_cast<double>(g.count_include_pad ? pool_size : valid));
  }
  return 0.0f;
}

void RunPooling(const PoolGeometry& g, const float* x, float* y) {
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t c = 0; c < g.channels; ++c) {
      const float* plane = x + n * g.x.item + c * g.x.channel;
      float* out = y + n * g.y.item + c * g.y.channel;
      Dims3 o{};
      for (o[0] = 0; o[0] < g.out[0]; ++o[0]) {
        for (o[1] = 0; o[1] < g.out[1]; ++o[1]) {
          for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
            out[g.y.At(o[0], o[1], o[2])] = PoolPoint(g, plane, o);
          }
        }
      }
    }
  }
}

}  // namespace

std::unique_ptr<Kernel> MakePooling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::PoolingParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const PoolGeometry geometry = MakeGeometry(spec, p);
  return MakeKernel([geometry](const KernelCall& call) {
    RunPooling(geometry, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
  });
}

}  // namespace tandem::ref
