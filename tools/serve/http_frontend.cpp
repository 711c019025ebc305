// tools/serve/http_frontend.cpp — REST v2 handlers (kserve.github.io "Open Inference Protocol",
// and Triton's binary tensor data extension, which tritonclient.http uses by default).
#include "tools/serve/http_frontend.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

namespace tandem::serve {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kBinaryHeader = "Inference-Header-Content-Length";
// /v2/models/NAME[/versions/VERSION]: the model and (optional) version groups of every model path.
constexpr const char* kModelPath = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

[[noreturn]] void BadRequest(const std::string& message) {
  throw RequestError(Outcome::kBadRequest, message);
}

void SetJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.body = body.dump();
  res.set_header("Content-Type", kJson);
}

void SetError(httplib::Response& res, Outcome outcome, const std::string& message) {
  SetJson(res, HttpStatus(outcome), {{"error", message}});
}

// ---- reading the JSON request, with errors that say which field is wrong ----

const json& Member(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) BadRequest(where + ": '" + key + "' is missing");
  return *it;
}

std::string StringMember(const json& object, const char* key, const std::string& where) {
  const json& v = Member(object, key, where);
  if (!v.is_string()) BadRequest(where + ": '" + key + "' must be a string");
  return v.get<std::string>();
}

std::vector<int64_t> ShapeMember(const json& object, const std::string& where) {
  const json& v = Member(object, "shape", where);
  if (!v.is_array()) BadRequest(where + ": 'shape' must be a list of integers");
  std::vector<int64_t> shape;
  for (const json& d : v) {
    if (!d.is_number_integer()) BadRequest(where + ": 'shape' must be a list of integers");
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

const json* Parameters(const json& object, const std::string& where) {
  auto it = object.find("parameters");
  if (it == object.end()) return nullptr;
  if (!it->is_object()) BadRequest(where + ": 'parameters' must be an object");
  return &*it;
}

bool BoolParameter(const json* params, const char* key, bool fallback, const std::string& where) {
  if (!params || !params->contains(key)) return fallback;
  const json& v = params->at(key);
  if (!v.is_boolean()) BadRequest(where + ": parameter '" + key + "' must be true or false");
  return v.get<bool>();
}

// The request, parsed and checked against the model, inputs converted to host arrays.
struct ParsedInfer {
  std::string id;
  int64_t timeout_us = 0;
  std::map<std::string, NDArray> inputs;
  std::vector<size_t> outputs;  // indices into the model's outputs, in answer order
  std::vector<bool> binary;     // per answered output: binary tensor extension or JSON data
};

// Digits only, at most 18 of them (so the value fits); nullopt otherwise.
std::optional<size_t> ByteCount(const std::string& text) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), digit)) return std::nullopt;
  return std::stoull(text);
}

size_t JsonHeaderSize(const httplib::Request& req, const std::string& body) {
  if (!req.has_header(kBinaryHeader)) return body.size();
  const std::string text = req.get_header_value(kBinaryHeader);
  const std::optional<size_t> size = ByteCount(text);
  if (!size) BadRequest(std::string(kBinaryHeader) + ": '" + text + "' is not a byte count");
  if (*size > body.size())
    BadRequest(std::string(kBinaryHeader) + " is " + text + ", but the body holds " +
               std::to_string(body.size()) + " bytes");
  return *size;
}

