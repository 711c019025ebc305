// mxnet_peer: MXNet 1.9.1 itself as a CPU peer of tandem-bench, through its C API exactly as MXNet's
// "Multi Threaded Inference" tutorial uses it (example/multi_threaded_inference/
// multi_threaded_inference.cc, docs .../cpp/docs/tutorials/multi_threaded_inference.md):
//
//   MXSymbolCreateFromFile(PREFIX-symbol.json), MXNDArrayLoad(PREFIX-NNNN.params) ("arg:" / "aux:"
//   prefixes stripped), the inputs in NNSymbolListInputNames order (data, then the parameters by
//   name; a label input such as softmax_label gets a per-thread array, as the tutorial's
//   softmax_arr), ONE CachedOp for every thread:
//     MXCreateCachedOpEX(sym, 4, {data_indices, param_indices, static_alloc, static_shape},
//                        {"[0]", "[1, 2, ...]", "true", "true"}, &op, /*thread_safe=*/true)
//   and from N std::threads, each with its own input NDArray:
//     MXInvokeCachedOpEx(op, n, inputs, &num_outputs, &outputs, &stypes); MXNDArrayWaitToRead(out)
//   (the tutorial's "wait in the thread on the output ndarray" alternative), then MXNDArrayFree of
//   the outputs MXNet allocated.
//
// Nothing is tuned: MXNet's default engine (ThreadedEnginePerDevice unless MXNET_ENGINE_TYPE says
// otherwise; the tutorial sets nothing; one CPU worker thread runs the operators of every caller
// unless MXNET_CPU_WORKER_NTHREADS says otherwise), its default MKLDNN (oneDNN) kernels, its
// default OpenMP threads per operator (half the logical CPUs on x86 unless OMP_NUM_THREADS /
// MXNET_OMP_MAX_THREADS say otherwise). The environment variables that change any of that are
// reported as found; "intra_op" in the JSON is the OpenMP thread count MXNet's rule gives.
//
//   mxnet_peer --model PREFIX [--epoch 0] [--threads 1,2] [--batch 1] [--seconds 5] [--warmup 1]
//              [--sample-shape 3,224,224] [--name LABEL] [--json OUT] [--dump FILE]
//
// Measured as tandem-bench and peers.py measure: per thread count, every thread warms up, then all
// call in a loop for --seconds on the deterministic input x[i] = (i * 7919) % 256; images/s =
// calls * batch / elapsed, p50 / p99 per-call latency (invoke + wait), VmRSS after the run and
// the peak (VmHWM). One CachedOp serves every row (MXNet: one thread-safe CachedOp per process).
// --dump FILE writes the outputs and the logits (the input of a final SoftmaxOutput / softmax,
// through a second, plain CachedOp of that internal output) for the deterministic input to an
// MXNet .params file and exits (bench/check_export.py --mxnet compares them with tandem's).
//
// Build (bench/run_cpu.sh does it), MX = the wheel's mxnet/ directory:
//   g++ -std=c++17 -O2 -pthread bench/mxnet_peer.cpp -I$MX/include -L$MX -l:libmxnet.so
//       -Wl,-rpath,$MX -o build/bench/mxnet-peer
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mxnet/c_api.h>
#include <nnvm/c_api.h>

#include "proc_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void Check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + MXGetLastError());
}

struct Options {
  std::string model, name, json, dump;
  int epoch = 0, batch = 1;
  std::vector<int> threads = {1};
  std::vector<int> sample_shape = {3, 224, 224};
  double seconds = 5, warmup = 1;
};

std::vector<int> ParseInts(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(std::stoi(item));
  if (out.empty()) throw std::invalid_argument("expected a comma-separated list of integers, got '" + text + "'");
  return out;
}

