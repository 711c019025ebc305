// Soak: N threads call one CachedOp for T seconds with random valid inputs (a few batch sizes)
// and invalid ones interleaved. Every valid output must be bit-identical to the single-threaded
// result for the same input, every invalid call must throw the tandem::Error kind it threw in the
// single-threaded setup, and the resident set must stay flat. Not part of `meson test` (it runs
// for minutes); see docs/errors.md.
//
//   soak [--threads N] [--seconds T] [--model mnist|resnet] [--report-seconds R]
//
// Prints the counters and VmRSS every R seconds (default 60) and at the end. Exits 1 on any wrong
// output, unexpected exception or missing throw, or when VmRSS at the end is more than 10% above
// VmRSS at the end of the first report interval; 2 on a usage or setup error.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "test/test_models.hpp"

using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

using tandem::test::ResidualNet;

std::string ModelsDir() {
  if (const char* env = std::getenv("TANDEM_MODELS")) return env;
  return std::string(TANDEM_SOURCE_DIR) + "/../shared/models";
}

long RssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

struct ValidCase {
  NDArray input;
  std::vector<NDArray> expected;  // single-threaded outputs
};

// An invalid call, and the error kind it gave single-threaded (every call must give that kind).
struct InvalidCase {
  std::string what;
  std::function<void(const CachedOp&)> call;
  ErrorKind kind = ErrorKind::kInternal;
};

bool SameBits(const std::vector<NDArray>& a, const std::vector<NDArray>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape() != b[i].shape() || a[i].dtype() != b[i].dtype()) return false;
    if (std::memcmp(a[i].raw_data(), b[i].raw_data(), a[i].nbytes()) != 0) return false;
  }
  return true;
}

struct Counters {
  std::atomic<uint64_t> valid{0}, wrong{0}, expected_throws{0}, unexpected{0}, missing_throws{0};
};

void Report(const char* when, double seconds, const Counters& c, long rss) {
  std::printf("[%s %6.0fs] valid calls %llu, wrong outputs %llu, expected throws %llu, "
              "unexpected exceptions %llu, missing throws %llu, VmRSS %ld KiB\n",
              when, seconds, static_cast<unsigned long long>(c.valid.load()),
              static_cast<unsigned long long>(c.wrong.load()),
              static_cast<unsigned long long>(c.expected_throws.load()),
              static_cast<unsigned long long>(c.unexpected.load()),
              static_cast<unsigned long long>(c.missing_throws.load()), rss);
  std::fflush(stdout);
}

