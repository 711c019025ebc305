// tandem-serve: an Open Inference Protocol v2 (KServe v2 / Triton) server for MXNet and ONNX models.
// Each model is one thread-safe tandem::CachedOp that every request thread calls; REST on
// cpp-httplib, gRPC on grpc++ (when built with it). docs/serving.md describes it.
//
//   tandem-serve --model effnet=data/efficientnet-lite0/efficientnet-lite0:0 --shape data=-1,3,224,224
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/context.hpp"
#include "tandem/error.hpp"
#include "tools/serve/http_frontend.hpp"
#include "tools/serve/log.hpp"
#include "tools/serve/server.hpp"
#include "tools/serve/served_model.hpp"
#if TANDEM_SERVE_GRPC
#include "tools/serve/grpc_frontend.hpp"
#endif

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "unknown"
#endif

namespace {

using tandem::serve::Log;
using tandem::serve::ModelConfig;

constexpr const char* kUsage =
    "usage: tandem-serve --model NAME=PREFIX:EPOCH | --model NAME=FILE.onnx [model options]...\n"
    "                    [server options]\n"
    "       tandem-serve --config MODELS.json [server options]\n"
    "\n"
    "Serves MXNet checkpoints and ONNX models over the Open Inference Protocol v2 (KServe v2,\n"
    "Triton): REST on --http-port, gRPC on --grpc-port. docs/serving.md has the details.\n"
    "\n"
    "Models (repeat --model to serve several; model options apply to the --model before them):\n"
    "  --model NAME=PREFIX:EPOCH  MXNet checkpoint PREFIX-symbol.json + PREFIX-EPOCH.params\n"
    "  --model NAME=FILE.onnx     ONNX model\n"
    "  --shape INPUT=D0,D1,...    the input's shape, -1 = any size (data=-1,3,224,224); requests\n"
    "                             must fit it. MXNet inputs without one (or __shape__) take any shape\n"
    "  --max-batch N              dynamic batching: gather concurrent requests into runs of <= N rows\n"
    "  --max-delay-us US          with --max-batch: how long a request waits for company (default 1000)\n"
    "  --concurrent-batches K     with --max-batch: batched runs in flight at once (default 2)\n"
    "  --intra-op N               CPU threads per call (default 0: the cores shared by calls in flight)\n"
    "  --model-version V          the version the model is served as (default 1)\n"
    "  --config FILE              models from a JSON file instead:\n"
    "                             {\"models\": [{\"name\": \"effnet\", \"mxnet\": \"PREFIX\", \"epoch\": 0,\n"
    "                               \"shapes\": {\"data\": [-1,3,224,224]}, \"max_batch\": 8,\n"
    "                               \"max_delay_us\": 2000}, {\"name\": \"mnist\", \"onnx\": \"m.onnx\"}]}\n"
    "                             (paths relative to the file's directory)\n"
    "Server:\n"
    "  --device cpu|gpu|gpu:N     where the models run (default cpu)\n"
    "  --host ADDR                address to listen on (default 0.0.0.0)\n"
    "  --http-port P              REST port (default 8000; 0: any free port, see the log)\n"
    "  --grpc-port P              gRPC port (default 8001; 0: any free port; -1: no gRPC)\n"
    "  --http-threads N           REST connection threads, one per open keep-alive connection; more\n"
    "                             connections wait for one to close (default 128)\n"
    "  --grpc-threads N           gRPC calls served at once (default 64)\n"
    "  --max-request-bytes B      largest request body (default 67108864); larger: HTTP 413,\n"
    "                             gRPC RESOURCE_EXHAUSTED\n"
    "  --max-inflight N           inference requests running at once, others wait (default 0: no limit)\n"
    "  --request-timeout-ms MS    longest a request waits to start running (default 0: no limit);\n"
    "                             then HTTP 503 / gRPC DEADLINE_EXCEEDED. Running calls are not cut.\n"
    "  --io-timeout-s S           socket read / write timeout for REST clients (default 30)\n"
    "  --log error|info|debug     error: failures and start / stop lines; info: + each inference\n"
    "                             request (default); debug: + every HTTP request\n"
    "  --version                  print tandem-serve's version\n"
    "  --help                     this text\n"
    "SIGINT / SIGTERM: stop taking requests, answer those in flight, exit 0 (another one a second\n"
    "or more later: exit now).\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::vector<ModelConfig> models;
  std::string device = "cpu";
  tandem::serve::HttpOptions http;
  int grpc_port = 8001;
  int grpc_threads = 64;
  tandem::serve::ServerOptions server;
  Log::Level log_level = Log::Level::kInfo;
};

