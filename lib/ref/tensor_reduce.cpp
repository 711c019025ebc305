// Reference kernels of the tensor family's reductions (max, min, prod, nansum, nanprod, norm),
// arg-reductions (argmax, argmin, argmax_channel) and orderings (topk, sort, argsort).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "lib/ops/tensor_params.hpp"
#include "lib/ref/ref_util.hpp"
#include "lib/ref/tensor_ops.hpp"

namespace tandem::ref {
namespace {

constexpr size_t kMaxDims = 32;

// A set of axes of the input (dims and element strides), adjacent axes merged where they are
// contiguous in memory, so the walk below has few dims.
struct Walk {
  std::vector<int64_t> dims, strides;
  int64_t count = 1;

  void Add(int64_t dim, int64_t stride) {
    count *= dim;
    if (dim == 1) return;
    if (!dims.empty() && strides.back() == dim * stride) {
      dims.back() *= dim;
      strides.back() = stride;
      return;
    }
    dims.push_back(dim);
    strides.push_back(stride);
  }

  // Calls f(offset) for every index of the walk, in row-major order, offsets from `base`.
  template <class F>
  void ForEach(int64_t base, F&& f) const {
    if (count == 0) return;
    const size_t n = dims.size();
    if (n == 0) {
      f(base);
      return;
    }
    std::array<int64_t, kMaxDims> index{};
    const int64_t last = dims[n - 1], last_stride = strides[n - 1];
    int64_t offset = base;
    while (true) {
      for (int64_t j = 0; j < last; ++j) f(offset + j * last_stride);
      // Advance the outer dims (all but the last).
      size_t d = n - 1;
      while (d > 0) {
        --d;
        offset += strides[d];
        if (++index[d] < dims[d]) break;
        offset -= strides[d] * dims[d];
        index[d] = 0;
        if (d == 0) return;
      }
      if (n == 1) return;
    }
  }
};

// ---- max, min, prod, nansum, nanprod, norm --------------------------------------------------

using ops::AxesReduceKind;

// mshadow's maximum / minimum reducers: a NaN, once reached, stays.
inline void ReduceMax(float& acc, float v) {
  if (!std::isnan(acc) && !(acc >= v)) acc = v;
}
inline void ReduceMin(float& acc, float v) {
  if (!std::isnan(acc) && !(acc <= v)) acc = v;
}

class AxesReduceKernel final : public Kernel {
 public:
  AxesReduceKernel(AxesReduceKind kind, Walk kept, Walk reduced, DType out)
      : kind_(kind), kept_(std::move(kept)), reduced_(std::move(reduced)), out_(out) {}

  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<const float>();
    void* y = call.outputs[0].data;
    int64_t o = 0;
    kept_.ForEach(0, [&](int64_t base) {
      tensor::StoreFromDouble(out_, y, o++, ReduceOne(x, base));
    });
  }

 private:
  double ReduceOne(const float* x, int64_t base) const {
    switch (kind_) {
      case AxesReduceKind::kMax: {
        float acc = -std::numeric_limits<float>::infinity();
        reduced_.ForEach(base, [&](int64_t k) { ReduceMax(acc, x[k]); });
        return acc;
      }
      case AxesReduceKind::kMin: {
        float acc = std::numeric_limits<float>::infinity();
        reduced_.ForEach(base, [&](int64_t k) { ReduceMin(acc, x[k]); });
        return acc;
      }
      case AxesReduceKind::kProd:
      case AxesReduceKind::kNanProd: {
        const bool skip_nan = kind_ == AxesReduceKind::kNanProd;
        double acc = 1;
        reduced_.ForEach(base, [&](int64_t k) {
          if (!(skip_nan && std::isnan(x[k]))) acc *= x[k];
        });
        return acc;
      }
      case AxesReduceKind::kNanSum: {
        double acc = 0;
        reduced_.ForEach(base, [&](int64_t k) {
          if (!std::isnan(x[k])) acc += x[k];
        });
        return acc;
      }
      case AxesReduceKind::kNorm1: {
        double acc = 0;
        reduced_.ForEach(base, [&](int64_t k) { acc += std::fabs(static_cast<double>(x[k])); });
        return acc;
      }
      case AxesReduceKind::kNorm2: {
        double acc = 0;
        reduced_.ForEach(base, [&](int64_t k) { acc += static_cast<double>(x[k]) * x[k]; });
        return std::sqrt(acc);
      }
    }
    return 0;
  }