const char* kUsage =
    "usage: mxnet_peer --model PREFIX [--epoch 0] [--threads 1,2] [--batch 1] [--seconds 5]\n"
    "                  [--warmup 1] [--sample-shape 3,224,224] [--name LABEL] [--json OUT] [--dump FILE]\n";

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value\n" + kUsage);
    const std::string v = argv[++i];
    if (a == "--model") o.model = v;
    else if (a == "--epoch") o.epoch = std::stoi(v);
    else if (a == "--threads") o.threads = ParseInts(v);
    else if (a == "--batch") o.batch = ParseInts(v).at(0);
    else if (a == "--seconds") o.seconds = std::stod(v);
    else if (a == "--warmup") o.warmup = std::stod(v);
    else if (a == "--sample-shape") o.sample_shape = ParseInts(v);
    else if (a == "--name") o.name = v;
    else if (a == "--json") o.json = v;
    else if (a == "--dump") o.dump = v;
    else throw std::invalid_argument("unknown option " + a + "\n" + kUsage);
  }
  if (o.model.empty()) throw std::invalid_argument(std::string("--model is required\n") + kUsage);
  if (o.name.empty()) o.name = o.model.substr(o.model.find_last_of('/') + 1);
  return o;
}

using tandem_bench::LoadAverage;
using tandem_bench::ProcStatusMiB;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// ---- the model, as the tutorial prepares it -----------------------------------------------------

struct NDArray {  // owns one NDArrayHandle
  NDArrayHandle h = nullptr;
  NDArray() = default;
  explicit NDArray(NDArrayHandle handle) : h(handle) {}
  NDArray(const NDArray&) = delete;
  NDArray& operator=(const NDArray&) = delete;
  NDArray(NDArray&& o) noexcept : h(o.h) { o.h = nullptr; }
  NDArray& operator=(NDArray&& o) noexcept {
    std::swap(h, o.h);
    return *this;
  }
  ~NDArray() {
    if (h) MXNDArrayFree(h);
  }
};

NDArray Zeros(const std::vector<uint32_t>& shape) {
  NDArrayHandle h = nullptr;
  Check(MXNDArrayCreateEx(shape.data(), static_cast<uint32_t>(shape.size()), /*cpu*/ 1, 0, 0, /*float32*/ 0, &h),
        "MXNDArrayCreateEx");
  size_t n = 1;
  for (uint32_t d : shape) n *= d;
  std::vector<float> zeros(n, 0.0f);
  Check(MXNDArraySyncCopyFromCPU(h, zeros.data(), n), "MXNDArraySyncCopyFromCPU");
  return NDArray(h);
}

// The benchmark input of every engine in bench/: x[i] = (i * 7919) % 256.
NDArray DeterministicInput(const std::vector<uint32_t>& shape) {
  size_t n = 1;
  for (uint32_t d : shape) n *= d;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>((static_cast<uint64_t>(i) * 7919) % 256);
  NDArrayHandle h = nullptr;
  Check(MXNDArrayCreateEx(shape.data(), static_cast<uint32_t>(shape.size()), 1, 0, 0, 0, &h), "MXNDArrayCreateEx");
  Check(MXNDArraySyncCopyFromCPU(h, x.data(), n), "MXNDArraySyncCopyFromCPU");
  return NDArray(h);
}

std::vector<std::string> InputNames(SymbolHandle sym) {
  nn_uint n = 0;
  const char** names = nullptr;
  Check(NNSymbolListInputNames(sym, /*all inputs*/ 0, &n, &names), "NNSymbolListInputNames");
  return std::vector<std::string>(names, names + n);
}

struct Params {
  std::map<std::string, NDArray> arrays;  // "arg:" / "aux:" stripped
};