int64_t ParseInt(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v < min || v > max)
    throw UsageError(flag + ": '" + text + "' is not an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "]");
  return v;
}

void CheckModelName(const std::string& name) {
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!ok) throw UsageError("model name '" + name + "': use letters, digits, '_', '-' and '.'");
}

// NAME=PREFIX:EPOCH or NAME=FILE.onnx
ModelConfig ParseModel(const std::string& value) {
  const size_t eq = value.find('=');
  if (eq == std::string::npos) throw UsageError("--model '" + value + "': expected NAME=PREFIX:EPOCH or NAME=FILE.onnx");
  ModelConfig m;
  m.name = value.substr(0, eq);
  CheckModelName(m.name);
  const std::string source = value.substr(eq + 1);
  if (source.size() > 5 && source.compare(source.size() - 5, 5, ".onnx") == 0) {
    m.onnx_file = source;
    return m;
  }
  const size_t colon = source.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw UsageError("--model '" + value + "': expected NAME=PREFIX:EPOCH (e.g. effnet=models/effnet:0) or NAME=FILE.onnx");
  m.mxnet_prefix = source.substr(0, colon);
  m.epoch = static_cast<int>(ParseInt("--model " + m.name + " EPOCH", source.substr(colon + 1), 0, 9999));
  return m;
}

std::pair<std::string, std::vector<int64_t>> ParseShape(const std::string& value) {
  const size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
    throw UsageError("--shape '" + value + "': expected INPUT=D0,D1,... (e.g. data=-1,3,224,224)");
  std::vector<int64_t> dims;
  std::string rest = value.substr(eq + 1) + ",";
  for (size_t pos = 0; pos < rest.size();) {
    const size_t comma = rest.find(',', pos);
    dims.push_back(ParseInt("--shape " + value, rest.substr(pos, comma - pos), -1, int64_t{1} << 40));
    if (dims.back() == 0) throw UsageError("--shape '" + value + "': 0 is not a dimension (-1: any size)");
    pos = comma + 1;
  }
  return {value.substr(0, eq), dims};
}

void ReadConfig(const std::string& file, Options* opts) {
  std::ifstream in(file);
  if (!in) throw UsageError("--config: cannot read '" + file + "'");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("--config '" + file + "': " + e.what());
  }
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  auto resolve = [&](const std::string& p) {
    return std::filesystem::path(p).is_absolute() || dir.empty() ? p : (dir / p).string();
  };
  try {
    for (const auto& j : config.at("models")) {
      ModelConfig m;
      m.name = j.at("name").get<std::string>();
      CheckModelName(m.name);
      if (j.contains("onnx")) m.onnx_file = resolve(j.at("onnx").get<std::string>());
      else m.mxnet_prefix = resolve(j.at("mxnet").get<std::string>());
      m.epoch = j.value("epoch", 0);
      m.version = j.value("version", std::string("1"));
      m.max_batch = j.value("max_batch", 0);
      m.max_delay_us = j.value("max_delay_us", m.max_batch > 1 ? 1000 : 0);
      m.max_concurrent_batches = j.value("concurrent_batches", 2);
      m.intra_op_threads = j.value("intra_op", 0);
      if (j.contains("shapes"))
        for (const auto& [input, dims] : j.at("shapes").items()) m.input_shapes[input] = dims.get<std::vector<int64_t>>();
      opts->models.push_back(std::move(m));
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("--config '" + file + "': " + e.what() + " (see tandem-serve --help)");
  }
}

