// tools/serve/served_model.cpp — loading a model for tandem-serve, request checks, tensor codecs.
#include "tools/serve/served_model.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <new>

#include "tandem/error.hpp"
#include "tandem/onnx.hpp"
#include "tandem/symbol.hpp"

namespace tandem::serve {

using nlohmann::json;

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kBadRequest: return "bad_request";
    case Outcome::kNotFound: return "not_found";
    case Outcome::kTooLarge: return "too_large";
    case Outcome::kUnavailable: return "unavailable";
    case Outcome::kTimeout: return "timeout";
    case Outcome::kInternal: return "internal";
  }
  return "internal";
}

int HttpStatus(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return 200;
    case Outcome::kBadRequest: return 400;
    case Outcome::kNotFound: return 404;
    case Outcome::kTooLarge: return 413;
    case Outcome::kUnavailable: return 503;
    case Outcome::kTimeout: return 503;
    case Outcome::kInternal: return 500;
  }
  return 500;
}

Outcome OutcomeOfHttpStatus(int status) {
  if (status < 400) return Outcome::kSuccess;
  if (status == 404) return Outcome::kNotFound;
  if (status == 413) return Outcome::kTooLarge;
  if (status == 503) return Outcome::kUnavailable;
  if (status < 500) return Outcome::kBadRequest;
  return Outcome::kInternal;
}

std::pair<Outcome, std::string> CurrentErrorOutcome() {
  try {
    throw;
  } catch (const RequestError& e) {
    return {e.outcome(), e.what()};
  } catch (const Error& e) {
    // Errors the request's own data causes are the client's (400); a device failure, memory
    // exhaustion or a tandem bug is the server's (500). Either way the message is tandem's.
    const bool client = e.kind() == ErrorKind::kInvalidArgument || e.kind() == ErrorKind::kShape ||
                        e.kind() == ErrorKind::kType || e.kind() == ErrorKind::kFormat ||
                        e.kind() == ErrorKind::kUnsupported;
    return {client ? Outcome::kBadRequest : Outcome::kInternal,
            std::string(ErrorKindName(e.kind())) + ": " + e.what()};
  } catch (const json::exception& e) {
    return {Outcome::kBadRequest, std::string("malformed request: ") + e.what()};
  } catch (const std::bad_alloc&) {
    return {Outcome::kInternal, "out of host memory"};
  } catch (const std::exception& e) {
    return {Outcome::kInternal, e.what()};
  } catch (...) {
    return {Outcome::kInternal, "unknown error"};
  }
}

namespace {

struct DTypeName {
  DType dtype;
  const char* v2;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::f32, "FP32"}, {DType::f64, "FP64"}, {DType::f16, "FP16"}, {DType::bf16, "BF16"},
    {DType::u8, "UINT8"}, {DType::i8, "INT8"},  {DType::i32, "INT32"}, {DType::i64, "INT64"},
    {DType::boolean, "BOOL"}};

[[noreturn]] void BadRequest(const std::string& message) {
  throw RequestError(Outcome::kBadRequest, message);
}

std::string JoinNames(const std::vector<TensorSpec>& specs) {
  std::string s;
  for (const auto& spec : specs) s += (s.empty() ? "" : ", ") + spec.name;
  return s;
}

// A variable's __shape__ hint ("(1, 3, 224, 224)"); 0 (MXNet's "unknown") becomes -1.
std::vector<int64_t> ShapeHint(const Symbol& symbol, const std::string& name) {
  for (const auto& node : symbol.TopoNodes()) {
    if (!node->is_variable() || node->name != name) continue;
    auto it = node->attrs.find("__shape__");
    if (it == node->attrs.end()) return {};
    std::vector<int64_t> dims;
    const std::string& text = it->second;
    for (size_t i = 0; i < text.size();) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) { ++i; continue; }
      size_t end = i;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      const int64_t d = std::stoll(text.substr(i, end - i));
      dims.push_back(d == 0 ? -1 : d);
      i = end;
    }
    return dims;
  }
  return {};
}

CachedOpFlags FlagsOf(const ModelConfig& config) {
  CachedOpFlags flags;
  flags.max_batch = config.max_batch;
  flags.max_delay_us = config.max_delay_us;
  flags.max_concurrent_batches = config.max_concurrent_batches;
  flags.intra_op_threads = config.intra_op_threads;
  return flags;
}

std::string ParamsFile(const std::string& prefix, int epoch) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d", epoch);
  return prefix + "-" + buf + ".params";
}

// The CachedOp, with the input specs and output names the files give.
struct Loaded {
  CachedOp op;
  std::vector<TensorSpec> inputs;
  std::vector<std::string> output_names;
};

