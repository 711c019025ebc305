#include "lib/dnnl/common.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <mutex>
#include <new>
#include <unordered_map>

#include "lib/core/host_memory.hpp"
#include "lib/ops/params.hpp"
#include "lib/exec/exec_context.hpp"
#include "lib/exec/planning.hpp"

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

bool ConstantWeightAndBias(const KernelSpec& spec, bool no_bias, WeightAndBias* out) {
  out->weight = ConstantF32(spec, 1);
  out->bias = no_bias ? nullptr : ConstantF32(spec, 2);
  return out->weight && (no_bias || out->bias);
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

dnnl::memory::dims ChannelsFirstDims(const Shape& channels_last) {
  return ops::ChannelsFirstOrder(channels_last.dims());
}

dnnl::memory::desc ChannelsLastDesc(const dnnl::memory::dims& dims, bool grouped) {
  using tag = dnnl::memory::format_tag;
  // Indexed by the number of spatial dims, 1 to 3.
  static const tag kPlain[] = {tag::nwc, tag::nhwc, tag::ndhwc};
  static const tag kGrouped[] = {tag::gowi, tag::gohwi, tag::godhwi};
  const size_t fixed = grouped ? 3 : 2;  // the dims before the spatial ones
  const size_t spatial = dims.size() > fixed ? dims.size() - fixed : 0;
  if (spatial < 1 || spatial > 3)
    Throw<InternalError>("oneDNN: no channel-last layout for ", dims.size(), " dims");
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32,
                            (grouped ? kGrouped : kPlain)[spatial - 1]);
}

dnnl::memory::desc AnyDesc(const dnnl::memory::dims& dims) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

dnnl::primitive_attr UserScratchpadAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void AlignedDelete::operator()(void* p) const noexcept { detail::FreeHost(p, bytes); }

AlignedBuffer AllocateAligned(size_t bytes) {
  const size_t rounded = AlignUp(bytes ? bytes : 1);
  return AlignedBuffer(detail::AllocateHost(rounded), AlignedDelete{rounded});
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
  const dnnl::memory::desc plain = PlainDesc(from.dims());
  if (!dnnl::reorder::primitive_desc(src_memory, dst_memory, dnnl::primitive_attr(), true) && from != plain) {
    // No direct reorder (into a Winograd kernel's weights, which oneDNN makes only from the plain
    // layout): through a plain copy.
    AlignedBuffer staged = AllocateAligned(plain.get_size());
    dnnl::memory plain_memory(plain, CpuEngine(), staged.get());
    dnnl::reorder(src_memory, plain_memory).execute(stream, src_memory, plain_memory);
    dnnl::reorder(plain_memory, dst_memory).execute(stream, plain_memory, dst_memory);
    stream.wait();
    return buffer;
  }
  dnnl::reorder(src_memory, dst_memory).execute(stream, src_memory, dst_memory);
  stream.wait();
  return buffer;
}

namespace {

// One repacked parameter. It keeps the parameter's storage alive, so while the copy is in use no
// other array can take the parameter's address (which is part of the cache key).
struct Packed {
  NDArray param;
  AlignedBuffer data;
};
struct PackedEntry {
  const void* model;
  const void* param;
  dnnl::memory::desc from, to;
  std::weak_ptr<const Packed> packed;
};
std::mutex packed_mutex;
std::vector<PackedEntry> packed_entries;  // guarded by packed_mutex; only touched while planning

std::shared_ptr<const void> FindPacked(const void* model, const void* param,
                                       const dnnl::memory::desc& from,
                                       const dnnl::memory::desc& to) {
  for (const PackedEntry& e : packed_entries) {
    if (e.model != model || e.param != param || e.from != from || e.to != to) continue;
    if (auto packed = e.packed.lock()) return std::shared_ptr<const void>(packed, packed->data.get());
  }
  return nullptr;
}

}  // namespace

std::shared_ptr<const void> SharedReorder(const NDArray& param, const dnnl::memory::desc& from,
                                          const dnnl::memory::desc& to) {
  const void* model = detail::PlanningModel();
  const void* source = param.raw_data();
  if (!model) return std::shared_ptr<const void>(ReorderToBuffer(source, from, to));
  {
    std::lock_guard lock(packed_mutex);
    if (auto hit = FindPacked(model, source, from, to)) return hit;
  }
  // Reordered outside the lock (planners of other models go on); if another thread packed the
  // same parameter meanwhile, its copy wins and this one is dropped.
  auto packed = std::make_shared<const Packed>(Packed{param, ReorderToBuffer(source, from, to)});
  std::lock_guard lock(packed_mutex);
  if (auto hit = FindPacked(model, source, from, to)) return hit;
  std::erase_if(packed_entries, [](const PackedEntry& e) { return e.packed.expired(); });
  packed_entries.push_back({model, source, from, to, packed});
  return std::shared_ptr<const void>(packed, packed->data.get());
}

PrimitiveKernel::Source PrimitiveKernel::Own(AlignedBuffer buffer) {
  return Own(std::shared_ptr<const void>(std::move(buffer)));
}

PrimitiveKernel::Source PrimitiveKernel::Own(std::shared_ptr<const void> buffer) {
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

void PrimitiveKernel::AddPerSampleStep(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad,
                                       std::vector<Binding> bindings, int64_t samples) {
  AddStep(std::move(primitive), scratchpad, std::move(bindings));
  steps_.back().samples = samples;
}

void PrimitiveKernel::AddReorderStep(Source from, const dnnl::memory::desc& from_desc, Source to,
                                     const dnnl::memory::desc& to_desc) {
  dnnl::reorder::primitive_desc pd(CpuEngine(), from_desc, CpuEngine(), to_desc, UserScratchpadAttr());
  AddStep(dnnl::reorder(pd), pd.scratchpad_desc(), {{DNNL_ARG_FROM, from, from_desc}, {DNNL_ARG_TO, to, to_desc}});
}

void PrimitiveKernel::CopyInputToOutputFirst(size_t input, size_t bytes) {
  copy_input_ = static_cast<int>(input);
  copy_bytes_ = bytes;
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
      return const_cast<void*>(owned_[source.index].get());  // kernels only read constants
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
  if (copy_input_ >= 0 && copy_bytes_ > 0) {
    const void* from = Resolve(Input(static_cast<size_t>(copy_input_)), call, scratch);
    void* to = Resolve(Output(0), call, scratch);
    if (from != to) std::memcpy(to, from, copy_bytes_);
  }
  const dnnl::engine& engine = CpuEngine();
  dnnl::stream& stream = StreamFor(call.exec);
  try {
    for (const Step& step : steps_) {
      for (int64_t sample = 0; sample < step.samples; ++sample) {
        std::unordered_map<int, dnnl::memory> args;
        for (const Binding& b : step.bindings) {
          auto* data = static_cast<std::byte*>(Resolve(b.source, call, scratch));
          args.emplace(b.arg, dnnl::memory(b.desc, engine, data + sample * b.sample_bytes));
        }
        if (step.scratchpad.get_size())
          args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(step.scratchpad, engine, scratch));
        step.primitive.execute(stream, args);
      }
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    ThrowDnnlError(e, node_, "execution");
  }
}

}  // namespace tandem::dnnl_backend
