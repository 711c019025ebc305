// Internal: reference kernel factories of the detection family (lib/ops/detection.cpp).
// Same contract as lib/ref/kernels.hpp: every factory accepts every spec of its op (TypeError for
// dtypes other than float32) and never returns nullptr.
#pragma once

#include <memory>

#include "tandem/registry.hpp"

namespace tandem::ref {

// lib/ref/detection.cpp
std::unique_ptr<Kernel> MakeBoxNms(const KernelSpec&);
std::unique_ptr<Kernel> MakeBoxDecode(const KernelSpec&);
std::unique_ptr<Kernel> MakeBoxEncode(const KernelSpec&);
std::unique_ptr<Kernel> MakeBoxIou(const KernelSpec&);
std::unique_ptr<Kernel> MakeBipartiteMatching(const KernelSpec&);
// lib/ref/detection_multibox.cpp
std::unique_ptr<Kernel> MakeMultiBoxPrior(const KernelSpec&);
std::unique_ptr<Kernel> MakeMultiBoxDetection(const KernelSpec&);
// lib/ref/detection_roi.cpp
std::unique_ptr<Kernel> MakeROIPooling(const KernelSpec&);
std::unique_ptr<Kernel> MakeROIAlign(const KernelSpec&);

}  // namespace tandem::ref
