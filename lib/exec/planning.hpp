// Internal: which model the calling thread is planning. BuildPlan sets it while the kernel
// factories of a plan run (they run in the planning thread), so a backend can share what it derives
// from a model's parameters (oneDNN's repacked weights) between the plans of that model, that is
// between input shapes, without any global state that outlives the model. It also carries the
// model's persistent plan cache (CachedOpFlags::plan_cache) and the counters of the plan being
// built, which the GPU factories that measure kernels use (lib/cuda/kernel_timing.cuh).
#pragma once

namespace tandem::detail {

class PlanCache;           // lib/core/plan_cache.hpp
struct PlanChoiceCounters;

// An opaque token for the model being planned on this thread, or nullptr (a factory called from
// elsewhere, such as a test).
const void* PlanningModel();
// The plan cache of the model being planned on this thread, or nullptr (none, or not planning).
const PlanCache* PlanningCache();
// The choice counters of the plan being built on this thread, or nullptr.
PlanChoiceCounters* PlanningCounters();

class PlanningScope {
 public:
  explicit PlanningScope(const void* model, const PlanCache* cache = nullptr,
                         PlanChoiceCounters* counters = nullptr);
  ~PlanningScope();
  PlanningScope(const PlanningScope&) = delete;
  PlanningScope& operator=(const PlanningScope&) = delete;

 private:
  const void* previous_;
  const PlanCache* previous_cache_;
  PlanChoiceCounters* previous_counters_;
};

}  // namespace tandem::detail
