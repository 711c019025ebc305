// multi_threaded_inference MODEL_PREFIX IS_GPU FILE... [--epoch N] [--synset PATH] [--size 224]
//     [--mean r,g,b] [--std r,g,b] [--topk K] [--repeat R]
//
// MXNet's example/multi_threaded_inference, done with tandem: one std::thread per image file, all
// calling ONE CachedOp (one copy of the weights, on gpu(0) when IS_GPU is 1). Each image is decoded
// (any format stb_image reads, as RGB), resized to size x size and normalised per channel
// ((pixel - mean) / std, pixels 0..255, defaults mean 0 and std 1), then classified. Results are
// printed in file order, as MXNet's example does:
//   Best Result: <label> (id=<index>, accuracy=<probability>)
// followed by the top-K classes and the thread's latency. With --repeat R each thread classifies
// its image R times, which gives a quick throughput figure.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "samples/image.hpp"
#include "tandem/tandem.hpp"

namespace {

using tandem::InvalidArgument;

constexpr const char* kUsage =
    "usage: multi_threaded_inference MODEL_PREFIX IS_GPU FILE... [--epoch N] [--synset PATH] "
    "[--size 224] [--mean r,g,b] [--std r,g,b] [--topk K] [--repeat R]";

struct Options {
  std::string prefix;
  bool gpu = false;
  std::vector<std::string> files;
  int epoch = 0;
  std::string synset;
  int size = 224;
  tandem::samples::Normalization norm;
  int topk = 5;
  int repeat = 1;
};

int PositiveInt(const std::string& flag, const std::string& value, int min) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min || v > 1000000)
    throw InvalidArgument(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + value + "'");
  return static_cast<int>(v);
}

Options Parse(int argc, char** argv) {
  if (argc < 4) throw InvalidArgument(kUsage);
  Options o;
  o.prefix = argv[1];
  const std::string is_gpu = argv[2];
  if (is_gpu != "0" && is_gpu != "1") throw InvalidArgument("IS_GPU must be 0 or 1, got '" + is_gpu + "'\n" + kUsage);
  o.gpu = is_gpu == "1";
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      o.files.push_back(a);
      continue;
    }
    if (i + 1 >= argc) throw InvalidArgument(a + " needs a value\n" + kUsage);
    const std::string v = argv[++i];
    if (a == "--epoch") o.epoch = PositiveInt(a, v, 0);
    else if (a == "--synset") o.synset = v;
    else if (a == "--size") o.size = PositiveInt(a, v, 1);
    else if (a == "--mean") o.norm.mean = tandem::samples::ParseTriple(v, a);
    else if (a == "--std") o.norm.std = tandem::samples::ParseTriple(v, a);
    else if (a == "--topk") o.topk = PositiveInt(a, v, 1);
    else if (a == "--repeat") o.repeat = PositiveInt(a, v, 1);
    else throw InvalidArgument("unknown option '" + a + "'\n" + kUsage);
  }
  if (o.files.empty()) throw InvalidArgument(std::string("no image files given\n") + kUsage);
  for (float s : o.norm.std)
    if (s == 0.0f) throw InvalidArgument("--std: values must be non-zero");
  return o;
}

std::string ParamsFile(const std::string& prefix, int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%04d.params", epoch);
  return prefix + buf;
}

// What one thread did with its file.
struct Job {
  std::vector<float> output;       // output 0, on the host
  std::vector<double> latency_ms;  // one per call
  std::string error;               // empty on success
};

