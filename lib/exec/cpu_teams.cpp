// CPU teams: see cpu_teams.hpp for why larger teams run on tandem's own threads.
#include "lib/exec/cpu_teams.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#if TANDEM_HAVE_OPENMP
#include <omp.h>
#endif

namespace tandem::detail {
namespace {

// How long a moment with N calls in flight keeps later calls at the share of N: the longer of
// kContentionWindowMs and twice the typical call. Two callers calling back to back leave gaps of
// microseconds between their calls, in which one of them would otherwise see itself alone, take
// every core for one call and oversubscribe them. Moments are noted when a call starts and when
// it ends; with calls of a second (ResNet-50 at batch 16 on 2 cores) a fixed 100 ms was too short:
// two callers that ended close together, or started together after a barrier, each saw the other's
// last note long gone, and one of them took both cores for a call (p99 1.25 s against 0.93 s).
constexpr int64_t kContentionWindowMs = 100;
constexpr int64_t kLongestContentionWindowMs = 10000;

// A team whose threads ran less than kStarvedCpuShare of a call's wall time (their CPU time over
// wall time x team size) was starved by other work on the cores, in this process or another: its
// threads then spin at every barrier for a partner that is not running (MobileNet v2 bs1 on 2
// cores beside two compilers: 2-10 img/s from one caller's two-thread team, 126 from two
// one-thread callers). After kStarvedCallsToBackOff starved team calls in a row (one alone is
// a passing blip: a daemon waking, the hypervisor), automatic teams are one thread for a back-off
// time that doubles, from kFirstBackoffMs up to kLastBackoffMs, while the tries after it are
// starved again; a team call that is not starved resets both.
constexpr double kStarvedCpuShare = 0.75;
constexpr int kStarvedCallsToBackOff = 3;
constexpr int64_t kFirstBackoffMs = 1000;
constexpr int64_t kLastBackoffMs = 64000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU calls in flight in the process, over every CachedOp (an atomic counter, no lock), and when
// each count above one was last seen.
struct Contention {
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> starved_until_ms{INT64_MIN / 2};  // automatic teams are one thread till then
  std::atomic<int64_t> backoff_ms{kFirstBackoffMs};      // the next starvation's back-off
  std::atomic<int> starved_in_a_row{0};                  // team calls
  std::atomic<int64_t> typical_call_ms{0};               // running average of calls' wall time
  std::unique_ptr<std::atomic<int64_t>[]> last_seen_ms;  // index: calls in flight, 2..budget

  explicit Contention(int budget) : last_seen_ms(new std::atomic<int64_t>[budget + 1]) {
    for (int i = 0; i <= budget; ++i) last_seen_ms[i] = INT64_MIN / 2;
  }
};

Contention& Calls() {
  static auto* calls = new Contention(ThreadBudget());  // never destroyed: callers may outlive main
  return *calls;
}

double Seconds(const timespec& t) {
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double WallSeconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return Seconds(t);
}

void NoteTeamCall(bool starved) {
  Contention& c = Calls();
  if (!starved) {
    c.starved_in_a_row.store(0, std::memory_order_relaxed);
    c.backoff_ms.store(kFirstBackoffMs, std::memory_order_relaxed);
    return;
  }
  const int in_a_row = c.starved_in_a_row.fetch_add(1, std::memory_order_relaxed) + 1;
  if (in_a_row < kStarvedCallsToBackOff) return;
  c.starved_in_a_row.store(0, std::memory_order_relaxed);
  const int64_t backoff = c.backoff_ms.load(std::memory_order_relaxed);
  c.starved_until_ms.store(NowMs() + backoff, std::memory_order_relaxed);
  c.backoff_ms.store(std::min(2 * backoff, kLastBackoffMs), std::memory_order_relaxed);
}

// The CPU clocks of the threads of the calling thread's OpenMP team of a given size (itself and
// its pool's workers), collected again whenever the size changes: libgomp keeps the same workers
// while it stays.
class TeamClocks {
 public:
  // Their CPU time, summed; nothing when a thread is gone (then collected again next time).
  std::optional<double> CpuSeconds(int team) {
    if (team != team_) Collect(team);
    double sum = 0;
    for (int i = 0; i < team_; ++i) {
      timespec t{};
      if (clock_gettime(ids_[i].load(std::memory_order_relaxed), &t) != 0) {
        team_ = 0;
        return std::nullopt;
      }
      sum += Seconds(t);
    }
    if (team_ == 0) return std::nullopt;
    return sum;
  }