int Usage() {
  std::fprintf(stderr, "usage: soak [--threads N] [--seconds T] [--model mnist|resnet] [--report-seconds R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 16;
  double seconds = 300, report_every = 60;
  std::string model;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--seconds") seconds = std::atof(argv[++i]);
    else if (a == "--model") model = argv[++i];
    else if (a == "--report-seconds") report_every = std::atof(argv[++i]);
    else return Usage();
  }
  if (threads < 1 || seconds <= 0 || report_every <= 0 || (!model.empty() && model != "mnist" && model != "resnet"))
    return Usage();

  const std::string mnist_json = ModelsDir() + "/mnist-cnn/Neural_Net-symbol.json";
  const std::string mnist_params = ModelsDir() + "/mnist-cnn/Neural_Net-0100.params";
  const bool have_mnist = std::filesystem::exists(mnist_json) && std::filesystem::exists(mnist_params);
  if (model.empty()) model = have_mnist ? "mnist" : "resnet";
  if (model == "mnist" && !have_mnist) {
    std::fprintf(stderr, "soak: %s is absent (set TANDEM_MODELS)\n", mnist_json.c_str());
    return 2;
  }

  std::vector<ValidCase> valid;
  std::vector<InvalidCase> invalid;
  std::unique_ptr<CachedOp> op_holder;
  try {
    Symbol net;
    std::map<std::string, NDArray> params;
    Shape sample;  // batch 1
    if (model == "mnist") {
      net = Symbol::Load(mnist_json);
      params = NDArray::LoadToMap(mnist_params);
      sample = {1, 1, 28, 28};
    } else {
      net = ResidualNet();
      sample = {1, 3, 16, 16};
      params = testing::random_params(net, {{"data", sample}});
    }
    op_holder = std::make_unique<CachedOp>(net, params, Context::cpu(), CachedOpFlags{.intra_op_threads = 1});
    const CachedOp& op = *op_holder;
    uint32_t seed = 1;
    for (int64_t batch : {1, 2, 5, 8})
      for (int k = 0; k < 2; ++k) {
        Shape s = sample;
        s[0] = batch;
        NDArray x = testing::random_input(s, seed++, 0.f, 1.f);
        valid.push_back({x, op.Forward({x})});
      }

    const NDArray good = valid[0].input;
    Shape wrong_channels = sample;
    wrong_channels[1] += 1;
    const NDArray wrong_shape = testing::random_input(wrong_channels, 99);
    const NDArray wrong_rank = testing::random_input(Shape{1, sample[2], sample[3]}, 98);
    NDArray as_f64(sample, Context::cpu(), DType::f64);
    std::memset(as_f64.raw_data(), 0, as_f64.nbytes());
    NDArray on_cpu1(sample, Context::cpu(1));
    good.CopyTo(&on_cpu1);
    const Shape out_shape = valid[0].expected[0].shape();
    Shape bad_out_shape = out_shape;
    bad_out_shape[0] += 1;
    invalid = {
        {"wrong shape (channels)", [=](const CachedOp& m) { m.Forward({wrong_shape}); }},
        {"wrong rank", [=](const CachedOp& m) { m.Forward({wrong_rank}); }},
        {"wrong dtype (float64)", [=](const CachedOp& m) { m.Forward({as_f64}); }},
        // Without CUDA the gpu(0) array itself cannot exist; cpu(1) reaches Forward's device check.
        {"input on gpu(0)", [=](const CachedOp& m) { m.Forward({good.Copy(Context::gpu(0))}); }},
        {"input on cpu(1)", [=](const CachedOp& m) { m.Forward({on_cpu1}); }},
        {"caller output of the wrong shape", [=](const CachedOp& m) {
           std::vector<NDArray> outs = {NDArray(bad_out_shape)};
           m.Forward({good}, &outs);
         }},
        {"caller output of the wrong dtype", [=](const CachedOp& m) {
           std::vector<NDArray> outs = {NDArray(out_shape, Context::cpu(), DType::f64)};
           m.Forward({good}, &outs);
         }},
        {"none array input", [](const CachedOp& m) { m.Forward(std::vector<NDArray>{NDArray()}); }},
        {"two inputs for one", [=](const CachedOp& m) { m.Forward(std::vector<NDArray>{good, good}); }},
        {"unknown input name", [=](const CachedOp& m) { m.Forward(std::map<std::string, NDArray>{{"data", good}, {"nope", good}}); }},
    };
    for (InvalidCase& c : invalid) {
      try {
        c.call(op);
        std::fprintf(stderr, "soak: setup: invalid call '%s' did not throw\n", c.what.c_str());
        return 2;
      } catch (const Error& e) {
        c.kind = e.kind();
        std::printf("invalid call %-34s -> %s: %s\n", c.what.c_str(), ErrorKindName(e.kind()), e.what());
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "soak: setup failed: %s: %s\n", ErrorKindName(e.kind()), e.what());
    return 2;
  }
  const CachedOp& op = *op_holder;
  std::printf("soak: model %s, %d threads, %.0f s, %zu valid inputs (batch 1, 2, 5, 8), %zu invalid kinds\n",
              model.c_str(), threads, seconds, valid.size(), invalid.size());
  std::fflush(stdout);

  Counters c;
  std::atomic<bool> stop{false};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(1000 + t));
      while (!stop.load(std::memory_order_relaxed)) {
        const uint32_t r = rng();
        if (r % 4 != 0) {  // 3 in 4 calls are valid, in three spellings
          const ValidCase& v = valid[(r >> 2) % valid.size()];
          try {
            std::vector<NDArray> out;
            switch ((r >> 8) % 3) {
              case 0: out = op.Forward({v.input}); break;
              case 1: out = op.Forward(std::map<std::string, NDArray>{{"data", v.input}}); break;
              default:
                out = {NDArray(v.expected[0].shape(), Context::cpu(), v.expected[0].dtype())};
                op.Forward({v.input}, &out);
            }
            ++c.valid;
            if (!SameBits(out, v.expected)) ++c.wrong;
          } catch (const std::exception& e) {
            ++c.unexpected;
            std::fprintf(stderr, "soak: valid call threw: %s\n", e.what());
          } catch (...) {
            ++c.unexpected;
          }
        } else {
          const InvalidCase& bad = invalid[(r >> 2) % invalid.size()];
          try {
            bad.call(op);
            ++c.missing_throws;
            std::fprintf(stderr, "soak: invalid call '%s' did not throw\n", bad.what.c_str());
          } catch (const Error& e) {
            if (e.kind() == bad.kind) {
              ++c.expected_throws;
            } else {
              ++c.unexpected;
              std::fprintf(stderr, "soak: invalid call '%s' threw %s: %s\n", bad.what.c_str(),
                           ErrorKindName(e.kind()), e.what());
            }
          } catch (const std::exception& e) {
            ++c.unexpected;
            std::fprintf(stderr, "soak: invalid call '%s' threw a non-tandem exception: %s\n", bad.what.c_str(), e.what());
          } catch (...) {
            ++c.unexpected;
          }
        }
      }
    });

  long rss_first = -1, rss_last = -1;
  double next = report_every;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  while (elapsed() < seconds) {
    const double until = std::min(next, seconds);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, std::min(until - elapsed(), 1.0))));
    if (elapsed() >= next && next < seconds) {
      long rss = RssKiB();
      if (rss_first < 0) rss_first = rss;
      Report("report", elapsed(), c, rss);
      next += report_every;
    }
  }
  stop = true;
  for (auto& th : pool) th.join();
  rss_last = RssKiB();
  Report("end   ", elapsed(), c, rss_last);

  bool ok = c.wrong == 0 && c.unexpected == 0 && c.missing_throws == 0 && c.valid > 0;
  if (rss_first > 0) {
    const double growth = 100.0 * (static_cast<double>(rss_last) - rss_first) / rss_first;
    std::printf("VmRSS after the first %.0f s: %ld KiB, at the end: %ld KiB (%+.1f%%, limit +10%%)\n",
                report_every, rss_first, rss_last, growth);
    if (growth > 10.0) ok = false;
  } else {
    std::printf("VmRSS at the end: %ld KiB (run longer than --report-seconds to check growth)\n", rss_last);
  }
  std::printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