Loaded Load(const ModelConfig& config, Context ctx) {
  if (!config.onnx_file.empty()) {
    onnx::LoadOptions options;  // declared fixed dims resolve what the file leaves open
    onnx::Model probe = onnx::Load(config.onnx_file);
    for (const auto& in : probe.inputs) {
      auto it = config.input_shapes.find(in.name);
      if (it == config.input_shapes.end() || in.is_static()) continue;
      if (std::all_of(it->second.begin(), it->second.end(), [](int64_t d) { return d > 0; }))
        options.input_shapes[in.name] = Shape(it->second);
    }
    onnx::Model m = options.input_shapes.empty() ? std::move(probe) : onnx::Load(config.onnx_file, options);
    Loaded out{CachedOp(m.symbol, m.params, ctx, FlagsOf(config)), {}, m.output_names};
    for (const auto& in : m.inputs) out.inputs.push_back({in.name, in.dtype, in.shape.dims()});
    return out;
  }
  const Symbol symbol = Symbol::Load(config.mxnet_prefix + "-symbol.json");
  const auto params = NDArray::LoadToMap(ParamsFile(config.mxnet_prefix, config.epoch));
  Loaded out{CachedOp(symbol, params, ctx, FlagsOf(config)), {}, {}};
  out.output_names = out.op.output_names();
  for (const auto& name : out.op.input_names())
    out.inputs.push_back({name, DType::f32, ShapeHint(symbol, name)});
  return out;
}

}  // namespace

const char* V2DataType(DType dtype) {
  for (const auto& n : kDTypeNames)
    if (n.dtype == dtype) return n.v2;
  return "UNKNOWN";
}

std::optional<DType> DTypeOfV2(const std::string& datatype) {
  for (const auto& n : kDTypeNames)
    if (datatype == n.v2) return n.dtype;
  return std::nullopt;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';  // appended apart: GCC 12 warns (-Wrestrict, falsely) on "," + to_string
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t ElementCount(const std::string& input, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) BadRequest("input '" + input + "': negative dimension in shape " + ShapeString(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      BadRequest("input '" + input + "': the element count of shape " + ShapeString(shape) + " overflows");
    n *= d;
  }
  return n;
}

ServedModel::ServedModel(const ModelConfig& config, Context ctx)
    : config_(config), op_([&] {
        Loaded loaded = Load(config, ctx);
        inputs_ = std::move(loaded.inputs);
        for (const auto& name : loaded.output_names) outputs_.push_back({name, DType::f32, {}});
        return std::move(loaded.op);
      }()) {
  for (const auto& [name, shape] : config_.input_shapes) {
    auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const TensorSpec& s) { return s.name == name; });
    if (it == inputs_.end())
      Throw<InvalidArgument>("model '", config_.name, "': --shape ", name, ": no such input (inputs: ",
                             JoinNames(inputs_), ")");
    if (!it->shape.empty() && it->shape.size() != shape.size())
      Throw<InvalidArgument>("model '", config_.name, "': --shape ", name, " ", ShapeString(shape),
                             " has another rank than the model's ", ShapeString(it->shape));
    it->shape = shape;
  }
  Warmup();
}

void ServedModel::Warmup() {
  // One run on zeros, batch 1 where the leading dim is open, tells the outputs' dtypes and shapes
  // and builds the plan the first request would otherwise wait for.
  std::map<std::string, NDArray> zeros;
  bool open_batch = true;
  for (const auto& in : inputs_) {
    std::vector<int64_t> dims = in.shape;
    if (dims.empty()) return;  // unknown shape: outputs stay undescribed
    open_batch = open_batch && dims[0] == -1;
    if (dims[0] == -1) dims[0] = 1;
    if (std::any_of(dims.begin(), dims.end(), [](int64_t d) { return d < 0; })) return;
    NDArray a(Shape(dims), Context::cpu(), in.dtype);
    std::memset(a.raw_data(), 0, a.nbytes());
    zeros[in.name] = a;
  }
  const std::vector<NDArray> outs = Infer(zeros);
  for (size_t i = 0; i < outs.size() && i < outputs_.size(); ++i) {
    outputs_[i].dtype = outs[i].dtype();
    outputs_[i].shape = outs[i].shape().dims();
    if (open_batch && !outputs_[i].shape.empty() && outputs_[i].shape[0] == 1) outputs_[i].shape[0] = -1;
  }
  // Dynamic batching runs the model at a few batch sizes: plan each now.
  for (int64_t rows : op_.batch_sizes()) {
    std::vector<Shape> shapes;
    for (const auto& name : op_.input_names()) {
      Shape s = zeros.at(name).shape();
      s[0] = rows;
      shapes.push_back(s);
    }
    op_.Plan(shapes);
  }
}

