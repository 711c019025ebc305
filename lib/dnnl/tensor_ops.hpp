// Internal: oneDNN kernels of the tensor family (lib/ops/tensor_ops.cpp). nullptr: declined.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeDot(const KernelSpec&);       // dot (lib/dnnl/tensor_dot.cpp)
std::unique_ptr<Kernel> MakeBatchDot(const KernelSpec&);  // batch_dot

}  // namespace tandem::dnnl_backend
