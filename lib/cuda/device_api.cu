// The CUDA device layer: error translation, device discovery, the caching memory pool,
// synchronous copies and the per-call state (stream + library handles).
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "lib/cuda/common.cuh"

namespace tandem::cuda {

// ---- errors ----

void ThrowCudaError(cudaError_t status, const char* call, const char* file, int line) {
  // Allocation failures are not sticky: clear them so the next CUDA call in this thread works.
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    Throw<OutOfMemory>("CUDA call ", call, " failed: out of device memory (",
                       cudaGetErrorString(status), ") at ", file, ":", line);
  }
  Throw<DeviceError>("CUDA call ", call, " failed: ", cudaGetErrorName(status), ": ",
                     cudaGetErrorString(status), " at ", file, ":", line);
}

void ThrowCublasError(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_ALLOC_FAILED) {
    Throw<OutOfMemory>("cuBLAS call ", call, " failed: out of device memory at ", file, ":", line);
  }
  Throw<DeviceError>("cuBLAS call ", call, " failed: ", cublasGetStatusString(status), " at ",
                     file, ":", line);
}

#if TANDEM_HAVE_CUDNN
void ThrowCudnnError(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status == CUDNN_STATUS_ALLOC_FAILED) {
    Throw<OutOfMemory>("cuDNN call ", call, " failed: out of device memory at ", file, ":", line);
  }
  Throw<DeviceError>("cuDNN call ", call, " failed: ", cudnnGetErrorString(status), " at ", file,
                     ":", line);
}
#endif

// ---- devices ----

int DeviceCount() {
  // Asked on every GPU allocation: count once (devices do not come and go within a process).
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // no driver / no device: not an error for the caller, just zero GPUs
      return 0;
    }
    return n;
  }();
  return count;
}

void CheckDevice(int id) {
  const int count = DeviceCount();
  if (id < 0 || id >= count) {
    Throw<DeviceError>("gpu(", id, ") requested, ", count, count == 1 ? " GPU" : " GPUs",
                       " visible");
  }
}

void UseDevice(int id) {
  int current = -1;
  TANDEM_CUDA_CHECK(cudaGetDevice(&current));
  if (current != id) TANDEM_CUDA_CHECK(cudaSetDevice(id));
}

DeviceGuard::DeviceGuard(int id) {
  TANDEM_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != id) TANDEM_CUDA_CHECK(cudaSetDevice(id));
}

DeviceGuard::~DeviceGuard() {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
}

namespace {

// ---- the caching pool ----

// Sizes are rounded so that blocks of similar requests are interchangeable.
constexpr size_t kSmallGranule = 512;
constexpr size_t kLargeThreshold = size_t{1} << 20;
constexpr size_t kLargeGranule = size_t{2} << 20;

size_t RoundSize(size_t bytes) {
  const size_t granule = bytes < kLargeThreshold ? kSmallGranule : kLargeGranule;
  if (bytes > SIZE_MAX - granule) return 0;  // absurd: let cudaMalloc refuse a huge size instead
  return std::max(granule, (bytes + granule - 1) / granule * granule);
}

class DevicePool {
 public:
  explicit DevicePool(int device) : device_(device) {}

  void* Allocate(size_t bytes) {
    const size_t size = RoundSize(bytes);
    {
      std::lock_guard lock(mutex_);
      if (void* reused = TakeCached(size)) return reused;
    }
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size ? size : bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ReleaseCached();  // cached blocks of other sizes may make room
      status = cudaMalloc(&ptr, size ? size : bytes);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      Throw<OutOfMemory>("cannot allocate ", bytes, " bytes on gpu(", device_,
                         "): out of device memory");
    }
    TANDEM_CUDA_CHECK(status);
    std::lock_guard lock(mutex_);
    block_size_[ptr] = size ? size : bytes;
    return ptr;
  }

  void Free(void* ptr) noexcept {
    std::lock_guard lock(mutex_);
    auto it = block_size_.find(ptr);
    if (it == block_size_.end()) return;  // not ours: never hand it to cudaFree blindly
    cached_.emplace(it->second, ptr);
  }

