// CUDA graphs per execution context: a plan's kernels are captured once on the context's stream
// and replayed on later calls, so a call costs one graph launch instead of one launch (and one
// pass through the driver's locks) per node. That launch overhead, not the math, is what limits a
// batch-1 ResNet when several threads share one GPU.
//
// Threading: a CudaState belongs to one ExecContext, used by one call at a time, so its graph
// cache needs no lock. Captures use cudaStreamCaptureModeThreadLocal: other threads keep
// allocating and copying while this one captures, and the streams are non-blocking, so the
// legacy default stream that synchronous copies use never joins a capture.
#include "lib/cuda/common.cuh"

namespace tandem::cuda {
namespace {

// Dynamic shapes give a context one graph per input shape; past this many the cache starts over
// (the plan cache itself holds 16 shapes by default).
constexpr size_t kMaxGraphsPerContext = 64;

// Captures `run_nodes` on the state's stream into `g.exec`; false when it cannot be captured.
bool Capture(CudaState& state, CapturedGraph& g, const RunNodesFn& run_nodes) {
  // Handles and their workspaces are created outside the capture: cudaMalloc is not capturable.
  state.Cublas();
#if TANDEM_HAVE_CUDNN
  state.Cudnn();
#endif
  const cudaStream_t stream = state.stream();
  if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  bool ran = true;
  try {
    run_nodes(g.staged_inputs, g.staged_outputs);
  } catch (...) {
    ran = false;  // the eager run that follows reports it, if it is a real error
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  bool ok = ran && ended == cudaSuccess && graph != nullptr;
  if (ok) ok = cudaGraphInstantiate(&g.exec, graph, 0) == cudaSuccess;
  if (graph) cudaGraphDestroy(graph);
  if (!ok) {
    cudaGetLastError();  // capture errors are not sticky; clear them for the eager run
    g.exec = nullptr;
  }
  return ok;
}

CapturedGraph* GraphFor(CudaState& state, Context ctx, uint64_t plan_id,
                        const std::vector<NDArray>& inputs, const std::vector<NDArray>& outputs,
                        const void* arena, const RunNodesFn& run_nodes) {
  auto& graphs = state.graphs();
  auto it = graphs.find(plan_id);
  if (it != graphs.end() && it->second.exec && it->second.arena != arena) {
    cudaGraphExecDestroy(it->second.exec);  // the arena moved (a bigger plan ran here)
    graphs.erase(it);
    it = graphs.end();
  }
  if (it == graphs.end()) {
    if (graphs.size() >= kMaxGraphsPerContext) state.DropGraphs();
    // The first call runs eagerly, so kernels set up what they keep per context (cuDNN execution
    // plans, library workspaces) outside a capture, where allocating is allowed. The next call
    // captures.
    graphs.emplace(plan_id, CapturedGraph{});
    return nullptr;
  }
  CapturedGraph& g = it->second;
  if (!g.attempted) {
    g.attempted = true;
    g.arena = arena;
    for (const NDArray& x : inputs) g.staged_inputs.emplace_back(x.shape(), ctx, x.dtype());
    for (const NDArray& y : outputs) g.staged_outputs.emplace_back(y.shape(), ctx, y.dtype());
    Capture(state, g, run_nodes);  // on failure g.exec stays null: remembered, never retried
  }
  return g.exec ? &g : nullptr;
}

}  // namespace

void CudaState::DropGraphs() noexcept {
  for (auto& [id, g] : graphs_)
    if (g.exec) cudaGraphExecDestroy(g.exec);
  graphs_.clear();
}

bool RunAsGraph(ExecContext& exec, uint64_t plan_id, const std::vector<NDArray>& inputs,
                const std::vector<NDArray>& outputs, const void* arena, const RunNodesFn& run_nodes) {
  CudaState& state = StateFor(&exec);
  CapturedGraph* g =
      GraphFor(state, exec.ctx(), plan_id, inputs, outputs, arena, run_nodes);
  if (!g) return false;
  const cudaStream_t stream = state.stream();
  for (size_t i = 0; i < inputs.size(); ++i) {
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(g->staged_inputs[i].raw_data(), inputs[i].raw_data(),
                                      inputs[i].nbytes(), cudaMemcpyDefault, stream));
  }
  TANDEM_CUDA_CHECK(cudaGraphLaunch(g->exec, stream));
  for (size_t j = 0; j < outputs.size(); ++j) {
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(outputs[j].raw_data(), g->staged_outputs[j].raw_data(),
                                      outputs[j].nbytes(), cudaMemcpyDefault, stream));
  }
  return true;
}

}  // namespace tandem::cuda
