// tandem/ndarray.hpp — NDArray (a reference-counted n-d array on a Context) and Tensor<T> (a typed,
// non-owning view of one), plus the MXNet .params reader / writer.
//
// Ownership: an NDArray is a handle. Copying the handle shares the storage (like MXNet); use
// Copy() / CopyTo() for a deep copy, possibly to another Context. Storage is freed when the last
// handle goes. Reshape() returns a handle that shares the storage.
//
// Thread safety: distinct NDArray handles may be used from different threads freely, including
// handles that share storage, as long as nobody writes the shared elements while others read
// them (the usual rule for shared memory). tandem's CachedOp only ever *reads* the parameter arrays
// it was given, so one params map can serve many models and threads. All copies here are
// synchronous: when a call returns the data is in place, so WaitToRead / WaitAll exist for MXNet
// compatibility and return at once on CPU (on GPU they synchronise the device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/context.hpp"
#include "tandem/dtype.hpp"
#include "tandem/error.hpp"
#include "tandem/shape.hpp"

namespace tandem {

// A typed view: pointer + shape. Does not own or keep alive the data.
template <class T>
class Tensor {
 public:
  Tensor(T* data, Shape shape) : data_(data), shape_(std::move(shape)) {}
  T* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return shape_.Size(); }
  T& operator[](int64_t i) const { return data_[i]; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size(); }

 private:
  T* data_;
  Shape shape_;
};

namespace detail {
// Raw device memory; implemented in lib/core/device.cpp (and lib/cuda for GPU).
struct Storage {
  // pinned (host contexts only): page-locked memory from the CUDA driver when a GPU is present.
  Storage(size_t bytes, Context ctx, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* ptr = nullptr;
  size_t bytes = 0;
  Context ctx;
  bool pinned = false;  // true only when the memory really is page-locked
};
// Copies bytes between any two contexts (synchronously).
void CopyBytes(void* dst, Context dst_ctx, const void* src, Context src_ctx, size_t bytes);
// Several copies, complete on return; on a GPU they are queued together and waited for once
// (dynamic batching gathers and scatters one region per request).
struct CopyRegion {
  void* dst;
  Context dst_ctx;
  const void* src;
  Context src_ctx;
  size_t bytes;
};
void CopyRegions(const std::vector<CopyRegion>& regions);
void FillZero(void* dst, Context ctx, size_t bytes);
void SynchronizeDevice(Context ctx);
}  // namespace detail

class NDArray {
 public:
  NDArray() = default;  // a "none" array
  NDArray(Shape shape, Context ctx = Context::cpu(), DType dtype = DType::f32);
  // A host (cpu) array in page-locked memory (MXNet's cpu_pinned): copies between it and a GPU run
  // as direct DMA, several times faster than from ordinary (pageable) memory, which the driver
  // stages through a buffer of its own. For buffers that feed or drain a GPU model over and over
  // (a server's request buffers): allocating page-locked memory is slow (it maps and locks pages)
  // and, as CUDA documents, serialises the device's streams while it happens, so keep such an
  // array and reuse it. Without CUDA or a visible GPU it is ordinary host memory
  // (is_pinned() says which). Everything else about it is an ordinary cpu() array.
  static NDArray PinnedHost(Shape shape, DType dtype = DType::f32);
  bool is_pinned() const { return storage_ && storage_->pinned; }
  // Host values copied into a new array on ctx.
  template <class T>
  NDArray(const std::vector<T>& values, Shape shape, Context ctx = Context::cpu())
      : NDArray(shape, ctx, kDTypeOf<T>) {
    if (static_cast<int64_t>(values.size()) != shape_.Size())
      Throw<ShapeError>("NDArray: ", values.size(), " values given for shape ", shape_.ToString());
    SyncCopyFromCPU(values.data(), values.size());
  }
  NDArray(std::initializer_list<float> values, Shape shape, Context ctx = Context::cpu())
      : NDArray(std::vector<float>(values), std::move(shape), ctx) {}

