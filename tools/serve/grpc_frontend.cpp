// tools/serve/grpc_frontend.cpp — the v2 gRPC service. Tensor data comes as raw_input_contents
// (one bytes entry per input, what tritonclient.grpc sends) or typed `contents`; results go back
// as raw_output_contents, as Triton answers.
#include "tools/serve/grpc_frontend.hpp"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "grpc_service.grpc.pb.h"

namespace tandem::serve {

namespace {

[[noreturn]] void BadRequest(const std::string& message) {
  throw RequestError(Outcome::kBadRequest, message);
}

grpc::StatusCode GrpcCode(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return grpc::StatusCode::OK;
    case Outcome::kBadRequest: return grpc::StatusCode::INVALID_ARGUMENT;
    case Outcome::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case Outcome::kTooLarge: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Outcome::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case Outcome::kTimeout: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Outcome::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

// Run inside a catch block: the protocol's status for the exception being handled.
grpc::Status CurrentErrorStatus() {
  auto [outcome, message] = CurrentErrorOutcome();
  return grpc::Status(GrpcCode(outcome), message);
}

// Typed `contents` values (one repeated field per datatype family) into a host array.
template <class T, class Values>
void ConvertValues(const Values& values, void* out, const std::string& input) {
  T* dst = static_cast<T*>(out);
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<std::decay_t<decltype(v)>, bool>) {
      if (!std::in_range<T>(v)) BadRequest("input '" + input + "': element " + std::to_string(i) + " out of range");
    }
    dst[i] = static_cast<T>(v);
  }
}

NDArray ArrayFromContents(const TensorSpec& spec, const std::vector<int64_t>& shape,
                          const inference::InferTensorContents& c) {
  const int64_t count = ElementCount(spec.name, shape);
  NDArray array(Shape(shape), Context::cpu(), spec.dtype);
  auto check = [&](int given, const char* field) {
    if (given != count)
      BadRequest("input '" + spec.name + "': " + std::to_string(given) + " values in contents." + field +
                 ", but shape " + ShapeString(shape) + " holds " + std::to_string(count));
  };
  void* out = array.raw_data();
  switch (spec.dtype) {
    case DType::f32: check(c.fp32_contents_size(), "fp32_contents"); ConvertValues<float>(c.fp32_contents(), out, spec.name); break;
    case DType::f64: check(c.fp64_contents_size(), "fp64_contents"); ConvertValues<double>(c.fp64_contents(), out, spec.name); break;
    case DType::i32: check(c.int_contents_size(), "int_contents"); ConvertValues<int32_t>(c.int_contents(), out, spec.name); break;
    case DType::i8: check(c.int_contents_size(), "int_contents"); ConvertValues<int8_t>(c.int_contents(), out, spec.name); break;
    case DType::i64: check(c.int64_contents_size(), "int64_contents"); ConvertValues<int64_t>(c.int64_contents(), out, spec.name); break;
    case DType::u8: check(c.uint_contents_size(), "uint_contents"); ConvertValues<uint8_t>(c.uint_contents(), out, spec.name); break;
    case DType::boolean: check(c.bool_contents_size(), "bool_contents"); ConvertValues<uint8_t>(c.bool_contents(), out, spec.name); break;
    case DType::f16:
    case DType::bf16:
      BadRequest("input '" + spec.name + "': " + V2DataType(spec.dtype) + " data must come as raw_input_contents");
  }
  return array;
}

// The client's gRPC deadline as a timeout in microseconds (0: none).
int64_t DeadlineTimeoutUs(const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return 0;
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::system_clock::now());
  return std::max<int64_t>(1, left.count());
}

}  // namespace

