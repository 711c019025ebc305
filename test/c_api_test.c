/* The C API used from plain C11, the way a C program or another language's binding would:
 * load a symbol from a JSON string, load an (empty) params file, build a cached op, run it,
 * check the error paths, and call one cached op from four pthreads at once.
 *
 * Exit status 0 when every check passes; each failed check prints one line on stderr. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem/c_api.h"

static int failures = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      ++failures;                                                                \
    }                                                                            \
  } while (0)

/* A call that must succeed; on failure prints tandem's message. */
#define CHECK_OK(call)                                                                     \
  do {                                                                                     \
    if ((call) != 0) {                                                                     \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, TDGetLastError()); \
      ++failures;                                                                          \
    }                                                                                      \
  } while (0)

/* A call that must fail with -1 and leave a message in this thread. */
#define CHECK_FAILS(call)                                                               \
  do {                                                                                  \
    int rc_ = (call);                                                                   \
    const char* msg_ = TDGetLastError();                                                \
    if (rc_ != -1 || msg_ == NULL || msg_[0] == '\0') {                                 \
      fprintf(stderr, "%s:%d: %s: expected -1 and a message, got %d\n", __FILE__, __LINE__, \
              #call, rc_);                                                              \
      ++failures;                                                                       \
    }                                                                                   \
  } while (0)

static const char kReluJson[] =
    "{\"nodes\": ["
    "  {\"op\": \"null\", \"name\": \"data\", \"inputs\": []},"
    "  {\"op\": \"Activation\", \"name\": \"relu\", \"attrs\": {\"act_type\": \"relu\"},"
    "   \"inputs\": [[0, 0, 0]]}],"
    " \"arg_nodes\": [0], \"heads\": [[1, 0, 0]],"
    " \"attrs\": {\"mxnet_version\": [\"int\", 10600]}}";

/* An MXNet NDArray list file with no arrays: magic 0x112, reserved 0, count 0, name count 0. */
static int WriteEmptyParams(char* path, size_t path_size) {
  const char* dir = getenv("TMPDIR");
  snprintf(path, path_size, "%s/tandem_capi_XXXXXX", dir && dir[0] ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  FILE* f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    return -1;
  }
  const uint64_t header[4] = {0x112, 0, 0, 0};
  size_t written = fwrite(header, sizeof(header[0]), 4, f);
  return fclose(f) == 0 && written == 4 ? 0 : -1;
}

static TDNDArrayHandle MakeInput(const float* values, int64_t n, int dev_type) {
  TDNDArrayHandle arr = NULL;
  CHECK_OK(TDNDArrayCreate(&n, 1, dev_type, 0, 0, &arr));
  if (arr) CHECK_OK(TDNDArraySyncCopyFromCPU(arr, values, (size_t)n * sizeof(float)));
  return arr;
}

/* Runs `op` on `values` (in an array of `dev_type`) and compares the single output with
 * `expected`; 0 when it matches. */
static int RunAndCompareOn(TDCachedOpHandle op, const float* values, const float* expected, int64_t n,
                           int dev_type) {
  TDNDArrayHandle in = MakeInput(values, n, dev_type);
  if (!in) return -1;
  int num_outputs = 0;
  TDNDArrayHandle* outputs = NULL;
  int result = -1;
  if (TDCachedOpInvoke(op, 1, &in, &num_outputs, &outputs) == 0) {
    int ndim = 0, dtype = -1;
    const int64_t* shape = NULL;
    float got[16] = {0};
    if (num_outputs == 1 && TDNDArrayGetShape(outputs[0], &ndim, &shape) == 0 && ndim == 1 &&
        shape[0] == n && TDNDArrayGetDType(outputs[0], &dtype) == 0 && dtype == 0 && n <= 16 &&
        TDNDArraySyncCopyToCPU(outputs[0], got, (size_t)n * sizeof(float)) == 0 &&
        memcmp(got, expected, (size_t)n * sizeof(float)) == 0)
      result = 0;
    for (int j = 0; j < num_outputs; ++j) TDNDArrayFree(outputs[j]);
    TDFreeHandleArray(outputs);
  } else {
    fprintf(stderr, "TDCachedOpInvoke failed: %s\n", TDGetLastError());
  }
  TDNDArrayFree(in);
  return result;
}

static int RunAndCompare(TDCachedOpHandle op, const float* values, const float* expected, int64_t n) {
  return RunAndCompareOn(op, values, expected, n, TD_CPU);
}

static void TestErrorPaths(TDSymbolHandle sym, TDParamsHandle params, TDCachedOpHandle op) {
  TDSymbolHandle bad_sym = NULL;
  CHECK_FAILS(TDSymbolLoadJSON("{\"nodes\": [", &bad_sym));
  CHECK(strstr(TDGetLastError(), "FormatError") != NULL);
  CHECK_FAILS(TDSymbolLoadJSON(NULL, &bad_sym));
  CHECK_FAILS(TDSymbolLoadJSON(kReluJson, NULL));
  CHECK_FAILS(TDSymbolLoad("/nonexistent/tandem-symbol.json", &bad_sym));
  CHECK(bad_sym == NULL);

  TDParamsHandle bad_params = NULL;
  CHECK_FAILS(TDParamsLoad("/nonexistent/tandem-0000.params", &bad_params));
  CHECK_FAILS(TDParamsLoad(NULL, &bad_params));
  CHECK_FAILS(TDParamsCount(NULL, NULL));

  TDCachedOpHandle bad_op = NULL;
  CHECK_FAILS(TDCachedOpCreate(NULL, params, TD_CPU, 0, NULL, &bad_op));
  CHECK_FAILS(TDCachedOpCreate(sym, NULL, TD_CPU, 0, NULL, &bad_op));
  CHECK_FAILS(TDCachedOpCreate(sym, params, 42, 0, NULL, &bad_op));
  CHECK(bad_op == NULL);

  int num_outputs = 0;
  TDNDArrayHandle* outputs = NULL;
  CHECK_FAILS(TDCachedOpInvoke(op, 0, NULL, &num_outputs, &outputs));  /* the model takes 1 */
  CHECK(strstr(TDGetLastError(), "InvalidArgument") != NULL);
  CHECK_FAILS(TDCachedOpInvoke(NULL, 0, NULL, &num_outputs, &outputs));
  CHECK_FAILS(TDCachedOpInvoke(op, 1, NULL, &num_outputs, &outputs));
  TDNDArrayHandle null_input = NULL;
  CHECK_FAILS(TDCachedOpInvoke(op, 1, &null_input, &num_outputs, &outputs));
  CHECK(outputs == NULL);

  TDNDArrayHandle arr = NULL;
  int64_t dims[1] = {4};
  CHECK_FAILS(TDNDArrayCreate(dims, 1, TD_CPU, 0, 99, &arr));  /* no such dtype flag */
  CHECK_FAILS(TDNDArrayCreate(dims, 1, TD_CPU_PINNED, 1, 0, &arr));  /* cpu_pinned has device 0 only */
  CHECK_FAILS(TDNDArrayCreate(dims, -1, TD_CPU, 0, 0, &arr));
  CHECK_FAILS(TDNDArrayCreate(NULL, 1, TD_CPU, 0, 0, &arr));
  CHECK(arr == NULL);
  CHECK_OK(TDNDArrayCreate(dims, 1, TD_CPU, 0, 0, &arr));
  float three[3] = {1, 2, 3};
  CHECK_FAILS(TDNDArraySyncCopyFromCPU(arr, three, sizeof(three)));  /* 12 bytes into 16 */
  CHECK_FAILS(TDNDArraySyncCopyToCPU(arr, three, sizeof(three)));
  /* A two-element input plans a new shape and works; the error above left no damage. */
  const float x2[2] = {-5, 5}, y2[2] = {0, 5};
  CHECK(RunAndCompare(op, x2, y2, 2) == 0);
  /* A cpu_pinned array is a host array: a CPU model takes it as its input. */
  CHECK(RunAndCompareOn(op, x2, y2, 2, TD_CPU_PINNED) == 0);
  TDNDArrayFree(arr);

  /* Freeing NULL handles is a no-op, as free(NULL) is. */
  CHECK_OK(TDSymbolFree(NULL));
  CHECK_OK(TDParamsFree(NULL));
  CHECK_OK(TDNDArrayFree(NULL));
  CHECK_OK(TDCachedOpFree(NULL));
  CHECK_OK(TDFreeHandleArray(NULL));
}

/* ---- four threads on one cached op ---- */

enum { kThreads = 4, kIterations = 200 };

typedef struct {
  TDCachedOpHandle op;
  int id;
  int errors;
} Worker;

static void* WorkerMain(void* arg) {
  Worker* w = (Worker*)arg;
  const float s = (float)(w->id + 1);
  const float x[4] = {-1 * s, 2 * s, -3 * s, 4 * s};
  const float y[4] = {0, 2 * s, 0, 4 * s};
  for (int i = 0; i < kIterations; ++i) {
    if (RunAndCompare(w->op, x, y, 4) != 0) ++w->errors;
    /* Errors are per thread: this failure must not show up in another thread's message. */
    if (i % 50 == 0) {
      int num_outputs = 0;
      TDNDArrayHandle* outputs = NULL;
      if (TDCachedOpInvoke(w->op, 0, NULL, &num_outputs, &outputs) != -1) ++w->errors;
      if (strstr(TDGetLastError(), "0 inputs given") == NULL) ++w->errors;
    }
  }
  return NULL;
}

static void TestThreads(TDCachedOpHandle op) {
  pthread_t threads[kThreads];
  Worker workers[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    workers[t] = (Worker){op, t, 0};
    CHECK(pthread_create(&threads[t], NULL, WorkerMain, &workers[t]) == 0);
  }
  for (int t = 0; t < kThreads; ++t) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    if (workers[t].errors) fprintf(stderr, "thread %d: %d wrong results\n", t, workers[t].errors);
    CHECK(workers[t].errors == 0);
  }
}

