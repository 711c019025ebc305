// tools/serve/server.cpp — model lookup, admission, metrics and request log lines.
#include "tools/serve/server.hpp"

#include <cstdio>

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "unknown"
#endif

namespace tandem::serve {

using nlohmann::json;

Server::Server(ServerOptions options, Log* log) : options_(options), log_(log) {}

void Server::AddModel(std::unique_ptr<ServedModel> model) { models_.push_back(std::move(model)); }

void Server::PublishModels() {
  metrics_ = std::make_unique<Metrics>(models_.size());
  published_.store(true, std::memory_order_release);
}

const ServedModel& Server::Find(const std::string& name, const std::string& version) const {
  if (!published()) throw RequestError(Outcome::kUnavailable, "not ready: models are still loading");
  std::string names;
  for (const auto& m : models_) {
    if (m->name() != name) {
      names += (names.empty() ? "" : ", ") + m->name();
      continue;
    }
    if (!version.empty() && version != m->version())
      throw RequestError(Outcome::kNotFound, "model '" + name + "' has no version '" + version +
                                                 "' (served: version " + m->version() + ")");
    return *m;
  }
  throw RequestError(Outcome::kNotFound, "unknown model '" + name + "' (served: " + names + ")");
}

json Server::ServerMetadataJson() const {
  return {{"name", "tandem"}, {"version", TANDEM_VERSION}, {"extensions", {"binary_tensor_data"}}};
}

bool Server::Admit(std::chrono::steady_clock::time_point deadline) const {
  if (options_.max_inflight <= 0) return true;
  std::unique_lock<std::mutex> lock(admit_mutex_);
  const bool free = admit_cv_.wait_until(lock, deadline, [&] { return admitted_ < options_.max_inflight; });
  if (free) ++admitted_;
  return free;
}

void Server::Release() const {
  if (options_.max_inflight <= 0) return;
  {
    std::lock_guard<std::mutex> lock(admit_mutex_);
    --admitted_;
  }
  admit_cv_.notify_one();
}

std::vector<NDArray> Server::Infer(const ServedModel& model, const std::map<std::string, NDArray>& inputs,
                                   int64_t timeout_us) const {
  int64_t timeout = options_.request_timeout_us;
  if (timeout_us > 0 && (timeout == 0 || timeout_us < timeout)) timeout = timeout_us;
  const auto deadline = timeout > 0 ? std::chrono::steady_clock::now() + std::chrono::microseconds(timeout)
                                    : std::chrono::steady_clock::time_point::max();
  if (!Admit(deadline))
    throw RequestError(Outcome::kTimeout, "request did not start within its timeout of " +
                                              std::to_string(timeout / 1000) + " ms (" +
                                              std::to_string(options_.max_inflight) +
                                              " requests running, --max-inflight)");
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  struct Done {
    const Server* server;
    ~Done() {
      server->in_flight_.fetch_sub(1, std::memory_order_relaxed);
      server->Release();
    }
  } done{this};
  return model.Infer(inputs);
}

int Server::IndexOf(const ServedModel* model) const {
  for (size_t i = 0; i < models_.size(); ++i)
    if (models_[i].get() == model) return static_cast<int>(i);
  return -1;
}

void Server::Record(const RequestRecord& r) const {
  if (published()) metrics_->Record(IndexOf(r.model), r.protocol, r.outcome, r.seconds);
  const Log::Level level = r.outcome == Outcome::kSuccess || r.outcome == Outcome::kBadRequest ||
                                   r.outcome == Outcome::kNotFound || r.outcome == Outcome::kTooLarge
                               ? Log::Level::kInfo
                               : Log::Level::kError;
  if (!log_->enabled(level)) return;
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.3f", r.seconds * 1e3);
  Log::Fields fields = {{"proto", ProtocolName(r.protocol)},
                        {"model", r.model_name},
                        {"outcome", OutcomeName(r.outcome)},
                        {"ms", ms},
                        {"bytes_in", std::to_string(r.bytes_in)},
                        {"bytes_out", std::to_string(r.bytes_out)}};
  if (r.protocol == Protocol::kHttp) fields.insert(fields.begin() + 2, {"status", std::to_string(HttpStatus(r.outcome))});
  if (!r.id.empty()) fields.push_back({"id", r.id});
  if (!r.error.empty()) fields.push_back({"error", r.error});
  log_->Write(level, "infer", fields);
}

std::string Server::MetricsText() const {
  if (!published()) return "tandem_server_ready 0\n";  // metrics_ is set just before published_
  std::vector<const ServedModel*> models;
  for (const auto& m : models_) models.push_back(m.get());
  return metrics_->Render(models, in_flight_.load(std::memory_order_relaxed), ready());
}

}  // namespace tandem::serve
