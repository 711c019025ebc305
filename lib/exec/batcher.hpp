// Internal: cross-thread dynamic batching for a CachedOp (CachedOpFlags::max_batch > 1).
//
// Callers stay synchronous: each Run() blocks until its own request has been computed. Requests
// whose inputs have the same per-sample shape (every dimension but the leading, batch one) and
// dtypes wait in one queue. The oldest waiting request is that queue's leader: it waits until the
// queue holds max_batch rows or until max_delay_us have passed since it arrived, and until fewer
// than max_concurrent_batches batches are running (on a GPU, a batch that would need padding also
// waits while another batch runs, until it is full or the device would idle: padded rows cost as
// much as real ones there); then it takes up to max_batch rows from the
// front of the queue, gathers their inputs into one array per input, runs the model once in its
// own thread, and scatters the outputs back. The next waiting request becomes leader as soon as a
// batch is taken, so batches of one queue overlap up to max_concurrent_batches.
//
// Batched runs use a few sizes only (powers of two below max_batch, from 16 up also the points
// halfway between them, then max_batch), so only a few plans and CUDA graphs are ever built, each
// once. On a GPU a batch is padded up to the next size (extra rows cost little there until the
// device is saturated); on a CPU, where every row costs, a batch takes as many
// requests as fill the largest size that is not more than what waits, and pads only when requests
// of several rows cannot fill a size exactly.
//
// One mutex guards the queues; it is held to enqueue, to take a batch and to hand results back,
// never while a batch runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "tandem/ndarray.hpp"

namespace tandem::detail {

// What must match for two requests to share a batch: the inputs' shapes without their leading
// dimension, and their dtypes.
struct SampleKey {
  std::vector<Shape> sample_shapes;
  std::vector<DType> dtypes;
  friend bool operator<(const SampleKey& a, const SampleKey& b) {
    if (a.sample_shapes != b.sample_shapes) return a.sample_shapes < b.sample_shapes;
    return a.dtypes < b.dtypes;
  }
};

struct BatcherCounters {
  uint64_t requests = 0;         // requests that went through the batcher
  uint64_t batches = 0;          // model runs those requests took
  uint64_t largest_batch = 0;    // most rows in one run
};

class Batcher {
 public:
  // Runs the model once on (possibly gathered) inputs into outputs (none entries are allocated).
  using RunFn = std::function<void(const std::vector<NDArray>& inputs, std::vector<NDArray>* outputs)>;

  Batcher(int max_batch, int max_delay_us, int max_concurrent_batches, bool pad_up, RunFn run);

  // Blocks until this request has run. Every input has leading dimension `rows`; `outputs` are
  // allocated already, each with leading dimension `rows`. Rethrows a failure of the run this
  // request was part of.
  void Run(const SampleKey& key, int64_t rows, const std::vector<NDArray>& inputs,
           std::vector<NDArray>& outputs);

  BatcherCounters counters() const;
  int max_batch() const { return max_batch_; }
  // The row counts batched runs use.
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Request {
    const std::vector<NDArray>* inputs = nullptr;
    std::vector<NDArray>* outputs = nullptr;
    int64_t rows = 0;
    Clock::time_point arrival;
    std::condition_variable wake;  // leadership handed over, a slot freed, or the request is done
    bool leader = false;
    bool done = false;
    std::exception_ptr error;
  };
  struct Queue {
    std::deque<Request*> waiting;
    int64_t waiting_rows = 0;
  };

  void Lead(std::unique_lock<std::mutex>& lock, const SampleKey& key, Queue& queue, Request& me);
  // Until when a GPU batch that would carry padding waits for company (mutex held): the past when
  // it need not wait, Clock::time_point::max() until a running batch ends.
  Clock::time_point HoldForCompanyUntil(const Queue& queue) const;
  // When a batch of `rows` (a run size) starting now should let the next held batch go.
  Clock::time_point ReleasePoint(int64_t rows) const;  // mutex held
  void NoteRunTime(int64_t rows, Clock::duration took);  // mutex held
  std::vector<Request*> TakeBatch(Queue& queue);
  int64_t SizeAtLeast(int64_t rows) const;
  int64_t SizeAtMost(int64_t rows) const;
  void Execute(const std::vector<Request*>& batch);
  void Gather(const std::vector<Request*>& batch, int64_t padded_rows, std::vector<NDArray>* inputs) const;
  void Scatter(const std::vector<Request*>& batch, const std::vector<NDArray>& outputs) const;
  void WakeLeaders();  // mutex held

  const int max_batch_;
  const std::chrono::microseconds max_delay_;
  const int max_concurrent_;
  const bool pad_up_;
  const RunFn run_;
  std::vector<int64_t> sizes_;  // ascending

  mutable std::mutex mutex_;
  std::map<SampleKey, Queue> queues_;
  int running_ = 0;
  // GPU: how long a run of each size typically takes (moving average), and for every running
  // batch the time the next held batch may start: `lead_` (a share of its typical time) before it
  // is expected to end, so the next batch's gather and launch overlap its tail instead of leaving
  // the device idle between runs (docs/batching.md).
  std::map<int64_t, Clock::duration> typical_run_;
  std::multiset<Clock::time_point> release_points_;
  double lead_ = 0;
  BatcherCounters counters_;
};

}  // namespace tandem::detail
