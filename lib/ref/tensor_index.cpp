// Reference kernels of the tensor family's gathers: take, Embedding, gather_nd, pick, where,
// one_hot. Data elements are moved as bytes, so any dtype works; indices may have any dtype and
// are read as MXNet does (static_cast to an integer: floats truncate towards zero).
#include <vector>

#include "lib/ops/tensor_params.hpp"
#include "lib/ref/ref_util.hpp"
#include "lib/ref/tensor_ops.hpp"

namespace tandem::ref {
namespace {

using ops::IndexMode;
using tensor::CopyElements;
using tensor::LoadAsDouble;
using tensor::LoadIndex;

// MXNet's clip / wrap of an index into [0, len); len > 0.
inline int64_t FitIndex(int64_t j, int64_t len, IndexMode mode) {
  if (mode == IndexMode::kWrap) {
    j %= len;
    return j < 0 ? j + len : j;
  }
  return j <= 0 ? 0 : (j >= len ? len - 1 : j);
}

void RequireSameDType(const KernelSpec& spec, size_t input, size_t output) {
  if (spec.inputs[input].dtype != spec.outputs[output].dtype)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): input ", input,
                     " has dtype ", DTypeName(spec.inputs[input].dtype), " but output ", output,
                     " has ", DTypeName(spec.outputs[output].dtype));
}

void RequireOutputSize(const KernelSpec& spec, int64_t count) {
  if (spec.outputs[0].shape.Size() != count)
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold " +
                            std::to_string(count) + " elements");
}

// ---- take, Embedding ------------------------------------------------------------------------

// out[o, n, :] = data[o, fit(index[n]), :] for data seen as (outer, len, inner).
class TakeKernel final : public Kernel {
 public:
  TakeKernel(const KernelSpec& spec, int64_t outer, int64_t len, int64_t inner, IndexMode mode,
             size_t data_input, size_t index_input)
      : node_(spec.node),
        outer_(outer),
        len_(len),
        inner_(inner),
        count_(spec.inputs[index_input].shape.Size()),
        mode_(mode),
        data_input_(data_input),
        index_input_(index_input),
        index_type_(spec.inputs[index_input].dtype),
        width_(DTypeSize(spec.inputs[data_input].dtype)) {}

  void Run(const KernelCall& call) const override {
    const void* data = call.inputs[data_input_].data;
    const void* index = call.inputs[index_input_].data;
    void* out = call.outputs[0].data;
    if (mode_ == IndexMode::kRaise) {
      for (int64_t n = 0; n < count_; ++n) {
        const double v = LoadAsDouble(index_type_, index, n);
        if (!(v >= 0 && v <= static_cast<double>(len_ - 1)))
          Throw<InvalidArgument>("node '", node_, "' (take): index ", v,
                                 " is out of bounds for an axis of size ", len_,
                                 " (mode='raise')");
      }
    }
    for (int64_t n = 0; n < count_; ++n) {
      const int64_t j = FitIndex(LoadIndex(index_type_, index, n), len_, mode_);
      for (int64_t o = 0; o < outer_; ++o)
        CopyElements(out, (o * count_ + n) * inner_, data, (o * len_ + j) * inner_, inner_, width_);
    }
  }

 private:
  std::string node_;
  int64_t outer_, len_, inner_, count_;
  IndexMode mode_;
  size_t data_input_, index_input_;
  DType index_type_;
  size_t width_;
};

// ---- gather_nd ------------------------------------------------------------------------------

class GatherNDKernel final : public Kernel {
 public:
  GatherNDKernel(std::string node, std::vector<int64_t> dims, std::vector<int64_t> strides,
                 int64_t points, int64_t block, DType index_type, size_t width)
      : node_(std::move(node)),
        dims_(std::move(dims)),
        strides_(std::move(strides)),
        points_(points),
        block_(block),
        index_type_(index_type),
        width_(width) {}

  void Run(const KernelCall& call) const override {
    const void* data = call.inputs[0].data;
    const void* index = call.inputs[1].data;
    void* out = call.outputs[0].data;
    const int64_t m = static_cast<int64_t>(dims_.size());
    // MXNet checks every index against [-dim, dim - 1] first.
    for (int64_t j = 0; j < m; ++j)
      for (int64_t i = 0; i < points_; ++i) {
        const double v = LoadAsDouble(index_type_, index, j * points_ + i);
        if (!(v >= static_cast<double>(-dims_[j]) && v <= static_cast<double>(dims_[j] - 1)))
          Throw<InvalidArgument>("node '", node_, "' (gather_nd): index ", v,
                                 " is out of bounds for axis ", j, " with size ", dims_[j]);
      }
    for (int64_t i = 0; i < points_; ++i) {
      int64_t offset = 0;
      for (int64_t j = 0; j < m; ++j) {
        // static_cast<index_t>(index + dim) % dim, as MXNet computes it.
        const double v = LoadAsDouble(index_type_, index, j * points_ + i);
        const int64_t shifted = static_cast<int64_t>(v + static_cast<double>(dims_[j]));
        offset += strides_[j] * (shifted % dims_[j]);
      }
      CopyElements(out, i * block_, data, offset, block_, width_);
    }
  }

