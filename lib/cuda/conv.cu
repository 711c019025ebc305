// Plain CUDA Convolution: direct, one thread per output element, for 1-D, 2-D and 3-D inputs with
// stride, symmetric pad, dilation and groups (1-D and 2-D run as 3-D with leading extents of 1),
// the same loops as lib/ref/convolution.cpp. Slow for big layers but obviously right. Where the
// split-K implicit GEMM (conv_splitk.hpp: 2-D, one group) covers a shape, both are measured at
// plan time and the faster is kept, so the path without cuDNN is not many times slower than the
// cuDNN one (the cuDNN factory, cudnn.cu, measures the same split-K kernel against its engines).
#include <cstdio>
#include <optional>
#include <string>

#include "lib/cuda/common.cuh"
#include "lib/cuda/conv_splitk.hpp"
#include "lib/cuda/kernel_timing.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

using ref::ShapeMismatch;

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, filters = 0, groups = 1;
  bool relu = false;  // fused ReLU epilogue
  Dims3 in, out, kernel, stride, dilate;
  Dims3 pad = Dims3::Zeros();  // unused leading dims and an absent pad attribute mean no padding
};

__device__ float ConvolvePoint(const ConvGeometry& g, const float* x_group, const float* w_filter,
                               int64_t o0, int64_t o1, int64_t o2) {
  const int64_t channels = g.in_channels / g.groups;
  const int64_t in_plane = g.in.Prod();
  const int64_t k_plane = g.kernel.Prod();
  float acc = 0.0f;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x_group + c * in_plane;
    const float* wc = w_filter + c * k_plane;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t id = o0 * g.stride[0] - g.pad[0] + kd * g.dilate[0];
      if (id < 0 || id >= g.in[0]) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t ih = o1 * g.stride[1] - g.pad[1] + kh * g.dilate[1];
        if (ih < 0 || ih >= g.in[1]) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t iw = o2 * g.stride[2] - g.pad[2] + kw * g.dilate[2];
          if (iw < 0 || iw >= g.in[2]) continue;
          acc = fmaf(xc[(id * g.in[1] + ih) * g.in[2] + iw],
                     wc[(kd * g.kernel[1] + kh) * g.kernel[2] + kw], acc);
        }
      }
    }
  }
  return acc;
}

// `residual` (the rewrite's fused add, laid out like y) is added after the bias, before the ReLU.
__global__ void ConvolutionKernel(ConvGeometry g, const float* x, const float* w,
                                  const float* bias, const float* residual, float* y) {
  const int64_t out_plane = g.out.Prod();
  const int64_t total = g.batch * g.filters * out_plane;
  const int64_t channels = g.in_channels / g.groups;
  const int64_t filters_per_group = g.filters / g.groups;
  const int64_t filter_size = channels * g.kernel.Prod();
  TANDEM_GRID_STRIDE_LOOP(idx, total) {
    const int64_t p = idx % out_plane;
    const int64_t f = (idx / out_plane) % g.filters;
    const int64_t n = idx / (out_plane * g.filters);
    const int64_t o2 = p % g.out[2];
    const int64_t o1 = (p / g.out[2]) % g.out[1];
    const int64_t o0 = p / (g.out[2] * g.out[1]);
    const int64_t group = f / filters_per_group;
    const float* x_group = x + (n * g.in_channels + group * channels) * g.in.Prod();
    float v = ConvolvePoint(g, x_group, w + f * filter_size, o0, o1, o2);
    if (bias) v += bias[f];
    if (residual) v += residual[idx];
    if (g.relu) v = fmaxf(v, 0.0f);
    y[idx] = v;
  }
}

