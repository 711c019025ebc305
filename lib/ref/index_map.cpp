// Reference kernel of the shape / index family: walks each IndexMap (lib/ops/index_map.hpp) over
// its virtual axes and copies one element per output position, or writes the pad value. Elements
// are moved as bytes of their width, so every dtype works.
#include <algorithm>
#include <cstring>

#include "lib/ops/index_map.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// The pad value in the tensor's dtype, as bytes (constant mode).
std::vector<unsigned char> PadBytes(const KernelSpec& spec, double value) {
  const DType t = spec.outputs[0].dtype;
  std::vector<unsigned char> bytes(DTypeSize(t), 0);
  auto put = [&](auto v) { std::memcpy(bytes.data(), &v, sizeof(v)); };
  switch (t) {
    case DType::f32: put(static_cast<float>(value)); break;
    case DType::f64: put(value); break;
    case DType::u8: put(static_cast<uint8_t>(value)); break;
    case DType::i8: put(static_cast<int8_t>(value)); break;
    case DType::i32: put(static_cast<int32_t>(value)); break;
    case DType::i64: put(static_cast<int64_t>(value)); break;
    case DType::boolean: put(static_cast<uint8_t>(value != 0)); break;
    default:
      if (value != 0)
        Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): a nonzero pad value on ",
                         DTypeName(t), " data is not supported by the reference kernel");
  }
  return bytes;
}

class IndexMapKernel final : public Kernel {
 public:
  IndexMapKernel(ops::IndexPlan plan, size_t width, std::vector<unsigned char> pad)
      : plan_(std::move(plan)), width_(width), pad_(std::move(pad)) {}

  void Run(const KernelCall& call) const override {
    char* out = call.outputs[0].as<char>();
    for (const ops::IndexMap& m : plan_.maps) {
      if (m.size() == 0) continue;
      const char* in = call.inputs[m.input].as<const char>();
      Walk(m, 0, in, m.in_offset, out, m.out_offset, false);
    }
  }

 private:
  // Visits axis `axis` of `m` from the given offsets; `in_pad` once a coordinate fell outside.
  void Walk(const ops::IndexMap& m, size_t axis, const char* in, int64_t in_at, char* out,
            int64_t out_at, bool in_pad) const {
    if (axis == m.axes.size()) {
      const void* from = in_pad && plan_.mode == ops::PadMode::kConstant
                             ? static_cast<const void*>(pad_.data())
                             : static_cast<const void*>(in + in_at * static_cast<int64_t>(width_));
      std::memcpy(out + out_at * static_cast<int64_t>(width_), from, width_);
      return;
    }
    const ops::MapAxis& a = m.axes[axis];
    if (const int64_t row = DenseRow(m, axis); row > 0) {
      CopyPaddedRows(a, row, in, in_at, out + out_at * static_cast<int64_t>(width_), in_pad);
      return;
    }
    if (axis + 1 == m.axes.size() && !in_pad && a.pad_before == 0 && a.in_extent == a.extent) {
      CopyRow(a, in + in_at * static_cast<int64_t>(width_), out + out_at * static_cast<int64_t>(width_));
      return;
    }
    for (int64_t o = 0; o < a.extent; ++o) {
      int64_t c = o - a.pad_before;
      bool pad = in_pad;
      if (c < 0 || c >= a.in_extent) {
        pad = true;
        if (plan_.mode != ops::PadMode::kConstant) c = ops::PaddedCoordinate(c, a.in_extent, plan_.mode);
      }
      Walk(m, axis + 1, in, in_at + c * a.in_stride, out, out_at + o * a.out_stride,
           pad && plan_.mode == ops::PadMode::kConstant);
    }
  }

  // Constant padding of rows that are contiguous on both sides runs as memset / memcpy runs: each
  // output row is pad, one copy, pad, instead of one recursion and one copy per element or pixel
  // (which cost 14 % of an EfficientNet-Lite0 call). A row is the innermost axis (NCHW data), or
  // the last two when the innermost is neither padded nor strided (channels-last: W x C). Returns
  // the elements of the axis below `axis` (1 for the innermost), or 0 when the rows are not dense.
  int64_t DenseRow(const ops::IndexMap& m, size_t axis) const {
    if (plan_.mode != ops::PadMode::kConstant) return 0;
    const ops::MapAxis& a = m.axes[axis];
    if (axis + 1 == m.axes.size()) return a.in_stride == 1 && a.out_stride == 1 ? 1 : 0;
    if (axis + 2 != m.axes.size()) return 0;
    const ops::MapAxis& inner = m.axes[axis + 1];
    const bool dense = inner.in_stride == 1 && inner.out_stride == 1 && inner.pad_before == 0 &&
                       inner.in_extent == inner.extent && a.in_stride == inner.extent &&
                       a.out_stride == inner.extent;
    return dense ? inner.extent : 0;
  }

  void CopyPaddedRows(const ops::MapAxis& a, int64_t row, const char* in, int64_t in_at, char* out,
                      bool in_pad) const {
    const int64_t w = static_cast<int64_t>(width_);
    const int64_t first = in_pad ? a.extent : std::clamp<int64_t>(a.pad_before, 0, a.extent);
    const int64_t end =
        in_pad ? a.extent : std::clamp<int64_t>(a.pad_before + a.in_extent, first, a.extent);
    FillPad(out, first * row);
    if (end > first) {
      const char* from = in + (in_at + (first - a.pad_before) * a.in_stride) * w;
      std::memcpy(out + first * row * w, from, static_cast<size_t>((end - first) * row * w));
    }
    FillPad(out + end * row * w, (a.extent - end) * row);
  }

  void FillPad(char* out, int64_t count) const {
    if (std::all_of(pad_.begin(), pad_.end(), [](unsigned char b) { return b == 0; })) {
      std::memset(out, 0, static_cast<size_t>(count) * width_);
      return;
    }
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(out + i * static_cast<int64_t>(width_), pad_.data(), width_);
  }

  // The innermost axis without padding: one memcpy when both sides are contiguous.
  void CopyRow(const ops::MapAxis& a, const char* in, char* out) const {
    const int64_t w = static_cast<int64_t>(width_);
    if (a.in_stride == 1 && a.out_stride == 1) {
      std::memcpy(out, in, static_cast<size_t>(a.extent * w));
      return;
    }
    for (int64_t o = 0; o < a.extent; ++o) std::memcpy(out + o * a.out_stride * w, in + o * a.in_stride * w, width_);
  }

  ops::IndexPlan plan_;
  size_t width_;
  std::vector<unsigned char> pad_;
};

}  // namespace

std::unique_ptr<Kernel> MakeIndexMap(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  const DType t = spec.outputs[0].dtype;
  for (const TensorDesc& in : spec.inputs)
    if (in.dtype != t)
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): input dtype ",
                       DTypeName(in.dtype), " differs from output dtype ", DTypeName(t));
  ops::IndexPlan plan = ops::BuildIndexPlan(spec);
  std::vector<unsigned char> pad = PadBytes(spec, plan.pad_value);
  return std::make_unique<IndexMapKernel>(std::move(plan), DTypeSize(t), std::move(pad));
}

}  // namespace tandem::ref