struct GrpcFrontend::Impl final : public inference::GRPCInferenceService::Service {
  Impl(const Server& s, const GrpcOptions& o) : server(s), options(o) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    response->set_ready(server.ready());
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    try {
      server.Find(request->name(), request->version());
      response->set_ready(server.ready());
      return grpc::Status::OK;
    } catch (...) {
      return CurrentErrorStatus();
    }
  }

  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    const nlohmann::json meta = server.ServerMetadataJson();
    response->set_name(meta.at("name").get<std::string>());
    response->set_version(meta.at("version").get<std::string>());
    for (const auto& e : meta.at("extensions")) response->add_extensions(e.get<std::string>());
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    try {
      const ServedModel& model = server.Find(request->name(), request->version());
      response->set_name(model.name());
      response->add_versions(model.version());
      response->set_platform(model.platform());
      auto fill = [](const TensorSpec& spec, inference::ModelMetadataResponse::TensorMetadata* t) {
        t->set_name(spec.name);
        t->set_datatype(V2DataType(spec.dtype));
        if (spec.shape.empty()) t->add_shape(-1);
        for (int64_t d : spec.shape) t->add_shape(d);
      };
      for (const auto& spec : model.inputs()) fill(spec, response->add_inputs());
      for (const auto& spec : model.outputs()) fill(spec, response->add_outputs());
      return grpc::Status::OK;
    } catch (...) {
      return CurrentErrorStatus();
    }
  }

  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const auto start = std::chrono::steady_clock::now();
    RequestRecord record;
    record.protocol = Protocol::kGrpc;
    record.model_name = request->model_name();
    record.id = request->id();
    record.bytes_in = request->ByteSizeLong();
    grpc::Status status = grpc::Status::OK;
    try {
      const ServedModel& model = server.Find(request->model_name(), request->model_version());
      record.model = &model;
      const std::map<std::string, NDArray> inputs = Inputs(model, *request);
      std::vector<size_t> outputs;
      for (const auto& o : request->outputs()) outputs.push_back(model.OutputIndex(o.name()));
      if (request->outputs().empty())
        for (size_t i = 0; i < model.outputs().size(); ++i) outputs.push_back(i);
      int64_t timeout_us = DeadlineTimeoutUs(*context);
      auto t = request->parameters().find("timeout");
      if (t != request->parameters().end() && t->second.int64_param() > 0 &&
          (timeout_us == 0 || t->second.int64_param() < timeout_us))
        timeout_us = t->second.int64_param();
      const std::vector<NDArray> results = server.Infer(model, inputs, timeout_us);

      response->set_model_name(model.name());
      response->set_model_version(model.version());
      response->set_id(request->id());
      for (size_t index : outputs) {
        const NDArray& array = results.at(index);
        auto* out = response->add_outputs();
        out->set_name(model.outputs()[index].name);
        out->set_datatype(V2DataType(array.dtype()));
        for (int64_t d : array.shape().dims()) out->add_shape(d);
        response->add_raw_output_contents(static_cast<const char*>(array.raw_data()), array.nbytes());
      }
    } catch (...) {
      status = CurrentErrorStatus();
      record.outcome = CurrentErrorOutcome().first;
      record.error = status.error_message();
    }
    record.bytes_out = status.ok() ? response->ByteSizeLong() : 0;
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    server.Record(record);
    return status;
  }

  static std::map<std::string, NDArray> Inputs(const ServedModel& model, const inference::ModelInferRequest& request) {
    const bool raw = request.raw_input_contents_size() > 0;
    if (raw && request.raw_input_contents_size() != request.inputs_size())
      BadRequest("request: " + std::to_string(request.raw_input_contents_size()) + " raw_input_contents for " +
                 std::to_string(request.inputs_size()) + " inputs");
    std::map<std::string, NDArray> inputs;
    for (int i = 0; i < request.inputs_size(); ++i) {
      const auto& in = request.inputs(i);
      const std::vector<int64_t> shape(in.shape().begin(), in.shape().end());
      const TensorSpec& spec = model.CheckInput(in.name(), in.datatype(), shape);
      if (inputs.count(in.name())) BadRequest("input '" + in.name() + "': given twice");
      if (raw) {
        const std::string& bytes = request.raw_input_contents(i);
        inputs[in.name()] = ArrayFromBytes(spec, shape, bytes.data(), bytes.size());
      } else {
        inputs[in.name()] = ArrayFromContents(spec, shape, in.contents());
      }
    }
    return inputs;
  }

  const Server& server;
  GrpcOptions options;
  std::unique_ptr<grpc::Server> grpc_server;
};

GrpcFrontend::GrpcFrontend(const Server& server, const GrpcOptions& options)
    : impl_(std::make_unique<Impl>(server, options)) {}

GrpcFrontend::~GrpcFrontend() = default;

bool GrpcFrontend::Start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(impl_->options.address, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(impl_.get());
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a taken port is an error, not shared
  const size_t max_bytes = impl_->server.options().max_request_bytes;
  builder.SetMaxReceiveMessageSize(max_bytes > static_cast<size_t>(INT32_MAX) ? INT32_MAX : static_cast<int>(max_bytes));
  builder.SetMaxSendMessageSize(INT32_MAX);
  // Calls run on gRPC's own threads; a few more than --grpc-threads leave room for its pollers.
  grpc::ResourceQuota quota("tandem-serve");
  quota.SetMaxThreads(std::max(1, impl_->options.threads) + 8);
  builder.SetResourceQuota(quota);
  impl_->grpc_server = builder.BuildAndStart();
  return impl_->grpc_server != nullptr && port_ > 0;
}

void GrpcFrontend::Stop() {
  // Running calls get this long to finish; gRPC cancels whatever is left after it.
  if (impl_->grpc_server) impl_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

void GrpcFrontend::Wait() {
  if (impl_->grpc_server) impl_->grpc_server->Wait();
}

}  // namespace tandem::serve
