/* tandem/c_api.h — the plain C interface, for C programs and other languages' bindings.
 *
 * Mirrors MXNet's MXCreateCachedOp(..., thread_safe) / MXInvokeCachedOp with a TD prefix. Every
 * function returns 0 on success and -1 on failure; TDGetLastError() then returns the message of
 * the last failure *in the calling thread* (thread-local), so concurrent callers never see each
 * other's errors. No C++ exception crosses this boundary.
 *
 * Thread safety: TDCachedOpInvoke may be called concurrently on the same handle from any number of
 * threads. Distinct NDArray handles may be used from different threads; one handle must not be
 * freed while another thread uses it. Symbol and params handles are immutable after loading.
 */
#ifndef TANDEM_C_API_H_
#define TANDEM_C_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TDSymbol_* TDSymbolHandle;
typedef struct TDNDArray_* TDNDArrayHandle;
typedef struct TDParams_* TDParamsHandle;
typedef struct TDCachedOp_* TDCachedOpHandle;

/* MXNet's device types. TD_CPU_PINNED (TDNDArrayCreate only): a host array in page-locked memory
 * (NDArray::PinnedHost), for buffers copied to a GPU again and again; ordinary host memory where
 * no GPU is visible. Its context is cpu(dev_id). */
enum { TD_CPU = 1, TD_GPU = 2, TD_CPU_PINNED = 3 };
/* dtypes use MXNet's flags: 0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64,
 * 12 bfloat16. */

const char* TDGetLastError(void);

int TDSymbolLoad(const char* file, TDSymbolHandle* out);
int TDSymbolLoadJSON(const char* json, TDSymbolHandle* out);
int TDSymbolFree(TDSymbolHandle sym);

/* A name -> array map read from an MXNet .params file ("arg:" / "aux:" prefixes kept). */
int TDParamsLoad(const char* file, TDParamsHandle* out);
int TDParamsCount(TDParamsHandle params, size_t* out);
int TDParamsFree(TDParamsHandle params);

/* ONNX import (tandem/onnx.hpp): the model's graph as a symbol, and its initializers as a params
 * map ("arg:" / "aux:" keys), ready for TDCachedOpCreate; free both as usual. Data inputs keep
 * their ONNX names. Fails with "Unsupported: ..." when tandem was built without ONNX support. */
int TDOnnxLoad(const char* file, TDSymbolHandle* sym, TDParamsHandle* params);
int TDOnnxLoadFromBuffer(const void* data, size_t size, TDSymbolHandle* sym, TDParamsHandle* params);

int TDNDArrayCreate(const int64_t* shape, int ndim, int dev_type, int dev_id, int dtype,
                    TDNDArrayHandle* out);
int TDNDArrayGetShape(TDNDArrayHandle arr, int* ndim, const int64_t** shape);
int TDNDArrayGetDType(TDNDArrayHandle arr, int* dtype);
/* Copies `bytes` bytes in / out; must equal the array's size in bytes. */
int TDNDArraySyncCopyFromCPU(TDNDArrayHandle arr, const void* data, size_t bytes);
int TDNDArraySyncCopyToCPU(TDNDArrayHandle arr, void* data, size_t bytes);
int TDNDArrayFree(TDNDArrayHandle arr);

/* Flags as in CachedOpFlags; pass NULL for defaults. Zero-initialise the struct before setting
 * fields: a zero in the fields after reference_only means "the default". */
typedef struct {
  int static_alloc;
  int static_shape;
  int thread_safe;
  int reference_only;
  int intra_op_threads;       /* 0: the cores shared by the calls in flight (see cached_op.hpp) */
  int max_batch;              /* > 1 turns on dynamic batching across concurrent callers */
  int max_delay_us;           /* how long a request waits for company */
  int max_concurrent_batches; /* 0: the default (2) */
  int compute_dtype;          /* dtype flag: 0 float32 (default), 2 float16, 12 bfloat16 */
  int channels_last;          /* NHWC activations inside the plan: 1 on, -1 off, 0 the default
                                 (on for CPU contexts, off for GPUs) */
  int allow_tf32;             /* GPU: TF32 tensor cores for float32 */
  const char* plan_cache;     /* directory of measured kernel choices (docs/plan-cache.md); NULL:
                                 the TANDEM_PLAN_CACHE environment variable, else none */
} TDCachedOpFlags;

int TDCachedOpCreate(TDSymbolHandle sym, TDParamsHandle params, int dev_type, int dev_id,
                     const TDCachedOpFlags* flags, TDCachedOpHandle* out);
int TDCachedOpNumInputs(TDCachedOpHandle op, int* out);
/* Data inputs only, in the order of the model's data inputs. On success *outputs points to
 * *num_outputs new handles owned by the caller (free each with TDNDArrayFree, and the array
 * itself with TDFreeHandleArray). */
int TDCachedOpInvoke(TDCachedOpHandle op, int num_inputs, const TDNDArrayHandle* inputs,
                     int* num_outputs, TDNDArrayHandle** outputs);
int TDFreeHandleArray(TDNDArrayHandle* handles);
int TDCachedOpFree(TDCachedOpHandle op);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_C_API_H_ */
