// tandem-bench --model PREFIX|zoo:NAME [--epoch N] [--device cpu|gpu] [--threads 1,2,4,8]
//              [--batch B] [--seconds S] [--warmup S] [--dtype f32] [--intra-op N]
//              [--sample-shape 3,224,224] [--reference] [--name LABEL] [--json OUT]
//              [--profile [--profile-ms MS]] [--save PREFIX] [--dump FILE]
//              [--max-batch B --max-delay-us D [--concurrent-batches K]] [--gpus N]
//
// --gpus N serves the model from gpu(0) .. gpu(N-1) through one MultiDeviceCachedOp; thread t keeps
// its input on gpu(t % N), so its calls are pinned there.
//
// --max-batch turns on dynamic batching (CachedOpFlags::max_batch): the N threads still call with
// --batch rows each, the CachedOp gathers concurrent calls into runs of up to B rows. The rows then
// report the mean rows per model run ("mean_batch").
//
// Throughput and latency of one model served to N threads that share ONE CachedOp. For each
// thread count a fresh CachedOp is built (with the library's automatic intra-op rule unless
// --intra-op N sets CachedOpFlags::intra_op_threads), every thread
// warms up, then all threads call Forward in a loop for --seconds; per-call latencies give p50 /
// p99, images/s = calls * batch / elapsed. Memory: VmRSS after each run and the peak (VmHWM, which
// cannot be reset between runs), with the plan's arena and parameter bytes, so the claim "weights
// counted once; each extra caller costs about one arena" can be checked: the "extra/arena" column
// is (RSS(N) - RSS(1)) / ((N - 1) * arena_bytes).
//
// --profile times every operator node in isolation (a one-node graph per node, fed tensors of the
// shapes the full graph infers), with the automatic backend choice and with the reference kernels.
// --save writes the model (symbol + parameters) as an MXNet checkpoint; --dump writes its outputs
// and logits for the deterministic input to a .params file (for bench/check_export.py).
//
// Input: the same deterministic "image" every engine in bench/ uses: x[i] = (i * 7919) % 256.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tandem/tandem.hpp"
#include "tandem/zoo.hpp"
#include "proc_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using tandem::CachedOp;
using tandem::CachedOpFlags;
using tandem::Context;
using tandem::InvalidArgument;
using tandem::MultiDeviceCachedOp;
using tandem::NDArray;
using tandem::PlanReport;
using tandem::Shape;
using tandem::Symbol;

struct Options {
  std::string model, name, json, save, dump, device = "cpu", dtype = "f32";
  // CachedOpFlags::intra_op_threads: --intra-op N, else 0, the library's automatic rule (each call
  // takes the cores shared by the calls in flight, docs/threading.md; the column says "auto").
  int epoch = 0, batch = 1, intra_op = 0;
  std::vector<int> threads = {1};
  std::vector<int64_t> sample_shape = {3, 224, 224};
  double seconds = 5, warmup = 1, profile_ms = 100;
  bool profile = false, reference = false;
  std::string math = "fp32";  // GPU: fp32 (strict) or tf32
  std::string layout = "auto";  // nchw / nhwc: CachedOpFlags::channels_last; auto: its default
  bool rewrites = true;  // --no-rewrites: every graph pass off (BN folding, fusions, folding)
  bool graphs = true;         // GPU: replay each context's plan as a CUDA graph
  bool cudnn = true;          // --no-cudnn: the plain-CUDA kernels (CachedOpFlags::use_cudnn)
  int max_batch = 0, max_delay_us = 0, concurrent_batches = 2;  // dynamic batching (off: 0)
  int gpus = 1;  // > 1: MultiDeviceCachedOp over gpu(0) .. gpu(gpus - 1)
  std::string plan_cache;  // CachedOpFlags::plan_cache (empty: TANDEM_PLAN_CACHE or none)
  // GPU: each call copies its input from host memory and its outputs back, as a server does
  // with a request's tensors (bench/serve_load.py's second in-process figure).
  bool host_io = false;
  bool pageable = false;  // --host-io from ordinary host memory instead of page-locked
};