ConvGeometry MakeGeometry(const KernelSpec& spec, const ops::ConvParams& p) {
  const int spatial = static_cast<int>(p.kernel.size());
  if (spatial < 1 || spatial > 3) {
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
  ConvGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.filters = w[0];
  g.groups = p.num_group;
  if (g.groups < 1 || g.in_channels % g.groups != 0 || g.filters % g.groups != 0 ||
      w[1] != g.in_channels / g.groups || y[0] != g.batch || y[1] != g.filters) {
    ShapeMismatch(spec, "data " + x.ToString() + ", weight " + w.ToString() + ", output " +
                            y.ToString() + " and num_group " + std::to_string(g.groups) +
                            " are inconsistent");
  }
  for (int i = 0; i < spatial; ++i) {
    const int d = 3 - spatial + i;
    g.in[d] = x[2 + i];
    g.out[d] = y[2 + i];
    g.kernel[d] = w[2 + i];
  }
  FillSpatial(g.stride, p.stride, spatial);
  FillSpatial(g.pad, p.pad, spatial);
  FillSpatial(g.dilate, p.dilate, spatial);
  if (!p.no_bias && (spec.inputs.size() < 3 || spec.inputs[2].shape.Size() != g.filters)) {
    ShapeMismatch(spec, "bias does not have num_filter (" + std::to_string(g.filters) +
                            ") elements");
  }
  return g;
}

// Plan time, per shape (kept for the process per device, like cuDNN's choices, and in the plan
// cache): whether split-K beats the direct kernel, and its geometry if so.
std::string ChoiceKey(const SplitKGeometry& g, const ops::ConvParams& p) {
  std::string key = "direct-vs-splitk";
  for (int v : {g.batch, g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.kh, g.kw, g.stride_h, g.stride_w,
                g.pad_h, g.pad_w, g.dil_h, g.dil_w, int{p.no_bias}, int{p.fused_sum},
                int{p.fused_relu}})
    key.append(",").append(std::to_string(v));
  return key;
}

std::optional<SplitKGeometry> MeasuredChoice(const KernelSpec& spec, const ops::ConvParams& p,
                                             const Kernel& direct) {
  DeviceGuard guard(spec.ctx.id);
  CudaState& state = StateFor(nullptr);  // this thread's own stream
  TrialBuffers buffers(spec, 0);
  const KernelCall call = buffers.Call();
  const double direct_ms = TimeMs(state.stream(), [&] { direct.Run(call); });
  std::optional<SplitKGeometry> chosen;
  if (auto best = FastestSplitK(spec, p, call, state); best && best->ms < direct_ms)
    chosen = best->geometry;
  return chosen;
}

// Plan cache payload: "direct", or "splitk TILE SPLITS"; the geometry itself is derived from the
// spec again, so a stored choice can only pick among the kernels this spec allows.
std::string EncodeChoice(const std::optional<SplitKGeometry>& g) {
  return g ? "splitk " + std::to_string(g->tile) + " " + std::to_string(g->splits) : "direct";
}

std::optional<std::optional<SplitKGeometry>> DecodeChoice(const std::string& payload,
                                                          const KernelSpec& spec,
                                                          const ops::ConvParams& p) {
  if (payload == "direct") return std::optional<SplitKGeometry>{};
  int tile = -1, splits = 0;
  char extra = 0;
  if (std::sscanf(payload.c_str(), "splitk %d %d %c", &tile, &splits, &extra) != 2 || tile < 0 ||
      tile >= SplitKTileShapes() || splits < 1)
    return std::nullopt;
  const std::optional<SplitKGeometry> g = SplitKGeometryOf(spec, p, splits, tile);
  if (!g || g->splits != splits || g->tile != tile) return std::nullopt;
  return std::optional<SplitKGeometry>(g);
}

// The direct kernel, or split-K where it covers the spec and measures faster (TANDEM_CONV_SPLITK
// forces or excludes it, as for cuDNN: conv_splitk.hpp).
std::unique_ptr<Kernel> FasterOfDirectAndSplitK(const KernelSpec& spec, const ops::ConvParams& p,
                                                std::unique_ptr<Kernel> direct) {
  if (std::unique_ptr<Kernel> forced = ForcedSplitK(spec, p)) return forced;
  if (SplitKSetting() >= 0) return direct;  // left out, or forced where it does not cover the spec
  const std::optional<SplitKGeometry> covered = SplitKGeometryOf(spec, p, 1, 0);
  if (!covered || spec.outputs[0].shape.Size() == 0) return direct;
  static auto* known = new ChoiceTable<std::optional<SplitKGeometry>>();
  std::optional<SplitKGeometry> chosen;
  try {
    const ChoiceId id{"cuda-conv/1", ChoiceKey(*covered, p), DeviceFingerprint(spec.ctx.id),
                      spec.ctx.id};
    chosen = known->FindOrMeasure(
        id,
        [&] {
          std::optional<SplitKGeometry> measured = MeasuredChoice(spec, p, *direct);
          if (ChoiceLogOn())
            std::fprintf(stderr, "[tandem cuda conv] %s -> %s | measured\n", id.key.c_str(),
                         EncodeChoice(measured).c_str());
          return measured;
        },
        EncodeChoice,
        [&](const std::string& payload) {
          auto decoded = DecodeChoice(payload, spec, p);
          if (decoded && ChoiceLogOn())
            std::fprintf(stderr, "[tandem cuda conv] %s -> %s | from the plan cache\n", id.key.c_str(),
                         EncodeChoice(*decoded).c_str());
          return decoded;
        });
  } catch (const Error&) {  // no memory to measure in, say: the direct kernel needs none
    return direct;
  }
  return chosen ? MakeSplitKConvolution(*chosen, p) : std::move(direct);
}

}  // namespace

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConvParams>(spec.params);
  if (p.CpuOnly()) return nullptr;  // clip epilogue, blocked layout, asymmetric pads: CPU rewrites only
  ref::RequireArity(spec, p.num_inputs(), 1);
  // Channel-last is cuDNN's alone: this direct kernel indexes NCHW.
  if (!AllFloat32(spec) || p.channels_last) return nullptr;
  ConvGeometry g = MakeGeometry(spec, p);
  g.relu = p.fused_relu;
  if (p.fused_sum && spec.inputs[p.residual_input()].shape != spec.outputs[0].shape) {
    ShapeMismatch(spec, "the fused residual " + spec.inputs[p.residual_input()].shape.ToString() +
                            " does not have the output's shape " + spec.outputs[0].shape.ToString());
  }
  const bool has_bias = !p.no_bias;
  const size_t residual = p.fused_sum ? p.residual_input() : 0;  // 0: none
  const int64_t total = spec.outputs[0].shape.Size();
  std::unique_ptr<Kernel> direct = MakeKernel([g, has_bias, residual, total](const KernelCall& call) {
    if (total == 0) return;
    CudaState& state = StateFor(call);
    const float* bias = has_bias ? call.inputs[2].as<const float>() : nullptr;
    const float* sum = residual ? call.inputs[residual].as<const float>() : nullptr;
    ConvolutionKernel<<<BlocksFor(total), kBlockSize, 0, state.stream()>>>(
        g, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(), bias, sum,
        call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
  return FasterOfDirectAndSplitK(spec, p, std::move(direct));
}

}  // namespace tandem::cuda