Options ParseArgs(int argc, char** argv) {
  Options opts;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw UsageError(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  auto last_model = [&](const std::string& flag) -> ModelConfig& {
    if (opts.models.empty()) throw UsageError(flag + " applies to a --model: give it after one");
    return opts.models.back();
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("tandem-serve %s\n", TANDEM_VERSION);
      std::exit(0);
    } else if (a == "--model") {
      opts.models.push_back(ParseModel(value(i)));
    } else if (a == "--config") {
      ReadConfig(value(i), &opts);
    } else if (a == "--shape") {
      auto [input, dims] = ParseShape(value(i));
      last_model(a).input_shapes[input] = dims;
    } else if (a == "--max-batch") {
      ModelConfig& m = last_model(a);
      m.max_batch = static_cast<int>(ParseInt(a, value(i), 0, 4096));
      if (m.max_delay_us == 0) m.max_delay_us = 1000;
    } else if (a == "--max-delay-us") {
      last_model(a).max_delay_us = static_cast<int>(ParseInt(a, value(i), 0, 10000000));
    } else if (a == "--concurrent-batches") {
      last_model(a).max_concurrent_batches = static_cast<int>(ParseInt(a, value(i), 1, 1024));
    } else if (a == "--intra-op") {
      last_model(a).intra_op_threads = static_cast<int>(ParseInt(a, value(i), 0, 1024));
    } else if (a == "--model-version") {
      last_model(a).version = value(i);
    } else if (a == "--device") {
      opts.device = value(i);
    } else if (a == "--host") {
      opts.http.host = value(i);
    } else if (a == "--http-port") {
      opts.http.port = static_cast<int>(ParseInt(a, value(i), 0, 65535));
    } else if (a == "--grpc-port") {
      opts.grpc_port = static_cast<int>(ParseInt(a, value(i), -1, 65535));
    } else if (a == "--http-threads") {
      opts.http.threads = static_cast<int>(ParseInt(a, value(i), 1, 4096));
    } else if (a == "--grpc-threads") {
      opts.grpc_threads = static_cast<int>(ParseInt(a, value(i), 1, 4096));
    } else if (a == "--max-request-bytes") {
      opts.server.max_request_bytes = static_cast<size_t>(ParseInt(a, value(i), 1024, int64_t{1} << 40));
    } else if (a == "--max-inflight") {
      opts.server.max_inflight = static_cast<int>(ParseInt(a, value(i), 0, 1 << 20));
    } else if (a == "--request-timeout-ms") {
      opts.server.request_timeout_us = ParseInt(a, value(i), 0, int64_t{1} << 30) * 1000;
    } else if (a == "--io-timeout-s") {
      opts.http.io_timeout_s = static_cast<int>(ParseInt(a, value(i), 1, 3600));
    } else if (a == "--log") {
      const std::string level = value(i);
      if (level == "error") opts.log_level = Log::Level::kError;
      else if (level == "info") opts.log_level = Log::Level::kInfo;
      else if (level == "debug") opts.log_level = Log::Level::kDebug;
      else throw UsageError("--log: expected error, info or debug, got '" + level + "'");
    } else {
      throw UsageError("unknown argument '" + a + "'");
    }
  }
  if (opts.models.empty()) throw UsageError("no model to serve: give --model or --config");
  for (size_t i = 0; i < opts.models.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (opts.models[i].name == opts.models[j].name) throw UsageError("model name '" + opts.models[i].name + "' given twice");
  return opts;
}

tandem::Context DeviceOf(const std::string& device) {
  if (device == "cpu") return tandem::Context::cpu();
  if (device == "gpu" || device.rfind("gpu:", 0) == 0) {
    const int id = device == "gpu" ? 0 : static_cast<int>(ParseInt("--device", device.substr(4), 0, 63));
    if (!tandem::GpuAvailable(id + 1))
      throw tandem::DeviceError("--device " + device + ": no such GPU for this build of tandem (" +
                                std::to_string(tandem::GpuCount()) + " visible)");
    return tandem::Context::gpu(id);
  }
  throw UsageError("--device: expected cpu, gpu or gpu:N, got '" + device + "'");
}

// Set once by a signal (or a failure at start-up); main waits for it and then shuts down.
class StopRequest {
 public:
  void Request() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requested_ = true;
    }
    cv_.notify_all();
  }
  bool requested() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requested_;
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return requested_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool requested_ = false;
};

// SIGINT / SIGTERM are blocked in every thread (the mask is inherited) and taken by this one with
// sigwait, so shutdown runs as ordinary code, not in a signal handler. A second signal a second
// or more after the first exits at once; sooner, it is the same request again (timeout(1), for
// one, signals the process and then its process group).
void WatchSignals(sigset_t signals, StopRequest* stop, Log* log) {
  std::chrono::steady_clock::time_point first;
  for (int count = 0;; ++count) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (count == 0) first = std::chrono::steady_clock::now();
    if (count > 0 && std::chrono::steady_clock::now() - first < std::chrono::seconds(1)) continue;
    if (count > 0) {
      log->Error("forced_exit", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      std::_Exit(1);
    }
    log->Lifecycle("shutdown", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
                           {"note", "answering requests in flight, then exiting"}});
    stop->Request();
  }
}

