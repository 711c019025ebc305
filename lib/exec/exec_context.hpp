// Internal: the per-call execution context. One thread uses one ExecContext at a time (it is
// borrowed from a CachedOp's pool for the duration of a Forward call), so nothing here is locked.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "tandem/ndarray.hpp"
#include "tandem/registry.hpp"

namespace tandem {

struct TensorArg;

class ExecContext {
 public:
  explicit ExecContext(Context ctx) : ctx_(ctx) {}

  // Backend-private per-call state (a oneDNN stream, a CUDA stream + cuDNN/cuBLAS handles),
  // created on first use by that backend, destroyed with the context.
  template <class T, class Make>
  T& BackendState(Backend b, Make&& make) {
    auto& slot = backend_state_[static_cast<size_t>(b)];
    if (!slot) slot = std::shared_ptr<T>(make());
    return *static_cast<T*>(slot.get());
  }
  Context ctx() const { return ctx_; }

  // The call's one device buffer: activations and kernel scratch, both placed in it by the
  // planner. It grows to the largest plan run on this context and is kept between calls when the
  // model uses static_alloc.
  void* Arena(size_t bytes) { return Reserve(arena_, bytes); }
  void ReleaseBuffers() { arena_.reset(); }
  // Reused per call to avoid allocating argument lists on the hot path.
  std::vector<TensorArg>& args() { return args_; }

 private:
  void* Reserve(std::unique_ptr<detail::Storage>& buf, size_t bytes) {
    if (bytes == 0) return nullptr;
    if (!buf || buf->bytes < bytes) {
      buf.reset();
      buf = std::make_unique<detail::Storage>(bytes, ctx_);
    }
    return buf->ptr;
  }

  Context ctx_;
  std::array<std::shared_ptr<void>, 4> backend_state_;
  std::unique_ptr<detail::Storage> arena_;
  std::vector<TensorArg> args_;
};

}  // namespace tandem
