// torch_peer --model FILE.pt [--name LABEL] [--threads 1,2,4] [--batch 1] [--seconds S]
//            [--warmup S] [--math fp32,tf32] [--variants eager,graph] [--json OUT]
//
// The GPU peer of tandem-bench: libtorch C++ (the PyTorch wheel's), one TorchScript module
// (bench/make_torchscript.py) shared by N threads, each thread on its own CUDA stream, measured as
// tandem-bench measures (warm-up, then every thread calls in a loop for --seconds; images/s =
// calls * batch / elapsed; p50 / p99 per-call latency, the call ending when its stream is idle).
//   eager  module.forward on the thread's stream (c10::InferenceMode);
//   graph  one CUDA graph per thread, captured (serially, before the clock starts) from the same
//          forward on that thread's stream with a static input; each call replays it.
// math: fp32 (TF32 off for cuBLAS and cuDNN) or tf32 (both on); cudnn.benchmark is on.
// Prints a table and JSON lines (engine "libtorch", math "fp32"/"tf32", variant "eager"/"graph").
#include <ATen/Context.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model, name, json;
  std::vector<int> threads = {1};
  std::vector<std::string> math = {"fp32", "tf32"}, variants = {"eager", "graph"};
  int batch = 1;
  double seconds = 5, warmup = 1;
};

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
    std::string v = argv[++i];
    if (a == "--model") o.model = v;
    else if (a == "--name") o.name = v;
    else if (a == "--json") o.json = v;
    else if (a == "--batch") o.batch = std::stoi(v);
    else if (a == "--seconds") o.seconds = std::stod(v);
    else if (a == "--warmup") o.warmup = std::stod(v);
    else if (a == "--math") o.math = Split(v);
    else if (a == "--variants") o.variants = Split(v);
    else if (a == "--threads") {
      o.threads.clear();
      for (const auto& t : Split(v)) o.threads.push_back(std::stoi(t));
    } else throw std::runtime_error("unknown argument " + a);
  }
  if (o.model.empty()) throw std::runtime_error("--model FILE.pt is required");
  if (o.name.empty()) {
    std::string base = o.model.substr(o.model.find_last_of('/') + 1);
    o.name = base.substr(0, base.rfind(".pt"));
  }
  return o;
}

// The input of every engine in bench/: x[i] = (i * 7919) % 256.
torch::Tensor DeterministicInput(int batch) {
  auto x = torch::arange(static_cast<int64_t>(batch) * 3 * 224 * 224, torch::kInt64);
  return ((x * 7919) % 256).to(torch::kFloat32).reshape({batch, 3, 224, 224});
}

double StatusMiB(const std::string& key) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  return 0;
}

double DeviceUsedMiB() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return 0;
  return static_cast<double>(total - free_bytes) / (1024.0 * 1024.0);
}

struct Result {
  int64_t calls = 0;
  double seconds = 0, p50 = 0, p99 = 0, mean = 0;
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// One thread's way to run one inference and wait for it, on its own stream.
struct Caller {
  c10::cuda::CUDAStream stream;
  torch::Tensor input, output;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

Result RunThreads(const Options& o, torch::jit::script::Module& module, std::vector<Caller>& callers) {
  const int threads = static_cast<int>(callers.size());
  std::vector<std::vector<double>> latencies(threads);
  std::vector<Clock::time_point> finished(threads);
  Clock::time_point start, deadline;
  const auto warm_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.warmup));
  std::barrier sync(threads, [&]() noexcept {
    start = Clock::now();
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(o.seconds));
  });
  auto worker = [&](int t) {
    c10::InferenceMode inference;
    Caller& c = callers[t];
    c10::cuda::CUDAStreamGuard guard(c.stream);
    auto call = [&] {
      if (c.graph) c.graph->replay();
      else c.output = module.forward({c.input}).toTensor();
      c.stream.synchronize();
    };
    do call();
    while (Clock::now() < warm_until);
    sync.arrive_and_wait();
    auto& lat = latencies[t];
    for (auto now = Clock::now(); now < deadline;) {
      call();
      auto done = Clock::now();
      lat.push_back(std::chrono::duration<double, std::milli>(done - now).count());
      now = done;
    }
    finished[t] = Clock::now();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& t : pool) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.calls = static_cast<int64_t>(all.size());
  r.seconds = std::chrono::duration<double>(*std::max_element(finished.begin(), finished.end()) - start).count();
  r.p50 = Percentile(all, 0.5);
  r.p99 = Percentile(all, 0.99);
  r.mean = all.empty() ? 0 : std::accumulate(all.begin(), all.end(), 0.0) / all.size();
  return r;
}