 private:
  std::string node_;
  std::vector<int64_t> dims_, strides_;
  int64_t points_, block_;
  DType index_type_;
  size_t width_;
};

// ---- pick -----------------------------------------------------------------------------------

class PickKernel final : public Kernel {
 public:
  PickKernel(int64_t outer, int64_t len, int64_t inner, IndexMode mode, DType index_type,
             size_t width)
      : outer_(outer), len_(len), inner_(inner), mode_(mode), index_type_(index_type),
        width_(width) {}
  void Run(const KernelCall& call) const override {
    const void* data = call.inputs[0].data;
    const void* index = call.inputs[1].data;
    void* out = call.outputs[0].data;
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t at = o * inner_ + i;
        const int64_t j = FitIndex(LoadIndex(index_type_, index, at), len_, mode_);
        CopyElements(out, at, data, (o * len_ + j) * inner_ + i, 1, width_);
      }
  }

 private:
  int64_t outer_, len_, inner_;
  IndexMode mode_;
  DType index_type_;
  size_t width_;
};

// ---- where ----------------------------------------------------------------------------------

class WhereKernel final : public Kernel {
 public:
  // Element i reads condition element i / per_condition.
  WhereKernel(int64_t count, int64_t per_condition, DType cond_type, size_t width)
      : count_(count), per_condition_(per_condition), cond_type_(cond_type), width_(width) {}
  void Run(const KernelCall& call) const override {
    const void* cond = call.inputs[0].data;
    const void* x = call.inputs[1].data;
    const void* y = call.inputs[2].data;
    void* out = call.outputs[0].data;
    for (int64_t c = 0; c * per_condition_ < count_; ++c) {
      const bool take_x = LoadAsDouble(cond_type_, cond, c) != 0;
      CopyElements(out, c * per_condition_, take_x ? x : y, c * per_condition_, per_condition_,
                   width_);
    }
  }

 private:
  int64_t count_, per_condition_;
  DType cond_type_;
  size_t width_;
};

// ---- one_hot --------------------------------------------------------------------------------

class OneHotKernel final : public Kernel {
 public:
  OneHotKernel(int64_t count, int64_t depth, DType index_type, DType out_type, double on,
               double off)
      : count_(count), depth_(depth), index_type_(index_type), out_type_(out_type),
        width_(DTypeSize(out_type)), on_(width_), off_(width_) {
    tensor::StoreFromDouble(out_type, on_.data(), 0, on);
    tensor::StoreFromDouble(out_type, off_.data(), 0, off);
  }
  void Run(const KernelCall& call) const override {
    const void* index = call.inputs[0].data;
    void* out = call.outputs[0].data;
    for (int64_t i = 0; i < count_ * depth_; ++i) CopyElements(out, i, off_.data(), 0, 1, width_);
    for (int64_t i = 0; i < count_; ++i) {
      const int64_t j = LoadIndex(index_type_, index, i);
      if (j >= 0 && j < depth_) CopyElements(out, i * depth_ + j, on_.data(), 0, 1, width_);
    }
  }

 private:
  int64_t count_, depth_;
  DType index_type_, out_type_;
  size_t width_;
  std::vector<char> on_, off_;
};

void RequireIndexType(const KernelSpec& spec, size_t input) {
  if (spec.inputs[input].dtype == DType::boolean)
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): indices of dtype bool");
}

// A gather's inputs: two (`data` and the `indices` into it) and one output of data's dtype.
void RequireGatherInputs(const KernelSpec& spec, size_t data, size_t indices) {
  RequireArity(spec, 2, 1);
  RequireSameDType(spec, data, 0);
  RequireIndexType(spec, indices);
}

}  // namespace

std::unique_ptr<Kernel> MakeTake(const KernelSpec& spec) {
  RequireGatherInputs(spec, 0, 1);
  const auto& p = ParamsAs<ops::TakeParams>(spec.params);
  const Shape& a = spec.inputs[0].shape;
  const int axis = NormaliseAxis(spec, p.axis, a);
  const int64_t count = spec.inputs[1].shape.Size();
  if (a[axis] == 0 && count != 0) ShapeMismatch(spec, "cannot take from an empty axis");
  RequireOutputSize(spec, a.Prod(0, axis) * count * a.Prod(axis + 1, a.ndim()));
  return std::make_unique<TakeKernel>(spec, a.Prod(0, axis), a[axis], a.Prod(axis + 1, a.ndim()),
                                      p.mode, 0, 1);
}