  AxesReduceKind kind_;
  Walk kept_, reduced_;
  DType out_;
};

// ---- argmax, argmin, argmax_channel ---------------------------------------------------------

class ArgReduceKernel final : public Kernel {
 public:
  ArgReduceKernel(bool is_min, int64_t outer, int64_t len, int64_t inner)
      : is_min_(is_min), outer_(outer), len_(len), inner_(inner) {}
  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<const float>();
    float* y = call.outputs[0].as<float>();
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const float* line = x + o * len_ * inner_ + i;
        // mshadow's reduce_with_axis with a mask: the index moves whenever the running value
        // changes from a non-NaN one (so ties keep the first, and the first NaN wins).
        float acc = is_min_ ? std::numeric_limits<float>::infinity()
                            : -std::numeric_limits<float>::infinity();
        int64_t best = 0;
        for (int64_t j = 0; j < len_; ++j) {
          const float before = acc;
          if (is_min_) ReduceMin(acc, line[j * inner_]);
          else ReduceMax(acc, line[j * inner_]);
          if (!std::isnan(before) && before != acc) best = j;  // also true when acc became NaN
        }
        y[o * inner_ + i] = static_cast<float>(best);
      }
  }

 private:
  bool is_min_;
  int64_t outer_, len_, inner_;
};

// ---- topk, sort, argsort --------------------------------------------------------------------

using ops::TopKReturn;

class TopKKernel final : public Kernel {
 public:
  TopKKernel(const ops::TopKParams& p, int64_t outer, int64_t len, int64_t inner, int64_t k,
             DType index_type)
      : p_(p), outer_(outer), len_(len), inner_(inner), k_(k), index_type_(index_type) {}

  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<const float>();
    std::vector<int64_t> order(static_cast<size_t>(len_));
    if (p_.ret_typ == TopKReturn::kMask) {
      float* mask = call.outputs[0].as<float>();
      std::fill(mask, mask + outer_ * len_ * inner_, 0.0f);
    }
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t base = o * len_ * inner_ + i;
        const float* line = x + base;
        std::iota(order.begin(), order.end(), 0);
        // Stable, with NaN above every number (a strict weak order even with NaN).
        auto greater = [&](int64_t a, int64_t b) {
          const float va = line[a * inner_], vb = line[b * inner_];
          if (std::isnan(va) || std::isnan(vb)) return std::isnan(va) && !std::isnan(vb);
          return va > vb;
        };
        auto less = [&](int64_t a, int64_t b) {
          const float va = line[a * inner_], vb = line[b * inner_];
          if (std::isnan(va) || std::isnan(vb)) return !std::isnan(va) && std::isnan(vb);
          return va < vb;
        };
        if (p_.is_ascend) std::stable_sort(order.begin(), order.end(), less);
        else std::stable_sort(order.begin(), order.end(), greater);
        const int64_t out_base = o * k_ * inner_ + i;
        for (int64_t r = 0; r < k_; ++r) {
          const int64_t j = order[static_cast<size_t>(r)];
          const int64_t at = out_base + r * inner_;
          switch (p_.ret_typ) {
            case TopKReturn::kValue: call.outputs[0].as<float>()[at] = line[j * inner_]; break;
            case TopKReturn::kIndices:
              tensor::StoreFromDouble(index_type_, call.outputs[0].data, at, double(j));
              break;
            case TopKReturn::kMask: call.outputs[0].as<float>()[base + j * inner_] = 1.0f; break;
            case TopKReturn::kBoth:
              call.outputs[0].as<float>()[at] = line[j * inner_];
              tensor::StoreFromDouble(index_type_, call.outputs[1].data, at, double(j));
              break;
          }
        }
      }
  }

 private:
  ops::TopKParams p_;
  int64_t outer_, len_, inner_, k_;
  DType index_type_;
};

