// Plain CUDA kernel of the shape / index family: one thread per output position of an IndexMap
// (lib/ops/index_map.hpp), moving elements of any width as 1, 2, 4 or 8-byte words.
#include <cstring>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/index_map.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

constexpr int kMaxAxes = 12;

// An IndexMap flattened into a fixed-size struct passed by value to the kernel.
struct DeviceMap {
  int rank = 0;
  int64_t size = 0, in_offset = 0, out_offset = 0;
  int64_t extent[kMaxAxes], in_stride[kMaxAxes], out_stride[kMaxAxes], pad_before[kMaxAxes],
      in_extent[kMaxAxes];
};

__device__ int64_t Reflect(int64_t c, int64_t n, ops::PadMode mode) {
  if (mode == ops::PadMode::kEdge) return c < 0 ? 0 : n - 1;
  if (n == 1) return 0;
  const int64_t period = 2 * n - 2;
  c %= period;
  if (c < 0) c += period;
  return c < n ? c : period - c;
}

template <class T>
__global__ void IndexMapKernel(DeviceMap m, ops::PadMode mode, T pad, const T* in, T* out) {
  TANDEM_GRID_STRIDE_LOOP(i, m.size) {
    int64_t rest = i, in_at = m.in_offset, out_at = m.out_offset;
    bool padded = false;
    for (int d = m.rank - 1; d >= 0; --d) {
      const int64_t o = rest % m.extent[d];
      rest /= m.extent[d];
      int64_t c = o - m.pad_before[d];
      if (c < 0 || c >= m.in_extent[d]) {
        if (mode == ops::PadMode::kConstant) padded = true;
        else c = Reflect(c, m.in_extent[d], mode);
      }
      in_at += c * m.in_stride[d];
      out_at += o * m.out_stride[d];
    }
    out[out_at] = padded ? pad : in[in_at];
  }
}

DeviceMap ToDevice(const ops::IndexMap& m) {
  DeviceMap d;
  d.rank = static_cast<int>(m.axes.size());
  d.size = m.size();
  d.in_offset = m.in_offset;
  d.out_offset = m.out_offset;
  for (int i = 0; i < d.rank; ++i) {
    d.extent[i] = m.axes[i].extent;
    d.in_stride[i] = m.axes[i].in_stride;
    d.out_stride[i] = m.axes[i].out_stride;
    d.pad_before[i] = m.axes[i].pad_before;
    d.in_extent[i] = m.axes[i].in_extent;
  }
  return d;
}

template <class T>
std::unique_ptr<Kernel> Make(ops::IndexPlan plan, T pad) {
  std::vector<std::pair<int, DeviceMap>> maps;
  for (const ops::IndexMap& m : plan.maps)
    if (m.size() > 0) maps.push_back({m.input, ToDevice(m)});
  const ops::PadMode mode = plan.mode;
  return MakeKernel([maps, mode, pad](const KernelCall& call) {
    CudaState& state = StateFor(call);
    for (const auto& [input, m] : maps) {
      IndexMapKernel<T><<<BlocksFor(m.size), kBlockSize, 0, state.stream()>>>(
          m, mode, pad, call.inputs[input].as<const T>(), call.outputs[0].as<T>());
      TANDEM_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeIndexMap(const KernelSpec& spec) {
  ref::RequireArity(spec, 1, 1);
  const DType t = spec.outputs[0].dtype;
  for (const TensorDesc& in : spec.inputs)
    if (in.dtype != t) return nullptr;
  ops::IndexPlan plan = ops::BuildIndexPlan(spec);
  for (const ops::IndexMap& m : plan.maps)
    if (m.axes.size() > kMaxAxes) return nullptr;
  switch (DTypeSize(t)) {
    case 1: return plan.pad_value == 0 ? Make<uint8_t>(std::move(plan), 0) : nullptr;
    case 2: return plan.pad_value == 0 ? Make<uint16_t>(std::move(plan), 0) : nullptr;
    case 4: {
      if (t != DType::f32 && plan.pad_value != 0) return nullptr;
      const float value = static_cast<float>(plan.pad_value);
      uint32_t bits;
      std::memcpy(&bits, &value, sizeof(bits));
      return Make<uint32_t>(std::move(plan), bits);
    }
    case 8: return plan.pad_value == 0 ? Make<uint64_t>(std::move(plan), 0) : nullptr;
  }
  return nullptr;
}

}  // namespace tandem::cuda
