// tools/serve/grpc_frontend.hpp — the Open Inference Protocol v2 gRPC service
// (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady, ServerMetadata,
// ModelMetadata, ModelInfer) on gRPC's synchronous server. Built when grpc++ is found
// (TANDEM_SERVE_GRPC).
//
// Thread safety: gRPC runs each call on a thread of its own pool; the service only reads the
// Server (see server.hpp). Stop may be called from any thread; Wait returns once the calls in
// flight have finished.
#pragma once

#include <memory>
#include <string>

#include "tools/serve/server.hpp"

namespace tandem::serve {

struct GrpcOptions {
  std::string address = "0.0.0.0:8001";  // host:port; port 0 picks a free one
  int threads = 64;                       // most calls served at once
};

class GrpcFrontend {
 public:
  GrpcFrontend(const Server& server, const GrpcOptions& options);
  ~GrpcFrontend();
  // Starts listening; false (with the reason in the log) if it cannot.
  bool Start();
  int port() const { return port_; }
  void Stop();  // stops taking calls; running ones finish
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace tandem::serve
