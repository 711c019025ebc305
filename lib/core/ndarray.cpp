#include "tandem/ndarray.hpp"

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "tandem/registry.hpp"

namespace tandem {

NDArray::NDArray(Shape shape, Context ctx, DType dtype) : NDArray(std::move(shape), ctx, dtype, false) {}

NDArray::NDArray(Shape shape, Context ctx, DType dtype, bool pinned)
    : shape_(std::move(shape)), dtype_(dtype), ctx_(ctx) {
  const int64_t n = shape_.Size();
  if (n > static_cast<int64_t>(SIZE_MAX / 16))
    Throw<OutOfMemory>("NDArray of shape ", shape_.ToString(), " is too large to allocate");
  storage_ = std::make_shared<detail::Storage>(static_cast<size_t>(n) * DTypeSize(dtype), ctx, pinned);
}

NDArray NDArray::PinnedHost(Shape shape, DType dtype) {
  return NDArray(std::move(shape), Context::cpu(), dtype, true);
}

NDArray NDArray::Copy(Context ctx) const {
  if (is_none()) return {};
  NDArray out(shape_, ctx, dtype_);
  detail::CopyBytes(out.raw_data(), ctx, raw_data(), ctx_, nbytes());
  return out;
}

NDArray NDArray::AsType(DType dtype) const {
  if (is_none()) return {};
  if (dtype == dtype_) return Copy(ctx_);
  const NDArray host = ctx_.is_cpu() ? *this : Copy(Context::cpu());
  NDArray converted(shape_, Context::cpu(), dtype);
  // The reference Cast kernel is the one definition of every conversion.
  const OpSchema* cast = FindOp("Cast");
  if (!cast) Throw<InternalError>("NDArray::AsType: the Cast operator is not registered");
  const std::any params = ops::CastParams{static_cast<int>(dtype)};
  const std::string node = "NDArray::AsType";
  const KernelSpec spec{*cast, params, node, {{shape_, dtype_}}, {{shape_, dtype}}, Context::cpu(), {nullptr}};
  const std::unique_ptr<Kernel> kernel = ref::MakeCast(spec);
  const TensorArg in{host.raw_data(), &shape_, dtype_}, out{converted.raw_data(), &shape_, dtype};
  KernelCall call;
  call.inputs = std::span<const TensorArg>(&in, 1);
  call.outputs = std::span<const TensorArg>(&out, 1);
  kernel->Run(call);
  return ctx_.is_cpu() ? converted : converted.Copy(ctx_);
}

void NDArray::CopyTo(NDArray* dst) const {
  if (!dst || dst->is_none()) Throw<InvalidArgument>("NDArray::CopyTo: destination is a none array");
  if (dst->shape() != shape_ || dst->dtype() != dtype_)
    Throw<ShapeError>("NDArray::CopyTo: source ", shape_.ToString(), " ", DTypeName(dtype_),
                      " does not match destination ", dst->shape().ToString(), " ",
                      DTypeName(dst->dtype()));
  detail::CopyBytes(dst->raw_data(), dst->ctx(), raw_data(), ctx_, nbytes());
}

NDArray NDArray::Reshape(Shape shape) const {
  if (shape.Size() != shape_.Size())
    Throw<ShapeError>("NDArray::Reshape: cannot view ", shape_.ToString(), " as ", shape.ToString());
  NDArray out = *this;
  out.shape_ = std::move(shape);
  return out;
}

NDArray NDArray::Slice(int64_t begin, int64_t end) const {
  if (is_none() || shape_.ndim() == 0)
    Throw<ShapeError>("NDArray::Slice: cannot slice a ", is_none() ? "none array" : "scalar");
  if (begin < 0 || end < begin || end > shape_[0])
    Throw<ShapeError>("NDArray::Slice: rows [", begin, ", ", end, ") out of range for shape ",
                      shape_.ToString());
  NDArray out = *this;
  const size_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / static_cast<size_t>(shape_[0]);
  out.offset_ += static_cast<size_t>(begin) * row_bytes;
  out.shape_[0] = end - begin;
  return out;
}

void NDArray::Fill(float value) {
  if (!ctx_.is_cpu()) {
    std::vector<float> host(static_cast<size_t>(size()), value);
    SyncCopyFromCPU(host.data(), host.size());
    return;
  }
  float* p = data<float>();
  for (int64_t i = 0; i < size(); ++i) p[i] = value;
}

void NDArray::WaitAll() {
  for (int i = 0; i < GpuCount(); ++i) detail::SynchronizeDevice(Context::gpu(i));
}

}  // namespace tandem
