// Reference kernels of the vision family (lib/ops/vision.cpp): Deconvolution (and the bilinear
// UpSampling it stands for), nearest UpSampling, _contrib_BilinearResize2D and
// _contrib_AdaptiveAvgPooling2D. Plain loops; the resize and pooling kernels repeat MXNet's float32
// arithmetic step by step, so they agree with it to the last bit or nearly.
#include "lib/ref/vision.hpp"

#include <cmath>
#include <string>

#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

constexpr int kMaxSpatial = 3;

// ---------------------------------------------------------------------------------------------
// Deconvolution: y[n, f, o] = sum over the group's channels c and kernel taps k with
// o = i * stride - pad + k * dilate of x[n, c, i] * w[c, f % (F / G), k], (+ bias[f]).

struct DeconvGeometry {
  int64_t batch = 0, in_channels = 0, filters = 0, groups = 1;
  Dims3 in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, pad{0, 0, 0}, dilate{1, 1, 1};
  LayoutStrides x, w, y;  // w: the weight as (C, F / G, k...) or (C, k..., F / G)
};

std::string Dims(const Shape& s) { return s.ToString(); }

DeconvGeometry MakeDeconvGeometry(const KernelSpec& spec, const ops::DeconvParams& p) {
  const int spatial = static_cast<int>(p.kernel.size());
  if (spatial < 1 || spatial > kMaxSpatial || p.stride.size() != p.kernel.size() ||
      p.pad.size() != p.kernel.size() || p.dilate.size() != p.kernel.size() ||
      p.adj.size() != p.kernel.size())
    Throw<Unsupported>("node '", spec.node, "' (", spec.schema.name,
                       "): only 1-D, 2-D and 3-D deconvolutions are supported");
  const Shape& x = spec.inputs[0].shape;
  const Shape& w = spec.inputs[1].shape;
  const Shape& y = spec.outputs[0].shape;
  if (x.ndim() != spatial + 2 || w.ndim() != spatial + 2 || y.ndim() != spatial + 2)
    ShapeMismatch(spec, "data " + Dims(x) + ", weight " + Dims(w) + " and output " + Dims(y) +
                            " do not match a " + std::to_string(spatial) + "-D kernel");
  const bool last = p.channels_last;
  const int c_axis = ops::ChannelAxis(last, spatial + 2);
  DeconvGeometry g;
  g.batch = x[0];
  g.in_channels = x[c_axis];
  g.filters = p.num_filter;
  g.groups = p.num_group;
  if (g.groups < 1 || g.in_channels % g.groups != 0 || g.filters % g.groups != 0 ||
      w[0] != g.in_channels || w[c_axis] != g.filters / g.groups || y[0] != g.batch ||
      y[c_axis] != g.filters)
    ShapeMismatch(spec, "data " + Dims(x) + ", weight " + Dims(w) + ", output " + Dims(y) +
                            ", num_filter " + std::to_string(g.filters) + " and num_group " +
                            std::to_string(g.groups) + " are inconsistent");
  for (int i = 0; i < spatial; ++i) {
    const int d = kMaxSpatial - spatial + i;
    const int axis = ops::SpatialAxis(last, i);
    g.in[d] = x[axis];
    g.out[d] = y[axis];
    g.kernel[d] = w[axis];
    g.stride[d] = p.stride[i];
    g.dilate[d] = p.dilate[i];
    const ops::DeconvPadding pad = ops::DeconvPaddingFor(p, i, x[axis]);
    g.pad[d] = pad.pad;
    if (g.kernel[d] != p.kernel[i] ||
        g.out[d] != ops::DeconvFullExtent(p, i, x[axis]) - 2 * pad.pad + pad.adj)
      ShapeMismatch(spec, "data " + Dims(x) + ", weight " + Dims(w) + " and output " + Dims(y) +
                              " do not match the deconvolution's kernel, stride and padding");
  }
  if (!p.no_bias && (spec.inputs.size() < 3 || spec.inputs[2].shape.Size() != g.filters))
    ShapeMismatch(spec, "bias does not have num_filter (" + std::to_string(g.filters) +
                            ") elements");
  g.x = StridesOf(g.in_channels, g.in, last);
  g.w = StridesOf(g.filters / g.groups, g.kernel, last);
  g.y = StridesOf(g.filters, g.out, last);
  return g;
}

