// Reference Convolution: direct loops over 1-D, 2-D and 3-D inputs with stride, pad (before each
// spatial dim; the output shape says how far the window goes, so a fused asymmetric Pad needs nothing more),
// dilation and groups, channel-first or channel-last. 1-D and 2-D are run as 3-D with leading
// spatial extents of 1.
#include <array>
#include <vector>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

constexpr int kMaxSpatial = 3;

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, filters = 0, groups = 1;
  Dims3 in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, pad{0, 0, 0},
      dilate{1, 1, 1};
  LayoutStrides x, w, y;  // y: the output's, also the residual's
};

// Places the last `values.size()` spatial values right-aligned in a 3-vector (default elsewhere).
void FillSpatial(Dims3& dst, const std::vector<int64_t>& values, int spatial) {
  const int offset = kMaxSpatial - spatial;
  for (int i = 0; i < spatial && i < static_cast<int>(values.size()); ++i) {
    dst[offset + i] = values[i];
  }
}

ConvGeometry MakeGeometry(const KernelSpec& spec, const ops::ConvParams& p) {
  const int spatial = static_cast<int>(p.kernel.size());
  if (spatial < 1 || spatial > kMaxSpatial) {
    Throw<Unsupported>("node '", spec.node, "' (Convolution): kernel has ", spatial,
                       " dims; only 1-D, 2-D and 3-D convolutions are supported");
  }
  const Shape& x = spec.inputs[0].shape;
  const Shape& w = spec.inputs[1].shape;
  const Shape& y = spec.outputs[0].shape;
  if (x.ndim() != spatial + 2 || w.ndim() != spatial + 2 || y.ndim() != spatial + 2) {
    ShapeMismatch(spec, "data " + x.ToString() + ", weight " + w.ToString() + " and output " +
                            y.ToString() + " do not match a " + std::to_string(spatial) +
                            "-D kernel");
  }
  const bool last = p.channels_last;
  const int c_axis = ops::ChannelAxis(last, spatial + 2);
  ConvGeometry g;
  g.batch = x[0];
  g.in_channels = x[c_axis];
  g.filters = w[0];
  g.groups = p.num_group;
  if (g.groups < 1 || g.in_channels % g.groups != 0 || g.filters % g.groups != 0 ||
      w[c_axis] != g.in_channels / g.groups || y[0] != g.batch || y[c_axis] != g.filters) {
    ShapeMismatch(spec, "data " + x.ToString() + ", weight " + w.ToString() + ", output " +
                            y.ToString() + " and num_group " + std::to_string(g.groups) +
                            " are inconsistent");
  }
  for (int i = 0; i < spatial; ++i) {
    const int d = kMaxSpatial - spatial + i;
    g.in[d] = x[ops::SpatialAxis(last, i)];
    g.out[d] = y[ops::SpatialAxis(last, i)];
    g.kernel[d] = w[ops::SpatialAxis(last, i)];
  }
  FillSpatial(g.stride, p.stride, spatial);
  FillSpatial(g.pad, p.pad, spatial);
  FillSpatial(g.dilate, p.dilate, spatial);
  if (!p.no_bias) {
    if (spec.inputs.size() < 3 || spec.inputs[2].shape.Size() != g.filters) {
      ShapeMismatch(spec, "bias does not have num_filter (" + std::to_string(g.filters) +
                              ") elements");
    }
  }
  g.x = StridesOf(g.in_channels, g.in, last);
  g.w = StridesOf(g.in_channels / g.groups, g.kernel, last);
  g.y = StridesOf(g.filters, g.out, last);
  return g;
}

// One output element: the dot product of a filter with the window it covers.
double ConvolvePoint(const ConvGeometry& g, const float* x_group, const float* w_filter,
                     const Dims3& o) {
  const int64_t channels = g.in_channels / g.groups;
  double acc = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x_group + c * g.x.channel;
    const float* wc = w_filter + c * g.w.channel;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t id = o[0] * g.stride[0] - g.pad[0] + kd * g.dilate[0];
      if (id < 0 || id >= g.in[0]) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t ih = o[1] * g.stride[1] - g.pad[1] + kh * g.dilate[1];
        if (ih < 0 || ih >= g.in[1]) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t iw = o[2] * g.stride[2] - g.pad[2] + kw * g.dilate[2];
          if (iw < 0 || iw >= g.in[2]) continue;
          const double xv = xc[g.x.At(id, ih, iw)];
          const double wv = wc[g.w.At(kd, kh, kw)];
          acc += xv * wv;
        }
      }
    }
  }
  return acc;
}

// The epilogue: + bias[f], + residual (same layout as y) when fused, then the fused ReLU or clip.
struct Epilogue {
  const float* bias = nullptr;
  const float* residual = nullptr;
  bool relu = false;
  bool clip = false;
  double clip_min = 0, clip_max = 0;
};

