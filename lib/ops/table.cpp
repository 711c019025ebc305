// The built-in operator table: one line registers an operator with its schema and the kernel
// factory of each backend (nullptr: that backend falls through to the next one in order).
#include "lib/ops/schemas.hpp"
#include "lib/ref/kernels.hpp"
#if TANDEM_HAVE_DNNL
#include "lib/dnnl/kernels.hpp"
#endif
#if TANDEM_HAVE_CUDA
#include "lib/cuda/kernels.hpp"
#endif
#include "lib/ops/builtin_table.hpp"

namespace tandem::detail {

// clang-format off
std::vector<BuiltinOp> CoreOps() {
  return {
  {ops::ConvolutionSchema,   ref::MakeConvolution,    DNNL_KERNEL(MakeConvolution),     CUDA_KERNEL(MakeConvolution),     CUDNN_KERNEL(MakeCudnnConvolution)},
  {ops::BatchNormSchema,     ref::MakeBatchNorm,      DNNL_KERNEL(MakeBatchNorm),       CUDA_KERNEL(MakeBatchNorm),       nullptr},
  {ops::ActivationSchema,    ref::MakeActivation,     DNNL_KERNEL(MakeActivation),      CUDA_KERNEL(MakeActivation),      CUDNN_KERNEL(MakeCudnnActivation)},
  {ops::LeakyReLUSchema,     ref::MakeLeakyReLU,      DNNL_KERNEL(MakeLeakyReLU),       CUDA_KERNEL(MakeLeakyReLU),       nullptr},
  {ops::PoolingSchema,       ref::MakePooling,        DNNL_KERNEL(MakePooling),         CUDA_KERNEL(MakePooling),         CUDNN_KERNEL(MakeCudnnPooling)},
  {ops::FlattenSchema,       ref::MakeCopy,           nullptr,                          CUDA_KERNEL(MakeCopy),            nullptr},
  {ops::FullyConnectedSchema,ref::MakeFullyConnected, DNNL_KERNEL(MakeFullyConnected),  CUDA_KERNEL(MakeFullyConnected),  nullptr},
  {ops::SoftmaxOutputSchema, ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax),         CUDA_KERNEL(MakeSoftmax),         CUDNN_KERNEL(MakeCudnnSoftmax)},
  {ops::SoftmaxActivationSchema,ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax),         CUDA_KERNEL(MakeSoftmax),         CUDNN_KERNEL(MakeCudnnSoftmax)},
  {ops::SoftmaxSchema,       ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax),         CUDA_KERNEL(MakeSoftmax),         CUDNN_KERNEL(MakeCudnnSoftmax)},
  {ops::LogSoftmaxSchema,    ref::MakeSoftmax,        DNNL_KERNEL(MakeSoftmax),         CUDA_KERNEL(MakeSoftmax),         CUDNN_KERNEL(MakeCudnnSoftmax)},
  {ops::ConcatSchema,        ref::MakeConcat,         DNNL_KERNEL(MakeConcat),          CUDA_KERNEL(MakeConcat),          nullptr},
  {ops::SliceChannelSchema,  ref::MakeSliceChannel,   nullptr,                          CUDA_KERNEL(MakeSliceChannel),    nullptr},
  {ops::DropoutSchema,       ref::MakeCopy,           nullptr,                          CUDA_KERNEL(MakeCopy),            nullptr},
  {ops::ReshapeSchema,       ref::MakeCopy,           nullptr,                          CUDA_KERNEL(MakeCopy),            nullptr},
  {ops::TransposeSchema,     ref::MakeTranspose,      DNNL_KERNEL(MakeTranspose),       CUDA_KERNEL(MakeTranspose),       nullptr},
  {ops::CastSchema,          ref::MakeCast,           nullptr,                          CUDA_KERNEL(MakeCast),            nullptr},
  {ops::ClipSchema,          ref::MakeClip,           DNNL_KERNEL(MakeClip),            CUDA_KERNEL(MakeClip),            nullptr},
  {ops::IdentitySchema,      ref::MakeCopy,           nullptr,                          CUDA_KERNEL(MakeCopy),            nullptr},
  {ops::BlockGradSchema,     ref::MakeCopy,           nullptr,                          CUDA_KERNEL(MakeCopy),            nullptr},
  {ops::SumSchema,           ref::MakeReduce,         nullptr,                          CUDA_KERNEL(MakeReduce),          nullptr},
  {ops::MeanSchema,          ref::MakeReduce,         nullptr,                          CUDA_KERNEL(MakeReduce),          nullptr},
  };
}
// clang-format on

void RegisterBuiltinOps() {
  for (auto family : {CoreOps, ElementwiseOps, IndexOps, VisionOps, TensorOps, DetectionOps})
    for (const BuiltinOp& op : family()) {
      OpSchema schema = op.schema();
      std::string name = schema.name;
      RegisterBuiltinOp(std::move(schema));
      RegisterKernel(name, Backend::kReference, op.reference);
      if (op.dnnl) RegisterKernel(name, Backend::kDnnl, op.dnnl);
      if (op.cuda) RegisterKernel(name, Backend::kCuda, op.cuda);
      if (op.cudnn) RegisterKernel(name, Backend::kCudnn, op.cudnn);
    }
}

}  // namespace tandem::detail