// The input position that kernel tap k brings to output position o along one dim, or -1.
inline int64_t SourceOf(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dilate,
                        int64_t extent) {
  const int64_t t = o + pad - k * dilate;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t i = t / stride;
  return i < extent ? i : -1;
}

void RunDeconvolution(const DeconvGeometry& g, const float* x, const float* w, const float* bias,
                      float* y) {
  const int64_t channels = g.in_channels / g.groups;
  const int64_t filters = g.filters / g.groups;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t f = 0; f < g.filters; ++f) {
      const int64_t group = f / filters, fo = f % filters;
      const int64_t y_plane = n * g.y.item + f * g.y.channel;
      Dims3 o{};
      for (o[0] = 0; o[0] < g.out[0]; ++o[0]) {
        for (o[1] = 0; o[1] < g.out[1]; ++o[1]) {
          for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
            double acc = bias ? bias[f] : 0.0;
            for (int64_t c = group * channels; c < (group + 1) * channels; ++c) {
              const float* xc = x + n * g.x.item + c * g.x.channel;
              const float* wc = w + c * g.w.item + fo * g.w.channel;
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
                const int64_t id = SourceOf(o[0], kd, g.stride[0], g.pad[0], g.dilate[0], g.in[0]);
                if (id < 0) continue;
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
                  const int64_t ih =
                      SourceOf(o[1], kh, g.stride[1], g.pad[1], g.dilate[1], g.in[1]);
                  if (ih < 0) continue;
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t iw =
                        SourceOf(o[2], kw, g.stride[2], g.pad[2], g.dilate[2], g.in[2]);
                    if (iw < 0) continue;
                    acc += static_cast<double>(xc[g.x.At(id, ih, iw)]) *
                           static_cast<double>(wc[g.w.At(kd, kh, kw)]);
                  }
                }
              }
            }
            y[y_plane + g.y.At(o[0], o[1], o[2])] = static_cast<float>(acc);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Nearest UpSampling: every input is scaled by (output height / its height) and written to its
// channel range of the output (concat), or added to the output (sum).

struct NearestInput {
  int64_t channels = 0, height = 0, width = 0, scale = 1, channel_offset = 0;
};

