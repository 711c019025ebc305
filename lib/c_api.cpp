// The C API: thin wrappers that turn exceptions into return codes and a thread-local message.
#include "tandem/c_api.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tandem/cached_op.hpp"
#include "tandem/onnx.hpp"

struct TDSymbol_ { tandem::Symbol symbol; };
struct TDNDArray_ { tandem::NDArray array; };
struct TDParams_ { std::map<std::string, tandem::NDArray> map; };
struct TDCachedOp_ { tandem::CachedOp op; };

namespace {

thread_local std::string last_error;

template <class F>
int Guard(F&& f) {
  try {
    f();
    return 0;
  } catch (const tandem::Error& e) {
    last_error = std::string(tandem::ErrorKindName(e.kind())) + ": " + e.what();
  } catch (const std::bad_alloc&) {
    last_error = "OutOfMemory: allocation failed";
  } catch (const std::exception& e) {
    last_error = std::string("InternalError: ") + e.what();
  } catch (...) {
    last_error = "InternalError: unknown exception";
  }
  return -1;
}

void NotNull(const void* p, const char* what) {
  if (!p) tandem::Throw<tandem::InvalidArgument>(what, " is NULL");
}

tandem::Context MakeContext(int dev_type, int dev_id) {
  if (dev_type == TD_CPU) return tandem::Context::cpu(dev_id);
  if (dev_type == TD_GPU) return tandem::Context::gpu(dev_id);
  tandem::Throw<tandem::InvalidArgument>("unknown device type ", dev_type);
}

}  // namespace

