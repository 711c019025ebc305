// Process and machine figures the benchmark programs put beside their timings (tandem-bench and
// the MXNet peer; header-only, so each program's own build takes it as it is). Linux /proc only.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace tandem_bench {

// A line of /proc/self/status ("VmRSS", "VmHWM") in MiB; 0 where unavailable.
inline double ProcStatusMiB(const std::string& key) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  return 0;
}

// The 1-minute load average: how busy the machine was (other processes skew every number here).
inline double LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double load = 0;
  f >> load;
  return load;
}

}  // namespace tandem_bench