std::unique_ptr<Kernel> MakeNearestUpSampling(const KernelSpec& spec,
                                              const ops::UpSamplingParams& p) {
  const size_t count = static_cast<size_t>(p.num_args);
  RequireArity(spec, count, 1);
  RequireFloat32(spec, count);
  const Shape& y = spec.outputs[0].shape;
  if (y.ndim() != 4) ShapeMismatch(spec, "output " + Dims(y) + " is not 4-d");
  std::vector<NearestInput> inputs;
  int64_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    const Shape& s = spec.inputs[i].shape;
    if (s.ndim() != 4 || s[0] != y[0] || s[2] < 1 || s[3] < 1 || y[2] % s[2] != 0 ||
        y[3] % s[3] != 0 || y[2] / s[2] != y[3] / s[3])
      ShapeMismatch(spec, "input " + std::to_string(i) + " " + Dims(s) +
                              " does not scale to the output " + Dims(y));
    NearestInput in{s[1], s[2], s[3], y[2] / s[2], p.sum ? 0 : offset};
    if (in.channel_offset + in.channels > y[1])
      ShapeMismatch(spec, "the inputs have more channels than the output " + Dims(y));
    offset += s[1];
    inputs.push_back(in);
  }
  if ((p.sum && inputs[0].channels != y[1]) || (!p.sum && offset != y[1]))
    ShapeMismatch(spec, "the inputs' channels do not add up to the output " + Dims(y));
  const int64_t batch = y[0], out_c = y[1], oh = y[2], ow = y[3];
  const bool sum = p.sum;
  return MakeKernel([inputs, batch, out_c, oh, ow, sum](const KernelCall& call) {
    float* out = call.outputs[0].as<float>();
    for (size_t i = 0; i < inputs.size(); ++i) {
      const NearestInput& in = inputs[i];
      const float* x = call.inputs[i].as<const float>();
      const bool add = sum && i > 0;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < in.channels; ++c) {
          const float* plane = x + (n * in.channels + c) * in.height * in.width;
          float* dst = out + ((n * out_c + in.channel_offset + c) * oh) * ow;
          for (int64_t h = 0; h < oh; ++h)
            for (int64_t w = 0; w < ow; ++w) {
              const float v = plane[(h / in.scale) * in.width + w / in.scale];
              dst[h * ow + w] = add ? dst[h * ow + w] + v : v;
            }
        }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// _contrib_BilinearResize2D, as MXNet's SpatialUpSamplingBilinearUpdateOutput (float32 steps).

// MXNet's area_pixel_compute_scale.
float ResizeScale(int64_t in, int64_t out, bool align_corners) {
  if (out <= 1) return 0.0f;
  return align_corners ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                       : static_cast<float>(in) / static_cast<float>(out);
}

// MXNet's area_pixel_compute_source_index (linear: negative indices clamp to 0).
float ResizeSource(float scale, int64_t dst, bool align_corners) {
  if (align_corners) return scale * static_cast<float>(dst);
  const float src = static_cast<float>(static_cast<double>(scale) * (static_cast<double>(dst) + 0.5) - 0.5);
  return src < 0 ? 0.0f : src;
}

// Where output row (or column) o reads from: index, step to the next one (0 at the edge) and
// the two weights.
struct Tap {
  int64_t index = 0, next = 0;
  float w0 = 1, w1 = 0;
};

std::vector<Tap> ResizeTaps(int64_t in, int64_t out, bool align_corners) {
  const float scale = ResizeScale(in, out, align_corners);
  std::vector<Tap> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const float r = ResizeSource(scale, o, align_corners);
    Tap& t = taps[static_cast<size_t>(o)];
    t.index = static_cast<int64_t>(static_cast<int>(r));
    t.next = t.index < in - 1 ? 1 : 0;
    t.w1 = r - static_cast<float>(t.index);
    t.w0 = 1.0f - t.w1;
  }
  return taps;
}

// ---------------------------------------------------------------------------------------------
// _contrib_AdaptiveAvgPooling2D: window [floor(o * in / out), ceil((o + 1) * in / out)), the
// bounds computed in float32 as MXNet's START_IND / END_IND.

struct Window {
  int64_t start = 0, size = 0;
};

std::vector<Window> AdaptiveWindows(int64_t in, int64_t out) {
  std::vector<Window> windows(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int start = static_cast<int>(std::floor(static_cast<float>(o * in) / static_cast<float>(out)));
    const int end =
        static_cast<int>(std::ceil(static_cast<float>((o + 1) * in) / static_cast<float>(out)));
    windows[static_cast<size_t>(o)] = {start, end - start};
  }
  return windows;
}

// Data x and output y of a 2-d resize: 4-d images of the same batch and channels.
void RequireSamePlanes(const KernelSpec& spec, const Shape& x, const Shape& y) {
  if (x.ndim() != 4 || y.ndim() != 4 || x[0] != y[0] || x[1] != y[1])
    ShapeMismatch(spec, "data " + Dims(x) + " and output " + Dims(y) +
                            " are not 4-d images of the same batch and channels");
}

// A kernel that maps each of the x[0] * x[1] planes (x[2], x[3]) of input 0 to the plane
// (y[2], y[3]) of the output: plane(src, dst).
template <class PlaneFn>
std::unique_ptr<Kernel> PlaneKernel(const Shape& x, const Shape& y, PlaneFn plane) {
  const int64_t planes = x[0] * x[1], in_size = x[2] * x[3], out_size = y[2] * y[3];
  return MakeKernel([=](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t c = 0; c < planes; ++c) plane(in + c * in_size, out + c * out_size);
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeDeconvolutionWith(const KernelSpec& spec, const ops::DeconvParams& p) {
  RequireArity(spec, p.num_inputs(), 1);
  RequireFloat32(spec, p.num_inputs());
  const DeconvGeometry geometry = MakeDeconvGeometry(spec, p);
  const bool has_bias = !p.no_bias;
  return MakeKernel([geometry, has_bias](const KernelCall& call) {
    RunDeconvolution(geometry, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
                     has_bias ? call.inputs[2].as<const float>() : nullptr,
                     call.outputs[0].as<float>());
  });
}

std::unique_ptr<Kernel> MakeDeconvolution(const KernelSpec& spec) {
  return MakeDeconvolutionWith(spec, ParamsAs<ops::DeconvParams>(spec.params));
}

std::unique_ptr<Kernel> MakeUpSampling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::UpSamplingParams>(spec.params);
  if (p.type == ops::UpSampleType::kBilinear) return MakeDeconvolutionWith(spec, p.AsDeconv());
  return MakeNearestUpSampling(spec, p);
}

std::unique_ptr<Kernel> MakeBilinearResize2D(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BilinearResizeParams>(spec.params);
  RequireArity(spec, p.mode == ops::ResizeMode::kLike ? 2 : 1, 1);
  RequireFloat32(spec, 1);  // the like input gives only its shape
  const Shape& x = spec.inputs[0].shape;
  const Shape& y = spec.outputs[0].shape;
  RequireSamePlanes(spec, x, y);
  if ((x[2] == 0 || x[3] == 0) && y.Size() != 0)
    ShapeMismatch(spec, "cannot resize the empty image " + Dims(x));
  const int64_t ih = x[2], iw = x[3], oh = y[2], ow = y[3];
  const std::vector<Tap> rows = ResizeTaps(ih, oh, p.align_corners);
  const std::vector<Tap> cols = ResizeTaps(iw, ow, p.align_corners);
  const bool copy = ih == oh && iw == ow;
  return PlaneKernel(x, y, [=](const float* src, float* dst) {
    if (copy) {
      for (int64_t i = 0; i < oh * ow; ++i) dst[i] = src[i];
      return;
    }
    for (int64_t h = 0; h < oh; ++h) {
      const Tap& r = rows[static_cast<size_t>(h)];
      const float* row0 = src + r.index * iw;
      const float* row1 = row0 + r.next * iw;
      for (int64_t w = 0; w < ow; ++w) {
        const Tap& t = cols[static_cast<size_t>(w)];
        const float top = t.w0 * row0[t.index] + t.w1 * row0[t.index + t.next];
        const float bottom = t.w0 * row1[t.index] + t.w1 * row1[t.index + t.next];
        dst[h * ow + w] = r.w0 * top + r.w1 * bottom;
      }
    }
  });
}

std::unique_ptr<Kernel> MakeAdaptiveAvgPooling2D(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const Shape& x = spec.inputs[0].shape;
  const Shape& y = spec.outputs[0].shape;
  RequireSamePlanes(spec, x, y);
  const int64_t ih = x[2], iw = x[3], oh = y[2], ow = y[3];
  const std::vector<Window> rows = AdaptiveWindows(ih, oh);
  const std::vector<Window> cols = AdaptiveWindows(iw, ow);
  return PlaneKernel(x, y, [=](const float* src, float* dst) {
    for (int64_t h = 0; h < oh; ++h) {
      const Window& r = rows[static_cast<size_t>(h)];
      for (int64_t w = 0; w < ow; ++w) {
        const Window& k = cols[static_cast<size_t>(w)];
        float sum = 0;
        for (int64_t i = 0; i < r.size; ++i)
          for (int64_t j = 0; j < k.size; ++j) sum += src[(r.start + i) * iw + k.start + j];
        dst[h * ow + w] = sum / static_cast<float>(k.size) / static_cast<float>(r.size);
      }
    }
  });
}

}  // namespace tandem::ref
