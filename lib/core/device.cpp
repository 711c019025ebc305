// Device memory and copies. CPU memory is 64-byte aligned (oneDNN and AVX-512 like it). GPU
// contexts go to lib/cuda when tandem is built with CUDA; otherwise they are a clear DeviceError.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "lib/core/host_memory.hpp"
#include "tandem/ndarray.hpp"

#if TANDEM_HAVE_CUDA
#include "lib/cuda/device_api.hpp"
#endif

namespace tandem {

namespace {

#if !TANDEM_HAVE_CUDA
[[noreturn]] void NoGpuSupport(Context ctx) {
  Throw<DeviceError>("context ", ctx.ToString(),
                     " requested, but this build of tandem has no CUDA support "
                     "(rebuild with -Dcuda=enabled on a machine with the CUDA toolkit)");
}
#endif

void CheckGpu(Context ctx) {
#if TANDEM_HAVE_CUDA
  cuda::CheckDevice(ctx.id);
#else
  NoGpuSupport(ctx);
#endif
}
}  // namespace

int GpuCount() {
#if TANDEM_HAVE_CUDA
  return cuda::DeviceCount();
#else
  return 0;
#endif
}

bool GpuAvailable(int count) { return GpuCount() >= count; }

namespace detail {

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

size_t RoundedHostBytes(size_t bytes) {
  if (bytes == 0) return kHostAlignment;
  if (bytes > SIZE_MAX - kHostAlignment) Throw<OutOfMemory>("cannot allocate ", bytes, " bytes of host memory");
  return (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
}

bool MapsDirectly(size_t rounded) { return !kSanitized && rounded >= kMapThreshold; }

}  // namespace

void* AllocateHost(size_t bytes) {
  const size_t rounded = RoundedHostBytes(bytes);
  void* ptr = nullptr;
  if (MapsDirectly(rounded)) {
    // Page aligned, so 64-byte aligned; zero pages cost nothing until touched.
    ptr = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) ptr = nullptr;
  } else {
    ptr = std::aligned_alloc(kHostAlignment, rounded);
  }
  if (!ptr) Throw<OutOfMemory>("cannot allocate ", bytes, " bytes of host memory");
  return ptr;
}

void FreeHost(void* ptr, size_t bytes) noexcept {
  if (!ptr) return;
  const size_t rounded = bytes == 0 ? kHostAlignment
                                    : (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  if (MapsDirectly(rounded)) munmap(ptr, rounded);
  else std::free(ptr);
}

Storage::Storage(size_t size, Context context, bool want_pinned) : bytes(size), ctx(context) {
  if (ctx.is_gpu()) {
    CheckGpu(ctx);
#if TANDEM_HAVE_CUDA
    ptr = cuda::Allocate(ctx.id, bytes);
#endif
    return;
  }
#if TANDEM_HAVE_CUDA
  if (want_pinned && cuda::DeviceCount() > 0) {
    ptr = cuda::AllocatePinnedHost(bytes);
    pinned = true;
    return;
  }
#endif
  (void)want_pinned;  // no GPU to copy to: ordinary host memory serves as well
  ptr = AllocateHost(bytes);
}

Storage::~Storage() {
  if (!ptr) return;
#if TANDEM_HAVE_CUDA
  if (ctx.is_gpu()) {
    cuda::Free(ctx.id, ptr, bytes);
    return;
  }
  if (pinned) {
    cuda::FreePinnedHost(ptr);
    return;
  }
#endif
  FreeHost(ptr, bytes);
}

void CopyBytes(void* dst, Context dst_ctx, const void* src, Context src_ctx, size_t bytes) {
  if (bytes == 0) return;
  if (dst_ctx.is_cpu() && src_ctx.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  CheckGpu(dst_ctx.is_gpu() ? dst_ctx : src_ctx);
#if TANDEM_HAVE_CUDA
  cuda::Copy(dst, dst_ctx, src, src_ctx, bytes);
#endif
}

void CopyRegions(const std::vector<CopyRegion>& regions) {
  bool all_host = true;
  for (const CopyRegion& r : regions) all_host = all_host && r.dst_ctx.is_cpu() && r.src_ctx.is_cpu();
  if (all_host) {
    for (const CopyRegion& r : regions)
      if (r.bytes) std::memcpy(r.dst, r.src, r.bytes);
    return;
  }
  for (const CopyRegion& r : regions) CheckGpu(r.dst_ctx.is_gpu() ? r.dst_ctx : r.src_ctx);
#if TANDEM_HAVE_CUDA
  cuda::CopyMany(regions);
#endif
}

void FillZero(void* dst, Context ctx, size_t bytes) {
  if (ctx.is_cpu()) {
    std::memset(dst, 0, bytes);
    return;
  }
  CheckGpu(ctx);
#if TANDEM_HAVE_CUDA
  cuda::Memset(ctx.id, dst, 0, bytes);
#endif
}

void SynchronizeDevice(Context ctx) {
  if (ctx.is_cpu()) return;
  CheckGpu(ctx);
#if TANDEM_HAVE_CUDA
  cuda::Synchronize(ctx.id);
#endif
}

}  // namespace detail
}  // namespace tandem
