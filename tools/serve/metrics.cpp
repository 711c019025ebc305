// tools/serve/metrics.cpp — counters and their Prometheus text exposition.
#include "tools/serve/metrics.hpp"

#include <cstdio>

namespace tandem::serve {

Metrics::Metrics(size_t slots) : slots_(slots), counters_(std::make_unique<Counters[]>(slots + 1)) {}

void Metrics::Record(int model, Protocol protocol, Outcome outcome, double seconds) {
  Counters& c = counters_[model >= 0 && static_cast<size_t>(model) < slots_ ? model : slots_];
  c.requests[static_cast<int>(protocol)][static_cast<int>(outcome)].fetch_add(1, std::memory_order_relaxed);
  int bucket = 0;
  while (bucket < kBucketCount && seconds > kBuckets[bucket]) ++bucket;
  c.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  c.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

std::string Metrics::Render(const std::vector<const ServedModel*>& models, int64_t in_flight, bool ready) const {
  std::string out;
  auto model_label = [&](size_t slot) {
    return slot < models.size() && models[slot] ? models[slot]->name() : std::string("");
  };

  out += "# HELP tandem_inference_requests_total Inference requests by model, protocol and outcome.\n"
         "# TYPE tandem_inference_requests_total counter\n";
  for (size_t slot = 0; slot <= slots_; ++slot)
    for (int p = 0; p < kProtocolCount; ++p)
      for (int o = 0; o < kOutcomeCount; ++o) {
        const uint64_t n = counters_[slot].requests[p][o].load(std::memory_order_relaxed);
        if (n == 0 && o != 0) continue;  // failures appear once they happen; successes always
        if (n == 0 && slot == slots_) continue;
        out += "tandem_inference_requests_total{model=\"" + model_label(slot) + "\",protocol=\"" +
               ProtocolName(static_cast<Protocol>(p)) + "\",outcome=\"" +
               OutcomeName(static_cast<Outcome>(o)) + "\"} " + std::to_string(n) + "\n";
      }

  out += "# HELP tandem_inference_request_duration_seconds Time from a parsed request to its answer.\n"
         "# TYPE tandem_inference_request_duration_seconds histogram\n";
  for (size_t slot = 0; slot < slots_; ++slot) {
    const std::string label = "model=\"" + model_label(slot) + "\"";
    uint64_t cumulative = 0;
    for (int b = 0; b <= kBucketCount; ++b) {
      cumulative += counters_[slot].buckets[b].load(std::memory_order_relaxed);
      const std::string le = b < kBucketCount ? Number(kBuckets[b]) : "+Inf";
      out += "tandem_inference_request_duration_seconds_bucket{" + label + ",le=\"" + le + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "tandem_inference_request_duration_seconds_sum{" + label + "} " +
           Number(counters_[slot].sum_ns.load(std::memory_order_relaxed) * 1e-9) + "\n";
    out += "tandem_inference_request_duration_seconds_count{" + label + "} " + std::to_string(cumulative) + "\n";
  }

  out += "# HELP tandem_inference_in_flight Inference requests running now.\n"
         "# TYPE tandem_inference_in_flight gauge\n"
         "tandem_inference_in_flight " + std::to_string(in_flight) + "\n";
  out += "# HELP tandem_server_ready 1 when every model is loaded and the server is not shutting down.\n"
         "# TYPE tandem_server_ready gauge\n"
         "tandem_server_ready " + std::string(ready ? "1" : "0") + "\n";

  out += "# HELP tandem_batching_requests_total Requests that went through a model's dynamic batcher.\n"
         "# TYPE tandem_batching_requests_total counter\n";
  std::string runs = "# HELP tandem_batching_runs_total Batched model runs (requests / runs = mean batch).\n"
                     "# TYPE tandem_batching_runs_total counter\n";
  std::string largest = "# HELP tandem_batching_largest_batch Most rows in one batched run so far.\n"
                        "# TYPE tandem_batching_largest_batch gauge\n";
  for (const ServedModel* m : models) {
    if (!m || !m->batching()) continue;
    const BatchingStats s = m->batching_stats();
    const std::string label = "{model=\"" + m->name() + "\"} ";
    out += "tandem_batching_requests_total" + label + std::to_string(s.requests) + "\n";
    runs += "tandem_batching_runs_total" + label + std::to_string(s.batches) + "\n";
    largest += "tandem_batching_largest_batch" + label + std::to_string(s.largest_batch) + "\n";
  }
  return out + runs + largest;
}

}  // namespace tandem::serve