ParsedInfer ParseInfer(const ServedModel& model, const httplib::Request& req, const std::string& body) {
  const size_t header_size = JsonHeaderSize(req, body);
  json request;
  try {
    request = json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(header_size));
  } catch (const json::parse_error& e) {
    BadRequest(std::string("malformed JSON in the request: ") + e.what());
  }
  if (!request.is_object()) BadRequest("request: expected a JSON object");
  ParsedInfer out;
  if (request.contains("id")) out.id = StringMember(request, "id", "request");
  const json* params = Parameters(request, "request");
  const bool binary_default = BoolParameter(params, "binary_data_output", false, "request");
  if (params && params->contains("classification")) BadRequest("request: the classification extension is not supported");
  if (params && params->contains("timeout")) {
    const json& t = params->at("timeout");  // Triton's: microseconds
    if (!t.is_number_integer() || t.get<int64_t>() < 0) BadRequest("request: parameter 'timeout' must be microseconds");
    out.timeout_us = t.get<int64_t>();
  }

  const json& inputs = Member(request, "inputs", "request");
  if (!inputs.is_array() || inputs.empty()) BadRequest("request: 'inputs' must be a non-empty list");
  size_t binary_offset = header_size;  // binary tensors follow the JSON, in the order of inputs
  for (size_t i = 0; i < inputs.size(); ++i) {
    const json& input = inputs[i];
    std::string where = "request input " + std::to_string(i);
    if (!input.is_object()) BadRequest(where + ": expected an object");
    const std::string name = StringMember(input, "name", where);
    where = "input '" + name + "'";
    const std::vector<int64_t> shape = ShapeMember(input, where);
    const TensorSpec& spec = model.CheckInput(name, StringMember(input, "datatype", where), shape);
    if (out.inputs.count(name)) BadRequest(where + ": given twice");
    const json* input_params = Parameters(input, where);
    if (input_params && input_params->contains("binary_data_size")) {
      const json& size = input_params->at("binary_data_size");
      if (!size.is_number_unsigned()) BadRequest(where + ": 'binary_data_size' must be a byte count");
      const uint64_t bytes = size.get<uint64_t>();
      if (bytes > body.size() - binary_offset)
        BadRequest(where + ": binary_data_size " + std::to_string(bytes) + " runs past the end of the body");
      out.inputs[name] = ArrayFromBytes(spec, shape, body.data() + binary_offset, bytes);
      binary_offset += bytes;
    } else {
      out.inputs[name] = ArrayFromJson(spec, shape, Member(input, "data", where));
    }
  }
  if (binary_offset != body.size())
    BadRequest("request: " + std::to_string(body.size() - binary_offset) +
               " bytes of binary data that no input's binary_data_size claims");

  auto it = request.find("outputs");
  if (it == request.end()) {
    for (size_t i = 0; i < model.outputs().size(); ++i) {
      out.outputs.push_back(i);
      out.binary.push_back(binary_default);
    }
    return out;
  }
  if (!it->is_array()) BadRequest("request: 'outputs' must be a list");
  for (const json& output : *it) {
    if (!output.is_object()) BadRequest("request: each of 'outputs' must be an object");
    const std::string name = StringMember(output, "name", "requested output");
    const std::string where = "output '" + name + "'";
    const json* output_params = Parameters(output, where);
    if (output_params && output_params->contains("classification"))
      BadRequest(where + ": the classification extension is not supported");
    out.outputs.push_back(model.OutputIndex(name));
    out.binary.push_back(BoolParameter(output_params, "binary_data", binary_default, where));
  }
  return out;
}

void WriteInferResponse(const ServedModel& model, const ParsedInfer& request,
                        const std::vector<NDArray>& results, httplib::Response& res) {
  json header = {{"model_name", model.name()}, {"model_version", model.version()}};
  if (!request.id.empty()) header["id"] = request.id;
  json outputs = json::array();
  std::string binary;
  for (size_t k = 0; k < request.outputs.size(); ++k) {
    const size_t index = request.outputs[k];
    const NDArray& array = results.at(index);
    json output = {{"name", model.outputs()[index].name},
                   {"datatype", V2DataType(array.dtype())},
                   {"shape", array.shape().dims()}};
    if (request.binary[k]) {
      output["parameters"] = {{"binary_data_size", array.nbytes()}};
      binary.append(static_cast<const char*>(array.raw_data()), array.nbytes());
    } else {
      output["data"] = ArrayToJson(array);
    }
    outputs.push_back(std::move(output));
  }
  header["outputs"] = std::move(outputs);
  std::string text = header.dump();
  res.status = 200;
  if (binary.empty()) {
    res.body = std::move(text);
    res.set_header("Content-Type", kJson);
    return;
  }
  res.set_header(kBinaryHeader, std::to_string(text.size()));
  res.set_header("Content-Type", "application/octet-stream");
  res.body = std::move(text) + binary;
}

std::string Group(const httplib::Request& req, size_t i) {
  return req.matches.size() > i ? req.matches[i].str() : std::string();
}

// cpp-httplib listens with a backlog of 5: a burst of clients connecting at once (64 at start-up)
// overflows it and some connections are reset. Listening again on the bound socket raises the
// backlog (Linux and the BSDs update it in place).
class ListenServer : public httplib::Server {
 public:
  void RaiseBacklog(int backlog) { ::listen(svr_sock_, backlog); }
};

}  // namespace

