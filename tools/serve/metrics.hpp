// tools/serve/metrics.hpp — tandem-serve's Prometheus metrics (GET /metrics, text format 0.0.4):
// inference requests by model, protocol and outcome, a latency histogram per model, requests in
// flight, and what dynamic batching did.
//
// Thread safety: Record is lock-free (relaxed atomic counters, one set per model, allocated up
// front); Render may run concurrently with it and reads each counter once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/serve/served_model.hpp"

namespace tandem::serve {

enum class Protocol { kHttp = 0, kGrpc = 1 };
constexpr int kProtocolCount = 2;
inline const char* ProtocolName(Protocol p) { return p == Protocol::kHttp ? "http" : "grpc"; }

class Metrics {
 public:
  // Latency histogram bucket bounds, seconds (Prometheus le labels).
  static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  static constexpr int kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);

  // `slots` models (indices 0 .. slots-1); requests naming no served model count on their own.
  explicit Metrics(size_t slots);

  // One finished inference request; model = -1 when it named no served model.
  void Record(int model, Protocol protocol, Outcome outcome, double seconds);

  // The exposition text; `models` are the served models by index, with their batching counters.
  std::string Render(const std::vector<const ServedModel*>& models, int64_t in_flight, bool ready) const;

 private:
  struct Counters {
    std::atomic<uint64_t> requests[kProtocolCount][kOutcomeCount] = {};
    std::atomic<uint64_t> buckets[kBucketCount + 1] = {};  // the last one is +Inf
    std::atomic<uint64_t> sum_ns{0};
  };
  size_t slots_;
  std::unique_ptr<Counters[]> counters_;  // slots_ + 1: the last one is "no such model"
};

}  // namespace tandem::serve
