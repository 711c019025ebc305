// tandem/context.hpp — where an array lives and where a model runs: Context::cpu() or
// Context::gpu(i), as in MXNet.
//
// Thread safety: a plain value type.
#pragma once

#include <string>

namespace tandem {

enum class DeviceType : int { kCPU = 1, kGPU = 2 };

struct Context {
  DeviceType type = DeviceType::kCPU;
  int id = 0;

  static Context cpu(int id = 0) { return {DeviceType::kCPU, id}; }
  static Context gpu(int id = 0) { return {DeviceType::kGPU, id}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_gpu() const { return type == DeviceType::kGPU; }
  std::string ToString() const {
    return std::string(is_cpu() ? "cpu(" : "gpu(") + std::to_string(id) + ")";
  }
  friend bool operator==(const Context&, const Context&) = default;
};

// True when tandem was built with CUDA and at least `count` GPUs are visible.
bool GpuAvailable(int count = 1);
// Number of visible GPUs (0 without CUDA support or devices).
int GpuCount();

}  // namespace tandem
