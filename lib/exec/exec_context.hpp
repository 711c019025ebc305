// Internal: the per-call execution context. One thread uses one ExecContext at a time (it is
// borrowed from a CachedOp's pool for the duration of a Forward call), so nothing here is locked.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "tandem/registry.hpp"

namespace tandem {

class ExecContext {
 public:
  // Backend-private per-call state (a oneDNN stream, a CUDA stream + cuDNN/cuBLAS handles),
  // created on first use by that backend, destroyed with the context.
  template <class T, class Make>
  T& BackendState(Backend b, Make&& make) {
    auto& slot = backend_state_[static_cast<size_t>(b)];
    if (!slot) slot = std::shared_ptr<void>(make());
    return *static_cast<T*>(slot.get());
  }
  // Byte buffers that persist between calls when the model uses static_alloc.
  std::vector<std::byte>& arena() { return arena_; }
  std::vector<std::byte>& scratch() { return scratch_; }
  void Release() { arena_ = {}; scratch_ = {}; }

 private:
  std::array<std::shared_ptr<void>, 4> backend_state_;
  std::vector<std::byte> arena_, scratch_;
};

}  // namespace tandem
