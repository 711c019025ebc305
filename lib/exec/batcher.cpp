// Cross-thread dynamic batching; see batcher.hpp for the protocol.
#include "lib/exec/batcher.hpp"

#include <algorithm>
#include <cstdlib>

#include "tandem/error.hpp"

namespace tandem::detail {

Batcher::Batcher(int max_batch, int max_delay_us, int max_concurrent_batches, bool pad_up, RunFn run)
    : max_batch_(max_batch),
      max_delay_(std::max(0, max_delay_us)),
      max_concurrent_(std::max(1, max_concurrent_batches)),
      pad_up_(pad_up),
      run_(std::move(run)) {
  // TANDEM_BATCH_LEAD_PERCENT: the share of a running GPU batch's typical time before its expected
  // end at which a held batch may start (0: only when it has ended).
  if (const char* lead = std::getenv("TANDEM_BATCH_LEAD_PERCENT")) lead_ = std::clamp(std::atof(lead), 0.0, 90.0) / 100;
  for (int64_t s = 1; s < max_batch_; s *= 2) {
    sizes_.push_back(s);
    // From 16 rows up, also the point halfway to the next power of two: a saturated GPU pays for
    // padded rows, and padding 17 rows up to 32 would nearly double the work (24 caps it at a third).
    if (s >= 16 && s + s / 2 < max_batch_) sizes_.push_back(s + s / 2);
  }
  sizes_.push_back(max_batch_);
}

int64_t Batcher::SizeAtLeast(int64_t rows) const {
  for (int64_t s : sizes_)
    if (s >= rows) return s;
  return sizes_.back();
}

int64_t Batcher::SizeAtMost(int64_t rows) const {
  int64_t best = sizes_.front();
  for (int64_t s : sizes_)
    if (s <= rows) best = s;
  return best;
}

void Batcher::Run(const SampleKey& key, int64_t rows, const std::vector<NDArray>& inputs,
                  std::vector<NDArray>& outputs) {
  Request me;
  me.inputs = &inputs;
  me.outputs = &outputs;
  me.rows = rows;
  me.arrival = Clock::now();
  std::unique_lock lock(mutex_);
  ++counters_.requests;
  Queue& queue = queues_[key];
  queue.waiting.push_back(&me);
  queue.waiting_rows += rows;
  if (queue.waiting.size() == 1) me.leader = true;
  else if (queue.waiting_rows >= max_batch_) queue.waiting.front()->wake.notify_one();  // full
  while (!me.done) {
    if (me.leader) {
      me.leader = false;
      Lead(lock, key, queue, me);  // takes a batch that includes `me`, runs it, marks it done
      // `queue` may be gone now (erased when it emptied); `me.done` is set.
    } else {
      me.wake.wait(lock);
    }
  }
  lock.unlock();
  if (me.error) std::rethrow_exception(me.error);
}

void Batcher::Lead(std::unique_lock<std::mutex>& lock, const SampleKey& key, Queue& queue,
                   Request& me) {
  // Company is worth waiting for only until the oldest request (this one) has waited max_delay.
  const Clock::time_point deadline = me.arrival + max_delay_;
  while (queue.waiting_rows < max_batch_ && Clock::now() < deadline) me.wake.wait_until(lock, deadline);
  for (;;) {
    if (running_ >= max_concurrent_) {
      me.wake.wait(lock);
      continue;
    }
    const Clock::time_point until = HoldForCompanyUntil(queue);
    if (until <= Clock::now()) break;
    if (until == Clock::time_point::max()) me.wake.wait(lock);
    else me.wake.wait_until(lock, until);
  }
  std::vector<Request*> batch = TakeBatch(queue);
  ++running_;
  ++counters_.batches;
  int64_t rows = 0;
  for (const Request* r : batch) rows += r->rows;
  counters_.largest_batch = std::max<uint64_t>(counters_.largest_batch, static_cast<uint64_t>(rows));
  const int64_t run_rows = batch.size() == 1 ? rows : SizeAtLeast(rows);
  const Clock::time_point started = Clock::now();
  const auto release = release_points_.insert(ReleasePoint(run_rows));
  if (!queue.waiting.empty()) {
    queue.waiting.front()->leader = true;
    queue.waiting.front()->wake.notify_one();
  } else {
    queues_.erase(key);
  }
  lock.unlock();
  Execute(batch);
  lock.lock();
  --running_;
  release_points_.erase(release);
  NoteRunTime(run_rows, Clock::now() - started);
  for (Request* r : batch) {
    r->done = true;
    if (r != &me) r->wake.notify_one();
  }
  WakeLeaders();
}

Batcher::Clock::time_point Batcher::HoldForCompanyUntil(const Queue& queue) const {
  // On a GPU a padded row costs as much as a real one. While another batch keeps the device busy,
  // a batch that would carry padding waits for requests to fill it (they come free: it could not
  // start sooner than the device frees up anyway); it goes as soon as it is full or the device
  // would idle. Under load from many clients (a server, whose requests come back spread out by the
  // network) this keeps batches full; a batch that fills a size exactly, as lone requests do,
  // still overlaps the running one.
  // It need not wait for the running batch's very end, only for its last stretch (lead_).
  if (!pad_up_ || running_ == 0 || queue.waiting_rows >= max_batch_ ||
      SizeAtLeast(queue.waiting_rows) == queue.waiting_rows)
    return Clock::time_point::min();
  return release_points_.empty() ? Clock::time_point::max() : *release_points_.begin();
}

Batcher::Clock::time_point Batcher::ReleasePoint(int64_t rows) const {
  const auto typical = typical_run_.find(rows);
  if (!pad_up_ || lead_ <= 0 || typical == typical_run_.end()) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(typical->second * (1.0 - lead_));
}

void Batcher::NoteRunTime(int64_t rows, Clock::duration took) {
  if (!pad_up_) return;
  auto [it, first] = typical_run_.try_emplace(rows, took);
  if (!first) it->second += (took - it->second) / 8;  // a moving average over ~8 runs
}

std::vector<Batcher::Request*> Batcher::TakeBatch(Queue& queue) {
  // GPU: everything that fits (then padded up). CPU: what fills the largest size <= what waits.
  int64_t limit = max_batch_;
  if (!pad_up_) {
    int64_t fitting = 0;
    for (const Request* r : queue.waiting) {
      if (fitting + r->rows > max_batch_) break;
      fitting += r->rows;
    }
    limit = std::max(SizeAtMost(fitting), queue.waiting.front()->rows);
  }
  std::vector<Request*> batch;
  int64_t rows = 0;
  while (!queue.waiting.empty()) {
    Request* r = queue.waiting.front();
    if (!batch.empty() && rows + r->rows > limit) break;
    queue.waiting.pop_front();
    queue.waiting_rows -= r->rows;
    rows += r->rows;
    batch.push_back(r);
  }
  return batch;
}

void Batcher::WakeLeaders() {
  for (auto& [key, queue] : queues_)
    if (!queue.waiting.empty()) queue.waiting.front()->wake.notify_one();
}

namespace {

// Whether every output of the combined run has the batch's rows and each request's own row shape
// (a model that mixes samples, e.g. a reduction over the batch axis, does not).
bool OutputsSplitByRows(const std::vector<NDArray>& combined, const std::vector<NDArray>& own,
                        int64_t rows) {
  if (combined.size() != own.size()) return false;
  for (size_t j = 0; j < own.size(); ++j) {
    const Shape& c = combined[j].shape();
    const Shape& o = own[j].shape();
    if (c.ndim() != o.ndim() || c.ndim() == 0 || c[0] != rows) return false;
    for (int d = 1; d < c.ndim(); ++d)
      if (c[d] != o[d]) return false;
  }
  return true;
}

}  // namespace

void Batcher::Execute(const std::vector<Request*>& batch) {
  try {
    if (batch.size() == 1) {
      run_(*batch[0]->inputs, batch[0]->outputs);  // alone: no gathering, straight into its outputs
      return;
    }
    int64_t rows = 0;
    for (const Request* r : batch) rows += r->rows;
    std::vector<NDArray> inputs, outputs;
    Gather(batch, SizeAtLeast(rows), &inputs);
    run_(inputs, &outputs);
    if (OutputsSplitByRows(outputs, *batch[0]->outputs, inputs[0].shape()[0])) {
      Scatter(batch, outputs);
      return;
    }
  } catch (...) {
    for (Request* r : batch) r->error = std::current_exception();
    return;
  }
  // The model's outputs do not split by rows: its samples are not independent, so each request
  // runs on its own (correct, just unbatched).
  for (Request* r : batch) {
    try {
      run_(*r->inputs, r->outputs);
    } catch (...) {
      r->error = std::current_exception();
    }
  }
}

// One array per input holding every request's rows, then zero rows up to `padded_rows`.
void Batcher::Gather(const std::vector<Request*>& batch, int64_t padded_rows,
                     std::vector<NDArray>* inputs) const {
  const std::vector<NDArray>& first = *batch[0]->inputs;
  std::vector<CopyRegion> copies;
  for (size_t i = 0; i < first.size(); ++i) {
    Shape shape = first[i].shape();
    shape[0] = padded_rows;
    NDArray combined(shape, first[i].ctx(), first[i].dtype());
    int64_t row = 0;
    for (const Request* r : batch) {
      const NDArray& src = (*r->inputs)[i];
      NDArray dst = combined.Slice(row, row + r->rows);
      copies.push_back({dst.raw_data(), dst.ctx(), src.raw_data(), src.ctx(), src.nbytes()});
      row += r->rows;
    }
    if (row < padded_rows) {
      NDArray pad = combined.Slice(row, padded_rows);
      FillZero(pad.raw_data(), pad.ctx(), pad.nbytes());
    }
    inputs->push_back(std::move(combined));
  }
  CopyRegions(copies);
}

void Batcher::Scatter(const std::vector<Request*>& batch, const std::vector<NDArray>& outputs) const {
  std::vector<CopyRegion> copies;
  for (size_t j = 0; j < outputs.size(); ++j) {
    int64_t row = 0;
    for (Request* r : batch) {
      NDArray& dst = (*r->outputs)[j];
      NDArray src = outputs[j].Slice(row, row + r->rows);
      copies.push_back({dst.raw_data(), dst.ctx(), src.raw_data(), src.ctx(), dst.nbytes()});
      row += r->rows;
    }
  }
  CopyRegions(copies);
}

BatcherCounters Batcher::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

}  // namespace tandem::detail