// Loads every model into `server` and publishes them (the server becomes ready); false, with the
// error logged, if one fails. Stops early when a stop was requested meanwhile.
bool LoadModels(const Options& opts, tandem::Context ctx, tandem::serve::Server* server, Log* log,
                StopRequest* stop) {
  std::string loading;  // the model being loaded, for the error line
  try {
    for (const ModelConfig& config : opts.models) {
      if (stop->requested()) return true;
      loading = config.name;
      const auto start = std::chrono::steady_clock::now();
      auto model = std::make_unique<tandem::serve::ServedModel>(config, ctx);
      char seconds[32];
      std::snprintf(seconds, sizeof(seconds), "%.2f",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      std::string inputs;
      for (const auto& in : model->inputs()) inputs += (inputs.empty() ? "" : ";") + in.name + tandem::serve::ShapeString(in.shape);
      log->Lifecycle("model_loaded", {{"model", model->name()}, {"version", model->version()}, {"platform", model->platform()},
                                      {"device", ctx.ToString()}, {"inputs", inputs},
                                      {"batching", model->batching() ? "max_batch=" + std::to_string(config.max_batch) : "off"},
                                      {"seconds", seconds}});
      server->AddModel(std::move(model));
    }
  } catch (const std::exception& e) {
    const auto* te = dynamic_cast<const tandem::Error*>(&e);
    log->Error("model_load_failed", {{"model", loading}, {"error", (te ? std::string(tandem::ErrorKindName(te->kind())) + ": " : "") + e.what()}});
    return false;
  }
  server->PublishModels();
  log->Lifecycle("ready", {{"models", std::to_string(opts.models.size())}});
  return true;
}

int Serve(const Options& opts, Log* log, StopRequest* stop) {
  const tandem::Context ctx = DeviceOf(opts.device);
  tandem::serve::Server server(opts.server, log);

  tandem::serve::HttpFrontend http(server, opts.http);
  if (!http.Bind()) {
    log->Error("listen_failed", {{"proto", "http"}, {"host", opts.http.host}, {"port", std::to_string(opts.http.port)}});
    return 1;
  }
  int status = 0;
  std::thread http_thread([&] {
    http.Run();
    stop->Request();  // a listener that ends on its own takes the server down with it
  });
  log->Lifecycle("listening", {{"proto", "http"}, {"host", opts.http.host}, {"port", std::to_string(http.port())}});
#if TANDEM_SERVE_GRPC
  std::unique_ptr<tandem::serve::GrpcFrontend> grpc;
  if (opts.grpc_port >= 0) {
    grpc = std::make_unique<tandem::serve::GrpcFrontend>(
        server, tandem::serve::GrpcOptions{opts.http.host + ":" + std::to_string(opts.grpc_port), opts.grpc_threads});
    if (grpc->Start()) {
      log->Lifecycle("listening", {{"proto", "grpc"}, {"host", opts.http.host}, {"port", std::to_string(grpc->port())}});
    } else {
      log->Error("listen_failed", {{"proto", "grpc"}, {"host", opts.http.host}, {"port", std::to_string(opts.grpc_port)}});
      grpc.reset();
      status = 1;
      stop->Request();
    }
  }
#else
  if (opts.grpc_port >= 0) log->Lifecycle("grpc_disabled", {{"note", "this tandem-serve was built without grpc++"}});
#endif

  if (!LoadModels(opts, ctx, &server, log, stop)) {
    status = 1;
    stop->Request();
  }

  stop->Wait();
  server.BeginShutdown();
  // Both listeners close at once; each answers what it has taken (gRPC's Shutdown blocks until
  // its calls are done, so it runs beside the HTTP drain).
#if TANDEM_SERVE_GRPC
  std::thread grpc_stop([&] {
    if (grpc) grpc->Stop();
  });
#endif
  http.Stop();
  http_thread.join();  // cpp-httplib's pool finishes the requests it has taken
#if TANDEM_SERVE_GRPC
  grpc_stop.join();
  if (grpc) grpc->Wait();
#endif
  log->Lifecycle("stopped", {{"status", std::to_string(status)}});
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  try {
    opts = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem-serve: %s\n\n%s", e.what(), kUsage);
    return 2;
  }
  // Blocked before any thread starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-answer is a failed write, not a crash

  // Never freed: the detached signal thread may use them until the process is gone.
  Log* log = new Log(opts.log_level);
  StopRequest* stop = new StopRequest;
  std::thread(WatchSignals, signals, stop, log).detach();
  try {
    return Serve(opts, log, stop);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tandem-serve: %s\n", e.what());
    return 2;
  } catch (const tandem::Error& e) {
    log->Error("failed", {{"error", std::string(tandem::ErrorKindName(e.kind())) + ": " + e.what()}});
    return 1;
  }
}