const char* kUsage =
    "usage: tandem-bench --model PREFIX|zoo:NAME [--epoch N] [--device cpu|gpu] [--threads 1,2,4]\n"
    "  [--batch B] [--seconds S] [--warmup S] [--dtype f32|f16|bf16] [--layout auto|nchw|nhwc] [--intra-op N] [--sample-shape C,H,W]\n"
    "  [--reference] [--name LABEL] [--json OUT] [--profile [--profile-ms MS]] [--save PREFIX]\n"
    "  [--dump FILE] [--math fp32|tf32] [--no-graphs] [--no-rewrites] [--no-cudnn]\n"
    "  [--max-batch B --max-delay-us D [--concurrent-batches K]]  (dynamic batching)\n"
    "  [--gpus N]  (one model over gpu(0) .. gpu(N-1))  [--plan-cache DIR]  (docs/plan-cache.md)\n"
    "  [--host-io [--pageable]]  (GPU: inputs copied from page-locked host memory, or from ordinary\n"
    "               memory with --pageable, and outputs back to host memory in every call)\n"
    "  GPU: --math fp32 = strict fp32 (default), tf32 = TF32 tensor cores for convolutions and\n"
    "  gemms; --no-graphs runs kernel by kernel instead of replaying a CUDA graph per context;\n"
    "  --no-cudnn runs the plain-CUDA kernels (no cuDNN).";

std::vector<int64_t> ParseList(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1)
      throw InvalidArgument(flag + ": '" + text + "' is not a list of integers >= 1");
    out.push_back(v);
  }
  if (out.empty()) throw InvalidArgument(flag + ": empty list");
  return out;
}

double ParseNumber(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || v < 0)
    throw InvalidArgument(flag + ": '" + text + "' is not a number >= 0");
  return v;
}

Options Parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw InvalidArgument(std::string(argv[i]) + " needs a value\n" + kUsage);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model") o.model = value(i);
    else if (a == "--epoch") o.epoch = static_cast<int>(ParseNumber(a, value(i)));
    else if (a == "--device") o.device = value(i);
    else if (a == "--threads") {
      auto list = ParseList(a, value(i));
      o.threads.assign(list.begin(), list.end());
    } else if (a == "--batch") o.batch = static_cast<int>(ParseList(a, value(i)).at(0));
    else if (a == "--seconds") o.seconds = ParseNumber(a, value(i));
    else if (a == "--warmup") o.warmup = ParseNumber(a, value(i));
    else if (a == "--dtype") o.dtype = value(i);
    else if (a == "--layout") o.layout = value(i);
    else if (a == "--intra-op") o.intra_op = static_cast<int>(ParseNumber(a, value(i)));
    else if (a == "--sample-shape") o.sample_shape = ParseList(a, value(i));
    else if (a == "--reference") o.reference = true;
    else if (a == "--math") o.math = value(i);
    else if (a == "--no-graphs") o.graphs = false;
    else if (a == "--host-io") o.host_io = true;
    else if (a == "--pageable") o.pageable = true;
    else if (a == "--no-cudnn") o.cudnn = false;
    else if (a == "--no-rewrites") o.rewrites = false;
    else if (a == "--max-batch") o.max_batch = static_cast<int>(ParseNumber(a, value(i)));
    else if (a == "--max-delay-us") o.max_delay_us = static_cast<int>(ParseNumber(a, value(i)));
    else if (a == "--gpus") o.gpus = static_cast<int>(ParseList(a, value(i)).at(0));
    else if (a == "--concurrent-batches") o.concurrent_batches = static_cast<int>(ParseList(a, value(i)).at(0));
    else if (a == "--plan-cache") o.plan_cache = value(i);
    else if (a == "--name") o.name = value(i);
    else if (a == "--json") o.json = value(i);
    else if (a == "--profile") o.profile = true;
    else if (a == "--profile-ms") o.profile_ms = ParseNumber(a, value(i));
    else if (a == "--save") o.save = value(i);
    else if (a == "--dump") o.dump = value(i);
    else if (a == "--help" || a == "-h") {
      std::puts(kUsage);
      std::exit(0);
    } else throw InvalidArgument("unknown argument '" + a + "'\n" + kUsage);
  }
  if (o.model.empty()) throw InvalidArgument(std::string("--model is required\n") + kUsage);
  if (o.device != "cpu" && o.device != "gpu")
    throw InvalidArgument("--device must be cpu or gpu, got '" + o.device + "'");
  if (o.dtype == "float32") o.dtype = "f32";
  if (o.dtype == "float16") o.dtype = "f16";
  if (o.dtype == "bfloat16") o.dtype = "bf16";
  if (o.dtype != "f32" && o.dtype != "f16" && o.dtype != "bf16")
    throw InvalidArgument("--dtype must be f32, f16 or bf16 (the precision the plan computes in), got '" +
                          o.dtype + "'");
  if (o.layout != "nchw" && o.layout != "nhwc" && o.layout != "auto")
    throw InvalidArgument("--layout must be nchw, nhwc or auto (CPU: nhwc, GPU: nchw), got '" + o.layout + "'");
  if (o.layout == "auto") o.layout = o.device == "cpu" && !o.reference ? "nhwc" : "nchw";  // the CachedOp default
  if (o.seconds <= 0) throw InvalidArgument("--seconds must be > 0");
  if (o.host_io && o.gpus > 1) throw InvalidArgument("--host-io takes one GPU (not --gpus N)");
  if (o.math != "fp32" && o.math != "tf32")
    throw InvalidArgument("--math must be fp32 (strict) or tf32, got '" + o.math + "'");
  if (o.name.empty()) {
    std::string m = o.model.rfind("zoo:", 0) == 0 ? o.model.substr(4) : o.model;
    o.name = m.substr(m.find_last_of('/') + 1);
  }
  return o;
}

