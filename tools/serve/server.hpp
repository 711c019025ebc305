// tools/serve/server.hpp — what tandem-serve's REST and gRPC frontends share: the served models,
// readiness and shutdown state, the admission limit with its request timeout, metrics and the log.
//
// Thread safety: models are added by one thread before PublishModels(); after that every const
// member and Record may be called from any number of request threads. Lookups read the model
// list without a lock (it never changes once published); the only lock is the admission
// limit's, and only when --max-inflight is set.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/serve/log.hpp"
#include "tools/serve/metrics.hpp"
#include "tools/serve/served_model.hpp"

namespace tandem::serve {

struct ServerOptions {
  int max_inflight = 0;              // inference requests running at once; 0: no limit
  int64_t request_timeout_us = 0;    // longest wait to start running; 0: none (see docs/serving.md)
  size_t max_request_bytes = 64u << 20;
};

// One finished request, for the metrics and the log line.
struct RequestRecord {
  Protocol protocol = Protocol::kHttp;
  std::string model_name;            // as the request named it
  const ServedModel* model = nullptr;  // null when it named no served model
  std::string id;
  Outcome outcome = Outcome::kSuccess;
  std::string error;
  double seconds = 0;
  size_t bytes_in = 0, bytes_out = 0;
};

class Server {
 public:
  Server(ServerOptions options, Log* log);

  // Start-up: add every model, then publish them; readiness follows.
  void AddModel(std::unique_ptr<ServedModel> model);
  void PublishModels();
  // Shutdown: not ready any more. The frontends stop taking connections and calls; requests they
  // have taken are still answered.
  void BeginShutdown() { draining_.store(true, std::memory_order_release); }

  bool ready() const { return published() && !draining_.load(std::memory_order_acquire); }
  const ServerOptions& options() const { return options_; }
  Log& log() const { return *log_; }

  // The model a request names (version "" = the served one); RequestError 404 for an unknown
  // model or version, 503 while the models are still loading.
  const ServedModel& Find(const std::string& name, const std::string& version) const;
  nlohmann::json ServerMetadataJson() const;

  // Runs one inference within the admission limit. `timeout_us` is the request's own timeout (0:
  // none); the shorter of it and the server's applies to the wait for a free slot.
  std::vector<NDArray> Infer(const ServedModel& model, const std::map<std::string, NDArray>& inputs,
                             int64_t timeout_us) const;

  // Counts a finished request in the metrics and writes its log line.
  void Record(const RequestRecord& record) const;
  std::string MetricsText() const;

 private:
  bool published() const { return published_.load(std::memory_order_acquire); }
  bool Admit(std::chrono::steady_clock::time_point deadline) const;
  void Release() const;
  int IndexOf(const ServedModel* model) const;

  ServerOptions options_;
  Log* log_;
  std::vector<std::unique_ptr<ServedModel>> models_;
  std::atomic<bool> published_{false};
  std::atomic<bool> draining_{false};
  std::unique_ptr<Metrics> metrics_;
  mutable std::atomic<int64_t> in_flight_{0};
  // Admission limit (--max-inflight), only used when set.
  mutable std::mutex admit_mutex_;
  mutable std::condition_variable admit_cv_;
  mutable int admitted_ = 0;
};

}  // namespace tandem::serve
