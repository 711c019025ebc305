// Internal: the shape of the built-in operator tables. Each operator family (lib/ops/<family>.cpp)
// ends with one list: one line per operator, giving its schema and the kernel factory of each
// backend (nullptr: that backend has none, and the next one in order takes the node; on a GPU a
// node without a CUDA kernel runs its reference kernel on the host, see lib/exec/host_fallback).
// lib/ops/table.cpp registers every family's list.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tandem/registry.hpp"

#if TANDEM_HAVE_DNNL
#define DNNL_KERNEL(name) &tandem::dnnl_backend::name
#else
#define DNNL_KERNEL(name) nullptr
#endif
#if TANDEM_HAVE_CUDA
#define CUDA_KERNEL(name) &tandem::cuda::name
#else
#define CUDA_KERNEL(name) nullptr
#endif
#if TANDEM_HAVE_CUDA && TANDEM_HAVE_CUDNN
#define CUDNN_KERNEL(name) &tandem::cuda::name
#else
#define CUDNN_KERNEL(name) nullptr
#endif

namespace tandem::detail {

using SchemaFn = std::function<OpSchema()>;  // a function, or a lambda for a family line
using FactoryFn = std::unique_ptr<Kernel> (*)(const KernelSpec&);

struct BuiltinOp {
  SchemaFn schema;
  FactoryFn reference;
  FactoryFn dnnl = nullptr;
  FactoryFn cuda = nullptr;
  FactoryFn cudnn = nullptr;
};

// One list per family, in the family's schema file.
std::vector<BuiltinOp> CoreOps();         // lib/ops/table.cpp: convolution, pooling, softmax, ...
std::vector<BuiltinOp> ElementwiseOps();  // lib/ops/elemwise.cpp: unary, binary, scalar, compare
std::vector<BuiltinOp> IndexOps();        // lib/ops/index_ops.cpp: slice, tile, Pad, ... (index map)
std::vector<BuiltinOp> VisionOps();       // lib/ops/vision.cpp: Deconvolution, resize, upsampling
std::vector<BuiltinOp> TensorOps();       // lib/ops/tensor_ops.cpp: norms, reductions, gather, dot
std::vector<BuiltinOp> DetectionOps();    // lib/ops/detection.cpp: boxes, NMS, ROI ops, anchors

}  // namespace tandem::detail