void RequireF32Input(const KernelSpec& spec) {
  if (spec.inputs[0].dtype != DType::f32)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): input has dtype ",
                     DTypeName(spec.inputs[0].dtype), "; the reference kernel needs float32");
}

// `in` as (outer, len, inner) around `axis`; no axis: the flattened input as one line.
struct AxisLine {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisLine AroundOptionalAxis(const KernelSpec& spec, const std::optional<int64_t>& axis,
                            const Shape& in) {
  if (!axis) return {1, in.Size(), 1};
  const int a = NormaliseAxis(spec, *axis, in);
  return {in.Prod(0, a), in[a], in.Prod(a + 1, in.ndim())};
}

}  // namespace

std::unique_ptr<Kernel> MakeAxesReduce(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireF32Input(spec);
  const auto& p = ParamsAs<ops::AxesReduceParams>(spec.params);
  const DType out = spec.outputs[0].dtype;
  if (!p.out_dtype && out != DType::f32) RequireFloat32(spec);
  const Shape& in = spec.inputs[0].shape;
  if (in.ndim() > static_cast<int>(kMaxDims)) ShapeMismatch(spec, "too many dims");
  const std::vector<bool> reduced = ops::ReducedAxes(p, in.ndim(), spec.node);
  const std::vector<int64_t> strides = RowMajorStrides(in);
  Walk kept, red;
  for (int i = 0; i < in.ndim(); ++i) (reduced[i] ? red : kept).Add(in[i], strides[i]);
  if (kept.count != spec.outputs[0].shape.Size())
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold the " +
                            std::to_string(kept.count) + " values of reducing " + in.ToString());
  if ((p.kind == AxesReduceKind::kMax || p.kind == AxesReduceKind::kMin) && red.count == 0 &&
      kept.count != 0)
    ShapeMismatch(spec, "cannot take the max / min over an empty axis of " + in.ToString());
  return std::make_unique<AxesReduceKernel>(p.kind, std::move(kept), std::move(red), out);
}

std::unique_ptr<Kernel> MakeArgReduce(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::ArgReduceParams>(spec.params);
  const Shape& in = spec.inputs[0].shape;
  const auto [outer, len, inner] = AroundOptionalAxis(spec, p.axis, in);
  if (len == 0) ShapeMismatch(spec, "cannot search an empty axis of " + in.ToString());
  if (outer * inner != spec.outputs[0].shape.Size())
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not fit " +
                            in.ToString());
  return std::make_unique<ArgReduceKernel>(p.is_min, outer, len, inner);
}

std::unique_ptr<Kernel> MakeTopK(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::TopKParams>(spec.params);
  RequireArity(spec, 1, p.ret_typ == TopKReturn::kBoth ? 2 : 1);
  RequireF32Input(spec);
  const Shape& in = spec.inputs[0].shape;
  const auto [outer, len, inner] = AroundOptionalAxis(spec, p.axis, in);
  const int64_t k = p.k <= 0 ? len : p.k;
  if (k > len) ShapeMismatch(spec, "k = " + std::to_string(k) + " is larger than the axis");
  // Values and masks have the data's dtype; indices the dtype attribute's.
  if (p.ret_typ != TopKReturn::kIndices && spec.outputs[0].dtype != DType::f32)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): output 0 has dtype ",
                     DTypeName(spec.outputs[0].dtype), "; the reference kernel needs float32");
  const DType index_type = p.ret_typ == TopKReturn::kBoth      ? spec.outputs[1].dtype
                           : p.ret_typ == TopKReturn::kIndices ? spec.outputs[0].dtype
                                                               : DType::f32;
  if (index_type == DType::boolean)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): bool indices");
  const int64_t expected = p.ret_typ == TopKReturn::kMask ? in.Size() : outer * k * inner;
  for (const TensorDesc& o : spec.outputs)
    if (o.shape.Size() != expected)
      ShapeMismatch(spec, "output " + o.shape.ToString() + " does not fit " + in.ToString());
  return std::make_unique<TopKKernel>(p, outer, len, inner, k, index_type);
}

}  // namespace tandem::ref
