// Internal: oneDNN kernels of the vision family (lib/ops/vision.cpp). nullptr: declined.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeDeconvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeUpSampling(const KernelSpec&);  // bilinear only (a deconvolution)

}  // namespace tandem::dnnl_backend
