// mnist_eval PREFIX EPOCH IMAGES.idx[.gz] LABELS.idx[.gz] [--threads N[,N...]] [--batch B]
//            [--reference]
//
// Runs an MXNet MNIST checkpoint over a whole idx data set with N threads that share one CachedOp
// (one copy of the weights), and prints the accuracy and the throughput; with a list of thread
// counts, one line per count (the same CachedOp serves every run).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"

namespace {

struct Options {
  std::string prefix, images, labels;
  int epoch = 0, batch = 1;
  std::vector<int> threads = {1};
  bool reference = false;
};

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    int n = std::atoi(text.substr(start, comma - start).c_str());
    if (n < 1)
      throw tandem::InvalidArgument("--threads: '" + text + "' is not a list of counts >= 1");
    out.push_back(n);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Options Parse(int argc, char** argv) {
  if (argc < 5)
    throw tandem::InvalidArgument(
        "usage: mnist_eval PREFIX EPOCH IMAGES.idx[.gz] LABELS.idx[.gz] [--threads N[,N...]] "
        "[--batch B] [--reference]");
  Options o{argv[1], argv[3], argv[4], std::atoi(argv[2])};
  for (int i = 5; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      o.threads = ParseList(argv[++i]);
    else if (a == "--batch" && i + 1 < argc)
      o.batch = std::atoi(argv[++i]);
    else if (a == "--reference")
      o.reference = true;
    else
      throw tandem::InvalidArgument("unknown argument '" + a + "'");
  }
  if (o.batch < 1) throw tandem::InvalidArgument("--batch must be >= 1");
  return o;
}

std::string ParamsFile(const std::string& prefix, int epoch) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%04d.params", epoch);
  return prefix + buf;
}

struct RunResult {
  double accuracy = 0;
  double images_per_second = 0;
};

// Classifies the whole set with `threads` threads sharing `model`, `batch` images per call.
RunResult Evaluate(const tandem::CachedOp& model, const tandem::samples::IdxFile& images,
                   const tandem::samples::IdxFile& labels, int threads, int batch) {
  const int64_t count = images.dims.at(0);
  const int64_t pixels = images.dims.at(1) * images.dims.at(2);
  std::atomic<int64_t> next{0}, correct{0};
  auto worker = [&] {
    for (int64_t start; (start = next.fetch_add(batch)) < count;) {
      const int64_t n = std::min<int64_t>(batch, count - start);
      std::vector<float> input(static_cast<size_t>(n * pixels));
      for (size_t i = 0; i < input.size(); ++i) input[i] = images.data[start * pixels + i] / 255.0f;
      tandem::NDArray x(input, tandem::Shape{n, 1, images.dims[1], images.dims[2]});
      std::vector<float> probs = model.Forward({x})[0].ToVector<float>();
      const int64_t classes = static_cast<int64_t>(probs.size()) / n;
      for (int64_t b = 0; b < n; ++b) {
        auto row = probs.begin() + b * classes;
        if (std::max_element(row, row + classes) - row == labels.data[start + b]) ++correct;
      }
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {static_cast<double>(correct) / count, count / seconds};
}

int Run(const Options& o) {
  tandem::Symbol net = tandem::Symbol::Load(o.prefix + "-symbol.json");
  auto params = tandem::NDArray::LoadToMap(ParamsFile(o.prefix, o.epoch));
  tandem::CachedOpFlags flags;
  flags.reference_only = o.reference;
  const tandem::CachedOp model(net, params, tandem::Context::cpu(), flags);
  auto images = tandem::samples::ReadIdx(o.images);
  auto labels = tandem::samples::ReadIdx(o.labels);
  if (images.dims.size() != 3 || labels.dims.at(0) != images.dims[0])
    throw tandem::FormatError(o.images + ": not an image set matching " + o.labels);
  RunResult r;
  for (int threads : o.threads) {
    r = Evaluate(model, images, labels, threads, o.batch);
    std::printf("threads %d batch %d backend %s: %lld images, %.1f images/s, accuracy %.4f\n",
                threads, o.batch, o.reference ? "reference" : "auto",
                static_cast<long long>(images.dims[0]), r.images_per_second, r.accuracy);
  }
  std::printf("accuracy %.4f\n", r.accuracy);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "mnist_eval: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
    return 1;
  }
}
