// Internal: reference kernel factories (plain C++, obviously right: the test oracle).
// One file per operator family under lib/ref/. Each factory accepts every spec of its op (it
// throws TypeError for dtypes it does not implement) and never returns nullptr.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::ref {

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeActivation(const KernelSpec&);
std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec&);
std::unique_ptr<Kernel> MakePooling(const KernelSpec&);
std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec&);
std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec&);     // all softmax flavours (SoftmaxParams)
std::unique_ptr<Kernel> MakeBinary(const KernelSpec&);      // elemwise_* and broadcast_*
std::unique_ptr<Kernel> MakeScalar(const KernelSpec&);      // _*_scalar
std::unique_ptr<Kernel> MakeUnary(const KernelSpec&);       // exp, sigmoid, ... (elementwise.hpp)
std::unique_ptr<Kernel> MakeConcat(const KernelSpec&);
std::unique_ptr<Kernel> MakeSliceChannel(const KernelSpec&);
std::unique_ptr<Kernel> MakeCopy(const KernelSpec&);        // identity, Dropout, BlockGrad, Flatten, Reshape
std::unique_ptr<Kernel> MakeTranspose(const KernelSpec&);
std::unique_ptr<Kernel> MakeIndexMap(const KernelSpec&);    // the shape / index family (index_map.hpp)
std::unique_ptr<Kernel> MakeCast(const KernelSpec&);
std::unique_ptr<Kernel> MakeClip(const KernelSpec&);
std::unique_ptr<Kernel> MakeReduce(const KernelSpec&);      // sum / mean

}  // namespace tandem::ref
