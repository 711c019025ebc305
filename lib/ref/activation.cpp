// Reference Activation and LeakyReLU: element-wise functions evaluated in double.
#include <algorithm>
#include <cmath>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Same constants as MXNet's mshadow_op::selu.
constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

double Activate(ops::ActType act, double x) {
  switch (act) {
    case ops::ActType::kRelu: return x > 0 ? x : 0.0;
    case ops::ActType::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case ops::ActType::kTanh: return std::tanh(x);
    // log(1 + e^x) written so that e^x never overflows.
    case ops::ActType::kSoftrelu: return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
    case ops::ActType::kSoftsign: return x / (1.0 + std::abs(x));
  }
  return x;
}

// Every LeakyReLU flavour except prelu, whose slope comes from an input.
double LeakyActivate(ops::LeakyType act, double slope, double x) {
  switch (act) {
    case ops::LeakyType::kLeaky:
    case ops::LeakyType::kRrelu:  // at inference rrelu is leaky with the mean slope
    case ops::LeakyType::kPrelu: return x > 0 ? x : slope * x;
    case ops::LeakyType::kElu: return x > 0 ? x : slope * std::expm1(x);
    case ops::LeakyType::kSelu: return kSeluLambda * (x > 0 ? x : kSeluAlpha * std::expm1(x));
    case ops::LeakyType::kGelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  }
  return x;
}

void CheckSameSize(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " differs from input " +
                            spec.inputs[0].shape.ToString());
  }
}

// prelu: data viewed as (outer, channels, inner) with channels on axis 1; gamma has one slope
// per channel, or a single slope shared by all.
std::unique_ptr<Kernel> MakePrelu(const KernelSpec& spec) {
  RequireArity(spec, 2, 1);
  RequireFloat32(spec, 2);
  const Shape& x = spec.inputs[0].shape;
  const int64_t channels = x.ndim() >= 2 ? x[1] : 1;
  const int64_t outer = x.ndim() >= 1 ? x[0] : 1;
  const int64_t inner = x.ndim() >= 2 ? x.Prod(2, x.ndim()) : 1;
  const int64_t slopes = spec.inputs[1].shape.Size();
  if (slopes != 1 && slopes != channels) {
    ShapeMismatch(spec, "prelu gamma " + spec.inputs[1].shape.ToString() +
                            " matches neither 1 nor the channels of data " + x.ToString());
  }
  const bool shared = slopes == 1;
  return MakeKernel([outer, channels, inner, shared](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    const float* gamma = call.inputs[1].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t c = 0; c < channels; ++c) {
        const double slope = gamma[shared ? 0 : c];
        const int64_t base = (o * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const double v = in[base + i];
          out[base + i] = static_cast<float>(v > 0 ? v : slope * v);
        }
      }
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeActivation(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ActivationParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  CheckSameSize(spec);
  const ops::ActType act = p.act;
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([act, size](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t i = 0; i < size; ++i) out[i] = static_cast<float>(Activate(act, in[i]));
  });
}

std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::LeakyReLUParams>(spec.params);
  RequireArity(spec, 1, 1);
  CheckSameSize(spec);
  if (p.act == ops::LeakyType::kPrelu) return MakePrelu(spec);
  RequireFloat32(spec, 1);
  const ops::LeakyType act = p.act;
  const double slope = p.slope;
  const int64_t size = spec.inputs[0].shape.Size();
  return MakeKernel([act, slope, size](const KernelCall& call) {
    const float* in = call.inputs[0].as<const float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t i = 0; i < size; ++i) {
      out[i] = static_cast<float>(LeakyActivate(act, slope, in[i]));
    }
  });
}

}  // namespace tandem::ref