HttpFrontend::HttpFrontend(const Server& server, const HttpOptions& options)
    : server_(server), options_(options), http_(std::make_unique<ListenServer>()) {
  httplib::Server& http = *http_;
  const int threads = std::max(1, options_.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // Over-long bodies are read and dropped by cpp-httplib, which answers 413 (see the error
  // handler for the body); the client gets the answer instead of a reset connection.
  http.set_payload_max_length(server_.options().max_request_bytes);
  http.set_read_timeout(options_.io_timeout_s, 0);
  http.set_write_timeout(options_.io_timeout_s, 0);
  http.set_keep_alive_max_count(1000);
  http.set_tcp_nodelay(true);
  // cpp-httplib's default is SO_REUSEPORT, which lets a second server bind the same port and
  // silently take half of its connections; SO_REUSEADDR alone still allows a quick restart.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    SetJson(res, 200, {{"live", true}});
  });
  http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = server_.ready();
    SetJson(res, ready ? 200 : 503, {{"ready", ready}});
  });
  http.Get("/v2", [this](const httplib::Request&, httplib::Response& res) {
    SetJson(res, 200, server_.ServerMetadataJson());
  });
  http.Get(kModelPath, [this](const httplib::Request& req, httplib::Response& res) { ModelMetadata(req, res); });
  http.Get(std::string(kModelPath) + "/ready",
           [this](const httplib::Request& req, httplib::Response& res) { ModelReady(req, res); });
  // The infer handler reads the body itself, into one buffer sized from Content-Length:
  // cpp-httplib's own reading grows the string 4 KiB at a time, copying it at each doubling.
  const size_t max_bytes = server_.options().max_request_bytes;
  http.Post(std::string(kModelPath) + "/infer",
            [this, max_bytes](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read) {
              std::string body;
              const std::optional<size_t> length = ByteCount(req.get_header_value("Content-Length"));
              if (length) body.reserve(std::min(*length, max_bytes));
              const bool complete = read([&](const char* data, size_t n) {
                body.append(data, n);
                return true;
              });
              Infer(req, complete ? &body : nullptr, res);
            });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.body = server_.MetricsText();
    res.set_header("Content-Type", "text/plain; version=0.0.4");
  });

  // Errors cpp-httplib answers itself (no such path, body too large, bad request line) get the
  // protocol's {"error": ...} body; handlers' own errors already have one.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "HTTP status " + std::to_string(res.status);
    if (res.status == 400)
      message = "malformed HTTP request";
    else if (res.status == 413)
      message = "request body larger than --max-request-bytes (" +
                std::to_string(server_.options().max_request_bytes) + ")";
    else if (res.status == 404)
      message = "no such path: " + req.method + " " + req.path;
    SetError(res, OutcomeOfHttpStatus(res.status), message);
    server_.log().Info("http_error", {{"method", req.method}, {"path", req.path},
                                      {"status", std::to_string(res.status)}, {"error", message}});
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (...) {
      auto [outcome, message] = CurrentErrorOutcome();
      SetError(res, outcome, message);
    }
  });
  if (server_.log().enabled(Log::Level::kDebug))
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      server_.log().Write(Log::Level::kDebug, "http", {{"method", req.method}, {"path", req.path},
                                                       {"status", std::to_string(res.status)}});
    });
}

HttpFrontend::~HttpFrontend() = default;

bool HttpFrontend::Bind() {
  const bool bound = options_.port == 0 ? (port_ = http_->bind_to_any_port(options_.host)) > 0
                                        : http_->bind_to_port(options_.host, port_ = options_.port);
  if (bound) static_cast<ListenServer*>(http_.get())->RaiseBacklog(1024);
  return bound;
}

void HttpFrontend::Run() {
  http_->listen_after_bind();
  run_finished_.store(true);
}

void HttpFrontend::Stop() {
  // cpp-httplib's stop() does nothing until its accept loop runs, so a stop that comes early (a
  // model failing to load at once) waits for the loop to start, or for Run to have returned.
  while (!http_->is_running() && !run_finished_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

void HttpFrontend::ModelMetadata(const httplib::Request& req, httplib::Response& res) const {
  try {
    SetJson(res, 200, server_.Find(Group(req, 1), Group(req, 2)).MetadataJson());
  } catch (...) {
    auto [outcome, message] = CurrentErrorOutcome();
    SetError(res, outcome, message);
  }
}

void HttpFrontend::ModelReady(const httplib::Request& req, httplib::Response& res) const {
  try {
    const ServedModel& model = server_.Find(Group(req, 1), Group(req, 2));
    const bool ready = server_.ready();
    SetJson(res, ready ? 200 : 503, {{"name", model.name()}, {"ready", ready}});
  } catch (...) {
    auto [outcome, message] = CurrentErrorOutcome();
    SetError(res, outcome, message);
  }
}

void HttpFrontend::Infer(const httplib::Request& req, const std::string* body, httplib::Response& res) const {
  const auto start = std::chrono::steady_clock::now();
  RequestRecord record;
  record.protocol = Protocol::kHttp;
  record.model_name = Group(req, 1);
  record.bytes_in = body ? body->size() : 0;
  try {
    const ServedModel& model = server_.Find(record.model_name, Group(req, 2));
    record.model = &model;
    // An unread body: over --max-request-bytes (cpp-httplib read and dropped it, status 413) or
    // a broken one (400).
    if (!body)
      throw RequestError(res.status == 413 ? Outcome::kTooLarge : Outcome::kBadRequest,
                         res.status == 413 ? "request body larger than --max-request-bytes (" +
                                                 std::to_string(server_.options().max_request_bytes) + ")"
                                           : std::string("incomplete or malformed request body"));
    const ParsedInfer parsed = ParseInfer(model, req, *body);
    record.id = parsed.id;
    const std::vector<NDArray> results = server_.Infer(model, parsed.inputs, parsed.timeout_us);
    WriteInferResponse(model, parsed, results, res);
  } catch (...) {
    auto [outcome, message] = CurrentErrorOutcome();
    SetError(res, outcome, message);
    record.outcome = outcome;
    record.error = std::move(message);
  }
  record.bytes_out = res.body.size();
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  server_.Record(record);
}

}  // namespace tandem::serve