// ---- model, input, process memory ---------------------------------------------------------------

struct Model {
  Symbol symbol;
  std::map<std::string, NDArray> params;  // keys without the "arg:" / "aux:" prefix
};

Model LoadModel(const Options& o) {
  Model m;
  std::map<std::string, NDArray> raw;
  if (o.model.rfind("zoo:", 0) == 0) {
    m.symbol = tandem::zoo::ByName(o.model.substr(4));
    std::vector<int64_t> dims = {1};
    dims.insert(dims.end(), o.sample_shape.begin(), o.sample_shape.end());
    raw = tandem::zoo::SyntheticParams(m.symbol, Shape(dims), /*seed=*/0);
  } else {
    char epoch[16];
    std::snprintf(epoch, sizeof epoch, "-%04d.params", o.epoch);
    m.symbol = Symbol::Load(o.model + "-symbol.json");
    raw = NDArray::LoadToMap(o.model + epoch);
  }
  for (auto& [key, array] : raw) {
    bool prefixed = key.rfind("arg:", 0) == 0 || key.rfind("aux:", 0) == 0;
    m.params[prefixed ? key.substr(4) : key] = array;
  }
  return m;
}

Shape InputShape(const Options& o) {
  std::vector<int64_t> dims = {o.batch};
  dims.insert(dims.end(), o.sample_shape.begin(), o.sample_shape.end());
  return Shape(dims);
}

// The input every engine in bench/ feeds (peers.py and check_export.py compute the same values).
NDArray DeterministicInput(const Shape& shape, Context ctx) {
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 256);
  return NDArray(v, shape, ctx);
}

// Uniform values in [-1, 1], reproducible from `seed` (the profile's stand-in activations).
NDArray RandomInput(const Shape& shape, uint32_t seed, Context ctx) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (float& x : v) x = dist(rng);
  return NDArray(v, shape, ctx);
}

using tandem_bench::LoadAverage;
using tandem_bench::ProcStatusMiB;

