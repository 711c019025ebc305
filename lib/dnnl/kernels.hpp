// Internal: oneDNN (v2.x API) kernel factories. Each returns nullptr for a spec it does not handle
// (the reference kernel is used then). Primitives are created once per plan, used with a
// user-provided scratchpad (KernelCall::scratch) and a per-call stream, so one primitive serves
// all threads.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec&);
std::unique_ptr<Kernel> MakeActivation(const KernelSpec&);
std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec&);
std::unique_ptr<Kernel> MakeClip(const KernelSpec&);
std::unique_ptr<Kernel> MakePooling(const KernelSpec&);
std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec&);
std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec&);
std::unique_ptr<Kernel> MakeBinary(const KernelSpec&);
std::unique_ptr<Kernel> MakeConcat(const KernelSpec&);
std::unique_ptr<Kernel> MakeTranspose(const KernelSpec&);

}  // namespace tandem::dnnl_backend