void RunConvolution(const ConvGeometry& g, const float* x, const float* w, const Epilogue& e,
                    float* y) {
  const int64_t channels = g.in_channels / g.groups;
  const int64_t filters_per_group = g.filters / g.groups;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t f = 0; f < g.filters; ++f) {
      const int64_t group = f / filters_per_group;
      const float* x_group = x + n * g.x.item + group * channels * g.x.channel;
      const float* w_filter = w + f * g.w.item;
      const int64_t y_plane = n * g.y.item + f * g.y.channel;
      Dims3 o{};
      for (o[0] = 0; o[0] < g.out[0]; ++o[0]) {
        for (o[1] = 0; o[1] < g.out[1]; ++o[1]) {
          for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
            const int64_t at = y_plane + g.y.At(o[0], o[1], o[2]);
            double v = ConvolvePoint(g, x_group, w_filter, o);
            if (e.bias) v += e.bias[f];
            if (e.residual) v += e.residual[at];
            if (e.relu && v < 0) v = 0;
            if (e.clip) v = std::min(std::max(v, e.clip_min), e.clip_max);  // as ref::MakeClip
            y[at] = static_cast<float>(v);
          }
        }
      }
    }
  }
}

// oneDNN's nChw16c order of an NHWC tensor (n, h, w, c) whose c is a multiple of 16:
// element (n, h, w, c) sits at (((n * c/16 + c/16) * h + h) * w + w) * 16 + c % 16.
int64_t BlockedOffset(const Shape& nhwc, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t height = nhwc[1], width = nhwc[2], blocks = nhwc[3] / 16;
  return (((n * blocks + c / 16) * height + h) * width + w) * 16 + c % 16;
}

// `to_blocked`: NHWC `from` into nChw16c `to`; else the other way.
void Reblock(const Shape& nhwc, const float* from, float* to, bool to_blocked) {
  int64_t plain = 0;
  for (int64_t n = 0; n < nhwc[0]; ++n)
    for (int64_t h = 0; h < nhwc[1]; ++h)
      for (int64_t w = 0; w < nhwc[2]; ++w)
        for (int64_t c = 0; c < nhwc[3]; ++c, ++plain) {
          const int64_t blocked = BlockedOffset(nhwc, n, h, w, c);
          if (to_blocked) to[blocked] = from[plain];
          else to[plain] = from[blocked];
        }
}

}  // namespace

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConvParams>(spec.params);
  RequireArity(spec, p.num_inputs(), 1);
  RequireFloat32(spec);
  const ConvGeometry geometry = MakeGeometry(spec, p);
  if (p.fused_sum && spec.inputs[p.residual_input()].shape != spec.outputs[0].shape) {
    ShapeMismatch(spec, "the fused residual " + spec.inputs[p.residual_input()].shape.ToString() +
                            " does not have the output's shape " + spec.outputs[0].shape.ToString());
  }
  const bool has_bias = !p.no_bias;
  const size_t residual = p.fused_sum ? p.residual_input() : 0;  // 0: none
  Epilogue act;
  act.relu = p.fused_relu;
  act.clip = p.fused_clip;
  act.clip_min = p.clip_min;
  act.clip_max = p.clip_max;
  // A blocked data input is read, and a blocked output written, through an NHWC copy.
  const Shape blocked_in =
      ops::ConvParams::StoredBlocked(p.blocked_in, spec.inputs[0].shape.dims()) ? spec.inputs[0].shape : Shape();
  const Shape blocked_out =
      ops::ConvParams::StoredBlocked(p.blocked_out, spec.outputs[0].shape.dims()) ? spec.outputs[0].shape : Shape();
  return MakeKernel([geometry, has_bias, residual, act, blocked_in, blocked_out](const KernelCall& call) {
    Epilogue e = act;
    e.bias = has_bias ? call.inputs[2].as<const float>() : nullptr;
    e.residual = residual ? call.inputs[residual].as<const float>() : nullptr;
    const float* x = call.inputs[0].as<const float>();
    std::vector<float> x_nhwc, y_nhwc;
    if (blocked_in.ndim() == 4) {
      x_nhwc.resize(static_cast<size_t>(blocked_in.Size()));
      Reblock(blocked_in, x, x_nhwc.data(), false);
      x = x_nhwc.data();
    }
    float* y = call.outputs[0].as<float>();
    if (blocked_out.ndim() == 4) {
      y_nhwc.resize(static_cast<size_t>(blocked_out.Size()));
      y = y_nhwc.data();
    }
    RunConvolution(geometry, x, call.inputs[1].as<const float>(), e, y);
    if (blocked_out.ndim() == 4) Reblock(blocked_out, y, call.outputs[0].as<float>(), true);
  });
}

}  // namespace tandem::ref
