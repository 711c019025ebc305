// Float32 emulation of reduced-precision nodes (see emulation.hpp).
#include "lib/exec/emulation.hpp"

#include <any>
#include <vector>

#include "lib/ops/params.hpp"

namespace tandem::detail {
namespace {

// Each float32 copy starts this far into the node's scratch, so it keeps the alignment of the
// scratch itself (the arena's 64 bytes, kArenaAlignment in plan.cpp) that kernels rely on.
constexpr size_t kAlignment = 256;

size_t AlignUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

bool IsReduced(DType t) { return t == DType::f16 || t == DType::bf16; }

struct Conversion {
  size_t index = 0;   // which input / output
  size_t offset = 0;  // its float32 copy in the scratch
  std::unique_ptr<Kernel> cast;
};

class EmulatedKernel final : public Kernel {
 public:
  EmulatedKernel(std::unique_ptr<Kernel> inner, std::vector<Conversion> inputs,
                 std::vector<Conversion> outputs, size_t inner_offset)
      : inner_(std::move(inner)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        inner_offset_(inner_offset),
        scratch_(inner_offset + inner_->ScratchBytes()) {}

  void Run(const KernelCall& call) const override {
    char* scratch = static_cast<char*>(call.scratch);
    std::vector<TensorArg> in(call.inputs.begin(), call.inputs.end());
    std::vector<TensorArg> out(call.outputs.begin(), call.outputs.end());
    for (const Conversion& c : inputs_) {
      in[c.index] = {scratch + c.offset, call.inputs[c.index].shape, DType::f32};
      RunCast(*c.cast, call.inputs[c.index], in[c.index], call.exec);
    }
    for (const Conversion& c : outputs_)
      out[c.index] = {scratch + c.offset, call.outputs[c.index].shape, DType::f32};
    KernelCall inner;
    inner.inputs = in;
    inner.outputs = out;
    inner.scratch = inner_->ScratchBytes() ? scratch + inner_offset_ : nullptr;
    inner.exec = call.exec;
    inner_->Run(inner);
    for (const Conversion& c : outputs_) RunCast(*c.cast, out[c.index], call.outputs[c.index], call.exec);
  }

  size_t ScratchBytes() const override { return scratch_; }

 private:
  static void RunCast(const Kernel& cast, const TensorArg& from, const TensorArg& to, ExecContext* exec) {
    KernelCall call;
    call.inputs = std::span<const TensorArg>(&from, 1);
    call.outputs = std::span<const TensorArg>(&to, 1);
    call.exec = exec;
    cast.Run(call);
  }

  std::unique_ptr<Kernel> inner_;
  std::vector<Conversion> inputs_, outputs_;
  size_t inner_offset_, scratch_;
};

// A Cast kernel from `from` to `to` for tensors of `shape`.
std::unique_ptr<Kernel> MakeCastKernel(const KernelSpec& spec, const Shape& shape, DType from, DType to,
                                       const SpecKernelMaker& make_cast) {
  const OpSchema* schema = FindOp("Cast");
  if (!schema) return nullptr;
  const std::any params = ops::CastParams{static_cast<int>(to)};
  const KernelSpec cast{*schema, params, spec.node, {{shape, from}}, {{shape, to}}, spec.ctx, {nullptr}};
  return make_cast(cast);
}

}  // namespace

bool HasReducedFloat(const KernelSpec& spec) {
  for (const TensorDesc& t : spec.inputs)
    if (IsReduced(t.dtype)) return true;
  for (const TensorDesc& t : spec.outputs)
    if (IsReduced(t.dtype)) return true;
  return false;
}

std::unique_ptr<Kernel> EmulateInFloat32(const KernelSpec& spec, const SpecKernelMaker& make_f32,
                                         const SpecKernelMaker& make_cast) {
  KernelSpec f32 = spec;
  std::vector<Conversion> inputs, outputs;
  size_t offset = 0;
  auto plan = [&](const TensorDesc& t, size_t index, bool is_input, std::vector<Conversion>& list) {
    Conversion c;
    c.index = index;
    c.offset = offset;
    c.cast = is_input ? MakeCastKernel(spec, t.shape, t.dtype, DType::f32, make_cast)
                      : MakeCastKernel(spec, t.shape, DType::f32, t.dtype, make_cast);
    offset += AlignUp(static_cast<size_t>(t.shape.Size()) * sizeof(float));
    const bool made = c.cast != nullptr;
    list.push_back(std::move(c));
    return made;
  };
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (!IsReduced(spec.inputs[i].dtype)) continue;
    if (!plan(spec.inputs[i], i, true, inputs)) return nullptr;
    f32.inputs[i].dtype = DType::f32;
    if (i < f32.constants.size()) f32.constants[i] = nullptr;  // the bound array holds the reduced type, not what the kernel reads
  }
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    if (!IsReduced(spec.outputs[j].dtype)) continue;
    if (!plan(spec.outputs[j], j, false, outputs)) return nullptr;
    f32.outputs[j].dtype = DType::f32;
  }
  std::unique_ptr<Kernel> inner = make_f32(f32);
  if (!inner) return nullptr;
  return std::make_unique<EmulatedKernel>(std::move(inner), std::move(inputs), std::move(outputs), offset);
}

}  // namespace tandem::detail