std::unique_ptr<Kernel> MakeEmbedding(const KernelSpec& spec) {
  RequireGatherInputs(spec, 1, 0);
  const auto& p = ParamsAs<ops::EmbeddingParams>(spec.params);
  const Shape& w = spec.inputs[1].shape;
  if (w != Shape{p.input_dim, p.output_dim})
    ShapeMismatch(spec, "weight has shape " + w.ToString() + ", expected (" +
                            std::to_string(p.input_dim) + "," + std::to_string(p.output_dim) + ")");
  RequireOutputSize(spec, spec.inputs[0].shape.Size() * p.output_dim);
  // A take along axis 0 of the weight, clipping the indices.
  return std::make_unique<TakeKernel>(spec, 1, p.input_dim, p.output_dim, IndexMode::kClip, 1, 0);
}

std::unique_ptr<Kernel> MakeGatherND(const KernelSpec& spec) {
  RequireGatherInputs(spec, 0, 1);
  const Shape& data = spec.inputs[0].shape;
  const Shape& idx = spec.inputs[1].shape;
  if (idx.ndim() < 2 || idx[0] > data.ndim())
    ShapeMismatch(spec, "indices " + idx.ToString() + " do not fit data " + data.ToString());
  const int m = static_cast<int>(idx[0]);
  const int64_t block = data.Prod(m, data.ndim());
  const int64_t points = idx.Prod(1, idx.ndim());
  std::vector<int64_t> dims(data.dims().begin(), data.dims().begin() + m), strides(m);
  int64_t stride = block;
  for (int j = m - 1; j >= 0; --j) {
    strides[j] = stride;
    stride *= dims[j];
  }
  RequireOutputSize(spec, points * block);
  return std::make_unique<GatherNDKernel>(spec.node, std::move(dims), std::move(strides), points,
                                          block, spec.inputs[1].dtype,
                                          DTypeSize(spec.inputs[0].dtype));
}

std::unique_ptr<Kernel> MakePick(const KernelSpec& spec) {
  RequireGatherInputs(spec, 0, 1);
  const auto& p = ParamsAs<ops::PickParams>(spec.params);
  const Shape& data = spec.inputs[0].shape;
  const int axis = NormaliseAxis(spec, p.axis, data);
  const int64_t outer = data.Prod(0, axis), len = data[axis];
  const int64_t inner = data.Prod(axis + 1, data.ndim());
  if (len == 0 && outer * inner != 0) ShapeMismatch(spec, "cannot pick from an empty axis");
  if (spec.inputs[1].shape.Size() != outer * inner)
    ShapeMismatch(spec, "index " + spec.inputs[1].shape.ToString() + " does not fit data " +
                            data.ToString());
  RequireOutputSize(spec, outer * inner);
  return std::make_unique<PickKernel>(outer, len, inner, p.mode, spec.inputs[1].dtype,
                                      DTypeSize(spec.inputs[0].dtype));
}

std::unique_ptr<Kernel> MakeWhere(const KernelSpec& spec) {
  RequireArity(spec, 3, 1);
  RequireSameDType(spec, 1, 0);
  RequireSameDType(spec, 2, 0);
  RequireIndexType(spec, 0);
  const Shape& cond = spec.inputs[0].shape;
  const Shape& x = spec.inputs[1].shape;
  if (spec.inputs[2].shape != x)
    ShapeMismatch(spec, "x " + x.ToString() + " and y " + spec.inputs[2].shape.ToString() +
                            " differ");
  int64_t per_condition = 1;
  if (cond != x) {
    if (cond.ndim() != 1 || cond[0] != x[0])
      ShapeMismatch(spec, "condition " + cond.ToString() + " must have x's shape " +
                              x.ToString() + " or be 1-d of its first dim");
    per_condition = x[0] == 0 ? 1 : x.Size() / x[0];
  }
  RequireOutputSize(spec, x.Size());
  return std::make_unique<WhereKernel>(x.Size(), per_condition, spec.inputs[0].dtype,
                                       DTypeSize(spec.inputs[1].dtype));
}

std::unique_ptr<Kernel> MakeOneHot(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireIndexType(spec, 0);
  const auto& p = ParamsAs<ops::OneHotParams>(spec.params);
  const int64_t count = spec.inputs[0].shape.Size();
  RequireOutputSize(spec, count * p.depth);
  return std::make_unique<OneHotKernel>(count, p.depth, spec.inputs[0].dtype,
                                        spec.outputs[0].dtype, p.on_value, p.off_value);
}

}  // namespace tandem::ref
