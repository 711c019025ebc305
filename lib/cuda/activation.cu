// Plain CUDA Activation and LeakyReLU (every flavour, prelu with per-channel or shared slope):
// element-wise, the functions of lib/ref/activation.cpp evaluated in float32.
#include "lib/cuda/elementwise.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::cuda {
namespace {

// Same constants as MXNet's mshadow_op::selu.
constexpr float kSeluLambda = 1.0507009873554804934193349852946f;
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;

struct ActivationFn {
  ops::ActType act;
  __device__ float operator()(float x) const {
    switch (act) {
      case ops::ActType::kRelu: return x > 0.0f ? x : 0.0f;
      case ops::ActType::kSigmoid: return 1.0f / (1.0f + expf(-x));
      case ops::ActType::kTanh: return tanhf(x);
      // log(1 + e^x) written so that e^x never overflows.
      case ops::ActType::kSoftrelu: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
      case ops::ActType::kSoftsign: return x / (1.0f + fabsf(x));
    }
    return x;
  }
};

// Every LeakyReLU flavour except prelu, whose slope comes from an input.
struct LeakyFn {
  ops::LeakyType act;
  float slope;
  __device__ float operator()(float x) const {
    switch (act) {
      case ops::LeakyType::kLeaky:
      case ops::LeakyType::kRrelu:  // at inference rrelu is leaky with the mean slope
      case ops::LeakyType::kPrelu: return x > 0.0f ? x : slope * x;
      case ops::LeakyType::kElu: return x > 0.0f ? x : slope * expm1f(x);
      case ops::LeakyType::kSelu: return kSeluLambda * (x > 0.0f ? x : kSeluAlpha * expm1f(x));
      case ops::LeakyType::kGelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    }
    return x;
  }
};

// prelu: data viewed as (outer, channels, inner); one slope per channel or one for all.
__global__ void PreluKernel(const float* in, const float* gamma, float* out, int64_t n,
                            int64_t channels, int64_t inner, bool shared) {
  TANDEM_GRID_STRIDE_LOOP(i, n) {
    const float slope = gamma[shared ? 0 : (i / inner) % channels];
    const float v = in[i];
    out[i] = v > 0.0f ? v : slope * v;
  }
}

std::unique_ptr<Kernel> MakePrelu(const KernelSpec& spec) {
  ref::RequireArity(spec, 2, 1);
  if (!AllFloat32(spec, 2)) return nullptr;
  const Shape& x = spec.inputs[0].shape;
  const int64_t channels = x.ndim() >= 2 ? x[1] : 1;
  const int64_t inner = x.ndim() >= 2 ? x.Prod(2, x.ndim()) : 1;
  const int64_t slopes = spec.inputs[1].shape.Size();
  if (slopes != 1 && slopes != channels) {
    ref::ShapeMismatch(spec, "prelu gamma " + spec.inputs[1].shape.ToString() +
                                 " matches neither 1 nor the channels of data " + x.ToString());
  }
  const bool shared = slopes == 1;
  const int64_t size = x.Size();
  return MakeKernel([size, channels, inner, shared](const KernelCall& call) {
    if (size == 0) return;
    CudaState& state = StateFor(call);
    PreluKernel<<<BlocksFor(size), kBlockSize, 0, state.stream()>>>(
        call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
        call.outputs[0].as<float>(), size, channels, inner == 0 ? 1 : inner, shared);
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeActivation(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ActivationParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec)) return nullptr;
  CheckSameSize(spec);
  return MakeMapKernel(spec.inputs[0].shape.Size(), ActivationFn{p.act});
}

std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::LeakyReLUParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  CheckSameSize(spec);
  if (p.act == ops::LeakyType::kPrelu) return MakePrelu(spec);
  if (!AllFloat32(spec, 1)) return nullptr;
  return MakeMapKernel(spec.inputs[0].shape.Size(),
                       LeakyFn{p.act, static_cast<float>(p.slope)});
}

}  // namespace tandem::cuda