int main(void) {
  char params_path[512];
  if (WriteEmptyParams(params_path, sizeof(params_path)) != 0) {
    fprintf(stderr, "cannot write a temporary params file\n");
    return 1;
  }
  TDSymbolHandle sym = NULL;
  TDParamsHandle params = NULL;
  TDCachedOpHandle op = NULL;
  CHECK_OK(TDSymbolLoadJSON(kReluJson, &sym));
  CHECK_OK(TDParamsLoad(params_path, &params));
  unlink(params_path);
  size_t count = 99;
  if (params) CHECK_OK(TDParamsCount(params, &count));
  CHECK(count == 0);
  TDCachedOpFlags flags = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, NULL};
  if (sym && params) CHECK_OK(TDCachedOpCreate(sym, params, TD_CPU, 0, &flags, &op));
  if (!op) {
    fprintf(stderr, "no cached op; stopping\n");
    return 1;
  }
  int num_inputs = 0;
  CHECK_OK(TDCachedOpNumInputs(op, &num_inputs));
  CHECK(num_inputs == 1);

  const float x[4] = {-1, 2, -3, 4}, y[4] = {0, 2, 0, 4};
  CHECK(RunAndCompare(op, x, y, 4) == 0);
  TestErrorPaths(sym, params, op);
  TestThreads(op);

  /* The same model with dynamic batching across the calling threads: same results. */
  TDCachedOpFlags batching = {1, 0, 1, 0, 1, 16, 500, 0, 0, 0, 0, NULL};
  TDCachedOpHandle batched = NULL;
  CHECK_OK(TDCachedOpCreate(sym, params, TD_CPU, 0, &batching, &batched));
  if (batched) {
    CHECK(RunAndCompare(batched, x, y, 4) == 0);
    TestThreads(batched);
    CHECK_OK(TDCachedOpFree(batched));
  }
  TDCachedOpFlags bad_batching = {1, 1, 1, 0, 0, 16, 500, 0, 0, 0, 0, NULL}; /* static_shape + batching */
  TDCachedOpHandle refused = NULL;
  CHECK_FAILS(TDCachedOpCreate(sym, params, TD_CPU, 0, &bad_batching, &refused));
  CHECK(refused == NULL);

  /* float16 on the reference kernels: these values are exact in float16, outputs stay float32.
   * On oneDNN (not reference_only) a reduced precision is refused, as is an integer one. */
  TDCachedOpFlags half = {1, 0, 1, 1, 0, 0, 0, 0, 2, 0, 0, NULL};
  TDCachedOpHandle half_op = NULL;
  CHECK_OK(TDCachedOpCreate(sym, params, TD_CPU, 0, &half, &half_op));
  if (half_op) {
    CHECK(RunAndCompare(half_op, x, y, 4) == 0);
    CHECK_OK(TDCachedOpFree(half_op));
  }
  TDCachedOpFlags half_dnnl = {1, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, NULL};
  TDCachedOpFlags integer = {1, 0, 1, 1, 0, 0, 0, 0, 4, 0, 0, NULL};
  TDCachedOpHandle none = NULL;
  CHECK_FAILS(TDCachedOpCreate(sym, params, TD_CPU, 0, &half_dnnl, &none));
  CHECK_FAILS(TDCachedOpCreate(sym, params, TD_CPU, 0, &integer, &none));
  CHECK(none == NULL);

  /* A plan cache directory (docs/plan-cache.md): accepted and created; a CPU plan measures
   * nothing, so nothing is written to it. */
  char cache_root[] = "/tmp/tandem-c-api-cache-XXXXXX";
  if (mkdtemp(cache_root)) {
    char cache_dir[sizeof cache_root + 8];
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", cache_root);
    TDCachedOpFlags cached = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, cache_dir};
    TDCachedOpHandle cached_op = NULL;
    CHECK_OK(TDCachedOpCreate(sym, params, TD_CPU, 0, &cached, &cached_op));
    if (cached_op) {
      CHECK(RunAndCompare(cached_op, x, y, 4) == 0);
      CHECK_OK(TDCachedOpFree(cached_op));
    }
    CHECK(rmdir(cache_dir) == 0); /* created, and empty */
    rmdir(cache_root);
  }

  CHECK_OK(TDCachedOpFree(op));
  CHECK_OK(TDParamsFree(params));
  CHECK_OK(TDSymbolFree(sym));
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("c_api_test: all checks passed\n");
  return 0;
}
