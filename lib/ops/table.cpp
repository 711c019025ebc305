// The built-in operator table: one line registers an operator with its schema and the kernel
// factory of each backend (nullptr: that backend falls through to the next one in order).
#include "lib/ops/schemas.hpp"
#include "lib/ref/kernels.hpp"
#if TANDEM_HAVE_DNNL
#include "lib/dnnl/kernels.hpp"
#define DNNL_KERNEL(name) &tandem::dnnl_backend::name
#else
#define DNNL_KERNEL(name) nullptr
#endif

namespace tandem::detail {

using SchemaFn = OpSchema (*)();
using FactoryFn = std::unique_ptr<Kernel> (*)(const KernelSpec&);
struct BuiltinOp {
  SchemaFn schema;
  FactoryFn reference;
  FactoryFn dnnl;
};

// clang-format off
const BuiltinOp kBuiltinOps[] = {
  {ops::ConvolutionSchema,       ref::MakeConvolution,    DNNL_KERNEL(MakeConvolution)},
  {ops::BatchNormSchema,         ref::MakeBatchNorm,      DNNL_KERNEL(MakeBatchNorm)},
  {ops::ActivationSchema,        ref::MakeActivation,     DNNL_KERNEL(MakeActivation)},
  {ops::LeakyReLUSchema,         ref::MakeLeakyReLU,      DNNL_KERNEL(MakeLeakyReLU)},
  {ops::PoolingSchema,           ref::MakePooling,        DNNL_KERNEL(MakePooling)},
  {ops::FlattenSchema,           ref::MakeCopy,           nullptr},
  {ops::FullyConnectedSchema,    ref::MakeFullyConnected, DNNL_KERNEL(MakeFullyConnected)},
  {ops::SoftmaxOutputSchema,     ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax)},
  {ops::SoftmaxActivationSchema, ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax)},
  {ops::SoftmaxSchema,           ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax)},
  {ops::LogSoftmaxSchema,        ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax)},
  {ops::ElemwiseAddSchema,       ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::ElemwiseSubSchema,       ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::ElemwiseMulSchema,       ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::ElemwiseDivSchema,       ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::BroadcastAddSchema,      ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::BroadcastSubSchema,      ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::BroadcastMulSchema,      ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::BroadcastDivSchema,      ref::MakeBinary,         DNNL_KERNEL(MakeBinary)},
  {ops::PlusScalarSchema,        ref::MakeScalar,         nullptr},
  {ops::MinusScalarSchema,       ref::MakeScalar,         nullptr},
  {ops::RMinusScalarSchema,      ref::MakeScalar,         nullptr},
  {ops::MulScalarSchema,         ref::MakeScalar,         nullptr},
  {ops::DivScalarSchema,         ref::MakeScalar,         nullptr},
  {ops::ConcatSchema,            ref::MakeConcat,         DNNL_KERNEL(MakeConcat)},
  {ops::SliceChannelSchema,      ref::MakeSliceChannel,   nullptr},
  {ops::DropoutSchema,           ref::MakeCopy,           nullptr},
  {ops::ReshapeSchema,           ref::MakeCopy,           nullptr},
  {ops::TransposeSchema,         ref::MakeTranspose,      nullptr},
  {ops::CastSchema,              ref::MakeCast,           nullptr},
  {ops::ClipSchema,              ref::MakeClip,           nullptr},
  {ops::IdentitySchema,          ref::MakeCopy,           nullptr},
  {ops::BlockGradSchema,         ref::MakeCopy,           nullptr},
  {ops::SumSchema,               ref::MakeReduce,         nullptr},
  {ops::MeanSchema,              ref::MakeReduce,         nullptr},
};
// clang-format on

void RegisterBuiltinOps() {
  for (const BuiltinOp& op : kBuiltinOps) {
    OpSchema schema = op.schema();
    std::string name = schema.name;
    RegisterOp(std::move(schema));
    RegisterKernel(name, Backend::kReference, op.reference);
    if (op.dnnl) RegisterKernel(name, Backend::kDnnl, op.dnnl);
  }
}

}  // namespace tandem::detail
