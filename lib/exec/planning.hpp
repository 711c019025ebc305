// Internal: which model the calling thread is planning. BuildPlan sets it while the kernel
// factories of a plan run (they run in the planning thread), so a backend can share what it derives
// from a model's parameters (oneDNN's repacked weights) between the plans of that model, that is
// between input shapes, without any global state that outlives the model.
#pragma once

namespace tandem::detail {

// An opaque token for the model being planned on this thread, or nullptr (a factory called from
// elsewhere, such as a test).
const void* PlanningModel();

class PlanningScope {
 public:
  explicit PlanningScope(const void* model);
  ~PlanningScope();
  PlanningScope(const PlanningScope&) = delete;
  PlanningScope& operator=(const PlanningScope&) = delete;

 private:
  const void* previous_;
};

}  // namespace tandem::detail