 private:
  // Each team thread notes its own clock. (Atomics: the region's end orders these writes before
  // the reads, but through libgomp, which thread sanitizers do not see.)
  void Collect(int team) {
    ids_.reset(new std::atomic<clockid_t>[static_cast<size_t>(team)]);
    std::atomic<bool> ok{true};
#if TANDEM_HAVE_OPENMP && !defined(__SANITIZE_THREAD__)
    // (Not under ThreadSanitizer: libgomp is not instrumented, so the region's start and end,
    // which order the threads' accesses to this frame, are invisible to it and read as races.
    // Teams are then never judged starved.)
#pragma omp parallel num_threads(team)
    {
      clockid_t id{};
      if (omp_get_num_threads() != team || pthread_getcpuclockid(pthread_self(), &id) != 0)
        ok = false;
      else
        ids_[omp_get_thread_num()].store(id, std::memory_order_relaxed);
    }
#else
    ok = false;
#endif
    team_ = ok ? team : 0;
  }

  int team_ = 0;
  std::unique_ptr<std::atomic<clockid_t>[]> ids_;
};

thread_local bool on_team_thread = false;
thread_local bool long_serial_work = false;  // see NoteLongSerialWork

// Runs a team's work on its leading thread and notes whether the team was starved (unless it did
// long serial work, in which the team's other threads rightly slept).
void RunWatchingForStarvation(TeamClocks& clocks, int team, const std::function<void()>& work) {
  const std::optional<double> cpu0 = clocks.CpuSeconds(team);
  const double wall0 = WallSeconds();
  long_serial_work = false;
  struct Check {
    TeamClocks& clocks;
    int team;
    std::optional<double> cpu0;
    double wall0;
    ~Check() {
      const double wall = WallSeconds() - wall0;
      const std::optional<double> cpu = clocks.CpuSeconds(team);
      if (cpu0 && cpu && wall > 0 && !long_serial_work)
        NoteTeamCall(*cpu - *cpu0 < kStarvedCpuShare * wall * team);
    }
  } check{clocks, team, cpu0, wall0};
  work();
}

// The budget shared by `calls` calls, rounded down to a power of two (which keeps the number of
// distinct teams, and so of plans per shape, at 1 + log2(cores)).
int ShareOf(int budget, int calls) {
  const int share = std::max(1, budget / std::max(1, calls));
  return static_cast<int>(std::bit_floor(static_cast<unsigned>(share)));
}

// Sets the calling thread's OpenMP team size for one piece of work (the setting is per thread).
class OmpThreads {
 public:
  explicit OmpThreads(int threads) {
#if TANDEM_HAVE_OPENMP
    previous_ = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
  }
  ~OmpThreads() {
#if TANDEM_HAVE_OPENMP
    omp_set_num_threads(previous_);
#endif
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_ = 1;
};

// Pins the threads of a team that has every core of the process to itself (a lone caller's
// automatic team), one per core. Unpinned, the scheduler at times ran the team's worker on its
// leader's core and a call took twice as long: MobileNet v2, batch 1, a lone caller on 2 cores,
// p99 6.1-6.4 ms and p99.9 10-11 ms against p50 2.9; pinned, p99 3.6-4.7 and p99.9 6. The pins
// stay from one such call to the next (re-pinning each call moved threads and cost half the
// gain) and are let go before the team thread runs any other team size. One team thread's pool
// at a time is pinned (a process-wide flag), and only for a team as large as the process's CPU
// set (sched_getaffinity), so pinned threads never share a core; smaller teams (several
// concurrent callers on a larger machine) stay free. Owned and used by one team thread.
class CorePins {
 public:
  // Before each team call on this thread.
  void Prepare(int team) {
#if TANDEM_HAVE_OPENMP && !defined(__SANITIZE_THREAD__)
    const bool wanted = team >= 2 && static_cast<size_t>(team) == ProcessCpus().size();
    if (wanted && pinned_team_ == team) return;  // still pinned from the last call
    if (pinned_team_ != 0) Release();
    if (wanted && !any_pinned_.exchange(true)) Pin(team);
#else
    (void)team;
#endif
  }

 private:
#if TANDEM_HAVE_OPENMP && !defined(__SANITIZE_THREAD__)
  void Pin(int team) {
    const std::vector<int>& cpus = ProcessCpus();
#pragma omp parallel num_threads(team)
    {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[static_cast<size_t>(omp_get_thread_num()) % cpus.size()], &one);
      pthread_setaffinity_np(pthread_self(), sizeof one, &one);  // a failure leaves it free
    }
    pinned_team_ = team;
  }
  void Release() {
    const cpu_set_t all = ProcessMask();
#pragma omp parallel num_threads(pinned_team_)
    pthread_setaffinity_np(pthread_self(), sizeof all, &all);
    pinned_team_ = 0;
    any_pinned_.store(false);
  }
#endif
  static const cpu_set_t& ProcessMask() {
    static const cpu_set_t mask = [] {
      cpu_set_t m;
      CPU_ZERO(&m);
      if (sched_getaffinity(0, sizeof m, &m) != 0) CPU_ZERO(&m);
      return m;
    }();
    return mask;
  }
  static const std::vector<int>& ProcessCpus() {
    static const std::vector<int> cpus = [] {
      std::vector<int> v;
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &ProcessMask())) v.push_back(c);
      return v;
    }();
    return cpus;
  }

  static inline std::atomic<bool> any_pinned_{false};  // some team thread's pool is pinned
  int pinned_team_ = 0;                                 // this thread's pinned team size, or 0
};

