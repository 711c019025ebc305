// oneDNN FullyConnected: y = x W^T + b as inner_product_forward on a 2-D view of the data
// ((N, rest) when flattening, (leading dims, last) otherwise). The weights are reordered once, at
// kernel creation, into the layout the implementation prefers.
//
// oneDNN's gemm blocks rows differently for different row counts, so a row's result changes in its
// last bits with the batch size. When the plan must be batch invariant (dynamic batching) the
// kernel is built for one row and run once per row instead.
#include <array>
#include <memory>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {

namespace {

// Runs a kernel made for one row of a 2-D (rows, features) -> (rows, hidden) product once per row.
class RowByRowKernel : public Kernel {
 public:
  RowByRowKernel(std::unique_ptr<Kernel> one_row, int64_t rows, int64_t features, int64_t hidden)
      : one_row_(std::move(one_row)), rows_(rows), features_(features), hidden_(hidden),
        in_row_{1, features}, out_row_{1, hidden} {}

  void Run(const KernelCall& call) const override {
    std::array<TensorArg, 3> in{};
    for (size_t i = 0; i < call.inputs.size() && i < in.size(); ++i) in[i] = call.inputs[i];
    TensorArg out = call.outputs[0];
    in[0].shape = &in_row_;
    out.shape = &out_row_;
    KernelCall row = call;
    row.inputs = std::span<const TensorArg>(in.data(), call.inputs.size());
    row.outputs = std::span<const TensorArg>(&out, 1);
    for (int64_t r = 0; r < rows_; ++r) {
      in[0].data = call.inputs[0].as<float>() + r * features_;
      out.data = call.outputs[0].as<float>() + r * hidden_;
      one_row_->Run(row);
    }
  }
  size_t ScratchBytes() const override { return one_row_->ScratchBytes(); }

 private:
  std::unique_ptr<Kernel> one_row_;
  int64_t rows_, features_, hidden_;
  Shape in_row_, out_row_;
};

std::unique_ptr<Kernel> MakeInnerProduct(const KernelSpec& spec, const ops::FullyConnectedParams& p,
                                         int64_t batch, int64_t features, int64_t hidden);

}  // namespace

std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::FullyConnectedParams>(spec.params);
  const size_t num_inputs = p.no_bias ? 2 : 3;
  if (!IsPlainF32(spec, num_inputs) || spec.outputs.size() != 1) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  const Shape& weight = spec.inputs[1].shape;
  if (weight.ndim() != 2) return nullptr;
  const int64_t hidden = weight[0], features = weight[1];
  const int split = p.flatten ? 1 : data.ndim() - 1;
  if (split < 1) return nullptr;  // a 1-D input without flatten: not a batch of rows
  const int64_t batch = data.Prod(0, split);
  if (data.Prod(split, data.ndim()) != features || spec.outputs[0].shape.Size() != batch * hidden)
    return nullptr;
  WeightAndBias constants;
  if (!ConstantWeightAndBias(spec, p.no_bias, &constants)) return nullptr;

  if (!spec.batch_invariant || batch == 1) return MakeInnerProduct(spec, p, batch, features, hidden);
  std::unique_ptr<Kernel> one_row = MakeInnerProduct(spec, p, 1, features, hidden);
  if (!one_row) return nullptr;
  return std::make_unique<RowByRowKernel>(std::move(one_row), batch, features, hidden);
}

namespace {

std::unique_ptr<Kernel> MakeInnerProduct(const KernelSpec& spec, const ops::FullyConnectedParams& p,
                                         int64_t batch, int64_t features, int64_t hidden) {
  const NDArray* weight_values = ConstantF32(spec, 1);
  const NDArray* bias_values = p.no_bias ? nullptr : ConstantF32(spec, 2);
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src = PlainDesc({batch, features});
    const dnnl::memory::desc dst = PlainDesc({batch, hidden});
    const dnnl::memory::desc weights = AnyDesc({hidden, features});
    const dnnl::memory::desc bias = p.no_bias ? dnnl::memory::desc() : PlainDesc({hidden});
    const auto kind = dnnl::prop_kind::forward_inference;
    auto desc = p.no_bias ? dnnl::inner_product_forward::desc(kind, src, weights, dst)
                          : dnnl::inner_product_forward::desc(kind, src, weights, bias, dst);
    dnnl::inner_product_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());

    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto packed = kernel->Own(
        SharedReorder(*weight_values, PlainDesc({hidden, features}), pd.weights_desc()));
    std::vector<PrimitiveKernel::Binding> args = {
        {DNNL_ARG_SRC, PrimitiveKernel::Input(0), src},
        {DNNL_ARG_WEIGHTS, packed, pd.weights_desc()},
        {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}};
    if (!p.no_bias) {
      auto bias_copy = kernel->Own(CopyToBuffer(bias_values->data<float>(), hidden));
      args.push_back({DNNL_ARG_BIAS, bias_copy, bias});
    }
    kernel->AddStep(dnnl::inner_product_forward(pd), pd.scratchpad_desc(), std::move(args));
    return kernel;
  });
}

}  // namespace

}  // namespace tandem::dnnl_backend