// Streams and inputs for `threads` callers; with `graph`, each caller's CUDA graph is captured
// here, one after another, on its own stream (after warm-up runs there, as capture requires).
std::vector<Caller> MakeCallers(const Options& o, torch::jit::script::Module& module, int threads,
                                bool graph) {
  c10::InferenceMode inference;
  std::vector<Caller> callers;
  torch::Tensor host = DeterministicInput(o.batch);
  for (int t = 0; t < threads; ++t) {
    Caller c{c10::cuda::getStreamFromPool(/*isHighPriority=*/false, 0)};
    c10::cuda::CUDAStreamGuard guard(c.stream);
    c.input = host.to(torch::kCUDA);
    if (graph) {
      for (int i = 0; i < 5; ++i) c.output = module.forward({c.input}).toTensor();
      c.stream.synchronize();
      c.graph = std::make_unique<at::cuda::CUDAGraph>();
      c.graph->capture_begin();
      c.output = module.forward({c.input}).toTensor();
      c.graph->capture_end();
      c.stream.synchronize();
    }
    callers.push_back(std::move(c));
  }
  return callers;
}

void SetMath(const std::string& math) {
  if (math != "fp32" && math != "tf32") throw std::runtime_error("--math: fp32 or tf32, got " + math);
  const bool tf32 = math == "tf32";
  at::globalContext().setAllowTF32CuBLAS(tf32);
  at::globalContext().setAllowTF32CuDNN(tf32);
}

int Run(const Options& o) {
  if (!torch::cuda::is_available()) throw std::runtime_error("no CUDA device visible to libtorch");
  at::globalContext().setBenchmarkCuDNN(true);
  torch::jit::script::Module module = torch::jit::load(o.model, torch::kCUDA);
  module.eval();
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("torch_peer: libtorch %s, %s, model %s (%s), batch %d, %.1f s per run (+%.1f s "
              "warm-up)\n\n", TORCH_VERSION, prop.name, o.name.c_str(), o.model.c_str(), o.batch,
              o.seconds, o.warmup);
  std::printf("%-6s %-7s %7s %10s %9s %9s %9s %10s %8s\n", "math", "variant", "threads",
              "images/s", "p50 ms", "p99 ms", "RSS MiB", "GPU MiB", "calls");
  std::vector<std::string> lines;
  for (const auto& math : o.math) {
    SetMath(math);
    for (const auto& variant : o.variants) {
      if (variant != "eager" && variant != "graph")
        throw std::runtime_error("--variants: eager or graph, got " + variant);
      for (int threads : o.threads) {
        std::vector<Caller> callers = MakeCallers(o, module, threads, variant == "graph");
        Result r = RunThreads(o, module, callers);
        double ips = static_cast<double>(r.calls) * o.batch / r.seconds;
        double rss = StatusMiB("VmRSS"), gpu = DeviceUsedMiB();
        std::printf("%-6s %-7s %7d %10.1f %9.3f %9.3f %9.1f %10.1f %8lld\n", math.c_str(),
                    variant.c_str(), threads, ips, r.p50, r.p99, rss, gpu,
                    static_cast<long long>(r.calls));
        std::fflush(stdout);
        char buf[768];
        std::snprintf(buf, sizeof buf,
                      "{\"model\": \"%s\", \"device\": \"gpu\", \"threads\": %d, \"batch\": %d, "
                      "\"images_per_s\": %.3f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, \"mean_ms\": %.4f, "
                      "\"rss_mb\": %.1f, \"gpu_used_mb\": %.1f, \"engine\": \"libtorch\", "
                      "\"math\": \"%s\", \"variant\": \"%s\", \"calls\": %lld, \"seconds\": %.3f, "
                      "\"gpu\": \"%s\", \"settings\": \"libtorch %s, TorchScript, a CUDA stream per "
                      "thread, cudnn.benchmark on\"}",
                      o.name.c_str(), threads, o.batch, ips, r.p50, r.p99, r.mean, rss, gpu,
                      math.c_str(), variant.c_str(), static_cast<long long>(r.calls), r.seconds,
                      prop.name, TORCH_VERSION);
        lines.push_back(buf);
      }
    }
  }
  std::printf("\nGPU MiB: memory in use on the whole device (cudaMemGetInfo), CUDA context and "
              "PyTorch's caching allocator included.\n");
  if (o.json.empty()) {
    for (const auto& l : lines) std::printf("%s\n", l.c_str());
  } else {
    std::ofstream f(o.json, std::ios::app);
    for (const auto& l : lines) f << l << "\n";
    std::printf("JSON lines appended to %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch_peer: %s\n", e.what());
    return 1;
  }
}
