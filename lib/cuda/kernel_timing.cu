#include "lib/cuda/kernel_timing.cuh"

#include <cstdlib>

namespace tandem::cuda {
namespace {

// A CUDA event, destroyed with its scope.
class Event {
 public:
  Event() { TANDEM_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// Keeps `stream` busy for about `ns` nanoseconds, so that the work queued behind it is all
// launched before any of it starts.
__global__ void HoldStream(uint64_t ns) {
  uint64_t start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

}  // namespace

double TimeMs(cudaStream_t stream, const std::function<void()>& run) {
  constexpr int kRounds = 3, kRunsPerRound = 4;
  constexpr uint64_t kHoldNs = 200'000;  // well above the launch time of a round
  run();
  const Event start, stop;
  float best = -1.0f;
  for (int round = 0; round < kRounds; ++round) {
    HoldStream<<<1, 1, 0, stream>>>(kHoldNs);
    TANDEM_CUDA_CHECK_LAUNCH();
    TANDEM_CUDA_CHECK(cudaEventRecord(start.get(), stream));
    for (int i = 0; i < kRunsPerRound; ++i) run();
    TANDEM_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
    TANDEM_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0.0f;
    TANDEM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    if (best < 0.0f || ms < best) best = ms;
  }
  return best / kRunsPerRound;
}

const std::string& DeviceFingerprint(int device) {
  static std::mutex mutex;
  static auto* known = new std::map<int, std::string>();
  std::lock_guard lock(mutex);
  std::string& fingerprint = (*known)[device];
  if (fingerprint.empty()) {
    cudaDeviceProp prop{};
    int driver = 0, runtime = 0;
    TANDEM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    TANDEM_CUDA_CHECK(cudaDriverGetVersion(&driver));
    TANDEM_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    fingerprint = std::string(prop.name) + " sm_" + std::to_string(prop.major) +
                  std::to_string(prop.minor) + " sms " + std::to_string(prop.multiProcessorCount) +
                  " driver " + std::to_string(driver) + " cuda " + std::to_string(runtime) +
                  " tandem " + detail::TandemVersion();
  }
  return fingerprint;
}

bool ChoiceLogOn() { return std::getenv("TANDEM_CUDNN_GRAPH_LOG") != nullptr; }

std::unique_ptr<detail::Storage> ZeroedBlock(int device, size_t bytes) {
  if (bytes == 0) return nullptr;
  auto block = std::make_unique<detail::Storage>(bytes, Context::gpu(device));
  Memset(device, block->ptr, 0, bytes);  // done when it returns: the timing stream does not wait
  return block;
}

TrialBuffers::TrialBuffers(const KernelSpec& spec, size_t scratch) {
  for (const TensorDesc& t : spec.inputs) inputs_.push_back(Add(spec.ctx.id, t));
  for (const TensorDesc& t : spec.outputs) outputs_.push_back(Add(spec.ctx.id, t));
  scratch_ = PtrOf(blocks_.emplace_back(ZeroedBlock(spec.ctx.id, scratch)));
}

TensorArg TrialBuffers::Add(int device, const TensorDesc& t) {
  const size_t bytes = static_cast<size_t>(t.shape.Size()) * DTypeSize(t.dtype);
  return TensorArg{PtrOf(blocks_.emplace_back(ZeroedBlock(device, bytes))), &t.shape, t.dtype};
}

}  // namespace tandem::cuda