double MiB(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---- the threaded run ---------------------------------------------------------------------------

struct RunResult {
  int threads = 0, intra_op = 0;
  int64_t calls = 0;
  double seconds = 0, images_per_s = 0, p50_ms = 0, p99_ms = 0, mean_ms = 0;
  double rss_mib = 0, peak_rss_mib = 0, load = 0;
  size_t contexts = 0;
  double mean_batch = 0;  // rows per model run (dynamic batching), else --batch
  // Wall time of this row's first Plan: on the GPU the first row's includes the per-shape
  // convolution measurements, later rows reuse them (they are kept per process).
  double plan_ms = 0;
  // The first Plan and those of the dynamic-batching sizes together: wall time, and where their
  // kernel choices came from (PlanReport::choices_*).
  double plans_ms = 0;
  int choices_measured = 0, choices_from_cache = 0, choices_reused = 0;
  PlanReport plan;
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}


RunResult RunThreads(const Options& o, const Model& m, Context ctx, int threads) {
  CachedOpFlags flags;
  flags.reference_only = o.reference;
  flags.intra_op_threads = ctx.is_cpu() ? o.intra_op : 0;
  flags.allow_tf32 = o.math == "tf32";
  flags.compute_dtype = o.dtype == "f16"    ? tandem::DType::f16
                        : o.dtype == "bf16" ? tandem::DType::bf16
                                            : tandem::DType::f32;
  flags.channels_last = o.layout == "nhwc";
  if (!o.rewrites) {
    flags.fold_batch_norm = flags.fuse_activations = flags.fuse_residual_add = false;
    flags.drop_identity = flags.fold_constants = false;
  }
  flags.cuda_graphs = o.graphs;
  flags.use_cudnn = o.cudnn;
  flags.max_batch = o.max_batch;
  flags.max_delay_us = o.max_delay_us;
  flags.max_concurrent_batches = o.concurrent_batches;
  flags.plan_cache = o.plan_cache;
  std::unique_ptr<MultiDeviceCachedOp> multi;
  std::unique_ptr<CachedOp> single;
  if (ctx.is_gpu() && o.gpus > 1) {
    std::vector<Context> contexts;
    for (int g = 0; g < o.gpus; ++g) contexts.push_back(Context::gpu(g));
    multi = std::make_unique<MultiDeviceCachedOp>(m.symbol, m.params, contexts, flags);
  } else {
    single = std::make_unique<CachedOp>(m.symbol, m.params, ctx, flags);
  }
  const CachedOp& op = multi ? multi->replica(0) : *single;
  const bool host_io = o.host_io && ctx.is_gpu();
  auto forward = [&](const NDArray& x, std::vector<NDArray>& out) {
    if (!host_io) {
      if (multi) out = multi->Forward({x});
      else op.Forward({x}, &out);
      return;
    }
    // As a server does: the outputs are new device arrays each call (a reused vector would hold
    // the host copies of the last call, which the model cannot write into), copied back to host.
    std::vector<NDArray> on_device;
    op.Forward({x.Copy(ctx)}, &on_device);
    out.clear();
    for (const NDArray& y : on_device) out.push_back(y.Copy(Context::cpu()));
  };
  if (op.input_names().size() != 1)
    throw InvalidArgument("tandem-bench feeds one data input; the model takes " +
                          std::to_string(op.input_names().size()));
  RunResult r;
  r.threads = threads;
  r.intra_op = flags.intra_op_threads;
  const auto plan_start = Clock::now();
  r.plan = op.Plan({InputShape(o)});
  r.plan_ms = std::chrono::duration<double, std::milli>(Clock::now() - plan_start).count();
  // Planning the sizes dynamic batching runs at keeps their planning (and, on the GPU, the
  // convolution measurements) out of the measured window, as a server would do at start-up.
  auto count_choices = [&r](const PlanReport& p) {
    r.choices_measured += p.choices_measured;
    r.choices_from_cache += p.choices_from_cache;
    r.choices_reused += p.choices_reused;
  };
  count_choices(r.plan);
  for (int64_t rows : op.batch_sizes()) {
    std::vector<int64_t> dims = InputShape(o).dims();
    dims[0] = rows * o.batch;
    count_choices(op.Plan({Shape(dims)}));
  }
  r.plans_ms = std::chrono::duration<double, std::milli>(Clock::now() - plan_start).count();

  std::vector<std::vector<double>> latencies(threads);
  std::vector<Clock::time_point> finished(threads);
  Clock::time_point start, deadline;
  const auto warm_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.warmup));
  // All threads finish warming up before the clock starts, so the run measures N busy callers.
  std::barrier sync(threads, [&]() noexcept {
    start = Clock::now();
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(o.seconds));
  });
  auto worker = [&](int t) {
    NDArray x = DeterministicInput(InputShape(o), host_io ? Context::cpu() : multi ? Context::gpu(t % o.gpus) : ctx);
    if (host_io && !o.pageable) {  // as tandem-serve's request buffers (page-locked where a GPU is)
      NDArray pinned = NDArray::PinnedHost(x.shape(), x.dtype());
      x.CopyTo(&pinned);
      x = pinned;
    }
    std::vector<NDArray> out;
    do forward(x, out);
    while (Clock::now() < warm_until);
    sync.arrive_and_wait();
    auto& lat = latencies[t];
    lat.reserve(4096);
    for (auto now = Clock::now(); now < deadline;) {
      forward(x, out);
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
  r.calls = static_cast<int64_t>(all.size());
  r.seconds = std::chrono::duration<double>(*std::max_element(finished.begin(), finished.end()) -
                                            start).count();
  r.images_per_s = static_cast<double>(r.calls) * o.batch / r.seconds;
  r.p50_ms = Percentile(all, 0.50);
  r.p99_ms = Percentile(all, 0.99);
  r.mean_ms = all.empty() ? 0 : std::accumulate(all.begin(), all.end(), 0.0) / all.size();
  r.contexts = 0;
  for (size_t k = 0; k < (multi ? multi->replica_count() : 1); ++k)
    r.contexts += (multi ? multi->replica(k) : op).execution_context_count();
  const tandem::BatchingStats batching = op.batching_stats();
  r.mean_batch = batching.batches ? static_cast<double>(batching.requests) * o.batch / batching.batches : o.batch;
  r.rss_mib = ProcStatusMiB("VmRSS");
  r.peak_rss_mib = ProcStatusMiB("VmHWM");
  r.load = LoadAverage();
  return r;
}

// What a row computes in: strict fp32, TF32, or fp16 / bf16 (tensor cores, fp32 accumulation).
std::string MathMode(const Options& o) {
  if (o.dtype != "f32") return o.dtype == "f16" ? "fp16" : "bf16";
  return o.device == "gpu" ? o.math : "fp32";
}

std::string JsonLine(const Options& o, const RunResult& r, double extra_per_arena) {
  char buf[2048];
  std::snprintf(
      buf, sizeof buf,
      "{\"model\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"batch\": %d, "
      "\"images_per_s\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"mean_ms\": %.3f, "
      "\"rss_mb\": %.1f, \"peak_rss_mb\": %.1f, \"engine\": \"tandem\", \"math\": \"%s\", \"variant\": \"%s\", "
      "\"calls\": %lld, \"seconds\": %.3f, \"intra_op\": %d, \"backend\": \"%s\", "
      "\"arena_mb\": %.2f, \"param_mb\": %.2f, \"contexts\": %zu, \"extra_rss_per_arena\": %s, "
      "\"loadavg\": %.2f, \"max_batch\": %d, \"max_delay_us\": %d, \"concurrent_batches\": %d, "
      "\"mean_batch\": %.2f, \"gpus\": %d, \"layout\": \"%s\", \"passes\": %s, \"plan_ms\": %.1f, "
      "\"plans_ms\": %.1f, \"choices_measured\": %d, \"choices_from_cache\": %d, "
      "\"choices_reused\": %d, \"plan_cache\": %s, \"host_io\": \"%s\"}",
      o.name.c_str(), o.device.c_str(), r.threads, o.batch, r.images_per_s, r.p50_ms, r.p99_ms,
      r.mean_ms, r.rss_mib, r.peak_rss_mib, MathMode(o).c_str(),
      o.device == "gpu" ? (o.graphs ? "graph" : "eager") : "eager",
      static_cast<long long>(r.calls), r.seconds, r.intra_op,
      o.reference ? "reference" : o.cudnn ? "auto" : "plain-cuda", MiB(r.plan.arena_bytes), MiB(r.plan.param_bytes),
      r.contexts, extra_per_arena < 0 ? "null" : std::to_string(extra_per_arena).c_str(), r.load,
      o.max_batch, o.max_delay_us, o.concurrent_batches, r.mean_batch, o.gpus, o.layout.c_str(), o.rewrites ? "true" : "false",
      r.plan_ms, r.plans_ms, r.choices_measured, r.choices_from_cache, r.choices_reused,
      o.plan_cache.empty() ? "false" : "true", !(o.host_io && o.device == "gpu") ? "none" : o.pageable ? "pageable" : "pinned");
  return buf;
}

std::string Kernels(const PlanReport& plan) {
  std::string s;
  for (const auto& [backend, n] : plan.kernels_by_backend)
    s += (s.empty() ? "" : ", ") + backend + " " + std::to_string(n);
  return s;
}

int Benchmark(const Options& o, const Model& m, Context ctx) {
  std::printf("tandem-bench: model %s, device %s, batch %d, input %s, %.1f s per run (+%.1f s "
              "warm-up), %u hardware threads\n",
              o.name.c_str(), ctx.ToString().c_str(), o.batch, InputShape(o).ToString().c_str(),
              o.seconds, o.warmup, std::thread::hardware_concurrency());
  if (ctx.is_gpu())
    std::printf("GPU math: %s, %s activations; %s%s\n",
                o.dtype == "f16"    ? "fp16 (tensor cores, fp32 accumulation)"
                : o.dtype == "bf16" ? "bf16 (tensor cores, fp32 accumulation)"
                : o.math == "tf32"  ? "TF32 (tensor cores)"
                                    : "strict fp32 (TF32 off)",
                o.layout == "nhwc" ? "NHWC" : "NCHW",
                o.graphs ? "CUDA graph per execution context" : "eager (kernel by kernel)",
                o.cudnn ? "" : "; plain-CUDA kernels (no cuDNN)");
  std::printf("RSS before any run: %.1f MiB (parameters loaded)\n\n", ProcStatusMiB("VmRSS"));
  std::printf("%7s %8s %10s %9s %9s %9s %9s %9s %9s %9s %8s %12s\n", "threads", "intra-op",
              "images/s", "p50 ms", "p99 ms", "RSS MiB", "peak MiB", "arena MiB", "param MiB",
              "contexts", "calls", "extra/arena");
  std::vector<std::string> lines;
  double rss_one = -1;
  for (int threads : o.threads) {
    RunResult r = RunThreads(o, m, ctx, threads);
    if (threads == 1) rss_one = r.rss_mib;
    double ratio = -1;
    if (threads > 1 && rss_one >= 0 && r.plan.arena_bytes > 0)
      ratio = (r.rss_mib - rss_one) / ((threads - 1) * MiB(r.plan.arena_bytes));
    char ratio_text[32] = "-";
    if (ratio >= 0) std::snprintf(ratio_text, sizeof ratio_text, "%.2f", ratio);
    const std::string intra = r.intra_op > 0 ? std::to_string(r.intra_op) : "auto";
    std::printf("%7d %8s %10.2f %9.2f %9.2f %9.1f %9.1f %9.2f %9.2f %9zu %8lld %12s\n", threads,
                intra.c_str(), r.images_per_s, r.p50_ms, r.p99_ms, r.rss_mib, r.peak_rss_mib,
                MiB(r.plan.arena_bytes), MiB(r.plan.param_bytes), r.contexts,
                static_cast<long long>(r.calls), ratio_text);
    if (o.max_batch > 1)
      std::printf("        (dynamic batching, max %d rows, max delay %d us: %.2f rows per run)\n",
                  o.max_batch, o.max_delay_us, r.mean_batch);
    std::fflush(stdout);
    if (threads == o.threads.front())
      std::printf("        (kernels: %s; first plan %.0f ms, with the batch sizes %.0f ms; kernel "
                  "choices: %d measured, %d from the plan cache, %d reused)\n",
                  Kernels(r.plan).c_str(), r.plan_ms, r.plans_ms, r.choices_measured,
                  r.choices_from_cache, r.choices_reused);
    lines.push_back(JsonLine(o, r, ratio));
  }
  std::printf("\nextra/arena = (RSS after N threads - RSS after 1 thread) / ((N-1) * arena): memory "
              "each extra caller costs, in arenas (a fresh CachedOp per row; needs 1 in --threads)\n");
  if (o.json.empty()) {
    std::printf("\n");
    for (const auto& l : lines) std::printf("%s\n", l.c_str());
  } else {
    std::ofstream f(o.json, std::ios::app);
    if (!f) throw InvalidArgument("--json: cannot write " + o.json);
    for (const auto& l : lines) f << l << "\n";
    std::printf("JSON lines appended to %s\n", o.json.c_str());
  }
  return 0;
}

// ---- --profile: every operator node timed in isolation ------------------------------------------

std::string EntryName(const tandem::NodeEntry& e) {
  if (e.node->is_variable()) return e.node->name;
  return e.node->name + "_" + e.node->op->outputs(e.node->params).at(e.index);
}

struct NodeTime {
  std::string node, op, kernel;
  double auto_us = 0, ref_us = 0;
};

// Mean time of one Forward of `op` over at least 3 calls and about `budget_ms`.
double TimeForward(const CachedOp& op, const std::vector<NDArray>& inputs, double budget_ms) {
  std::vector<NDArray> out;
  op.Forward(inputs, &out);  // plans and allocates
  op.Forward(inputs, &out);
  int calls = 0;
  auto t0 = Clock::now();
  double elapsed_ms = 0;
  while (calls < 3 || (elapsed_ms < budget_ms && calls < 10000)) {
    op.Forward(inputs, &out);
    ++calls;
    elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  return elapsed_ms * 1000.0 / calls;
}

std::string KernelBackend(const PlanReport& plan) {
  for (const std::string& k : plan.node_kernels) {
    size_t open = k.rfind('['), close = k.rfind(']');
    if (open != std::string::npos && close > open) return k.substr(open + 1, close - open - 1);
  }
  return "?";
}

NodeTime ProfileNode(const tandem::Node& node, const std::map<std::string, Shape>& shapes,
                     const Model& m, Context ctx, const Options& o, uint32_t seed) {
  std::vector<Symbol> inputs;
  std::map<std::string, NDArray> params;
  std::map<std::string, NDArray> data;
  for (const auto& e : node.inputs) {
    std::string name = EntryName(e);
    inputs.push_back(Symbol::Variable(name));
    if (auto p = m.params.find(name); p != m.params.end()) {
      params[name] = p->second;
    } else {
      auto s = shapes.find(name);
      if (s == shapes.end()) throw tandem::InternalError("profile: no shape for '" + name + "'");
      data[name] = RandomInput(s->second, seed++, ctx);
    }
  }
  Symbol one = Symbol::CreateOp(node.op_name(), node.name, node.attrs, inputs);
  NodeTime t{node.name, node.op_name()};
  CachedOpFlags auto_flags;
  auto_flags.intra_op_threads = o.intra_op;
  CachedOp fast(one, params, ctx, auto_flags);
  std::vector<NDArray> ordered;
  std::vector<Shape> ordered_shapes;
  for (const auto& n : fast.input_names()) {
    ordered.push_back(data.at(n));
    ordered_shapes.push_back(data.at(n).shape());
  }
  t.kernel = KernelBackend(fast.Plan(ordered_shapes));
  t.auto_us = TimeForward(fast, ordered, o.profile_ms);
  if (ctx.is_cpu()) {
    CachedOpFlags ref_flags;
    ref_flags.reference_only = true;
    CachedOp ref(one, params, ctx, ref_flags);
    t.ref_us = TimeForward(ref, ordered, o.profile_ms);
  }
  return t;
}

int Profile(const Options& o, const Model& m, Context ctx) {
  std::map<std::string, Shape> known = {{"data", InputShape(o)}};
  {
    CachedOp whole(m.symbol, m.params, ctx);
    if (whole.input_names().size() != 1)
      throw InvalidArgument("--profile feeds one data input; the model takes several");
    known = {{whole.input_names()[0], InputShape(o)}};
  }
  std::map<std::string, Shape> shapes = m.symbol.GetInternals().InferShapeMap(known);
  std::vector<NodeTime> times;
  uint32_t seed = 1;
  for (const auto& node : m.symbol.TopoNodes()) {
    if (node->is_variable()) continue;
    times.push_back(ProfileNode(*node, shapes, m, ctx, o, seed));
    seed += 8;
  }
  double auto_sum = 0, ref_sum = 0;
  for (const auto& t : times) {
    auto_sum += t.auto_us;
    ref_sum += t.ref_us;
  }
  // The whole graph, one thread, for comparison with the sum of isolated nodes.
  CachedOpFlags flags;
  flags.intra_op_threads = o.intra_op;
  CachedOp whole(m.symbol, m.params, ctx, flags);
  double whole_us = TimeForward(whole, {DeterministicInput(InputShape(o), ctx)}, 10 * o.profile_ms);

  const std::string intra_op = o.intra_op > 0 ? std::to_string(o.intra_op) : "auto (the process's cores)";
  std::printf("tandem-bench --profile: model %s, device %s, input %s, intra-op threads %s, load "
              "average %.2f\n", o.name.c_str(), ctx.ToString().c_str(),
              InputShape(o).ToString().c_str(), intra_op.c_str(), LoadAverage());
  std::printf("Each operator node is timed IN ISOLATION: a one-node graph per node, fed random "
              "tensors of the shapes the full graph infers; mean of >= 3 calls over ~%.0f ms.\n"
              "'auto' = the backend tandem picks (kernel column), 'reference' = the plain C++ "
              "kernels.\n\n", o.profile_ms);
  std::vector<NodeTime> sorted = times;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const NodeTime& a, const NodeTime& b) { return a.auto_us > b.auto_us; });
  std::printf("%-34s %-16s %-9s %12s %7s %14s\n", "node", "op", "kernel", "auto us", "% auto",
              "reference us");
  for (const auto& t : sorted)
    std::printf("%-34s %-16s %-9s %12.1f %6.1f%% %14.1f\n", t.node.c_str(), t.op.c_str(),
                t.kernel.c_str(), t.auto_us, 100.0 * t.auto_us / auto_sum, t.ref_us);

  struct Agg {
    int count = 0;
    double auto_us = 0, ref_us = 0;
  };
  std::map<std::string, Agg> by_op;
  for (const auto& t : times) {
    Agg& a = by_op[t.op];
    ++a.count;
    a.auto_us += t.auto_us;
    a.ref_us += t.ref_us;
  }
  std::vector<std::pair<std::string, Agg>> ops(by_op.begin(), by_op.end());
  std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second.auto_us > b.second.auto_us; });
  std::printf("\n%-20s %6s %12s %7s %14s %7s\n", "op type", "nodes", "auto us", "% auto",
              "reference us", "% ref");
  for (const auto& [op, a] : ops)
    std::printf("%-20s %6d %12.1f %6.1f%% %14.1f %6.1f%%\n", op.c_str(), a.count, a.auto_us,
                100.0 * a.auto_us / auto_sum, a.ref_us, ref_sum > 0 ? 100.0 * a.ref_us / ref_sum : 0.0);
  std::printf("\nsum of isolated nodes: auto %.2f ms, reference %.2f ms; whole graph (one call, "
              "auto): %.2f ms\n", auto_sum / 1000, ref_sum / 1000, whole_us / 1000);
  return 0;
}

