// Reference kernels of the tensor family (see lib/ops/tensor_ops.cpp): the normalisation layers
// (L2Normalization, InstanceNorm, LayerNorm, GroupNorm) and the constant / shape operators
// (_arange, _contrib_arange_like, _zeros, _ones, _full, shape_array, size_array).
//
// Every normalisation here works on "lines": the input seen as (outer, len, inner), one line per
// (outer, inner) pair, its `len` elements `inner` apart. Statistics accumulate in double.
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "lib/ops/tensor_params.hpp"
#include "lib/ref/ref_util.hpp"
#include "lib/ref/tensor_ops.hpp"

namespace tandem::ref {
namespace {

struct Lines {
  int64_t outer = 1, len = 1, inner = 1;
  int64_t count() const { return outer * inner; }
  // First element of line `l` (l = o * inner + i).
  int64_t base(int64_t l) const { return (l / inner) * len * inner + l % inner; }
};

// The axis `axis` of `s` as the middle of (outer, len, inner).
Lines AroundAxis(const Shape& s, int axis) {
  return {s.Prod(0, axis), s[axis], s.Prod(axis + 1, s.ndim())};
}

struct Moments {
  double mean = 0, var = 0;
};

Moments LineMoments(const float* x, const Lines& g, int64_t l) {
  const int64_t b = g.base(l);
  Moments m;
  if (g.len == 0) return m;
  double sum = 0;
  for (int64_t j = 0; j < g.len; ++j) sum += x[b + j * g.inner];
  m.mean = sum / static_cast<double>(g.len);
  double sq = 0;
  for (int64_t j = 0; j < g.len; ++j) {
    const double d = x[b + j * g.inner] - m.mean;
    sq += d * d;
  }
  m.var = sq / static_cast<double>(g.len);
  return m;
}

// ---- L2Normalization ------------------------------------------------------------------------

class L2NormKernel final : public Kernel {
 public:
  L2NormKernel(Lines g, double eps) : g_(g), eps_(eps) {}
  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<const float>();
    float* y = call.outputs[0].as<float>();
    for (int64_t l = 0; l < g_.count(); ++l) {
      const int64_t b = g_.base(l);
      double sq = 0;
      for (int64_t j = 0; j < g_.len; ++j) {
        const double v = x[b + j * g_.inner];
        sq += v * v;
      }
      const double norm = std::sqrt(sq + eps_);
      for (int64_t j = 0; j < g_.len; ++j) {
        const int64_t k = b + j * g_.inner;
        y[k] = static_cast<float>(x[k] / norm);
      }
    }
  }

 private:
  Lines g_;
  double eps_;
};

// ---- InstanceNorm, GroupNorm, LayerNorm: mean / variance per line, then gamma / beta ---------

// kPerLine (InstanceNorm, GroupNorm: one line per item and channel or group): line l uses
// gamma / beta [l % groups]. kPerElement (LayerNorm): element j of a line uses gamma / beta [j].
// Mean / std outputs (if any) are indexed by line.
enum class Affine { kPerLine, kPerElement };

template <Affine kAffine>
class LineNormKernel final : public Kernel {
 public:
  LineNormKernel(Lines g, int64_t groups, double eps, bool mean_std)
      : g_(g), groups_(groups), eps_(eps), mean_std_(mean_std) {}
  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<const float>();
    const float* gamma = call.inputs[1].as<const float>();
    const float* beta = call.inputs[2].as<const float>();
    float* y = call.outputs[0].as<float>();
    for (int64_t l = 0; l < g_.count(); ++l) {
      const Moments m = LineMoments(x, g_, l);
      const double std = std::sqrt(m.var + eps_);
      const int64_t c = l % groups_;
      const int64_t b = g_.base(l);
      for (int64_t j = 0; j < g_.len; ++j) {
        const int64_t k = b + j * g_.inner;
        // Each mode keeps its own order of operations (results stay bit-identical).
        if constexpr (kAffine == Affine::kPerLine)
          y[k] = static_cast<float>((x[k] - m.mean) / std * gamma[c] + beta[c]);
        else
          y[k] = static_cast<float>((x[k] - m.mean) * gamma[j] / std + beta[j]);
      }
      if (mean_std_) {
        call.outputs[1].as<float>()[l] = static_cast<float>(m.mean);
        call.outputs[2].as<float>()[l] = static_cast<float>(std);
      }
    }
  }