json ServedModel::MetadataJson() const {
  auto tensors = [](const std::vector<TensorSpec>& specs) {
    json list = json::array();
    for (const auto& s : specs)
      list.push_back({{"name", s.name}, {"datatype", V2DataType(s.dtype)},
                      {"shape", s.shape.empty() ? std::vector<int64_t>{-1} : s.shape}});
    return list;
  };
  return {{"name", config_.name}, {"versions", {config_.version}}, {"platform", platform()},
          {"inputs", tensors(inputs_)}, {"outputs", tensors(outputs_)}};
}

const TensorSpec& ServedModel::CheckInput(const std::string& name, const std::string& datatype,
                                          const std::vector<int64_t>& shape) const {
  auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const TensorSpec& s) { return s.name == name; });
  if (it == inputs_.end())
    BadRequest("model '" + config_.name + "' has no input '" + name + "' (inputs: " + JoinNames(inputs_) + ")");
  if (datatype != V2DataType(it->dtype))
    BadRequest("input '" + name + "': datatype '" + datatype + "', but model '" + config_.name +
               "' takes " + V2DataType(it->dtype));
  ElementCount(name, shape);
  bool fits = it->shape.empty() || it->shape.size() == shape.size();
  for (size_t i = 0; fits && !it->shape.empty() && i < shape.size(); ++i)
    fits = it->shape[i] == -1 || it->shape[i] == shape[i];
  if (!fits)
    BadRequest("input '" + name + "': shape " + ShapeString(shape) + " does not fit model '" +
               config_.name + "', which takes " + ShapeString(it->shape) + " (-1: any size)");
  return *it;
}

size_t ServedModel::OutputIndex(const std::string& name) const {
  for (size_t i = 0; i < outputs_.size(); ++i)
    if (outputs_[i].name == name) return i;
  BadRequest("model '" + config_.name + "' has no output '" + name + "' (outputs: " + JoinNames(outputs_) + ")");
}

std::vector<NDArray> ServedModel::Infer(const std::map<std::string, NDArray>& inputs) const {
  for (const auto& spec : inputs_)
    if (!inputs.count(spec.name))
      BadRequest("model '" + config_.name + "' needs input '" + spec.name + "' (inputs: " + JoinNames(inputs_) + ")");
  const Context ctx = op_.context();
  if (!ctx.is_gpu()) return op_.Forward(inputs);
  std::map<std::string, NDArray> on_device;
  for (const auto& [name, array] : inputs) on_device[name] = array.Copy(ctx);
  std::vector<NDArray> outs = op_.Forward(on_device);
  for (auto& out : outs) out = out.Copy(Context::cpu());
  return outs;
}

// ---- tensor codecs ----

namespace {

// The request thread's array for input `name` of this shape and dtype, reused from its previous
// request when they match. An image-sized input is a buffer tandem maps from the OS, so a fresh
// one per request costs page faults and an unmap every time (measured: about 5% of the server's
// CPU at 64 clients on 2 cores). Safe because a request thread runs one request at a time and
// CachedOp::Forward keeps no reference to its inputs once it returns.
// Where a GPU is visible the array is page-locked (NDArray::PinnedHost), so a GPU model's copy of
// it is one direct DMA: from ordinary memory the driver stages the bytes through a buffer of its
// own. (At 64 callers, in-process calls that copied from and to ordinary host memory did 0.61x the
// work of calls whose inputs were on the device, docs/performance.md; the page-locked buffers are
// not yet measured there.) Page-locked memory serves a CPU model just as well.
NDArray ThreadInputArray(const std::string& name, const std::vector<int64_t>& shape, DType dtype) {
  static const bool pinned = GpuAvailable();
  thread_local std::map<std::string, NDArray> arrays;
  NDArray& a = arrays[name];
  if (a.is_none() || a.dtype() != dtype || a.shape().dims() != shape)
    a = pinned ? NDArray::PinnedHost(Shape(shape), dtype) : NDArray(Shape(shape), Context::cpu(), dtype);
  return a;
}

}  // namespace

NDArray ArrayFromBytes(const TensorSpec& spec, const std::vector<int64_t>& shape, const void* data,
                       size_t size) {
  const int64_t count = ElementCount(spec.name, shape);
  const size_t expected = static_cast<size_t>(count) * DTypeSize(spec.dtype);
  if (size != expected)
    BadRequest("input '" + spec.name + "': " + std::to_string(size) + " bytes of data, but " +
               V2DataType(spec.dtype) + " of shape " + ShapeString(shape) + " takes " +
               std::to_string(expected));
  NDArray array = ThreadInputArray(spec.name, shape, spec.dtype);
  if (size) std::memcpy(array.raw_data(), data, size);
  return array;
}

