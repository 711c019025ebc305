// tandem-zoo NAME OUT_PREFIX [--classes N] [--seed S] [--size 224] [--no-calibrate]
//
// Writes a zoo architecture as an MXNet checkpoint, OUT_PREFIX-symbol.json + OUT_PREFIX-0000.params,
// with SYNTHETIC weights (He-initialised, BatchNorm statistics calibrated on random pixels): the
// graph is the real one, the predictions are meaningless. Useful to try, benchmark and test tandem
// (and MXNet) on real architectures without downloading trained models.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "tandem/tandem.hpp"
#include "tandem/zoo.hpp"

namespace {

std::string Usage() {
  std::string names;
  for (const auto& n : tandem::zoo::ModelNames()) names += "  " + n + "\n";
  return "usage: tandem-zoo NAME OUT_PREFIX [--classes N] [--seed S] [--size 224] [--no-calibrate]\n"
         "NAME is one of:\n" + names;
}

long long Number(const std::string& flag, const std::string& value, long long min) {
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min)
    throw tandem::InvalidArgument(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + value + "'");
  return v;
}

int Run(int argc, char** argv) {
  if (argc < 3) throw tandem::InvalidArgument(Usage());
  const std::string name = argv[1], prefix = argv[2];
  int classes = 1000, size = 224;
  uint64_t seed = 0;
  tandem::zoo::SyntheticOptions options;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-calibrate") {
      options.calibrate = false;
      continue;
    }
    if (i + 1 >= argc) throw tandem::InvalidArgument(a + " needs a value\n" + Usage());
    const std::string v = argv[++i];
    if (a == "--classes") classes = static_cast<int>(Number(a, v, 1));
    else if (a == "--seed") seed = static_cast<uint64_t>(Number(a, v, 0));
    else if (a == "--size") size = static_cast<int>(Number(a, v, 32));
    else throw tandem::InvalidArgument("unknown option '" + a + "'\n" + Usage());
  }
  const tandem::Symbol net = tandem::zoo::ByName(name, classes);
  const auto params = tandem::zoo::SyntheticParams(net, tandem::Shape{1, 3, size, size}, seed, options);
  net.Save(prefix + "-symbol.json");
  tandem::NDArray::Save(prefix + "-0000.params", params);
  int64_t count = 0;
  for (const auto& [key, array] : params) count += array.size();
  std::printf("wrote %s-symbol.json and %s-0000.params: %s, %d classes, %zu arrays, %lld parameters\n",
              prefix.c_str(), prefix.c_str(), name.c_str(), classes, params.size(),
              static_cast<long long>(count));
  std::printf("NOTE: the weights are SYNTHETIC (random, seed %llu%s), not trained: predictions are "
              "meaningless.\n",
              static_cast<unsigned long long>(seed),
              options.calibrate ? ", BatchNorm statistics calibrated on random pixels 0..255" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "tandem-zoo: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem-zoo: %s\n", e.what());
  }
  return 1;
}
