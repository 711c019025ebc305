// oneDNN BatchNorm at inference: oneDNN's batch_normalization with the stored (global) statistics,
// y = gamma * (x - mean) / sqrt(var + eps) + beta, the same formula MXNet uses. The statistics and
// (gamma, beta) are copied into the kernel at creation, so only the data travels per call.
#include <algorithm>
#include <memory>
#include <vector>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {
namespace {

// oneDNN's scale_shift argument: row 0 gamma (1 under fix_gamma, as MXNet), row 1 beta.
AlignedBuffer ScaleShift(const NDArray& gamma, const NDArray& beta, bool fix_gamma) {
  const auto channels = static_cast<size_t>(gamma.size());
  std::vector<float> values(2 * channels, 1.0f);
  if (!fix_gamma) std::copy_n(gamma.data<float>(), channels, values.begin());
  std::copy_n(beta.data<float>(), channels, values.begin() + channels);
  return CopyToBuffer(values.data(), values.size());
}

}  // namespace

std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BatchNormParams>(spec.params);
  if (!IsPlainF32(spec, 5)) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  const int axis = p.axis < 0 ? p.axis + data.ndim() : p.axis;
  // Channels on axis 1 (NCHW), or last (NWC / NHWC / NDHWC: the channels-last pass's BatchNorm).
  const bool channels_last = data.ndim() >= 3 && axis == data.ndim() - 1;
  if ((axis != 1 && !channels_last) || data.ndim() < 2 || data.ndim() > 5) return nullptr;
  const int64_t channels = data[axis];
  const NDArray* stats[4];
  for (size_t i = 0; i < 4; ++i) {
    stats[i] = ConstantF32(spec, i + 1);
    if (!stats[i] || stats[i]->size() != channels) return nullptr;
  }
  // Extra outputs (MXNet's mean / var outputs) receive the statistics used.
  for (size_t i = 1; i < spec.outputs.size(); ++i) {
    if (i > 2 || spec.outputs[i].shape.Size() != channels) return nullptr;
  }
  if (spec.outputs[0].shape != data) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc x =
        channels_last ? ChannelsLastDesc(ops::ChannelsFirstOrder(ToDims(data))) : PlainDesc(data);
    const dnnl::memory::desc vector = PlainDesc({channels});
    dnnl::batch_normalization_forward::desc desc(
        dnnl::prop_kind::forward_inference, x, static_cast<float>(p.eps),
        dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale_shift |
            (p.fused_relu ? dnnl::normalization_flags::fuse_norm_relu : dnnl::normalization_flags::none));
    dnnl::batch_normalization_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());

    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto scale_shift = kernel->Own(ScaleShift(*stats[0], *stats[1], p.fix_gamma));
    auto mean = kernel->Own(CopyToBuffer(stats[2]->data<float>(), channels));
    auto var = kernel->Own(CopyToBuffer(stats[3]->data<float>(), channels));
    kernel->AddStep(dnnl::batch_normalization_forward(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), x},
                     {DNNL_ARG_SCALE_SHIFT, scale_shift, PlainDesc({2, channels})},
                     {DNNL_ARG_MEAN, mean, vector},
                     {DNNL_ARG_VARIANCE, var, vector},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), x}});
    // Copying the statistics out is a reorder between identical plain layouts.
    for (size_t i = 1; i < spec.outputs.size(); ++i)
      kernel->AddReorderStep(i == 1 ? mean : var, vector, PrimitiveKernel::Output(i), vector);
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