Params LoadParams(const std::string& file) {
  uint32_t n = 0, n_names = 0;
  NDArrayHandle* arrays = nullptr;
  const char** names = nullptr;
  Check(MXNDArrayLoad(file.c_str(), &n, &arrays, &n_names, &names), ("MXNDArrayLoad " + file).c_str());
  if (n != n_names) throw std::runtime_error(file + ": arrays without names");
  Params p;
  for (uint32_t i = 0; i < n; ++i) {
    std::string name = names[i];
    if (name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0) name = name.substr(4);
    p.arrays.emplace(name, NDArray(arrays[i]));
  }
  return p;
}

// One thread-safe CachedOp and the inputs every thread shares (the parameters); `data_index` is
// where each thread puts its own input, `label_indices` where it puts its own label array.
struct Model {
  CachedOpHandle op = nullptr;
  std::vector<std::string> inputs;
  std::vector<NDArrayHandle> shared;  // parameters by input position (null for data / labels)
  int data_index = -1;
  std::vector<int> label_indices;
  std::string flags_text;
};

Model CreateCachedOp(SymbolHandle sym, const Params& params, bool thread_safe) {
  Model m;
  m.inputs = InputNames(sym);
  m.shared.assign(m.inputs.size(), nullptr);
  std::string param_indices;
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const std::string& name = m.inputs[i];
    auto it = params.arrays.find(name);
    if (it != params.arrays.end()) {
      m.shared[i] = it->second.h;
    } else if (name == "data") {
      m.data_index = static_cast<int>(i);
      continue;
    } else if (name.size() > 6 && name.compare(name.size() - 6, 6, "_label") == 0) {
      m.label_indices.push_back(static_cast<int>(i));  // the tutorial's softmax_arr
    } else {
      throw std::runtime_error("input '" + name + "' is neither data, a label nor in the .params file");
    }
    param_indices += (param_indices.empty() ? "" : ", ") + std::to_string(i);
  }
  if (m.data_index < 0) throw std::runtime_error("the symbol has no input named 'data'");
  const std::string data_indices = "[" + std::to_string(m.data_index) + "]";
  param_indices = "[" + param_indices + "]";
  const char* keys[] = {"data_indices", "param_indices", "static_alloc", "static_shape"};
  const char* vals[] = {data_indices.c_str(), param_indices.c_str(), "true", "true"};
  Check(MXCreateCachedOpEX(sym, 4, keys, vals, &m.op, thread_safe), "MXCreateCachedOpEX");
  m.flags_text = std::string("data_indices ") + data_indices + ", static_alloc true, static_shape true, thread_safe " +
                 (thread_safe ? "true" : "false");
  return m;
}

// One caller's inputs: the shared parameters plus its own data and label arrays.
struct Caller {
  NDArray data;
  std::vector<NDArray> labels;
  std::vector<NDArrayHandle> handles;
};

Caller MakeCaller(const Model& m, const std::vector<uint32_t>& shape) {
  Caller c;
  c.data = DeterministicInput(shape);
  c.handles = m.shared;
  c.handles[m.data_index] = c.data.h;
  for (int i : m.label_indices) {
    c.labels.push_back(Zeros({shape[0]}));
    c.handles[i] = c.labels.back().h;
  }
  return c;
}

// One inference: invoke, wait for the outputs, free them.
void Infer(const Model& m, Caller& c) {
  int num_outputs = 0;
  NDArrayHandle* outputs = nullptr;
  const int* stypes = nullptr;
  Check(MXInvokeCachedOpEx(m.op, static_cast<int>(c.handles.size()), c.handles.data(), &num_outputs, &outputs,
                           &stypes),
        "MXInvokeCachedOpEx");
  std::vector<NDArrayHandle> outs(outputs, outputs + num_outputs);  // thread-local buffer: copy first
  for (NDArrayHandle h : outs) Check(MXNDArrayWaitToRead(h), "MXNDArrayWaitToRead");
  for (NDArrayHandle h : outs) MXNDArrayFree(h);
}

// ---- the benchmark -----------------------------------------------------------------------------