  void ReleaseCached() {
    std::multimap<size_t, void*> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks.swap(cached_);
      for (const auto& [size, ptr] : blocks) block_size_.erase(ptr);
    }
    DeviceGuard guard(device_);
    for (const auto& [size, ptr] : blocks) cudaFree(ptr);
  }

 private:
  // The smallest cached block that fits and wastes at most as much as it holds; mutex_ held.
  void* TakeCached(size_t size) {
    auto it = cached_.lower_bound(size);
    if (it == cached_.end() || it->first / 2 > size) return nullptr;
    void* ptr = it->second;
    cached_.erase(it);
    return ptr;
  }

  int device_;
  std::mutex mutex_;
  std::multimap<size_t, void*> cached_;          // free blocks by size
  std::unordered_map<void*, size_t> block_size_;  // every live or cached block we own
};

DevicePool& PoolFor(int id) {
  // Pools are never destroyed: blocks may be freed by static destructors after main, when the
  // CUDA runtime may already be gone; leaving the memory to the driver is the safe choice.
  static std::mutex mutex;
  static auto* pools = new std::map<int, std::unique_ptr<DevicePool>>();
  std::lock_guard lock(mutex);
  auto& pool = (*pools)[id];
  if (!pool) pool = std::make_unique<DevicePool>(id);
  return *pool;
}

// The synchronous copies and memsets run on the calling thread's own default stream
// (cudaStreamPerThread), never on the legacy default stream: that one stream is shared by every
// thread of the process, so a server's request threads copying inputs in and outputs out would
// queue behind each other there (and each wait would wait for all of them). Kernels of calls in
// flight run on non-blocking streams, which neither stream waits for.
void WaitForThreadStream() { TANDEM_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread)); }

}  // namespace

void* Allocate(int id, size_t bytes) {
  CheckDevice(id);
  return PoolFor(id).Allocate(bytes);
}

void Free(int id, void* ptr, size_t /*bytes*/) noexcept {
  if (ptr) PoolFor(id).Free(ptr);
}

void* AllocatePinnedHost(size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t status = cudaHostAlloc(&ptr, bytes ? bytes : 1, cudaHostAllocPortable);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    Throw<OutOfMemory>("cannot allocate ", bytes, " bytes of page-locked host memory");
  }
  TANDEM_CUDA_CHECK(status);
  return ptr;
}

void FreePinnedHost(void* ptr) noexcept {
  if (ptr) cudaFreeHost(ptr);
}

void ReleaseCachedMemory(int id) {
  CheckDevice(id);
  PoolFor(id).ReleaseCached();
}

void Copy(void* dst, Context dst_ctx, const void* src, Context src_ctx, size_t bytes) {
  if (bytes == 0) return;
  if (dst_ctx.is_gpu() && src_ctx.is_gpu() && dst_ctx.id != src_ctx.id) {
    DeviceGuard guard(dst_ctx.id);
    TANDEM_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_ctx.id, src, src_ctx.id, bytes, cudaStreamPerThread));
    WaitForThreadStream();
    return;
  }
  const cudaMemcpyKind kind = dst_ctx.is_gpu()
                                  ? (src_ctx.is_gpu() ? cudaMemcpyDeviceToDevice
                                                      : cudaMemcpyHostToDevice)
                                  : (src_ctx.is_gpu() ? cudaMemcpyDeviceToHost
                                                      : cudaMemcpyHostToHost);
  DeviceGuard guard(dst_ctx.is_gpu() ? dst_ctx.id : src_ctx.id);
  TANDEM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cudaStreamPerThread));
  // Kernels on other (non-blocking) streams must see the bytes: wait until they have landed.
  WaitForThreadStream();
}