void Classify(const tandem::CachedOp& model, const Options& o, const std::string& file, Job& job) {
  try {
    const tandem::NDArray image = tandem::samples::LoadImageAsNCHW(file, o.size, o.norm, model.context());
    tandem::NDArray out;
    for (int r = 0; r < o.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      out = model.Forward(std::vector<tandem::NDArray>{image})[0];
      out.WaitToRead();
      job.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    job.output = out.to(tandem::Context::cpu()).ToVector<float>();
  } catch (const tandem::Error& e) {
    job.error = std::string(tandem::ErrorKindName(e.kind())) + ": " + e.what();
  } catch (const std::exception& e) {
    job.error = e.what();
  }
}

void PrintResult(const Options& o, const std::vector<std::string>& synset, size_t index, const Job& job) {
  using tandem::samples::LabelOf;
  const std::vector<float> probs = tandem::samples::AsProbabilities(job.output);
  const auto top = tandem::samples::TopK(probs, static_cast<size_t>(o.topk));
  if (top.empty()) return;
  std::printf("Best Result: %s (id=%lld, accuracy=%.8g)\n", LabelOf(synset, top[0].id).c_str(),
              static_cast<long long>(top[0].id), top[0].value);
  for (size_t k = 0; k < top.size(); ++k)
    std::printf("  %zu. %s (id=%lld, p=%.8g)\n", k + 1, LabelOf(synset, top[k].id).c_str(),
                static_cast<long long>(top[k].id), top[k].value);
  double sum = 0, best = job.latency_ms.at(0);
  for (double ms : job.latency_ms) sum += ms, best = std::min(best, ms);
  std::printf("  thread %zu (%s): %zu call(s), first %.2f ms, mean %.2f ms, min %.2f ms\n", index,
              o.files[index].c_str(), job.latency_ms.size(), job.latency_ms.front(),
              sum / job.latency_ms.size(), best);
}

int Run(const Options& o) {
  if (o.gpu && !tandem::GpuAvailable())
    throw tandem::DeviceError("IS_GPU is 1 but no GPU is available (tandem was built without CUDA, "
                              "or no CUDA device is visible)");
  const tandem::Context ctx = o.gpu ? tandem::Context::gpu(0) : tandem::Context::cpu();
  const tandem::Symbol net = tandem::Symbol::Load(o.prefix + "-symbol.json");
  const auto params = tandem::NDArray::LoadToMap(ParamsFile(o.prefix, o.epoch));
  std::vector<std::string> synset;
  if (!o.synset.empty()) synset = tandem::samples::LoadSynset(o.synset);

  tandem::CachedOpFlags flags;
  flags.static_alloc = true;
  flags.static_shape = true;
  const tandem::CachedOp model(net, params, ctx, flags);
  if (model.input_names().size() != 1)
    throw InvalidArgument(o.prefix + "-symbol.json: the model reads " +
                          std::to_string(model.input_names().size()) +
                          " data inputs; this sample feeds exactly one image tensor");
  // Planning the image shape now turns a model that does not take 3-channel images into a clear
  // error before any thread starts, and gives the class count the synset must match.
  const int64_t classes =
      model.Plan({tandem::Shape{1, 3, o.size, o.size}}).output_shapes.at(0).Size();
  if (!synset.empty() && static_cast<int64_t>(synset.size()) != classes)
    throw InvalidArgument(o.synset + " has " + std::to_string(synset.size()) +
                          " labels, but the model has " + std::to_string(classes) + " outputs");

  std::vector<Job> jobs(o.files.size());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < o.files.size(); ++i)
    threads.emplace_back(Classify, std::cref(model), std::cref(o), std::cref(o.files[i]), std::ref(jobs[i]));
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  bool failed = false;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (!jobs[i].error.empty()) {
      // Name the file unless the message already does (image errors do, model errors do not).
      const bool named = jobs[i].error.find(o.files[i]) != std::string::npos;
      std::fprintf(stderr, "multi_threaded_inference: %s%s%s\n", named ? "" : o.files[i].c_str(),
                   named ? "" : ": ", jobs[i].error.c_str());
      failed = true;
    }
  if (failed) return 1;
  for (size_t i = 0; i < jobs.size(); ++i) PrintResult(o, synset, i, jobs[i]);
  const size_t calls = jobs.size() * static_cast<size_t>(o.repeat);
  std::printf("%zu thread(s) on %s, one shared CachedOp: %zu calls in %.3f s (%.1f images/s, "
              "image loading included)\n",
              jobs.size(), ctx.ToString().c_str(), calls, seconds, calls / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "multi_threaded_inference: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multi_threaded_inference: %s\n", e.what());
  }
  return 1;
}