struct Row {
  int threads = 0;
  double images_per_s = 0, p50 = 0, p99 = 0, mean = 0, seconds = 0;
  long long calls = 0;
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

Row RunThreads(const Options& o, const Model& m, const std::vector<uint32_t>& shape, int threads) {
  std::vector<Caller> callers;
  for (int t = 0; t < threads; ++t) callers.push_back(MakeCaller(m, shape));
  std::vector<std::vector<double>> latencies(threads);
  std::vector<Clock::time_point> finished(threads);
  const auto warm_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.warmup));
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  Clock::time_point start, deadline;
  std::vector<std::thread> pool;
  std::vector<std::string> errors(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        Caller& c = callers[t];
        Infer(m, c);
        while (Clock::now() < warm_until) Infer(m, c);
        {
          std::unique_lock<std::mutex> lock(mu);
          if (++waiting == threads) {
            start = Clock::now();
            deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
            cv.notify_all();
          } else {
            cv.wait(lock, [&] { return waiting == threads; });
          }
        }
        auto now = Clock::now();
        while (now < deadline) {
          Infer(m, c);
          const auto done = Clock::now();
          latencies[t].push_back(std::chrono::duration<double, std::milli>(done - now).count());
          now = done;
        }
        finished[t] = Clock::now();
      } catch (const std::exception& e) {
        errors[t] = e.what();
        std::lock_guard<std::mutex> lock(mu);
        if (++waiting == threads) cv.notify_all();  // do not leave the others at the start line
      }
    });
  for (auto& p : pool) p.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Row r;
  r.threads = threads;
  r.seconds = std::chrono::duration<double>(*std::max_element(finished.begin(), finished.end()) - start).count();
  r.calls = static_cast<long long>(all.size());
  r.images_per_s = r.calls * o.batch / r.seconds;
  r.p50 = Percentile(all, 0.50);
  r.p99 = Percentile(all, 0.99);
  double sum = 0;
  for (double v : all) sum += v;
  r.mean = all.empty() ? 0 : sum / all.size();
  return r;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

std::string VersionText() {
  int v = 0;
  MXGetVersion(&v);
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

bool FeatureEnabled(const char* name) {
  const LibFeature* features = nullptr;
  size_t n = 0;
  if (MXLibInfoFeatures(&features, &n) != 0) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(features[i].name, name) == 0) return features[i].enabled;
  return false;
}