 private:
  Lines g_;
  int64_t groups_;
  double eps_;
  bool mean_std_;
};

void RequireAffine(const KernelSpec& spec, int64_t channels) {
  for (size_t i = 1; i <= 2; ++i)
    if (spec.inputs[i].shape != Shape{channels})
      ShapeMismatch(spec, std::string(i == 1 ? "gamma" : "beta") + " has shape " +
                              spec.inputs[i].shape.ToString() + ", expected (" +
                              std::to_string(channels) + ")");
}

// ---- constants ------------------------------------------------------------------------------

struct Range {
  double start = 0, step = 1;
  int64_t repeat = 1;
};

// out[i] = start + (i / repeat) * step in T's arithmetic, as MXNet's range_fwd computes it.
template <class T>
void FillRange(T* out, int64_t n, const Range& r) {
  if constexpr (std::is_floating_point_v<T>) {
    const T start = static_cast<T>(r.start), step = static_cast<T>(r.step);
    for (int64_t i = 0; i < n; ++i) out[i] = start + static_cast<T>(i / r.repeat) * step;
  } else {
    // Integer types: MXNet casts start and step to the type first (truncating).
    const int64_t start = static_cast<int64_t>(static_cast<T>(static_cast<int64_t>(r.start)));
    const int64_t step = static_cast<int64_t>(static_cast<T>(static_cast<int64_t>(r.step)));
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + (i / r.repeat) * step);
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeL2Normalization(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::L2NormalizationParams>(spec.params);
  const Shape& s = spec.inputs[0].shape;
  if (p.mode != ops::L2NormMode::kInstance && s.ndim() < 3)
    ShapeMismatch(spec, "channel and spatial modes need at least 3 dims, got " + s.ToString());
  Lines g;
  switch (p.mode) {
    case ops::L2NormMode::kInstance: g = {s[0], s.Prod(1, s.ndim()), 1}; break;
    case ops::L2NormMode::kChannel: g = {s[0], s[1], s.Prod(2, s.ndim())}; break;
    case ops::L2NormMode::kSpatial: g = {s[0] * s[1], s.Prod(2, s.ndim()), 1}; break;
  }
  return std::make_unique<L2NormKernel>(g, p.eps);
}

std::unique_ptr<Kernel> MakeInstanceNorm(const KernelSpec& spec) {
  RequireArity(spec, 3, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::InstanceNormParams>(spec.params);
  const Shape& s = spec.inputs[0].shape;
  if (s.ndim() < 3) ShapeMismatch(spec, "data needs at least 3 dims, got " + s.ToString());
  RequireAffine(spec, s[1]);
  return std::make_unique<LineNormKernel<Affine::kPerLine>>(
      Lines{s[0] * s[1], s.Prod(2, s.ndim()), 1}, s[1], p.eps, false);
}

std::unique_ptr<Kernel> MakeGroupNorm(const KernelSpec& spec) {
  RequireArity(spec, 3, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::GroupNormParams>(spec.params);
  const Shape& s = spec.inputs[0].shape;
  if (s.ndim() < 3 || s[1] % p.num_groups != 0)
    ShapeMismatch(spec, "data " + s.ToString() + " does not split into " +
                            std::to_string(p.num_groups) + " channel groups");
  RequireAffine(spec, p.num_groups);
  if (p.output_mean_var) RequireArity(spec, 3, 3);
  const int64_t g = p.num_groups;
  return std::make_unique<LineNormKernel<Affine::kPerLine>>(
      Lines{s[0] * g, s.Prod(1, s.ndim()) / g, 1}, g, p.eps, p.output_mean_var);
}

std::unique_ptr<Kernel> MakeLayerNorm(const KernelSpec& spec) {
  RequireArity(spec, 3, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::LayerNormParams>(spec.params);
  const Shape& s = spec.inputs[0].shape;
  const int axis = NormaliseAxis(spec, p.axis, s);
  RequireAffine(spec, s[axis]);
  if (p.output_mean_var) RequireArity(spec, 3, 3);
  return std::make_unique<LineNormKernel<Affine::kPerElement>>(AroundAxis(s, axis), 1, p.eps,
                                                            p.output_mean_var);
}

std::unique_ptr<Kernel> MakeArange(const KernelSpec& spec) {
  RequireArity(spec, 0, 1);
  Range r;
  if (const auto* a = std::any_cast<ops::ArangeParams>(&spec.params)) {
    r = {a->start, a->step, a->repeat};
  } else {
    const auto& l = ParamsAs<ops::ArangeLikeParams>(spec.params);
    r = {l.start, l.step, l.repeat};
  }
  const DType t = spec.outputs[0].dtype;
  const int64_t n = spec.outputs[0].shape.Size();
  switch (t) {
    case DType::f16:
    case DType::bf16:
      return MakeKernel([t, n, r](const KernelCall& call) {
        // Each operation of start + k * step rounds to the 16-bit type (mshadow's half_t). MXNet
        // truncates start and step to integers first: std::is_signed<half_t> is false, so they
        // take its unsigned-type path (a cast through index_t).
        auto round = [t](float v) {
          return t == DType::f16 ? ToFloat(ToFloat16(v)) : ToFloat(ToBFloat16(v));
        };
        const float start = round(static_cast<float>(static_cast<int64_t>(r.start)));
        const float step = round(static_cast<float>(static_cast<int64_t>(r.step)));
        for (int64_t i = 0; i < n; ++i) {
          const float k = round(static_cast<float>(i / r.repeat));
          tensor::StoreFromDouble(t, call.outputs[0].data, i, round(start + round(k * step)));
        }
      });
    case DType::boolean:
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name,
                       "): a range of dtype bool is not supported");
    default: break;
  }
  return MakeKernel([t, n, r](const KernelCall& call) {
    void* out = call.outputs[0].data;
    switch (t) {
      case DType::f32: FillRange(static_cast<float*>(out), n, r); break;
      case DType::f64: FillRange(static_cast<double*>(out), n, r); break;
      case DType::u8: FillRange(static_cast<uint8_t*>(out), n, r); break;
      case DType::i8: FillRange(static_cast<int8_t*>(out), n, r); break;
      case DType::i32: FillRange(static_cast<int32_t*>(out), n, r); break;
      case DType::i64: FillRange(static_cast<int64_t*>(out), n, r); break;
      default: break;
    }
  });
}

std::unique_ptr<Kernel> MakeFill(const KernelSpec& spec) {
  RequireArity(spec, 0, 1);
  const auto& p = ParamsAs<ops::FillParams>(spec.params);
  const DType t = spec.outputs[0].dtype;
  const size_t width = DTypeSize(t);
  // One element's bytes, replicated.
  std::vector<char> element(width);
  tensor::StoreFromDouble(t, element.data(), 0, p.value);
  const int64_t n = spec.outputs[0].shape.Size();
  return MakeKernel([element, width, n](const KernelCall& call) {
    char* out = static_cast<char*>(call.outputs[0].data);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(out + static_cast<size_t>(i) * width, element.data(), width);
  });
}

std::unique_ptr<Kernel> MakeShapeArray(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  if (spec.outputs[0].dtype != DType::i64)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): the output must be int64");
  const Shape& s = spec.inputs[0].shape;
  std::vector<int64_t> values = spec.schema.name == "size_array" ? std::vector<int64_t>{s.Size()}
                                                                  : s.dims();
  if (static_cast<int64_t>(values.size()) != spec.outputs[0].shape.Size())
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold " +
                            std::to_string(values.size()) + " values");
  return MakeKernel([values](const KernelCall& call) {
    std::memcpy(call.outputs[0].data, values.data(), values.size() * sizeof(int64_t));
  });
}

}  // namespace tandem::ref
