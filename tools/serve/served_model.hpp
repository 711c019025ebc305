// tools/serve/served_model.hpp — one model as tandem-serve serves it: a tandem::CachedOp plus what
// the Open Inference Protocol v2 says about it (name, version, input and output tensors), and the
// checks and conversions every request goes through whichever protocol (REST or gRPC) it came by.
//
// Thread safety: a ServedModel is immutable once constructed; every const member may be called
// from any number of request threads at once (Infer runs CachedOp::Forward, which is thread safe).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/cached_op.hpp"
#include "tandem/context.hpp"
#include "tandem/dtype.hpp"
#include "tandem/ndarray.hpp"

namespace tandem::serve {

// How a request ended; the protocol errors (HTTP status, gRPC code) follow from it.
enum class Outcome {
  kSuccess,
  kBadRequest,   // malformed request, wrong shape / datatype, unknown input (HTTP 400)
  kNotFound,     // unknown model or version, unknown path (HTTP 404)
  kTooLarge,     // body over --max-request-bytes (HTTP 413)
  kUnavailable,  // not ready yet, or shutting down (HTTP 503)
  kTimeout,      // could not start within the request timeout (HTTP 503, gRPC DEADLINE_EXCEEDED)
  kInternal,     // the model failed for a reason that is not the request's (HTTP 500)
};
constexpr int kOutcomeCount = 7;
const char* OutcomeName(Outcome outcome);  // "success", "bad_request", ... (metrics labels, logs)
int HttpStatus(Outcome outcome);
Outcome OutcomeOfHttpStatus(int status);

// A request the server refuses, with the message it answers ({"error": message} in REST).
class RequestError : public std::runtime_error {
 public:
  RequestError(Outcome outcome, const std::string& message)
      : std::runtime_error(message), outcome_(outcome) {}
  Outcome outcome() const { return outcome_; }

 private:
  Outcome outcome_;
};

// The outcome and message of the exception being handled (call inside a catch block):
// RequestError as it is; tandem::Error by kind (input errors are the client's, others the
// server's), with tandem's own message; anything else is internal.
std::pair<Outcome, std::string> CurrentErrorOutcome();

// v2 datatype names ("FP32", "INT64", ...) of tandem's dtypes; nullopt for names tandem has no
// dtype for (UINT16, BYTES, ...).
const char* V2DataType(DType dtype);
std::optional<DType> DTypeOfV2(const std::string& datatype);

// An input or output tensor as the model metadata describes it; -1 marks a dimension of any size.
// An empty shape means the model does not say (an MXNet input without --shape or __shape__).
struct TensorSpec {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
};

// What to load and how to run it (from --model / --shape flags or the --config file).
struct ModelConfig {
  std::string name;
  std::string version = "1";
  std::string mxnet_prefix;  // MXNet checkpoint PREFIX-symbol.json + PREFIX-EPOCH.params ...
  int epoch = 0;
  std::string onnx_file;     // ... or an ONNX file
  std::map<std::string, std::vector<int64_t>> input_shapes;  // declared shapes, -1 = any size
  int max_batch = 0;         // CachedOpFlags: dynamic batching when > 1
  int max_delay_us = 0;
  int max_concurrent_batches = 2;
  int intra_op_threads = 0;  // 0: tandem's share of the cores per call in flight
};

class ServedModel {
 public:
  // Loads the files, builds the CachedOp on ctx and warms it up (one run on zeros where every
  // input shape is known, and a plan per dynamic-batching batch size). Throws tandem::Error.
  ServedModel(const ModelConfig& config, Context ctx);

  const std::string& name() const { return config_.name; }
  const std::string& version() const { return config_.version; }
  const char* platform() const { return config_.onnx_file.empty() ? "mxnet" : "onnx"; }
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  const ModelConfig& config() const { return config_; }
  bool batching() const { return config_.max_batch > 1 && op_.batching_disabled_by().empty(); }
  BatchingStats batching_stats() const { return op_.batching_stats(); }
  Context context() const { return op_.context(); }

  // The v2 metadata object (GET /v2/models/{name}).
  nlohmann::json MetadataJson() const;

  // The spec of input `name`, after checking that a request's datatype and shape fit it; throws
  // RequestError(kBadRequest) naming the input otherwise.
  const TensorSpec& CheckInput(const std::string& name, const std::string& datatype,
                               const std::vector<int64_t>& shape) const;
  // Index of output `name` in outputs(); throws RequestError(kBadRequest) for an unknown name.
  size_t OutputIndex(const std::string& name) const;

  // Runs the model on host arrays (every input, by name) and returns the outputs on the host, in
  // the order of outputs().
  std::vector<NDArray> Infer(const std::map<std::string, NDArray>& inputs) const;

 private:
  void Warmup();

  ModelConfig config_;
  std::vector<TensorSpec> inputs_, outputs_;  // before op_: its initialiser fills them
  CachedOp op_;
};

// ---- tensor data in requests and responses ----

// A host array of the spec's dtype and `shape` holding `size` raw bytes (the binary tensor
// extension, gRPC raw_input_contents); the byte count must match.
NDArray ArrayFromBytes(const TensorSpec& spec, const std::vector<int64_t>& shape,
                       const void* data, size_t size);
// A host array from a JSON "data" value: a flat or nested list of numbers (booleans for BOOL) in
// row-major order, as many as the shape holds.
NDArray ArrayFromJson(const TensorSpec& spec, const std::vector<int64_t>& shape,
                      const nlohmann::json& data);
// The flat JSON list of a host array's values.
nlohmann::json ArrayToJson(const NDArray& array);

// Element count of a request's shape; RequestError for negative dims or overflow.
int64_t ElementCount(const std::string& input, const std::vector<int64_t>& shape);
std::string ShapeString(const std::vector<int64_t>& shape);  // "[1,3,224,224]"

}  // namespace tandem::serve
