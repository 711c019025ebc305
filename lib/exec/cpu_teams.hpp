// CPU calls' OpenMP teams: how many threads a call gets, and which OS thread leads its team.
//
// Why tandem leads teams on its own threads: libgomp (oneDNN's OpenMP runtime) keeps, for every
// thread that ever started a team, a pool of worker threads for the life of that thread. Once
// the workers of all pools outnumber the cores, libgomp shortens every wait to ~100 spins, so a
// team's threads fall asleep between parallel regions and each of a call's oneDNN primitives
// pays a futex wake-up. That happened as soon as the thread that built a model (or any earlier
// caller) had kept a pool: MobileNet v2 bs1 on 2 cores ran at 125 img/s instead of 210, with 110
// context switches per call (docs/performance.md). So a user's thread never starts a team of
// more than one thread: a call given a larger team runs on a team thread of tandem's, and those
// threads' pools add up to the cores at most.
//
// Thread safety: every function may be called from any number of threads at once. The team
// threads are process-wide and live until the process exits.
#pragma once

#include <cstdint>
#include <functional>

namespace tandem::detail {

// The OpenMP threads the process started with (the cores, or OMP_NUM_THREADS); 1 without OpenMP.
int ThreadBudget();

// The team a call alone in the process gets (`intra_op_threads` when positive, else the whole
// budget): what Plan() and request checks plan for.
int LoneCallTeam(int intra_op_threads);

// One CPU call in flight, counted from construction to destruction, and the team it gets:
// `intra_op_threads` when positive; else the budget shared by the calls in flight, this one
// included, and by as many as were in flight at once (noted as calls start and end) during the
// last 100 ms or two typical calls, whichever is longer (so that two callers calling back to back
// do not each see the other's gap between calls and take every core for one call), rounded down
// to a power of two.
class CpuCall {
 public:
  explicit CpuCall(int intra_op_threads);
  ~CpuCall();
  CpuCall(const CpuCall&) = delete;
  CpuCall& operator=(const CpuCall&) = delete;
  int team() const { return team_; }

 private:
  static constexpr int64_t kNotTimed = -1;
  int team_ = 1;
  int64_t start_ms_ = kNotTimed;  // automatic teams only: when the call started
};

// Runs `work` with an OpenMP team of `team` threads and returns when it is done, rethrowing its
// exception. A team of one runs on the calling thread; a larger team runs on a free team thread
// (or on the calling thread when it is one, or when every team thread is busy, which only
// explicit intra_op_threads settings can cause).
void RunWithTeam(int team, const std::function<void()>& work);

// Tells the starvation check of the current team call (if any) that it did long serial work
// (building a plan): the team's other threads slept meanwhile, which is not starvation.
void NoteLongSerialWork();

}  // namespace tandem::detail