namespace {

// Writes JSON numbers (or booleans) into a host array of any dtype, flattening nested lists.
class JsonFiller {
 public:
  JsonFiller(const TensorSpec& spec, NDArray* array) : spec_(spec), array_(array), count_(array->size()) {}

  void Visit(const json& value, int depth) {
    if (depth > 32) BadRequest("input '" + spec_.name + "': data nested deeper than 32 lists");
    if (value.is_array()) {
      for (const auto& element : value) Visit(element, depth + 1);
      return;
    }
    if (filled_ == count_) TooMany();
    Store(value);
    ++filled_;
  }
  void Finish() const {
    if (filled_ != count_) TooMany();
  }

 private:
  [[noreturn]] void TooMany() const {
    BadRequest("input '" + spec_.name + "': data does not hold the " + std::to_string(count_) +
               " elements of shape " + array_->shape().ToString());
  }
  [[noreturn]] void BadValue(const json& v, const char* want) const {
    BadRequest("input '" + spec_.name + "': element " + std::to_string(filled_) + " is " + v.dump() +
               ", not " + want + " (" + V2DataType(spec_.dtype) + ")");
  }
  template <class T>
  void StoreInt(const json& v) {
    if (!v.is_number_integer()) BadValue(v, "an integer");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())
                               : (v.get<int64_t>() < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                                  v.get<int64_t>() > static_cast<int64_t>(std::numeric_limits<T>::max())))
      BadValue(v, "in range");
    static_cast<T*>(array_->raw_data())[filled_] = static_cast<T>(v.get<int64_t>());
  }
  double Number(const json& v) const {
    if (!v.is_number()) BadValue(v, "a number");
    return v.get<double>();
  }
  void Store(const json& v) {
    void* out = array_->raw_data();
    switch (spec_.dtype) {
      case DType::f32: static_cast<float*>(out)[filled_] = static_cast<float>(Number(v)); return;
      case DType::f64: static_cast<double*>(out)[filled_] = Number(v); return;
      case DType::f16: static_cast<f16*>(out)[filled_] = ToFloat16(static_cast<float>(Number(v))); return;
      case DType::bf16: static_cast<bf16*>(out)[filled_] = ToBFloat16(static_cast<float>(Number(v))); return;
      case DType::u8: StoreInt<uint8_t>(v); return;
      case DType::i8: StoreInt<int8_t>(v); return;
      case DType::i32: StoreInt<int32_t>(v); return;
      case DType::i64: StoreInt<int64_t>(v); return;
      case DType::boolean:
        if (!v.is_boolean()) BadValue(v, "true or false");
        static_cast<uint8_t*>(out)[filled_] = v.get<bool>() ? 1 : 0;
        return;
    }
  }

  const TensorSpec& spec_;
  NDArray* array_;
  int64_t count_ = 0;
  int64_t filled_ = 0;
};

template <class T, class F>
json ToList(const NDArray& array, F convert) {
  json list = json::array();
  const T* p = static_cast<const T*>(array.raw_data());
  for (int64_t i = 0; i < array.size(); ++i) list.push_back(convert(p[i]));
  return list;
}

}  // namespace

NDArray ArrayFromJson(const TensorSpec& spec, const std::vector<int64_t>& shape, const json& data) {
  ElementCount(spec.name, shape);
  NDArray array(Shape(shape), Context::cpu(), spec.dtype);
  JsonFiller filler(spec, &array);
  filler.Visit(data, 0);
  filler.Finish();
  return array;
}

json ArrayToJson(const NDArray& array) {
  auto same = [](auto x) { return x; };
  switch (array.dtype()) {
    case DType::f32: return ToList<float>(array, [](float x) { return static_cast<double>(x); });
    case DType::f64: return ToList<double>(array, same);
    case DType::f16: return ToList<f16>(array, [](f16 x) { return static_cast<double>(ToFloat(x)); });
    case DType::bf16: return ToList<bf16>(array, [](bf16 x) { return static_cast<double>(ToFloat(x)); });
    case DType::u8: return ToList<uint8_t>(array, [](uint8_t x) { return static_cast<int>(x); });
    case DType::i8: return ToList<int8_t>(array, [](int8_t x) { return static_cast<int>(x); });
    case DType::i32: return ToList<int32_t>(array, same);
    case DType::i64: return ToList<int64_t>(array, same);
    case DType::boolean: return ToList<uint8_t>(array, [](uint8_t x) { return x != 0; });
  }
  return json::array();
}

}  // namespace tandem::serve
