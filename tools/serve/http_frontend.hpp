// tools/serve/http_frontend.hpp — the Open Inference Protocol v2 REST API on cpp-httplib: health,
// server and model metadata, readiness, inference with JSON tensors and the binary tensor
// extension, and GET /metrics.
//
// Thread safety: cpp-httplib runs each connection on a thread of its pool; handlers only read
// the Server (see server.hpp). Stop may be called from any thread; Run returns once the requests
// in flight have been answered.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "tools/serve/server.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tandem::serve {

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 8000;
  // Connection threads: cpp-httplib gives each open (keep-alive) connection a thread for its
  // life, so a connection beyond this count waits until one closes. Keep it above the clients'
  // connections plus probes and scrapes.
  int threads = 128;
  int io_timeout_s = 30;     // socket read / write timeout, against stalled clients
};

class HttpFrontend {
 public:
  HttpFrontend(const Server& server, const HttpOptions& options);
  ~HttpFrontend();
  // Binds the port (port 0: any free one); false if it cannot.
  bool Bind();
  int port() const { return port_; }
  void Run();   // serves until Stop(); returns when in-flight requests are done
  void Stop();

 private:
  // `body` is null when it could not be read (too large, broken).
  void Infer(const httplib::Request& req, const std::string* body, httplib::Response& res) const;
  void ModelMetadata(const httplib::Request& req, httplib::Response& res) const;
  void ModelReady(const httplib::Request& req, httplib::Response& res) const;

  const Server& server_;
  HttpOptions options_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> run_finished_{false};
};

}  // namespace tandem::serve
