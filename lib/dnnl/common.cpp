#include "lib/dnnl/common.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <new>
#include <unordered_map>

#include "lib/exec/exec_context.hpp"

namespace tandem::dnnl_backend {
namespace {

size_t AlignUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

std::byte* AlignUp(void* p) {
  auto address = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<std::byte*>((address + kAlignment - 1) / kAlignment * kAlignment);
}

bool IsPlainF32(const TensorDesc& t) {
  if (t.dtype != DType::f32 || !t.shape.known() || t.shape.ndim() > DNNL_MAX_NDIMS) return false;
  for (int64_t d : t.shape) {
    if (d <= 0) return false;
  }
  return true;
}

}  // namespace

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& StreamFor(ExecContext* exec) {
  if (!exec) {
    thread_local dnnl::stream stream(CpuEngine());
    return stream;
  }
  return exec->BackendState<dnnl::stream>(Backend::kDnnl,
                                          [] { return new dnnl::stream(CpuEngine()); });
}

void ThrowDnnlError(const dnnl::error& e, const std::string& node, const char* action) {
  if (e.status == dnnl_out_of_memory)
    Throw<OutOfMemory>("node '", node, "': oneDNN ", action, " ran out of memory: ", e.what());
  Throw<DeviceError>("node '", node, "': oneDNN ", action, " failed (status ",
                     static_cast<int>(e.status), "): ", e.what());
}

bool IsPlainF32(const KernelSpec& spec, size_t num_inputs) {
  if (!spec.ctx.is_cpu() || spec.inputs.size() < num_inputs || spec.outputs.empty()) return false;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!IsPlainF32(spec.inputs[i])) return false;
  }
  for (const TensorDesc& out : spec.outputs) {
    if (!IsPlainF32(out)) return false;
  }
  return true;
}

const NDArray* ConstantF32(const KernelSpec& spec, size_t i) {
  if (i >= spec.constants.size() || i >= spec.inputs.size()) return nullptr;
  const NDArray* array = spec.constants[i];
  if (!array || array->is_none() || !array->ctx().is_cpu() || array->dtype() != DType::f32 ||
      array->shape() != spec.inputs[i].shape)
    return nullptr;
  return array;
}

dnnl::memory::dims ToDims(const Shape& shape) { return shape.dims(); }

dnnl::memory::desc PlainDesc(const dnnl::memory::dims& dims) {
  using tag = dnnl::memory::format_tag;
  static const tag kTags[] = {tag::a,        tag::ab,        tag::abc,        tag::abcd,
                              tag::abcde,    tag::abcdef,    tag::abcdefg,    tag::abcdefgh,
                              tag::abcdefghi, tag::abcdefghij, tag::abcdefghijk, tag::abcdefghijkl};
  if (dims.empty() || dims.size() > std::size(kTags))
    Throw<InternalError>("oneDNN: no plain layout for ", dims.size(), " dims");
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, kTags[dims.size() - 1]);
}

dnnl::memory::desc AnyDesc(const dnnl::memory::dims& dims) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

dnnl::primitive_attr UserScratchpadAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

AlignedBuffer AllocateAligned(size_t bytes) {
  return AlignedBuffer(::operator new(AlignUp(bytes ? bytes : 1), std::align_val_t(kAlignment)));
}

AlignedBuffer CopyToBuffer(const float* values, size_t count) {
  AlignedBuffer buffer = AllocateAligned(count * sizeof(float));
  std::memcpy(buffer.get(), values, count * sizeof(float));
  return buffer;
}

AlignedBuffer ReorderToBuffer(const void* src, const dnnl::memory::desc& from,
                              const dnnl::memory::desc& to) {
  AlignedBuffer buffer = AllocateAligned(to.get_size());
  // Some blocked layouts pad; the padding must read as zeros.
  std::memset(buffer.get(), 0, to.get_size());
  dnnl::memory src_memory(from, CpuEngine(), const_cast<void*>(src));
  dnnl::memory dst_memory(to, CpuEngine(), buffer.get());
  dnnl::stream stream(CpuEngine());
  dnnl::reorder(src_memory, dst_memory).execute(stream, src_memory, dst_memory);
  stream.wait();
  return buffer;
}

PrimitiveKernel::Source PrimitiveKernel::Own(AlignedBuffer buffer) {
  owned_.push_back(std::move(buffer));
  return {Source::kOwned, owned_.size() - 1};
}

PrimitiveKernel::Source PrimitiveKernel::Temp(size_t bytes) {
  temp_offsets_.push_back(temp_bytes_);
  temp_bytes_ += AlignUp(bytes);
  return {Source::kTemp, temp_offsets_.size() - 1};
}

void PrimitiveKernel::AddStep(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad,
                              std::vector<Binding> bindings) {
  scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad.get_size());
  steps_.push_back({std::move(primitive), scratchpad, std::move(bindings)});
}

size_t PrimitiveKernel::ScratchBytes() const {
  size_t bytes = AlignUp(scratchpad_bytes_) + temp_bytes_;
  // Slack so Run can align the caller's pointer.
  return bytes ? bytes + kAlignment : 0;
}

void* PrimitiveKernel::Resolve(const Source& source, const KernelCall& call,
                               std::byte* scratch) const {
  switch (source.kind) {
    case Source::kInput:
      if (source.index < call.inputs.size() && call.inputs[source.index].data)
        return call.inputs[source.index].data;
      break;
    case Source::kOutput:
      if (source.index < call.outputs.size() && call.outputs[source.index].data)
        return call.outputs[source.index].data;
      break;
    case Source::kOwned:
      return owned_[source.index].get();
    case Source::kTemp:
      return scratch + AlignUp(scratchpad_bytes_) + temp_offsets_[source.index];
  }
  Throw<InternalError>("node '", node_, "': oneDNN kernel called without its ",
                       source.kind == Source::kInput ? "input " : "output ", source.index);
}

void PrimitiveKernel::Run(const KernelCall& call) const {
  std::byte* scratch = nullptr;
  if (ScratchBytes()) {
    if (!call.scratch)
      Throw<InternalError>("node '", node_, "': oneDNN kernel called without scratch");
    scratch = AlignUp(call.scratch);
  }
  const dnnl::engine& engine = CpuEngine();
  dnnl::stream& stream = StreamFor(call.exec);
  try {
    for (const Step& step : steps_) {
      std::unordered_map<int, dnnl::memory> args;
      for (const Binding& b : step.bindings)
        args.emplace(b.arg, dnnl::memory(b.desc, engine, Resolve(b.source, call, scratch)));
      if (step.scratchpad.get_size())
        args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(step.scratchpad, engine, scratch));
      step.primitive.execute(stream, args);
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    ThrowDnnlError(e, node_, "execution");
  }
}

}  // namespace tandem::dnnl_backend