  bool is_none() const { return storage_ == nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Context ctx() const { return ctx_; }
  int64_t size() const { return shape_.Size(); }
  size_t nbytes() const { return static_cast<size_t>(size()) * DTypeSize(dtype_); }

  void* raw_data() const { return storage_ ? static_cast<char*>(storage_->ptr) + offset_ : nullptr; }
  template <class T>
  T* data() const {
    CheckType<T>();
    return static_cast<T*>(raw_data());
  }
  template <class T>
  Tensor<T> tensor() const { return Tensor<T>(data<T>(), shape_); }

  // Deep copies.
  NDArray Copy(Context ctx) const;
  NDArray to(Context ctx) const { return Copy(ctx); }
  // A new array of the same shape and Context holding the values converted to `dtype` (MXNet's
  // astype), with the conversion rules of the Cast operator (float16 / bfloat16: round to nearest
  // even). Converts on the host, so device arrays make a round trip.
  NDArray AsType(DType dtype) const;
  void CopyTo(NDArray* dst) const;  // shapes and dtypes must match
  template <class T>
  void SyncCopyFromCPU(const T* src, size_t count) {
    CheckType<T>();
    CheckCount(count);
    detail::CopyBytes(raw_data(), ctx_, src, Context::cpu(), count * sizeof(T));
  }
  template <class T>
  void SyncCopyToCPU(T* dst, size_t count) const {
    CheckType<T>();
    CheckCount(count);
    detail::CopyBytes(dst, Context::cpu(), raw_data(), ctx_, count * sizeof(T));
  }
  template <class T>
  std::vector<T> ToVector() const {
    std::vector<T> v(static_cast<size_t>(size()));
    SyncCopyToCPU(v.data(), v.size());
    return v;
  }
  // Same storage, new shape with the same element count.
  NDArray Reshape(Shape shape) const;
  // Same storage: rows [begin, end) of axis 0 (MXNet's NDArray::Slice).
  NDArray Slice(int64_t begin, int64_t end) const;
  void Fill(float value);  // f32 arrays only (handy in tests)

  void WaitToRead() const { if (ctx_.is_gpu()) detail::SynchronizeDevice(ctx_); }
  void WaitToWrite() const { WaitToRead(); }
  static void WaitAll();

  // ---- MXNet .params files (every record generation; see docs/file-formats.md) ----
  // Loads arrays and their names ("arg:conv0_weight", ...; names empty for unnamed files).
  static void Load(const std::string& file, std::vector<NDArray>* arrays,
                   std::vector<std::string>* names);
  // Loads into a name -> array map; throws FormatError for unnamed files or duplicate names.
  static std::map<std::string, NDArray> LoadToMap(const std::string& file);
  // Same from an in-memory buffer; `source` names it in error messages.
  static void LoadFromBuffer(const void* data, size_t size, const std::string& source,
                             std::vector<NDArray>* arrays, std::vector<std::string>* names);
  // Writes the V2 format MXNet 1.x writes (readable by MXNet and by tandem).
  static void Save(const std::string& file, const std::map<std::string, NDArray>& arrays);
  static void Save(const std::string& file, const std::vector<NDArray>& arrays,
                   const std::vector<std::string>& names = {});
  static std::string SaveToBuffer(const std::vector<NDArray>& arrays,
                                  const std::vector<std::string>& names);

 private:
  NDArray(Shape shape, Context ctx, DType dtype, bool pinned);  // pinned: see PinnedHost
  template <class T>
  void CheckType() const {
    if (kDTypeOf<T> != dtype_)
      Throw<TypeError>("NDArray of dtype ", DTypeName(dtype_), " accessed as ", DTypeName(kDTypeOf<T>));
  }
  void CheckCount(size_t count) const {
    if (static_cast<int64_t>(count) != size())
      Throw<ShapeError>("NDArray copy: ", count, " elements given, array ", shape_.ToString(),
                        " holds ", size());
  }

  std::shared_ptr<detail::Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
  Context ctx_;
};

}  // namespace tandem
