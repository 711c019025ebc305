// multi_threaded_inference MODEL_PREFIX IS_GPU FILE... [options]   (--help lists them)
//
// MXNet's example/multi_threaded_inference, done with tandem: worker threads (one per image file
// unless --threads says otherwise) all call ONE CachedOp (one copy of the weights, on gpu(0) when
// IS_GPU is 1). Each image is decoded (any format stb_image reads, as RGB), preprocessed the way
// the model expects, then classified. Results are printed in file order, as MXNet's example does:
//   Best Result: <label> (id=<index>, accuracy=<probability>)
// followed by the top-K classes and the thread's latency.
//
// The preprocessing is part of the model: PREFIX-preprocess.json next to the checkpoint describes
// it (resize, crop, channel order, scale, mean / std, layout; docs/samples.md). Without one, the
// image is resized to 224x224 and fed as raw RGB 0..255 in NCHW, MXNet's example's rule. Flags
// override single fields of either. With --repeat R each image is classified R times, which gives
// a quick throughput figure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "samples/image.hpp"
#include "samples/preprocess.hpp"
#include "tandem/tandem.hpp"

namespace {

using tandem::InvalidArgument;
using tandem::samples::Preprocess;

constexpr const char* kUsage =
    "usage: multi_threaded_inference MODEL_PREFIX IS_GPU FILE... [options]  (--help for the options)";

constexpr const char* kHelp = R"(usage: multi_threaded_inference MODEL_PREFIX IS_GPU FILE... [options]

Classifies each image FILE with the MXNet checkpoint MODEL_PREFIX-symbol.json +
MODEL_PREFIX-NNNN.params; worker threads share one CachedOp. IS_GPU: 0 (CPU) or 1 (gpu(0)).

Options:
  --epoch N              checkpoint epoch: MODEL_PREFIX-NNNN.params (default 0)
  --synset PATH          class labels, one per line ("nXXXXXXXX label words"); its line count
                         must equal the model's output size
  --topk K               classes printed per image (default 5)
  --threads N            worker threads (default: one per file); results do not depend on it
  --repeat R             classify each image R times (a throughput figure)

Preprocessing. The rule comes from MODEL_PREFIX-preprocess.json when that file exists (see
docs/samples.md), else from the built-in default: resize to 224x224 (aspect ratio not kept),
RGB, raw pixels 0..255, NCHW. The flags below override single fields of either:
  --preprocess FILE      read the rule from FILE instead of MODEL_PREFIX-preprocess.json
  --no-preprocess-file   ignore MODEL_PREFIX-preprocess.json (built-in default + flags)
  --size N               resize to N x N, aspect ratio not kept (MXNet's example)
  --resize-shorter N     resize so that the shorter side is N, keeping the aspect ratio
                         (the longer side becomes int(N * long / short), as torchvision's Resize)
  --no-resize            keep the decoded size
  --crop N | WxH         centre crop after the resize (0: none)
  --filter NAME          resize filter (stb_image_resize): triangle (default; Pillow's BILINEAR,
                         antialiased when shrinking), box, mitchell, catmullrom, cubicbspline,
                         default (stb's own: Mitchell down, Catmull-Rom up)
  --channel-order RGB|BGR  channel order of the tensor
  --layout NCHW|NHWC     layout of the tensor
  --scale F              value = (pixel * F - mean) / std, pixel 0..255 (default F = 1)
  --mean r,g,b           per-channel mean, in R,G,B order whatever --channel-order (default 0,0,0)
  --std r,g,b            per-channel std, in R,G,B order (default 1,1,1)

Rules of well-known MXNet checkpoints (write them to MODEL_PREFIX-preprocess.json once):
  imagenet1k-resnet-N    raw RGB 0..255 (the graph normalises with its bn_data layer):
                         --size 224
  imagenet1k-inception-bn  mean subtraction: --size 224 --mean 123.68,116.779,103.939
  efficientnet-lite0 (data/)  --resize-shorter 224 --crop 224 --mean 127,127,127 --std 128,128,128
  (data/efficientnet-lite0/efficientnet-lite0-preprocess.json says so)
)";

struct Options {
  std::string prefix;
  bool gpu = false;
  std::vector<std::string> files;
  int epoch = 0;
  std::string synset;
  int topk = 5;
  int threads = 0;  // 0: one per file
  int repeat = 1;
  std::string preprocess_file;  // --preprocess
  bool no_preprocess_file = false;
  std::vector<std::pair<std::string, std::string>> overrides;  // preprocessing flags, in order
};

int PositiveInt(const std::string& flag, const std::string& value, int min) {
  return tandem::samples::IntArg(flag, value, min, 1000000);
}

float Float(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const float v = std::strtof(value.c_str(), &end);
  if (value.empty() || *end != '\0') throw InvalidArgument(flag + ": expected a number, got '" + value + "'");
  return v;
}

// "224" or "224x200" (width x height).
std::pair<int, int> Size2(const std::string& flag, const std::string& value) {
  const size_t x = value.find('x');
  if (x == std::string::npos) {
    const int s = PositiveInt(flag, value, 0);
    return {s, s};
  }
  return {PositiveInt(flag, value.substr(0, x), 1), PositiveInt(flag, value.substr(x + 1), 1)};
}

const std::vector<std::string> kPreprocessFlags = {"--size", "--resize-shorter", "--crop", "--filter",
                                                   "--channel-order", "--layout", "--scale", "--mean",
                                                   "--std"};

Options Parse(int argc, char** argv) {
  tandem::samples::ExitOnHelp(argc, argv, kHelp);
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
    if (a == "--no-preprocess-file") {
      o.no_preprocess_file = true;
      continue;
    }
    if (a == "--no-resize") {
      o.overrides.emplace_back(a, "");
      continue;
    }
    const bool known = a == "--epoch" || a == "--synset" || a == "--topk" || a == "--threads" ||
                       a == "--repeat" || a == "--preprocess" ||
                       std::find(kPreprocessFlags.begin(), kPreprocessFlags.end(), a) != kPreprocessFlags.end();
    if (!known) throw InvalidArgument("unknown option '" + a + "'\n" + kUsage);
    if (i + 1 >= argc) throw InvalidArgument(a + " needs a value\n" + kUsage);
    const std::string v = argv[++i];
    if (a == "--epoch") o.epoch = PositiveInt(a, v, 0);
    else if (a == "--synset") o.synset = v;
    else if (a == "--topk") o.topk = PositiveInt(a, v, 1);
    else if (a == "--threads") o.threads = PositiveInt(a, v, 1);
    else if (a == "--repeat") o.repeat = PositiveInt(a, v, 1);
    else if (a == "--preprocess") o.preprocess_file = v;
    else o.overrides.emplace_back(a, v);
  }
  if (o.files.empty()) throw InvalidArgument(std::string("no image files given\n") + kUsage);
  if (o.no_preprocess_file && !o.preprocess_file.empty())
    throw InvalidArgument("--preprocess and --no-preprocess-file contradict each other");
  return o;
}

// The sidecar (or the built-in default), then the flags in the order given.
Preprocess ResolvePreprocess(const Options& o) {
  Preprocess p;
  const std::string sidecar = tandem::samples::SidecarPath(o.prefix);
  if (!o.preprocess_file.empty()) p = tandem::samples::LoadPreprocess(o.preprocess_file);
  else if (!o.no_preprocess_file && std::filesystem::exists(sidecar)) p = tandem::samples::LoadPreprocess(sidecar);
  bool flagged = false;
  for (const auto& [flag, value] : o.overrides) {
    flagged = true;
    if (flag == "--size") {
      p.resize = Preprocess::ResizeMode::kExact;
      p.resize_width = p.resize_height = PositiveInt(flag, value, 1);
    } else if (flag == "--resize-shorter") {
      p.resize = Preprocess::ResizeMode::kShorterSide;
      p.shorter_side = PositiveInt(flag, value, 1);
    } else if (flag == "--no-resize") {
      p.resize = Preprocess::ResizeMode::kNone;
    } else if (flag == "--crop") {
      std::tie(p.crop_width, p.crop_height) = Size2(flag, value);
    } else if (flag == "--filter") {
      p.filter = tandem::samples::ParseResizeFilter(value, flag);
    } else if (flag == "--channel-order") {
      if (value != "RGB" && value != "BGR") throw InvalidArgument("--channel-order: RGB or BGR, got '" + value + "'");
      p.bgr = value == "BGR";
    } else if (flag == "--layout") {
      if (value != "NCHW" && value != "NHWC") throw InvalidArgument("--layout: NCHW or NHWC, got '" + value + "'");
      p.nhwc = value == "NHWC";
    } else if (flag == "--scale") {
      p.scale = Float(flag, value);
    } else if (flag == "--mean") {
      p.norm.mean = tandem::samples::ParseTriple(value, flag);
    } else if (flag == "--std") {
      p.norm.std = tandem::samples::ParseTriple(value, flag);
      for (float s : p.norm.std)
        if (s == 0.0f) throw InvalidArgument("--std: values must be non-zero");
    }
  }
  if (flagged) p.source += " + flags";
  tandem::samples::Validate(p);
  return p;
}

std::string ParamsFile(const std::string& prefix, int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%04d.params", epoch);
  return prefix + buf;
}

// What happened to one file.
struct Job {
  std::vector<float> output;       // output 0, on the host
  std::vector<double> latency_ms;  // one per call
  int thread = -1;                 // the worker that classified it
  std::string error;               // empty on success
};

void Classify(const tandem::CachedOp& model, const Options& o, const Preprocess& p,
              const std::string& file, Job& job) {
  try {
    const tandem::NDArray image = tandem::samples::Apply(p, tandem::samples::LoadRgb(file), model.context());
    tandem::NDArray out;
    for (int r = 0; r < o.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      out = p.input.empty() ? model.Forward(std::vector<tandem::NDArray>{image})[0]
                            : model.Forward(std::map<std::string, tandem::NDArray>{{p.input, image}})[0];
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
  std::printf("  thread %d (%s): %zu call(s), first %.2f ms, mean %.2f ms, min %.2f ms\n", job.thread,
              o.files[index].c_str(), job.latency_ms.size(), job.latency_ms.front(),
              sum / job.latency_ms.size(), best);
}

int Run(const Options& o) {
  if (o.gpu && !tandem::GpuAvailable())
    throw tandem::DeviceError("IS_GPU is 1 but no GPU is available (tandem was built without CUDA, "
                              "or no CUDA device is visible)");
  const Preprocess prep = ResolvePreprocess(o);
  const tandem::Context ctx = o.gpu ? tandem::Context::gpu(0) : tandem::Context::cpu();
  const tandem::Symbol net = tandem::Symbol::Load(o.prefix + "-symbol.json");
  const auto params = tandem::NDArray::LoadToMap(ParamsFile(o.prefix, o.epoch));
  std::vector<std::string> synset;
  if (!o.synset.empty()) synset = tandem::samples::LoadSynset(o.synset);

  const size_t workers = o.threads > 0 ? std::min<size_t>(o.threads, o.files.size()) : o.files.size();
  tandem::CachedOpFlags flags;
  flags.static_alloc = true;
  // One thread inside each call: the parallelism is the worker threads (N callers x M threads per
  // call would oversubscribe the cores), and every call computes the same way whatever --threads
  // is, so an image's result does not depend on it.
  flags.intra_op_threads = 1;
  // Without a crop or an exact resize every image size is its own input shape (its own plan).
  const std::optional<tandem::Shape> fixed = tandem::samples::FixedInputShape(prep);
  flags.static_shape = fixed.has_value();
  const tandem::CachedOp model(net, params, ctx, flags);
  if (prep.input.empty() && model.input_names().size() != 1)
    throw InvalidArgument(o.prefix + "-symbol.json: the model reads " +
                          std::to_string(model.input_names().size()) +
                          " data inputs; this sample feeds exactly one image tensor");
  if (!prep.input.empty() && model.input_names() != std::vector<std::string>{prep.input})
    throw InvalidArgument(prep.source + " names the input '" + prep.input + "', but " + o.prefix +
                          "-symbol.json reads " + std::to_string(model.input_names().size()) +
                          " data input(s)" + (model.input_names().empty() ? "" : ", first '" + model.input_names()[0] + "'"));
  std::printf("Preprocessing (%s): %s\n", prep.source.c_str(), tandem::samples::Describe(prep).c_str());
  // Planning the image shape now turns a model that does not take such images into a clear error
  // before any thread starts, and gives the class count the synset must match.
  if (fixed) {
    const int64_t classes = model.Plan({*fixed}).output_shapes.at(0).Size();
    if (!synset.empty() && static_cast<int64_t>(synset.size()) != classes)
      throw InvalidArgument(o.synset + " has " + std::to_string(synset.size()) +
                            " labels, but the model has " + std::to_string(classes) + " outputs");
  }

  std::vector<Job> jobs(o.files.size());
  std::atomic<size_t> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
        jobs[i].thread = static_cast<int>(w);
        Classify(model, o, prep, o.files[i], jobs[i]);
      }
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  bool failed = false;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].error.empty() && !synset.empty() && jobs[i].output.size() != synset.size())
      jobs[i].error = o.synset + " has " + std::to_string(synset.size()) + " labels, but the model has " +
                      std::to_string(jobs[i].output.size()) + " outputs";
    if (!jobs[i].error.empty()) {
      // Name the file unless the message already does (image errors do, model errors do not).
      const bool named = jobs[i].error.find(o.files[i]) != std::string::npos;
      std::fprintf(stderr, "multi_threaded_inference: %s%s%s\n", named ? "" : o.files[i].c_str(),
                   named ? "" : ": ", jobs[i].error.c_str());
      failed = true;
    }
  }
  if (failed) return 1;
  for (size_t i = 0; i < jobs.size(); ++i) PrintResult(o, synset, i, jobs[i]);
  const size_t calls = jobs.size() * static_cast<size_t>(o.repeat);
  std::printf("%zu thread(s) on %s, one shared CachedOp: %zu calls in %.3f s (%.1f images/s, "
              "image loading included)\n",
              workers, ctx.ToString().c_str(), calls, seconds, calls / seconds);
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
