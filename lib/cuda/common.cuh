// Internal: what the CUDA kernels of lib/cuda share: status checks that turn CUDA / cuBLAS /
// cuDNN failures into tandem errors, the per-call GPU state (stream and library handles), launch
// helpers and small fixed-size shape structs that kernels take by value.
//
// Threading design: a kernel object is created once per plan and shared by every thread, so it
// keeps only immutable geometry (and, for cuDNN, read-only descriptors). Everything a call
// mutates lives in that call's ExecContext: one non-blocking stream plus cuBLAS / cuDNN handles
// bound to it. Kernels launch on that stream; cuda::FinishCall waits for it when the plan is done.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#if TANDEM_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "lib/cuda/device_api.hpp"
#include "lib/exec/exec_context.hpp"
#include "tandem/registry.hpp"

namespace tandem::cuda {

// ---- status checks ----

// Throws OutOfMemory for allocation failures, DeviceError otherwise; names the call and location.
[[noreturn]] void ThrowCudaError(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void ThrowCublasError(cublasStatus_t status, const char* call, const char* file,
                                   int line);
#if TANDEM_HAVE_CUDNN
[[noreturn]] void ThrowCudnnError(cudnnStatus_t status, const char* call, const char* file,
                                  int line);
#endif

#define TANDEM_CUDA_CHECK(expr)                                                      \
  do {                                                                               \
    const cudaError_t tandem_cuda_status_ = (expr);                                  \
    if (tandem_cuda_status_ != cudaSuccess)                                          \
      ::tandem::cuda::ThrowCudaError(tandem_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define TANDEM_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                   \
    const cublasStatus_t tandem_cublas_status_ = (expr);                                 \
    if (tandem_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                  \
      ::tandem::cuda::ThrowCublasError(tandem_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define TANDEM_CUDNN_CHECK(expr)                                                       \
  do {                                                                                 \
    const cudnnStatus_t tandem_cudnn_status_ = (expr);                                 \
    if (tandem_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                  \
      ::tandem::cuda::ThrowCudnnError(tandem_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// Checks that the kernel launch just made was accepted (bad configurations surface here; faults
// inside the kernel surface at the next synchronisation).
#define TANDEM_CUDA_CHECK_LAUNCH() TANDEM_CUDA_CHECK(cudaGetLastError())

// Makes gpu(id) current in this thread (cheap when it already is).
void UseDevice(int id);

// Makes gpu(id) current for one scope and restores the previous device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int id);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// ---- per-call state ----

// A plan captured as a CUDA graph on one execution context (lib/cuda/graph.cu).
struct CapturedGraph {
  bool attempted = false;              // false: the plan has run here once, eagerly, not captured
  cudaGraphExec_t exec = nullptr;      // null: the plan could not be captured; run it eagerly
  const void* arena = nullptr;         // the address the graph was captured with (scratch is in it)
  std::vector<NDArray> staged_inputs;  // the graph reads these and writes these
  std::vector<NDArray> staged_outputs;
};

// The GPU resources of one execution context. Library handles are created on first use: a plan
// without fully-connected layers never pays for cuBLAS, a plain-CUDA plan never for cuDNN.
class CudaState {
 public:
  explicit CudaState(int device);
  ~CudaState();
  CudaState(const CudaState&) = delete;
  CudaState& operator=(const CudaState&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t Cublas();  // strict fp32 (pedantic math), bound to stream()
#if TANDEM_HAVE_CUDNN
  cudnnHandle_t Cudnn();  // bound to stream()
#endif
  // Graphs of the plans run on this context, by plan id.
  std::unordered_map<uint64_t, CapturedGraph>& graphs() { return graphs_; }
  void DropGraphs() noexcept;

  // What a shared kernel keeps per execution context because its library forbids sharing it
  // between threads (a cuDNN execution plan), by the kernel's process-unique id (NewKernelId):
  // never by address, which a later kernel may reuse.
  struct KernelLocal {
    virtual ~KernelLocal() = default;
  };
  KernelLocal* FindKernelLocal(uint64_t kernel_id) const;
  KernelLocal& AddKernelLocal(uint64_t kernel_id, std::unique_ptr<KernelLocal> local);

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;  // ours, so cuBLAS never allocates inside a graph capture
  std::unordered_map<uint64_t, CapturedGraph> graphs_;
  std::unordered_map<uint64_t, std::unique_ptr<KernelLocal>> kernel_locals_;
#if TANDEM_HAVE_CUDNN
  cudnnHandle_t cudnn_ = nullptr;
#endif
};

// The state of the call behind `exec` (created on first use, kept in
// ExecContext::BackendState(Backend::kCuda)), with its device made current in this thread. A call
// without an ExecContext (a test running a kernel directly) gets a thread-local state and must
// synchronise the device itself.
CudaState& StateFor(ExecContext* exec);
// A process-unique id for a kernel object's CudaState::KernelLocal entries.
uint64_t NewKernelId();
inline CudaState& StateFor(const KernelCall& call) { return StateFor(call.exec); }

// ---- launch helpers ----

constexpr int kBlockSize = 256;
// Grid-stride loops cover any element count with a bounded grid.
constexpr int64_t kMaxBlocks = 1 << 20;

inline unsigned BlocksFor(int64_t threads) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((threads + kBlockSize - 1) / kBlockSize, 1, kMaxBlocks));
}

#define TANDEM_GRID_STRIDE_LOOP(i, n)                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// ---- shapes passed to kernels by value ----

// Spatial extents of a 1-D, 2-D or 3-D op, right-aligned (leading extents 1).
struct Dims3 {
  int64_t v[3] = {1, 1, 1};
  __host__ __device__ int64_t operator[](int i) const { return v[i]; }
  __host__ __device__ int64_t& operator[](int i) { return v[i]; }
  __host__ __device__ int64_t Prod() const { return v[0] * v[1] * v[2]; }
  // Extents, strides and dilations default to 1; paddings must start from this instead.
  static Dims3 Zeros() { return Dims3{{0, 0, 0}}; }
};

// Spatial attribute value i (stride, pad, dilate, ...), or `fallback` where the attribute lists
// fewer values (an absent attribute is empty).
inline int64_t SpatialAt(const std::vector<int64_t>& values, size_t i, int64_t fallback) {
  return i < values.size() ? values[i] : fallback;
}

// Places `values` (the spatial values of a `spatial`-D op) right-aligned into a Dims3.
inline void FillSpatial(Dims3& dst, const std::vector<int64_t>& values, int spatial) {
  const int offset = 3 - spatial;
  for (int i = 0; i < spatial && i < static_cast<int>(values.size()); ++i) {
    dst[offset + i] = values[i];
  }
}

// Up to kMaxRank dims with a per-dim stride (for broadcasting, transposes and reductions).
constexpr int kMaxRank = 8;
struct Strided {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  // Offset of the `linear`-th element (row-major over dims) through strides.
  __host__ __device__ int64_t OffsetOf(int64_t linear) const {
    int64_t offset = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t q = linear / dims[d];
      offset += (linear - q * dims[d]) * strides[d];
      linear = q;
    }
    return offset;
  }
};

// ---- spec checks ----

// True when the first `num_inputs` inputs and all outputs are float32 (inputs past `num_inputs`,
// like SoftmaxOutput's label, are never read).
inline bool AllFloat32(const KernelSpec& spec, size_t num_inputs) {
  for (size_t i = 0; i < num_inputs && i < spec.inputs.size(); ++i)
    if (spec.inputs[i].dtype != DType::f32) return false;
  for (const TensorDesc& o : spec.outputs)
    if (o.dtype != DType::f32) return false;
  return true;
}
inline bool AllFloat32(const KernelSpec& spec) { return AllFloat32(spec, spec.inputs.size()); }

// True when every element count of the spec fits in a 32-bit int (library APIs take int).
inline bool FitsInt32(const KernelSpec& spec) {
  constexpr int64_t kMax = 0x7fffffff;
  for (const TensorDesc& t : spec.inputs)
    if (t.shape.Size() > kMax) return false;
  for (const TensorDesc& t : spec.outputs)
    if (t.shape.Size() > kMax) return false;
  return true;
}

}  // namespace tandem::cuda