// ---- --save / --dump ----------------------------------------------------------------------------

void SaveModel(const Options& o, const Model& m) {
  m.symbol.Save(o.save + "-symbol.json");
  std::map<std::string, NDArray> keyed;
  std::vector<std::string> args = m.symbol.ListArguments();
  std::vector<std::string> aux = m.symbol.ListAuxiliaryStates();
  for (const auto& [name, array] : m.params) {
    bool is_aux = std::find(aux.begin(), aux.end(), name) != aux.end();
    bool is_arg = std::find(args.begin(), args.end(), name) != args.end();
    if (is_aux || is_arg) keyed[(is_aux ? "aux:" : "arg:") + name] = array;
  }
  NDArray::Save(o.save + "-0000.params", keyed);
  std::printf("wrote %s-symbol.json and %s-0000.params (%zu arrays)\n", o.save.c_str(),
              o.save.c_str(), keyed.size());
}

// Outputs for the deterministic input, plus the logits: the input of a final SoftmaxOutput / softmax,
// or the first output itself when the graph has no final softmax.
void Dump(const Options& o, const Model& m, Context ctx) {
  NDArray x = DeterministicInput(InputShape(o), ctx);
  CachedOpFlags flags;
  flags.reference_only = o.reference;
  CachedOp op(m.symbol, m.params, ctx, flags);
  std::map<std::string, NDArray> out;
  std::vector<NDArray> y = op.Forward({x});
  for (size_t i = 0; i < y.size(); ++i) out[op.output_names()[i]] = y[i].Copy(Context::cpu());
  const tandem::NodeEntry& head = m.symbol.outputs().at(0);
  if (!head.node->is_variable() && (head.node->op_name() == "SoftmaxOutput" || head.node->op_name() == "softmax")) {
    CachedOp logits(Symbol({head.node->inputs.at(0)}), m.params, ctx, flags);
    out["logits"] = logits.Forward({x})[0].Copy(Context::cpu());
  } else {
    out["logits"] = out[op.output_names()[0]];  // no final softmax (a Gluon export): the output
  }
  NDArray::Save(o.dump, out);
  std::printf("wrote %zu arrays (outputs + logits) for input %s to %s\n", out.size(),
              InputShape(o).ToString().c_str(), o.dump.c_str());
}

int Run(const Options& o) {
  Context ctx = o.device == "gpu" ? Context::gpu(0) : Context::cpu();
  if (ctx.is_gpu() && !tandem::GpuAvailable())
    throw tandem::DeviceError("--device gpu: no GPU available to this build of tandem (" +
                              std::to_string(tandem::GpuCount()) +
                              " visible; build with -Dcuda=enabled on a CUDA machine)");
  Model m = LoadModel(o);
  if (!o.save.empty()) SaveModel(o, m);
  if (!o.dump.empty()) Dump(o, m, ctx);
  if (!o.save.empty() || !o.dump.empty()) return 0;
  return o.profile ? Profile(o, m, ctx) : Benchmark(o, m, ctx);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "tandem-bench: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
    return 1;
  }
}