extern "C" {

const char* TDGetLastError(void) { return last_error.c_str(); }

int TDSymbolLoad(const char* file, TDSymbolHandle* out) {
  return Guard([&] {
    NotNull(file, "file");
    NotNull(out, "out");
    *out = new TDSymbol_{tandem::Symbol::Load(file)};
  });
}

int TDSymbolLoadJSON(const char* json, TDSymbolHandle* out) {
  return Guard([&] {
    NotNull(json, "json");
    NotNull(out, "out");
    *out = new TDSymbol_{tandem::Symbol::LoadJSON(json, "<json string>")};
  });
}

int TDSymbolFree(TDSymbolHandle sym) { return Guard([&] { delete sym; }); }

int TDParamsLoad(const char* file, TDParamsHandle* out) {
  return Guard([&] {
    NotNull(file, "file");
    NotNull(out, "out");
    *out = new TDParams_{tandem::NDArray::LoadToMap(file)};
  });
}

int TDParamsCount(TDParamsHandle params, size_t* out) {
  return Guard([&] {
    NotNull(params, "params");
    NotNull(out, "out");
    *out = params->map.size();
  });
}

int TDParamsFree(TDParamsHandle params) { return Guard([&] { delete params; }); }

namespace {
void TakeOnnxModel(tandem::onnx::Model m, TDSymbolHandle* sym, TDParamsHandle* params) {
  auto s = std::make_unique<TDSymbol_>(TDSymbol_{std::move(m.symbol)});
  auto p = std::make_unique<TDParams_>(TDParams_{std::move(m.params)});
  *sym = s.release();
  *params = p.release();
}
}  // namespace

int TDOnnxLoad(const char* file, TDSymbolHandle* sym, TDParamsHandle* params) {
  return Guard([&] {
    NotNull(file, "file");
    NotNull(sym, "sym");
    NotNull(params, "params");
    TakeOnnxModel(tandem::onnx::Load(file), sym, params);
  });
}

int TDOnnxLoadFromBuffer(const void* data, size_t size, TDSymbolHandle* sym, TDParamsHandle* params) {
  return Guard([&] {
    if (size > 0) NotNull(data, "data");
    NotNull(sym, "sym");
    NotNull(params, "params");
    TakeOnnxModel(tandem::onnx::LoadFromBuffer(data, size, {}, "<buffer>"), sym, params);
  });
}

int TDNDArrayCreate(const int64_t* shape, int ndim, int dev_type, int dev_id, int dtype,
                    TDNDArrayHandle* out) {
  return Guard([&] {
    NotNull(out, "out");
    if (ndim < 0 || ndim > 32) tandem::Throw<tandem::InvalidArgument>("ndim ", ndim, " out of range");
    if (ndim > 0) NotNull(shape, "shape");
    tandem::DType t;
    if (!tandem::FromMXNetFlag(dtype, &t)) tandem::Throw<tandem::TypeError>("unknown dtype flag ", dtype);
    tandem::Shape s(std::vector<int64_t>(shape, shape + ndim));
    if (dev_type == TD_CPU_PINNED) {
      if (dev_id != 0) tandem::Throw<tandem::InvalidArgument>("cpu_pinned(", dev_id, "): only device 0 exists");
      *out = new TDNDArray_{tandem::NDArray::PinnedHost(s, t)};
      return;
    }
    *out = new TDNDArray_{tandem::NDArray(s, MakeContext(dev_type, dev_id), t)};
  });
}

int TDNDArrayGetShape(TDNDArrayHandle arr, int* ndim, const int64_t** shape) {
  return Guard([&] {
    NotNull(arr, "array");
    NotNull(ndim, "ndim");
    NotNull(shape, "shape");
    *ndim = arr->array.shape().ndim();
    *shape = arr->array.shape().dims().data();
  });
}

int TDNDArrayGetDType(TDNDArrayHandle arr, int* dtype) {
  return Guard([&] {
    NotNull(arr, "array");
    NotNull(dtype, "dtype");
    *dtype = tandem::ToMXNetFlag(arr->array.dtype());
  });
}

int TDNDArraySyncCopyFromCPU(TDNDArrayHandle arr, const void* data, size_t bytes) {
  return Guard([&] {
    NotNull(arr, "array");
    NotNull(data, "data");
    if (bytes != arr->array.nbytes())
      tandem::Throw<tandem::ShapeError>(bytes, " bytes given, array ", arr->array.shape().ToString(),
                                        " holds ", arr->array.nbytes());
    tandem::detail::CopyBytes(arr->array.raw_data(), arr->array.ctx(), data, tandem::Context::cpu(), bytes);
  });
}

int TDNDArraySyncCopyToCPU(TDNDArrayHandle arr, void* data, size_t bytes) {
  return Guard([&] {
    NotNull(arr, "array");
    NotNull(data, "data");
    if (bytes != arr->array.nbytes())
      tandem::Throw<tandem::ShapeError>(bytes, " bytes requested, array ", arr->array.shape().ToString(),
                                        " holds ", arr->array.nbytes());
    tandem::detail::CopyBytes(data, tandem::Context::cpu(), arr->array.raw_data(), arr->array.ctx(), bytes);
  });
}

int TDNDArrayFree(TDNDArrayHandle arr) { return Guard([&] { delete arr; }); }

int TDCachedOpCreate(TDSymbolHandle sym, TDParamsHandle params, int dev_type, int dev_id,
                     const TDCachedOpFlags* flags, TDCachedOpHandle* out) {
  return Guard([&] {
    NotNull(sym, "symbol");
    NotNull(params, "params");
    NotNull(out, "out");
    tandem::CachedOpFlags f;
    if (flags) {
      f.static_alloc = flags->static_alloc != 0;
      f.static_shape = flags->static_shape != 0;
      f.thread_safe = flags->thread_safe != 0;
      f.reference_only = flags->reference_only != 0;
      f.intra_op_threads = flags->intra_op_threads;
      f.max_batch = flags->max_batch;
      f.max_delay_us = flags->max_delay_us;
      if (flags->max_concurrent_batches > 0) f.max_concurrent_batches = flags->max_concurrent_batches;
      if (!tandem::FromMXNetFlag(flags->compute_dtype, &f.compute_dtype))
        tandem::Throw<tandem::InvalidArgument>("TDCachedOpCreate: unknown compute_dtype flag ",
                                               flags->compute_dtype);
      if (flags->channels_last != 0) f.channels_last = flags->channels_last > 0;
      f.allow_tf32 = flags->allow_tf32 != 0;
      if (flags->plan_cache) f.plan_cache = flags->plan_cache;
    }
    *out = new TDCachedOp_{tandem::CachedOp(sym->symbol, params->map, MakeContext(dev_type, dev_id), f)};
  });
}

int TDCachedOpNumInputs(TDCachedOpHandle op, int* out) {
  return Guard([&] {
    NotNull(op, "cached op");
    NotNull(out, "out");
    *out = static_cast<int>(op->op.input_names().size());
  });
}

int TDCachedOpInvoke(TDCachedOpHandle op, int num_inputs, const TDNDArrayHandle* inputs,
                     int* num_outputs, TDNDArrayHandle** outputs) {
  return Guard([&] {
    NotNull(op, "cached op");
    NotNull(num_outputs, "num_outputs");
    NotNull(outputs, "outputs");
    if (num_inputs < 0) tandem::Throw<tandem::InvalidArgument>("num_inputs is negative");
    if (num_inputs > 0) NotNull(inputs, "inputs");
    std::vector<tandem::NDArray> in;
    for (int i = 0; i < num_inputs; ++i) {
      NotNull(inputs[i], "an input handle");
      in.push_back(inputs[i]->array);
    }
    std::vector<tandem::NDArray> out = op->op.Forward(in);
    auto* handles = static_cast<TDNDArrayHandle*>(std::calloc(out.size() + 1, sizeof(TDNDArrayHandle)));
    if (!handles) throw std::bad_alloc();
    for (size_t j = 0; j < out.size(); ++j) handles[j] = new TDNDArray_{out[j]};
    *num_outputs = static_cast<int>(out.size());
    *outputs = handles;
  });
}

int TDFreeHandleArray(TDNDArrayHandle* handles) { return Guard([&] { std::free(handles); }); }

int TDCachedOpFree(TDCachedOpHandle op) { return Guard([&] { delete op; }); }

}  // extern "C"
