// Internal: GPU kernel factories (built only with -Dcuda=enabled).
//
// Backend::kCuda: plain CUDA kernels (cuBLAS for FullyConnected) for every built-in operator,
// mirroring the reference semantics of lib/ref. They return nullptr for dtypes other than float32
// (copy-like ops and Cast excepted), so the plan reports a clear Unsupported error.
// Backend::kCudnn (TANDEM_HAVE_CUDNN): cuDNN kernels for the ops it covers exactly; nullptr for
// anything else, and the plain CUDA kernel is used instead.
//
// Inputs, outputs and scratch are device memory of the model's GPU; kernels launch on the stream
// of the call (see lib/cuda/common.cuh) and never synchronise: the executor calls
// cuda::FinishCall at the end of a plan.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::cuda {

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeActivation(const KernelSpec&);
std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec&);
std::unique_ptr<Kernel> MakePooling(const KernelSpec&);
std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec&);
std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec&);  // all softmax flavours
std::unique_ptr<Kernel> MakeBinary(const KernelSpec&);   // elemwise_* and broadcast_*
std::unique_ptr<Kernel> MakeScalar(const KernelSpec&);   // _*_scalar
std::unique_ptr<Kernel> MakeUnary(const KernelSpec&);    // exp, sigmoid, ... (elementwise.hpp)
std::unique_ptr<Kernel> MakeClip(const KernelSpec&);
std::unique_ptr<Kernel> MakeConcat(const KernelSpec&);
std::unique_ptr<Kernel> MakeSliceChannel(const KernelSpec&);
std::unique_ptr<Kernel> MakeCopy(const KernelSpec&);  // identity, Dropout, BlockGrad, Flatten, Reshape
std::unique_ptr<Kernel> MakeTranspose(const KernelSpec&);
std::unique_ptr<Kernel> MakeIndexMap(const KernelSpec&);  // the shape / index family (index_map.hpp)
std::unique_ptr<Kernel> MakeCast(const KernelSpec&);
std::unique_ptr<Kernel> MakeReduce(const KernelSpec&);  // sum / mean

#if TANDEM_HAVE_CUDNN
std::unique_ptr<Kernel> MakeCudnnConvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeCudnnDeconvolution(const KernelSpec&);  // Deconvolution (vision family)
std::unique_ptr<Kernel> MakeCudnnPooling(const KernelSpec&);
std::unique_ptr<Kernel> MakeCudnnActivation(const KernelSpec&);
std::unique_ptr<Kernel> MakeCudnnSoftmax(const KernelSpec&);
#endif

}  // namespace tandem::cuda