// A thread that leads OpenMP teams for callers, one piece of work at a time. A caller first
// takes it (`taken`), hands over the work through `state` (idle -> work -> done -> idle) and
// sleeps until it is done; the thread sleeps between pieces of work (futex waits of
// std::atomic::wait).
class TeamThread {
 public:
  TeamThread() : thread_([this] { Loop(); }) { thread_.detach(); }

  bool TryTake() { return !taken_.exchange(true, std::memory_order_acquire); }

  void Run(int team, const std::function<void()>& work) {
    work_ = &work;
    team_ = team;
    error_ = nullptr;
    state_.store(kWork, std::memory_order_release);
    state_.notify_one();
    for (uint32_t s; (s = state_.load(std::memory_order_acquire)) != kDone;) state_.wait(s);
    state_.store(kIdle, std::memory_order_relaxed);
    std::exception_ptr error = error_;
    taken_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
  }

 private:
  static constexpr uint32_t kIdle = 0, kWork = 1, kDone = 2;

  void Loop() {
    on_team_thread = true;
    for (;;) {
      for (uint32_t s; (s = state_.load(std::memory_order_acquire)) != kWork;) state_.wait(s);
      try {
        OmpThreads threads(team_);
        pins_.Prepare(team_);
        RunWatchingForStarvation(clocks_, team_, *work_);
      } catch (...) {
        error_ = std::current_exception();
      }
      state_.store(kDone, std::memory_order_release);
      state_.notify_one();
    }
  }

  std::atomic<bool> taken_{false};
  std::atomic<uint32_t> state_{kIdle};
  const std::function<void()>* work_ = nullptr;  // written before kWork, read after it
  int team_ = 1;
  std::exception_ptr error_;  // written before kDone, read after it
  TeamClocks clocks_;         // used by the thread only
  CorePins pins_;             // used by the thread only
  std::thread thread_;
};

// As many team threads as teams of two or more can run at once under the automatic rule (half
// the budget): their pools' workers then add up to the cores at most. At least one, for calls
// given an explicit intra_op_threads above the budget.
std::vector<std::unique_ptr<TeamThread>>& TeamThreads() {
  static auto* threads = [] {
    auto* v = new std::vector<std::unique_ptr<TeamThread>>();  // never destroyed (detached threads)
    const int count = std::max(1, ThreadBudget() / 2);
    for (int i = 0; i < count; ++i) v->push_back(std::make_unique<TeamThread>());
    return v;
  }();
  return *threads;
}

}  // namespace

int ThreadBudget() {
#if TANDEM_HAVE_OPENMP
  static const int budget = std::max(1, omp_get_max_threads());
  return budget;
#else
  return 1;
#endif
}

void NoteLongSerialWork() { long_serial_work = true; }

int LoneCallTeam(int intra_op_threads) {
  return intra_op_threads > 0 ? intra_op_threads : ThreadBudget();
}

CpuCall::CpuCall(int intra_op_threads) {
  Contention& c = Calls();
  const int budget = ThreadBudget();
  const int in_flight = std::min(++c.in_flight, budget);
  if (intra_op_threads > 0) {
    team_ = intra_op_threads;
    return;
  }
  const int64_t now = start_ms_ = NowMs();
  if (in_flight >= 2) c.last_seen_ms[in_flight].store(now, std::memory_order_relaxed);
  if (now < c.starved_until_ms.load(std::memory_order_relaxed)) return;  // one thread
  const int64_t window = std::clamp(2 * c.typical_call_ms.load(std::memory_order_relaxed),
                                    kContentionWindowMs, kLongestContentionWindowMs);
  int sharing = in_flight;
  for (int k = budget; k > in_flight; --k) {
    if (now - c.last_seen_ms[k].load(std::memory_order_relaxed) < window) {
      sharing = k;
      break;
    }
  }
  team_ = ShareOf(budget, sharing);
}

CpuCall::~CpuCall() {
  Contention& c = Calls();
  if (start_ms_ != kNotTimed) {
    const int64_t now = NowMs();
    // A racy average is fine: it only sizes the window.
    const int64_t typical = c.typical_call_ms.load(std::memory_order_relaxed);
    c.typical_call_ms.store((7 * typical + (now - start_ms_)) / 8, std::memory_order_relaxed);
    const int in_flight = std::min(c.in_flight.load(std::memory_order_relaxed), ThreadBudget());
    if (in_flight >= 2) c.last_seen_ms[in_flight].store(now, std::memory_order_relaxed);
  }
  --c.in_flight;
}

void RunWithTeam(int team, const std::function<void()>& work) {
  team = std::max(1, team);
  if (team > 1 && !on_team_thread) {
    for (std::unique_ptr<TeamThread>& t : TeamThreads()) {
      if (t->TryTake()) {
        t->Run(team, work);
        return;
      }
    }
  }
  OmpThreads threads(team);
  work();
}

}  // namespace tandem::detail