void CopyMany(const std::vector<detail::CopyRegion>& regions) {
  int device = -1;
  for (const detail::CopyRegion& r : regions) {
    if (r.bytes == 0) continue;
    const bool peer = r.dst_ctx.is_gpu() && r.src_ctx.is_gpu() && r.dst_ctx.id != r.src_ctx.id;
    const int id = r.dst_ctx.is_gpu() ? r.dst_ctx.id : r.src_ctx.id;
    if (peer || (device >= 0 && id != device)) {
      Copy(r.dst, r.dst_ctx, r.src, r.src_ctx, r.bytes);  // rare: copies across devices
      continue;
    }
    if (device < 0) device = id;
    DeviceGuard guard(id);
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(r.dst, r.src, r.bytes, cudaMemcpyDefault, cudaStreamPerThread));
  }
  if (device < 0) return;
  DeviceGuard guard(device);
  WaitForThreadStream();
}

void Memset(int id, void* ptr, int value, size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(id);
  TANDEM_CUDA_CHECK(cudaMemsetAsync(ptr, value, bytes, cudaStreamPerThread));
  WaitForThreadStream();
}

void Synchronize(int id) {
  DeviceGuard guard(id);
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
}

// ---- per-call state ----

namespace {
constexpr size_t kCublasWorkspaceBytes = size_t{4} << 20;
}  // namespace

CudaState::CudaState(int device) : device_(device) {
  UseDevice(device);
  TANDEM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaState::~CudaState() {
  // Destructors must not throw; failures here (e.g. at process exit) are ignored.
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != device_) cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  DropGraphs();
  kernel_locals_.clear();  // cuDNN plans before the handle they were built with
#if TANDEM_HAVE_CUDNN
  if (cudnn_) cudnnDestroy(cudnn_);
#endif
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_workspace_) Free(device_, cublas_workspace_, kCublasWorkspaceBytes);
  if (stream_) cudaStreamDestroy(stream_);
  if (current >= 0 && current != device_) cudaSetDevice(current);
}

cublasHandle_t CudaState::Cublas() {
  if (!cublas_) {
    cublasHandle_t handle = nullptr;
    TANDEM_CUBLAS_CHECK(cublasCreate(&handle));
    cublas_ = handle;
    TANDEM_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    cublas_workspace_ = Allocate(device_, kCublasWorkspaceBytes);
    TANDEM_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
    // Strict fp32: no TF32 or other reduced-precision shortcuts, whatever the environment says
    // (a kernel built with allow_tf32 switches its own gemm to TF32).
    TANDEM_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH));
  }
  return cublas_;
}

#if TANDEM_HAVE_CUDNN
cudnnHandle_t CudaState::Cudnn() {
  if (!cudnn_) {
    cudnnHandle_t handle = nullptr;
    TANDEM_CUDNN_CHECK(cudnnCreate(&handle));
    cudnn_ = handle;
    TANDEM_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  }
  return cudnn_;
}
#endif

CudaState::KernelLocal* CudaState::FindKernelLocal(uint64_t kernel_id) const {
  auto it = kernel_locals_.find(kernel_id);
  return it == kernel_locals_.end() ? nullptr : it->second.get();
}

CudaState::KernelLocal& CudaState::AddKernelLocal(uint64_t kernel_id,
                                                  std::unique_ptr<KernelLocal> local) {
  return *(kernel_locals_[kernel_id] = std::move(local));
}

uint64_t NewKernelId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

CudaState& StateFor(ExecContext* exec) {
  if (!exec) {
    int device = 0;
    TANDEM_CUDA_CHECK(cudaGetDevice(&device));
    thread_local std::map<int, std::unique_ptr<CudaState>> direct;
    auto& state = direct[device];
    if (!state) state = std::make_unique<CudaState>(device);
    return *state;
  }
  if (!exec->ctx().is_gpu()) {
    Throw<InternalError>("a CUDA kernel was run by a call on ", exec->ctx().ToString());
  }
  const int device = exec->ctx().id;
  CudaState& state =
      exec->BackendState<CudaState>(Backend::kCuda, [device] { return new CudaState(device); });
  UseDevice(state.device());
  return state;
}

void FinishCall(ExecContext& exec) {
  if (!exec.ctx().is_gpu()) return;
  CudaState& state = StateFor(&exec);
  TANDEM_CUDA_CHECK(cudaStreamSynchronize(state.stream()));
}

}  // namespace tandem::cuda