// The environment MXNet read, as it ran: the variables that change its engine, threads or kernels
// that were set, or that none was.
std::string EnvNotes() {
  std::string set, unset;
  for (const char* name : {"MXNET_ENGINE_TYPE", "OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                           "MXNET_OMP_MAX_THREADS", "MXNET_SUBGRAPH_BACKEND", "MXNET_MKLDNN_ENABLED"}) {
    const std::string v = Env(name);
    if (v.empty()) unset += (unset.empty() ? "" : ", ") + std::string(name);
    else set += (set.empty() ? "" : ", ") + std::string(name) + "=" + v;
  }
  return (set.empty() ? "" : set + "; ") + (unset.empty() ? "" : "unset (MXNet's defaults): " + unset);
}

// ---- --dump: outputs and logits for the deterministic input --------------------------------------

int Dump(const Options& o, SymbolHandle sym, const Params& params, const std::vector<uint32_t>& shape) {
  std::vector<std::string> keys;
  std::vector<NDArrayHandle> arrays;
  std::vector<NDArray> keep;
  auto run = [&](SymbolHandle s, bool thread_safe) {
    Model m = CreateCachedOp(s, params, thread_safe);
    Caller c = MakeCaller(m, shape);
    int num_outputs = 0;
    NDArrayHandle* outputs = nullptr;
    const int* stypes = nullptr;
    Check(MXInvokeCachedOpEx(m.op, static_cast<int>(c.handles.size()), c.handles.data(), &num_outputs, &outputs,
                             &stypes),
          "MXInvokeCachedOpEx");
    std::vector<NDArray> outs;
    for (int i = 0; i < num_outputs; ++i) {
      Check(MXNDArrayWaitToRead(outputs[i]), "MXNDArrayWaitToRead");
      outs.emplace_back(outputs[i]);
    }
    MXFreeCachedOp(m.op);
    return outs;
  };
  uint32_t n_out = 0;
  const char** out_names = nullptr;
  Check(MXSymbolListOutputs(sym, &n_out, &out_names), "MXSymbolListOutputs");
  std::vector<std::string> names(out_names, out_names + n_out);
  std::vector<NDArray> outs = run(sym, true);
  for (size_t i = 0; i < outs.size(); ++i) {
    keys.push_back(names.at(i));
    arrays.push_back(outs[i].h);
    keep.push_back(std::move(outs[i]));
  }
  // The logits: the first child of a final SoftmaxOutput / softmax (found by the output's name),
  // or the first output itself when there is no final softmax (a Gluon export).
  const std::string& head = names.at(0);
  SymbolHandle children = nullptr;
  if (head.find("softmax") == std::string::npos) {
    keys.push_back("logits");
    arrays.push_back(arrays.at(0));  // saved twice, under both names
  } else if (MXSymbolGetChildren(sym, &children) == 0 && children) {
    SymbolHandle logits_sym = nullptr;
    Check(MXSymbolGetOutput(children, 0, &logits_sym), "MXSymbolGetOutput");
    std::vector<NDArray> logits = run(logits_sym, false);
    keys.push_back("logits");
    arrays.push_back(logits.at(0).h);
    keep.push_back(std::move(logits.at(0)));
    MXSymbolFree(logits_sym);
    MXSymbolFree(children);
  }
  std::vector<const char*> key_ptrs;
  for (const auto& k : keys) key_ptrs.push_back(k.c_str());
  Check(MXNDArraySave(o.dump.c_str(), static_cast<uint32_t>(arrays.size()), arrays.data(), key_ptrs.data()),
        "MXNDArraySave");
  std::printf("mxnet_peer: wrote %zu arrays (%s) for the deterministic input to %s\n", arrays.size(),
              keys.size() > names.size() ? "outputs + logits" : "outputs", o.dump.c_str());
  return 0;
}

int Run(const Options& o) {
  const double rss_base = ProcStatusMiB("VmRSS");
  // MXNet registers its legacy operators' attributes (Pad's gradient among them) in
  // MXListAllOpNames; the tutorial's cpp-package calls it first thing (mxnet::cpp::OpMap), and
  // without it CachedOp fails on Pad ("non-differentiable": CachedOp builds the backward graph).
  nn_uint n_ops = 0;
  const char** op_names = nullptr;
  Check(MXListAllOpNames(&n_ops, &op_names), "MXListAllOpNames");
  SymbolHandle sym = nullptr;
  Check(MXSymbolCreateFromFile((o.model + "-symbol.json").c_str(), &sym), "MXSymbolCreateFromFile");
  char epoch[16];
  std::snprintf(epoch, sizeof epoch, "-%04d.params", o.epoch);
  Params params = LoadParams(o.model + epoch);
  std::vector<uint32_t> shape = {static_cast<uint32_t>(o.batch)};
  for (int d : o.sample_shape) shape.push_back(static_cast<uint32_t>(d));
  if (!o.dump.empty()) return Dump(o, sym, params, shape);

  Model m = CreateCachedOp(sym, params, /*thread_safe=*/true);
  const unsigned cores = std::thread::hardware_concurrency();
  // OpenMP threads per operator, by MXNet's own rule (src/engine/openmp.cc): MXNET_OMP_MAX_THREADS,
  // else OMP_NUM_THREADS, else half the logical CPUs on x86 (it assumes two hyperthreads a core).
  const std::string omp_max = Env("MXNET_OMP_MAX_THREADS"), omp = Env("OMP_NUM_THREADS");
  const int intra_op = !omp_max.empty() ? std::atoi(omp_max.c_str())
                       : !omp.empty()   ? std::atoi(omp.c_str())
                                        : std::max(1, static_cast<int>(cores) / 2);
  const std::string workers = Env("MXNET_CPU_WORKER_NTHREADS");
  const std::string settings =
      "mxnet " + VersionText() + " (C API of the PyPI wheel's libmxnet.so, MKLDNN " +
      (FeatureEnabled("MKLDNN") ? "on" : "off") + "), one thread-safe CachedOp for all threads (MXCreateCachedOpEX " +
      m.flags_text + "), MXInvokeCachedOpEx + MXNDArrayWaitToRead per call, as MXNet's multi-threaded " +
      "inference tutorial; engine " + (Env("MXNET_ENGINE_TYPE").empty() ? "ThreadedEnginePerDevice (default)" : Env("MXNET_ENGINE_TYPE")) +
      ", CPU worker threads " + (workers.empty() ? "1 (default)" : workers) + "; OpenMP threads per operator " +
      std::to_string(intra_op) +
      (omp_max.empty() && omp.empty() ? " (MXNet's default: half the logical CPUs)" : "") + "; env: " + EnvNotes();
  std::printf("mxnet: model %s, input (%u", o.name.c_str(), shape[0]);
  for (size_t i = 1; i < shape.size(); ++i) std::printf(", %u", shape[i]);
  std::printf("), %g s per run (+%g s warm-up), %u CPUs, RSS after loading %.1f MiB (%.1f before)\n", o.seconds,
              o.warmup, cores, ProcStatusMiB("VmRSS"), rss_base);
  std::printf("%7s %8s %10s %9s %9s %9s %9s %8s\n", "threads", "intra-op", "images/s", "p50 ms", "p99 ms",
              "RSS MiB", "peak MiB", "calls");
  std::vector<std::string> lines;
  for (int threads : o.threads) {
    Row r = RunThreads(o, m, shape, threads);
    const double rss = ProcStatusMiB("VmRSS"), peak = ProcStatusMiB("VmHWM");
    std::printf("%7d %8d %10.2f %9.2f %9.2f %9.1f %9.1f %8lld\n", threads, intra_op, r.images_per_s, r.p50, r.p99,
                rss, peak, r.calls);
    std::fflush(stdout);
    char buf[4096];
    std::snprintf(buf, sizeof buf,
                  "{\"model\": \"%s\", \"device\": \"cpu\", \"threads\": %d, \"batch\": %d, \"images_per_s\": %.3f, "
                  "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"mean_ms\": %.3f, \"rss_mb\": %.1f, \"peak_rss_mb\": %.1f, "
                  "\"engine\": \"mxnet\", \"math\": \"fp32\", \"calls\": %lld, \"seconds\": %.3f, \"intra_op\": %d, "
                  "\"rss_base_mb\": %.1f, \"settings\": \"%s\", \"loadavg\": %.2f}",
                  JsonEscape(o.name).c_str(), threads, o.batch, r.images_per_s, r.p50, r.p99, r.mean, rss, peak,
                  r.calls, r.seconds, intra_op, rss_base, JsonEscape(settings).c_str(), LoadAverage());
    lines.push_back(buf);
  }
  std::printf("        (%s)\n", settings.c_str());
  Check(MXFreeCachedOp(m.op), "MXFreeCachedOp");
  MXSymbolFree(sym);
  if (o.json.empty()) {
    std::printf("\n");
    for (const auto& l : lines) std::printf("%s\n", l.c_str());
  } else {
    std::ofstream f(o.json, std::ios::app);
    if (!f) throw std::runtime_error("--json: cannot write " + o.json);
    for (const auto& l : lines) f << l << "\n";
    std::printf("JSON lines appended to %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(ParseArgs(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mxnet_peer: %s\n", e.what());
    return 1;
  }
}
