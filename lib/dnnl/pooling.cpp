// oneDNN Pooling: max and avg over 1-3 spatial dims, every convention and global pooling, in
// channel-first (NCHW) or channel-last (NHWC) layout.
//
// MXNet's windows are start = o*s - p, end = min(start + k, x + p), clipped to [0, x) for the
// values; max ignores padding, avg divides by end - start (count_include_pad) or by the clipped
// size. oneDNN computes the same windows given the right padding that reproduces MXNet's output
// size, and divides by k (avg_include_padding) or the clipped size (avg_exclude_padding). The two
// include-padding divisors differ only when a window reaches past x + p (the extra right padding
// of the 'full' / 'same' conventions): that case stays with the reference kernel unless p == 0,
// where MXNet's divisor is the clipped size.
#include <memory>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {
namespace {

struct PoolGeometry {
  dnnl::memory::dims kernel, strides, pad_left, pad_right;
  bool reaches_past_pad = false;  // some window extends beyond x + p
  bool unpadded = true;           // p == 0 everywhere
};

// Window geometry that makes oneDNN produce `out`, the size MXNet's shape inference chose.
bool ComputeGeometry(const ops::PoolingParams& p, const Shape& in, const Shape& out,
                     PoolGeometry* g) {
  const int rank = in.ndim() - 2;
  for (int i = 0; i < rank; ++i) {
    const int64_t x = in[i + 2], o = out[i + 2];
    int64_t k = x, s = 1, pad = 0;
    if (!p.global_pool) {
      if (p.kernel.size() != static_cast<size_t>(rank)) return false;
      k = p.kernel[i];
      s = p.stride.size() == static_cast<size_t>(rank) ? p.stride[i] : 1;
      pad = p.pad.size() == static_cast<size_t>(rank) ? p.pad[i] : 0;
    }
    if (k < 1 || s < 1 || pad < 0) return false;
    // Symmetric padding when it already gives MXNet's size (floor division), else just enough
    // right padding for the last window to start where MXNet's does.
    int64_t right = pad;
    if (x + 2 * pad < k || (x + 2 * pad - k) / s + 1 != o) right = (o - 1) * s + k - x - pad;
    if (right < 0 || (x + pad + right - k) / s + 1 != o) return false;
    g->kernel.push_back(k);
    g->strides.push_back(s);
    g->pad_left.push_back(pad);
    g->pad_right.push_back(right);
    g->reaches_past_pad = g->reaches_past_pad || right > pad;
    g->unpadded = g->unpadded && pad == 0;
  }
  return true;
}

}  // namespace

std::unique_ptr<Kernel> MakePooling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::PoolingParams>(spec.params);
  if (!IsPlainF32(spec, 1) || spec.outputs.size() != 1) return nullptr;
  const bool last = p.channels_last;
  // oneDNN's logical dims are channel-first whatever the layout.
  const Shape in = last ? Shape(ChannelsFirstDims(spec.inputs[0].shape)) : spec.inputs[0].shape;
  const Shape out = last ? Shape(ChannelsFirstDims(spec.outputs[0].shape)) : spec.outputs[0].shape;
  if (in.ndim() < 3 || in.ndim() > 5 || out.ndim() != in.ndim() || out[0] != in[0] ||
      out[1] != in[1])
    return nullptr;
  PoolGeometry g;
  if (!ComputeGeometry(p, in, out, &g)) return nullptr;

  dnnl::algorithm algorithm;
  switch (p.pool) {
    case ops::PoolType::kMax: algorithm = dnnl::algorithm::pooling_max; break;
    case ops::PoolType::kAvg: {
      // Without padding MXNet's include-padding divisor is the clipped window: exclude_padding.
      const bool include = p.count_include_pad && !g.unpadded;
      if (include && g.reaches_past_pad) return nullptr;
      algorithm = include ? dnnl::algorithm::pooling_avg_include_padding
                          : dnnl::algorithm::pooling_avg_exclude_padding;
      break;
    }
    default: return nullptr;  // sum
  }

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src = last ? ChannelsLastDesc(ToDims(in)) : PlainDesc(in);
    const dnnl::memory::desc dst = last ? ChannelsLastDesc(ToDims(out)) : PlainDesc(out);
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src, dst,
                                     g.strides, g.kernel, g.pad_left, g.pad_right);
    dnnl::pooling_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::pooling_forward(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), src},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}});
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
