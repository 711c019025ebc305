// tandem/multi_device.hpp — MultiDeviceCachedOp: one model served from several devices.
//
// Built from a Symbol, its parameters and a list of Contexts (gpu(0), gpu(1), ...). It holds one
// CachedOp replica per listed context: the weights are copied once to each device (a replica on
// the device where the params already live shares them), and each replica has its own plans,
// execution contexts and, on a GPU, streams. Calls are spread over the replicas:
//   * inputs that live on one of the model's devices run on that device (pinned by where the
//     caller put them) — the least loaded replica there, when it is listed more than once;
//   * inputs elsewhere (host memory, for a GPU model) go to the least loaded replica (fewest calls
//     in flight; ties broken round-robin) and are copied there;
//   * ForwardOn(ctx, ...) pins a call to a device explicitly.
// Outputs are on the device the call ran on. A context may be listed twice (two replicas on one
// device, each with its own copy of the weights when they came from another device): useful to
// overlap more calls on one device and to exercise the multi-device path with a single GPU.
//
// Thread safety: as CachedOp — every const member function may be called concurrently from any
// number of threads. Choosing a replica reads and updates a few atomics; no lock is taken beyond
// those of the chosen replica's CachedOp. A failing call throws tandem::Error in its own thread
// only and leaves every replica usable.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/cached_op.hpp"

namespace tandem {

class MultiDeviceCachedOp {
 public:
  MultiDeviceCachedOp(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                      const std::vector<Context>& contexts, CachedOpFlags flags = {});
  ~MultiDeviceCachedOp();
  MultiDeviceCachedOp(MultiDeviceCachedOp&&) noexcept;
  MultiDeviceCachedOp& operator=(MultiDeviceCachedOp&&) noexcept;

  // Runs on the device the inputs live on, else on the least loaded replica.
  std::vector<NDArray> Forward(const std::vector<NDArray>& inputs) const;
  std::vector<NDArray> Forward(const std::map<std::string, NDArray>& inputs) const;
  // Runs on a replica on `ctx` (inputs elsewhere are copied there); DeviceError when the model has
  // no replica on `ctx`.
  std::vector<NDArray> ForwardOn(Context ctx, const std::vector<NDArray>& inputs) const;

  size_t replica_count() const;
  Context context(size_t replica) const;
  const CachedOp& replica(size_t replica) const;
  // Calls each replica has run so far (finished or failed), in replica order.
  std::vector<uint64_t> calls_per_replica() const;
  const std::vector<std::string>& input_names() const;
  const std::vector<std::string>& output_names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
