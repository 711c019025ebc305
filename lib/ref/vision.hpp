// Internal: reference kernels of the vision family (lib/ops/vision.cpp).
#pragma once

#include <memory>

#include "lib/ops/vision_params.hpp"
#include "tandem/registry.hpp"

namespace tandem::ref {

std::unique_ptr<Kernel> MakeDeconvolution(const KernelSpec&);
std::unique_ptr<Kernel> MakeUpSampling(const KernelSpec&);  // nearest; bilinear: a deconvolution
std::unique_ptr<Kernel> MakeBilinearResize2D(const KernelSpec&);
std::unique_ptr<Kernel> MakeAdaptiveAvgPooling2D(const KernelSpec&);

// A deconvolution of spec's inputs (data, weight[, bias]) with these parameters (Deconvolution's
// own, or those a bilinear UpSampling stands for).
std::unique_ptr<Kernel> MakeDeconvolutionWith(const KernelSpec&, const ops::DeconvParams&);

}  // namespace tandem::ref
