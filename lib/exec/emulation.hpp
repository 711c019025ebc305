// Internal: running a node in float16 / bfloat16 with a float32 kernel (CachedOpFlags::
// compute_dtype). When no backend has a kernel of its own for a spec with reduced-precision
// tensors, the plan wraps a float32 kernel of the same node: each reduced input is cast to float32
// into the node's scratch, the float32 kernel runs there, and each reduced output is cast back.
// The result is what the reduced precision computes with float32 arithmetic inside the op, the
// same contract as tensor-core kernels (which accumulate in float32), at the cost of the casts.
#pragma once

#include <functional>
#include <memory>

#include "tandem/registry.hpp"

namespace tandem::detail {

using SpecKernelMaker = std::function<std::unique_ptr<Kernel>(const KernelSpec&)>;

// True when some input or output of `spec` is float16 or bfloat16.
bool HasReducedFloat(const KernelSpec& spec);

// A kernel for `spec` built from `make_f32` (given the spec with float32 in place of the reduced
// types) and casts from `make_cast` (given Cast specs on spec.ctx); nullptr when either declines.
std::unique_ptr<Kernel> EmulateInFloat32(const KernelSpec& spec, const SpecKernelMaker& make_f32,
                                         const SpecKernelMaker& make_cast);

}  // namespace tandem::detail
