// tandem-info: describes an MXNet checkpoint (PREFIX-symbol.json + PREFIX-EPOCH.params) or an
// ONNX model (MODEL.onnx) the way tandem sees it: operators, arguments, auxiliary states,
// parameter sizes, data inputs and, once every data input has a shape, the output shapes and the
// execution plan tandem would build. With --input it also runs the model once on the given
// tensors (ONNX TensorProto .pb files) and writes the outputs (--output-dir).
//
// Exit codes: 0 success, 1 the model files are missing or broken (or the model cannot run with
// the given shapes), 2 a bad command line. Every failure is one line on stderr that starts with
// "tandem-info: <ErrorKind>: "; nothing in here may crash on a hostile file.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/onnx.hpp"
#include "tandem/tandem.hpp"

namespace {

using nlohmann::json;
using tandem::Shape;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: tandem-info PREFIX EPOCH [--shape NAME=D0,D1,...]... [--json] [--no-plan]\n"
    "       tandem-info MODEL.onnx [same options]\n"
    "       ... [--input [NAME=]FILE.pb]... [--output-dir DIR] [--reference]\n"
    "       ... [--device cpu|gpu] [--no-cudnn] [--math fp32|tf32] [--plan-cache DIR]\n"
    "\n"
    "Describes the MXNet checkpoint PREFIX-symbol.json + PREFIX-EPOCH.params (EPOCH as %04d),\n"
    "or the ONNX model MODEL.onnx.\n"
    "\n"
    "  --shape NAME=D0,D1,...  shape of the data input NAME, e.g. --shape data=1,3,224,224;\n"
    "                          without it a __shape__ hint in the JSON (the ONNX file's input\n"
    "                          shape) is used when present\n"
    "  --json                  machine-readable output\n"
    "  --no-plan               skip building the execution plan (kernels, memory)\n"
    "  --input [NAME=]FILE.pb  run the model once; FILE.pb is an ONNX TensorProto, or FILE.npy a\n"
    "                          NumPy array (then the outputs are .npy too; no ONNX support needed) (the data\n"
    "                          input NAME, or the next one in order); its shape is the --shape\n"
    "  --output-dir DIR        with --input: write the outputs as DIR/output_<i>.pb\n"
    "  --reference             with --input: run on the reference kernels only\n"
    "  --device cpu|gpu        plan and run on cpu(0) (the default) or gpu(0)\n"
    "  --no-cudnn              on the GPU: the plain-CUDA kernels instead of cuDNN's\n"
    "  --math fp32|tf32        on the GPU: strict fp32 (the default) or TF32 (allow_tf32)\n"
    "  --plan-cache DIR        keep the kernel choices measured while planning in DIR (and use\n"
    "                          those already there): run once per --shape a server will plan to\n"
    "                          ship DIR with it (docs/plan-cache.md)\n"
    "\n"
    "Exit status: 0 ok, 1 missing or broken model files, 2 bad command line.\n";

// A command-line mistake: reported with the usage text and exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string prefix;
  int epoch = 0;
  std::string onnx;  // MODEL.onnx instead of PREFIX EPOCH
  std::vector<std::pair<std::string, std::string>> inputs;  // --input: name ("" = next) and file
  std::string output_dir;
  bool reference = false;
  std::string device = "cpu";  // --device: cpu or gpu
  bool cudnn = true;           // --no-cudnn: CachedOpFlags::use_cudnn = false
  bool tf32 = false;           // --math tf32: CachedOpFlags::allow_tf32
  std::string plan_cache;      // --plan-cache DIR: CachedOpFlags::plan_cache
  std::vector<std::pair<std::string, Shape>> shapes;  // in the order given
  bool json = false;
  bool plan = true;
};

bool ParsePositiveInt(const std::string& text, int64_t max, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  int64_t v = std::stoll(text);
  if (v > max) return false;
  *out = v;
  return true;
}

// "data=1,3,224,224" (parentheses around the dims are tolerated: "data=(1,3,224,224)").
std::pair<std::string, Shape> ParseShapeArg(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--shape '" + arg + "': expected NAME=D0,D1,... (e.g. data=1,3,224,224)");
  const std::string name = arg.substr(0, eq);
  std::string dims = arg.substr(eq + 1);
  if (dims.size() >= 2 && dims.front() == '(' && dims.back() == ')') dims = dims.substr(1, dims.size() - 2);
  if (dims.empty()) throw UsageError("--shape '" + arg + "': no dimensions after '='");
  std::vector<int64_t> out;
  std::stringstream ss(dims);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t d;
    if (!ParsePositiveInt(item, int64_t{1} << 40, &d) || d == 0)
      throw UsageError("--shape '" + arg + "': dimension '" + item + "' is not a positive integer");
    out.push_back(d);
  }
  if (dims.back() == ',') throw UsageError("--shape '" + arg + "': trailing ','");
  if (out.size() > 32) throw UsageError("--shape '" + arg + "': more than 32 dimensions");
  Shape shape(std::move(out));
  try {
    shape.Size();
  } catch (const tandem::ShapeError&) {
    throw UsageError("--shape '" + arg + "': the element count overflows 64 bits");
  }
  return {name, shape};
}

Options ParseArgs(int argc, char** argv) {
  Options opts;
  std::vector<std::string> positional;
  std::set<std::string> shape_names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--json") {
      opts.json = true;
    } else if (a == "--no-plan") {
      opts.plan = false;
    } else if (a == "--reference") {
      opts.reference = true;
    } else if (a == "--no-cudnn") {
      opts.cudnn = false;
    } else if (a == "--device" || a.rfind("--device=", 0) == 0) {
      if (a == "--device") {
        if (i + 1 >= argc) throw UsageError("--device needs a value: cpu or gpu");
        opts.device = argv[++i];
      } else {
        opts.device = a.substr(9);
      }
      if (opts.device != "cpu" && opts.device != "gpu")
        throw UsageError("--device must be cpu or gpu, got '" + opts.device + "'");
    } else if (a == "--math" || a == "--plan-cache") {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      const std::string value = argv[++i];
      if (a == "--plan-cache") {
        if (value.empty()) throw UsageError("--plan-cache needs a directory");
        opts.plan_cache = value;
      } else if (value == "fp32" || value == "tf32") {
        opts.tf32 = value == "tf32";
      } else {
        throw UsageError("--math must be fp32 or tf32, got '" + value + "'");
      }
    } else if (a == "--input" || a == "--output-dir") {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      const std::string value = argv[++i];
      if (a == "--output-dir") {
        opts.output_dir = value;
      } else {
        const size_t eq = value.find('=');
        if (eq == 0 || eq + 1 == value.size()) throw UsageError("--input '" + value + "': expected [NAME=]FILE.pb");
        if (eq == std::string::npos) opts.inputs.push_back({"", value});
        else opts.inputs.push_back({value.substr(0, eq), value.substr(eq + 1)});
      }
    } else if (a == "--shape" || a.rfind("--shape=", 0) == 0) {
      std::string value;
      if (a == "--shape") {
        if (i + 1 >= argc) throw UsageError("--shape needs a value NAME=D0,D1,...");
        value = argv[++i];
      } else {
        value = a.substr(8);
      }
      auto parsed = ParseShapeArg(value);
      if (!shape_names.insert(parsed.first).second)
        throw UsageError("--shape given twice for '" + parsed.first + "'");
      opts.shapes.push_back(std::move(parsed));
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError("unknown option '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (!opts.output_dir.empty() && opts.inputs.empty()) throw UsageError("--output-dir needs --input");
  auto is_onnx = [](const std::string& p) { return p.size() > 5 && p.compare(p.size() - 5, 5, ".onnx") == 0; };
  if (positional.size() == 1 && is_onnx(positional[0])) {
    opts.onnx = positional[0];
    return opts;
  }
  if (positional.size() != 2) throw UsageError("expected PREFIX and EPOCH, or MODEL.onnx");
  opts.prefix = positional[0];
  int64_t epoch;
  if (!ParsePositiveInt(positional[1], 99999999, &epoch))
    throw UsageError("EPOCH '" + positional[1] + "' is not a non-negative integer");
  opts.epoch = static_cast<int>(epoch);
  return opts;
}

// ---- what the tool finds out ----------------------------------------------------------------

// How tandem's CachedOp treats a graph input (mirrors its automatic role assignment).
enum class Role { kParam, kData, kLabel, kMissing };

const char* RoleName(Role r) {
  switch (r) {
    case Role::kParam: return "param";
    case Role::kData: return "data";
    case Role::kLabel: return "label";
    case Role::kMissing: return "missing";
  }
  return "?";
}

struct InputInfo {
  std::string name;
  Role role = Role::kData;
  Shape shape;  // unknown (ndim 0) when neither the file nor inference gives one
  std::optional<tandem::DType> dtype;  // params only
  std::string shape_source;            // data inputs: "--shape", "__shape__" or ""
};

struct Report {
  std::string symbol_file, params_file;
  int epoch = 0;
  std::optional<tandem::onnx::Model> onnx;  // the ONNX facts (symbol and params moved out)
  size_t num_nodes = 0;
  std::map<std::string, int> ops;
  std::vector<InputInfo> arguments, aux_states;
  size_t param_arrays = 0;
  int64_t param_elements = 0;
  size_t param_bytes = 0;
  std::vector<std::string> unused_params;  // names in the params file the symbol never reads
  std::vector<std::string> unshaped_data;  // data inputs that still need --shape
  std::vector<std::pair<std::string, Shape>> outputs;
  bool outputs_inferred = false;
  std::optional<tandem::PlanReport> plan;
  std::string plan_context = "cpu(0)";
};

// --device: cpu(0) or gpu(0), refused at once where this build of tandem sees no GPU.
tandem::Context DeviceContext(const Options& opts) {
  if (opts.device != "gpu") return tandem::Context::cpu();
  if (!tandem::GpuAvailable())
    throw tandem::DeviceError("--device gpu: no GPU available to this build of tandem (" +
                              std::to_string(tandem::GpuCount()) +
                              " visible; build with -Dcuda=enabled on a CUDA machine)");
  return tandem::Context::gpu(0);
}

// The flags of the plan tandem-info describes and runs: the defaults, with --no-cudnn (and, for
// the run only, --reference).
tandem::CachedOpFlags RunFlags(const Options& opts, bool run) {
  tandem::CachedOpFlags flags;
  flags.use_cudnn = opts.cudnn;
  flags.allow_tf32 = opts.tf32;
  flags.plan_cache = opts.plan_cache;
  if (run) flags.reference_only = opts.reference;
  return flags;
}

std::string ParamsFileName(const std::string& prefix, int epoch) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d", epoch);
  return prefix + "-" + buf + ".params";
}

// "arg:" / "aux:" prefixes dropped, as CachedOp binds them.
std::map<std::string, tandem::NDArray> StripPrefixes(const std::map<std::string, tandem::NDArray>& raw) {
  std::map<std::string, tandem::NDArray> out;
  for (const auto& [name, array] : raw) {
    const bool prefixed = name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0;
    out[prefixed ? name.substr(4) : name] = array;
  }
  return out;
}

// For each variable name: the argument names under which operators read it ("" when the
// operator never reads that input at inference, like SoftmaxOutput's label).
std::map<std::string, std::vector<std::string>> VariableUses(const tandem::Symbol& symbol) {
  std::map<std::string, std::vector<std::string>> uses;
  for (const auto& node : symbol.TopoNodes()) {
    if (node->is_variable()) continue;
    std::vector<std::string> names = node->op->arguments(node->params);
    std::vector<std::string> aux = node->op->aux_states(node->params);
    names.insert(names.end(), aux.begin(), aux.end());
    const auto& unused = node->op->unused_at_inference;
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const auto& producer = node->inputs[i].node;
      if (!producer->is_variable()) continue;
      std::string arg = i < names.size() ? names[i] : "";
      bool is_unused = std::find(unused.begin(), unused.end(), arg) != unused.end();
      uses[producer->name].push_back(is_unused ? "" : arg);
    }
  }
  return uses;
}

Role Classify(const std::string& name, const std::map<std::string, tandem::NDArray>& params,
              const std::vector<std::string>& uses) {
  static const std::set<std::string> kParamArgs = {"weight", "bias", "gamma", "beta",
                                                   "moving_mean", "moving_var"};
  if (params.count(name)) return Role::kParam;
  if (uses.empty()) return Role::kData;
  bool all_unused = std::all_of(uses.begin(), uses.end(), [](auto& u) { return u.empty(); });
  bool all_params = std::all_of(uses.begin(), uses.end(), [](auto& u) { return kParamArgs.count(u) > 0; });
  if (all_unused) return Role::kLabel;
  if (all_params) return Role::kMissing;
  return Role::kData;
}

// A usable __shape__ hint on a variable (every dim known), or an unknown shape.
Shape ShapeHint(const tandem::Symbol& symbol, const std::string& name) {
  for (const auto& node : symbol.TopoNodes()) {
    if (!node->is_variable() || node->name != name) continue;
    if (!node->attrs.count("__shape__")) return {};
    std::vector<int64_t> dims = tandem::AttrReader(node->attrs, "null", name).Tuple("__shape__");
    if (dims.empty()) return {};
    for (int64_t d : dims)
      if (d <= 0) return {};
    return Shape(std::move(dims));
  }
  return {};
}

// ---- NumPy .npy files (version 1.0 / 2.0, little-endian, C order): --input FILE.npy works in
// builds without ONNX support, and then --output-dir writes output_<i>.npy too. ----

struct NpyType {
  const char* descr;
  tandem::DType dtype;
};
constexpr NpyType kNpyTypes[] = {{"<f4", tandem::DType::f32}, {"<f8", tandem::DType::f64},
                                 {"<f2", tandem::DType::f16}, {"|u1", tandem::DType::u8},
                                 {"|i1", tandem::DType::i8},  {"<i4", tandem::DType::i32},
                                 {"<i8", tandem::DType::i64}, {"|b1", tandem::DType::boolean}};

bool IsNpy(const std::string& file) {
  return file.size() > 4 && file.compare(file.size() - 4, 4, ".npy") == 0;
}

[[noreturn]] void BadNpy(const std::string& file, const std::string& why) {
  tandem::Throw<tandem::FormatError>("'", file, "': not a .npy file tandem-info reads (", why, ")");
}

tandem::NDArray LoadNpy(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) tandem::Throw<tandem::InvalidArgument>("cannot open '", file, "'");
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) BadNpy(file, "no NUMPY magic");
  uint32_t header_len = 0;
  unsigned char len_bytes[4] = {};
  const int width = magic[6] == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(len_bytes), width);
  for (int i = width - 1; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (!in || header_len > (1u << 20)) BadNpy(file, "bad header length");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) BadNpy(file, "truncated header");
  if (header.find("'fortran_order': False") == std::string::npos) BadNpy(file, "Fortran order");
  const NpyType* type = nullptr;
  for (const NpyType& t : kNpyTypes)
    if (header.find(std::string("'descr': '") + t.descr + "'") != std::string::npos) type = &t;
  if (!type) BadNpy(file, "dtype");
  const size_t open = header.find("'shape': ("), close = header.find(')', open);
  if (open == std::string::npos || close == std::string::npos) BadNpy(file, "no shape");
  std::vector<int64_t> dims;
  std::stringstream shape(header.substr(open + 10, close - open - 10));
  for (std::string item; std::getline(shape, item, ',');)
    if (item.find_first_not_of(" ") != std::string::npos) dims.push_back(std::stoll(item));
  tandem::NDArray a(tandem::Shape(dims), tandem::Context::cpu(), type->dtype);
  in.read(static_cast<char*>(a.raw_data()), static_cast<std::streamsize>(a.nbytes()));
  if (!in) BadNpy(file, "truncated data");
  return a;
}

void SaveNpy(const std::string& file, const tandem::NDArray& a) {
  const NpyType* type = nullptr;
  for (const NpyType& t : kNpyTypes)
    if (t.dtype == a.dtype()) type = &t;
  if (!type) tandem::Throw<tandem::TypeError>("cannot write ", tandem::DTypeName(a.dtype()), " as .npy");
  std::string shape;
  for (int i = 0; i < a.shape().ndim(); ++i) shape += std::to_string(a.shape()[i]) + ", ";
  if (a.shape().ndim() > 1) shape.resize(shape.size() - 1);
  std::string header = std::string("{'descr': '") + type->descr +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(file, std::ios::binary);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(a.raw_data()), static_cast<std::streamsize>(a.nbytes()));
  if (!out) tandem::Throw<tandem::InvalidArgument>("cannot write '", file, "'");
}

// --input tensors, read before the model so that their shapes count as --shape.
struct InputTensors {
  std::vector<std::pair<std::string, tandem::NDArray>> named;  // in the order given
  std::vector<tandem::NDArray> positional;
};

InputTensors ReadInputs(const Options& opts) {
  InputTensors t;
  for (const auto& [name, file] : opts.inputs) {
    tandem::NDArray a = IsNpy(file) ? LoadNpy(file) : tandem::onnx::LoadTensor(file);
    if (name.empty()) t.positional.push_back(a);
    else t.named.push_back({name, a});
  }
  return t;
}

Report Inspect(Options& opts, const InputTensors& in, tandem::Symbol* symbol_out,
               std::map<std::string, tandem::NDArray>* params_out) {
  Report r;
  r.epoch = opts.epoch;
  std::map<std::string, Shape> given(opts.shapes.begin(), opts.shapes.end());
  for (const auto& [name, array] : in.named)
    if (!given.count(name)) {
      given[name] = array.shape();
      opts.shapes.push_back({name, array.shape()});
    }
  tandem::Symbol symbol;
  std::map<std::string, tandem::NDArray> raw_params;
  if (!opts.onnx.empty()) {
    r.symbol_file = r.params_file = opts.onnx;
    // --shape (and --input) shapes fill the dims the file leaves open, at load time; for inputs
    // the file fixes they only choose the shape to describe and plan, as for MXNet models.
    tandem::onnx::Model m = tandem::onnx::Load(opts.onnx);
    size_t next = 0;  // positional --input files follow the model's data inputs in order
    for (const auto& gi : m.inputs) {
      if (given.count(gi.name) || next == in.positional.size()) continue;
      const Shape& s = in.positional[next++].shape();
      given[gi.name] = s;
      opts.shapes.push_back({gi.name, s});
    }
    tandem::onnx::LoadOptions lo;
    for (const auto& gi : m.inputs)
      if (!gi.is_static() && given.count(gi.name)) lo.input_shapes[gi.name] = given.at(gi.name);
    if (!lo.input_shapes.empty()) {
      try {
        m = tandem::onnx::Load(opts.onnx, lo);
      } catch (const tandem::InvalidArgument& e) {
        throw UsageError(e.what());  // a --shape that does not fit the file
      }
    }
    symbol = m.symbol;
    raw_params = std::move(m.params);
    m.symbol = tandem::Symbol();
    r.onnx = std::move(m);
  } else {
    r.symbol_file = opts.prefix + "-symbol.json";
    r.params_file = ParamsFileName(opts.prefix, opts.epoch);
    symbol = tandem::Symbol::Load(r.symbol_file);
    raw_params = tandem::NDArray::LoadToMap(r.params_file);
  }
  const auto params = StripPrefixes(raw_params);
  *symbol_out = symbol;
  *params_out = raw_params;

  for (const auto& node : symbol.TopoNodes()) {
    if (node->is_variable()) continue;
    ++r.num_nodes;
    ++r.ops[node->op->name];
  }

  const auto uses = VariableUses(symbol);
  const std::vector<std::string> input_list = symbol.ListInputs();
  const std::set<std::string> inputs(input_list.begin(), input_list.end());

  auto describe = [&](const std::string& name) {
    InputInfo info;
    info.name = name;
    auto it = uses.find(name);
    info.role = Classify(name, params, it == uses.end() ? std::vector<std::string>{} : it->second);
    if (info.role == Role::kParam) {
      const tandem::NDArray& a = params.at(name);
      info.shape = a.shape();
      info.dtype = a.dtype();
      if (!a.is_none()) {
        ++r.param_arrays;
        r.param_elements += a.size();
        r.param_bytes += a.nbytes();
      }
    } else if (given.count(name)) {
      info.shape = given.at(name);
      info.shape_source = "--shape";
    } else if (info.role == Role::kData) {
      info.shape = ShapeHint(symbol, name);
      if (info.shape.known()) info.shape_source = "__shape__";
      else r.unshaped_data.push_back(name);
    }
    return info;
  };
  for (const std::string& name : symbol.ListArguments()) r.arguments.push_back(describe(name));
  for (const std::string& name : symbol.ListAuxiliaryStates()) r.aux_states.push_back(describe(name));

  for (const auto& [name, shape] : opts.shapes) {
    if (!inputs.count(name)) {
      std::string data;
      for (const auto& a : r.arguments)
        if (a.role == Role::kData) data += (data.empty() ? "" : ", ") + a.name;
      throw UsageError("--shape " + name + ": '" + name + "' is not an input of this model (data inputs: " +
                       (data.empty() ? "none" : data) + ")");
    }
    if (params.count(name))
      throw UsageError("--shape " + name + ": '" + name + "' is a parameter; its shape comes from " +
                       r.params_file);
  }
  for (const auto& [name, array] : params)
    if (!inputs.count(name)) r.unused_params.push_back(name);

  const std::vector<std::string> output_names = symbol.ListOutputs();
  for (const std::string& name : output_names) r.outputs.push_back({name, Shape()});
  if (!r.unshaped_data.empty()) return r;

  // Every data input has a shape: infer the rest, exactly as tandem will when it plans.
  std::map<std::string, Shape> known;
  for (const auto* list : {&r.arguments, &r.aux_states})
    for (const InputInfo& in : *list)
      if (in.shape.known()) known[in.name] = in.shape;
  std::vector<Shape> arg_shapes, out_shapes, aux_shapes;
  symbol.InferShape(known, &arg_shapes, &out_shapes, &aux_shapes);
  for (size_t i = 0; i < r.arguments.size() && i < arg_shapes.size(); ++i)
    if (!r.arguments[i].shape.known()) r.arguments[i].shape = arg_shapes[i];
  for (size_t i = 0; i < r.aux_states.size() && i < aux_shapes.size(); ++i)
    if (!r.aux_states[i].shape.known()) r.aux_states[i].shape = aux_shapes[i];
  for (size_t j = 0; j < r.outputs.size() && j < out_shapes.size(); ++j) r.outputs[j].second = out_shapes[j];
  r.outputs_inferred = true;

  bool any_missing = false;
  for (const auto* list : {&r.arguments, &r.aux_states})
    for (const InputInfo& in : *list) any_missing |= in.role == Role::kMissing;
  if (opts.plan && !any_missing) {
    const tandem::Context ctx = DeviceContext(opts);
    r.plan_context = ctx.ToString();
    tandem::CachedOp op(symbol, raw_params, ctx, RunFlags(opts, false));
    std::vector<Shape> data_shapes;
    for (const std::string& name : op.input_names())
      for (const InputInfo& in : r.arguments)
        if (in.name == name) data_shapes.push_back(in.shape);
    r.plan = op.Plan(data_shapes);
  }
  return r;
}

// ---- output ---------------------------------------------------------------------------------

std::string HumanBytes(size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string ShapeText(const Shape& s) { return s.known() ? s.ToString() : "?"; }

std::string RoleText(const InputInfo& in) {
  switch (in.role) {
    case Role::kParam: return in.dtype ? tandem::DTypeName(*in.dtype) : "";
    case Role::kData:
      return in.shape_source.empty() ? "data input" : "data input (" + in.shape_source + ")";
    case Role::kLabel: return "label (not read at inference)";
    case Role::kMissing: return "MISSING from the params file";
  }
  return "";
}

std::string GiveShapeHint(const std::vector<std::string>& names) {
  std::string s = "give";
  for (const std::string& n : names) s += " --shape " + n + "=...";
  return s;
}

void PrintInputs(const char* title, const std::vector<InputInfo>& list) {
  size_t name_w = 0, shape_w = 0;
  for (const InputInfo& in : list) {
    name_w = std::max(name_w, in.name.size());
    shape_w = std::max(shape_w, ShapeText(in.shape).size());
  }
  std::cout << title << " (" << list.size() << "):\n";
  for (const InputInfo& in : list) {
    std::string shape = ShapeText(in.shape);
    std::cout << "  " << in.name << std::string(name_w - in.name.size() + 2, ' ') << shape
              << std::string(shape_w - shape.size() + 2, ' ') << RoleText(in) << "\n";
  }
}

void PrintText(const Report& r) {
  if (r.onnx) {
    std::cout << "Model: " << r.symbol_file << " (ONNX IR " << r.onnx->ir_version << ", opset "
              << r.onnx->opset << (r.onnx->producer.empty() ? "" : ", from " + r.onnx->producer) << ")\n";
  } else {
    std::cout << "Model: " << r.symbol_file << " + " << r.params_file << "\n";
  }
  size_t op_w = 0;
  for (const auto& [op, n] : r.ops) op_w = std::max(op_w, op.size());
  std::cout << "Operators (" << r.num_nodes << " nodes, " << r.ops.size() << " types):\n";
  for (const auto& [op, n] : r.ops) std::cout << "  " << op << std::string(op_w - op.size() + 2, ' ') << n << "\n";
  PrintInputs("Arguments", r.arguments);
  PrintInputs("Aux states", r.aux_states);
  std::cout << "Parameters: " << r.param_arrays << " arrays, " << r.param_elements << " elements, "
            << r.param_bytes << " bytes (" << HumanBytes(r.param_bytes) << ")\n";
  if (!r.unused_params.empty()) {
    std::cout << "Unused entries in the params file (" << r.unused_params.size() << "):";
    for (const std::string& n : r.unused_params) std::cout << " " << n;
    std::cout << "\n";
  }
  std::cout << "Data inputs:";
  bool any = false;
  for (const InputInfo& in : r.arguments)
    if (in.role == Role::kData) {
      std::cout << " " << in.name;
      any = true;
    }
  std::cout << (any ? "\n" : " none\n");
  std::cout << "Outputs (" << r.outputs.size() << "):\n";
  for (const auto& [name, shape] : r.outputs)
    std::cout << "  " << name << ": " << (r.outputs_inferred ? ShapeText(shape) : "? (" + GiveShapeHint(r.unshaped_data) + ")") << "\n";
  if (!r.plan) return;
  const tandem::PlanReport& p = *r.plan;
  std::cout << "Plan on " << r.plan_context << ":\n  kernels:";
  const char* sep = " ";
  for (const auto& [backend, n] : p.kernels_by_backend) {
    std::cout << sep << backend << " " << n;
    sep = ", ";
  }
  std::cout << "\n  activation memory per call: " << p.arena_bytes << " bytes (" << HumanBytes(p.arena_bytes)
            << "; " << HumanBytes(p.naive_bytes) << " without buffer reuse)\n"
            << "  largest kernel scratch: " << p.scratch_bytes << " bytes (planned into the activation memory)\n";
  if (!p.plan_cache.empty() || p.choices_measured + p.choices_from_cache + p.choices_reused > 0)
    std::cout << "  kernel choices: " << p.choices_measured << " measured, " << p.choices_from_cache
              << " from the plan cache, " << p.choices_reused << " reused; planned in "
              << static_cast<long long>(p.plan_ms) << " ms"
              << (p.plan_cache.empty() ? "" : " (plan cache " + p.plan_cache + ")") << "\n";
}

json ShapeJson(const Shape& s) { return s.known() ? json(s.dims()) : json(nullptr); }

json InputsJson(const std::vector<InputInfo>& list) {
  json out = json::array();
  for (const InputInfo& in : list) {
    json j = {{"name", in.name}, {"role", RoleName(in.role)}, {"shape", ShapeJson(in.shape)}};
    j["dtype"] = in.dtype ? json(tandem::DTypeName(*in.dtype)) : json(nullptr);
    if (in.role == Role::kData) j["shape_source"] = in.shape_source.empty() ? json(nullptr) : json(in.shape_source);
    out.push_back(j);
  }
  return out;
}

void PrintJson(const Report& r) {
  json j;
  j["symbol_file"] = r.symbol_file;
  j["params_file"] = r.params_file;
  j["epoch"] = r.epoch;
  if (r.onnx) {
    j["format"] = "onnx";
    j["onnx"] = {{"ir_version", r.onnx->ir_version}, {"opset", r.onnx->opset},
                 {"producer", r.onnx->producer}, {"output_names", r.onnx->output_names}};
  } else {
    j["format"] = "mxnet";
  }
  j["num_nodes"] = r.num_nodes;
  j["ops"] = r.ops;
  j["arguments"] = InputsJson(r.arguments);
  j["aux_states"] = InputsJson(r.aux_states);
  j["parameters"] = {{"arrays", r.param_arrays}, {"elements", r.param_elements}, {"bytes", r.param_bytes}};
  j["unused_params"] = r.unused_params;
  json data = json::array();
  for (const InputInfo& in : r.arguments)
    if (in.role == Role::kData) data.push_back(in.name);
  j["data_inputs"] = data;
  j["missing_shapes"] = r.unshaped_data;
  json outputs = json::array();
  for (const auto& [name, shape] : r.outputs) outputs.push_back({{"name", name}, {"shape", ShapeJson(shape)}});
  j["outputs"] = outputs;
  if (r.plan) {
    const tandem::PlanReport& p = *r.plan;
    j["plan"] = {{"context", r.plan_context},
                 {"kernels_by_backend", p.kernels_by_backend},
                 {"host_fallback_kernels", p.host_fallback_kernels},
                 {"node_kernels", p.node_kernels},
                 {"arena_bytes", p.arena_bytes},
                 {"naive_bytes", p.naive_bytes},
                 {"scratch_bytes", p.scratch_bytes},
                 {"param_bytes", p.param_bytes},
                 {"choices_measured", p.choices_measured},
                 {"choices_from_cache", p.choices_from_cache},
                 {"choices_reused", p.choices_reused},
                 {"plan_cache", p.plan_cache.empty() ? json(nullptr) : json(p.plan_cache)},
                 {"plan_ms", p.plan_ms}};
  } else {
    j["plan"] = nullptr;
  }
  std::cout << j.dump(2) << "\n";
}

int Fail(const std::string& kind, const std::string& message) {
  std::cerr << "tandem-info: " << kind << ": " << message << "\n";
  return kExitError;
}

}  // namespace

// --input: one Forward call; the outputs go to --output-dir as ONNX TensorProto files.
void RunOnce(const Options& opts, const InputTensors& in, const Report& r, const tandem::Symbol& symbol,
             const std::map<std::string, tandem::NDArray>& params) {
  const tandem::Context ctx = DeviceContext(opts);
  tandem::CachedOp op(symbol, params, ctx, RunFlags(opts, true));
  const std::vector<std::string>& used = op.input_names();
  auto is_used = [&](const std::string& name) { return std::find(used.begin(), used.end(), name) != used.end(); };
  std::map<std::string, tandem::NDArray> feed;
  for (const auto& [name, array] : in.named) {
    if (!is_used(name)) throw UsageError("--input " + name + ": not a data input of this model");
    feed[name] = array.ctx() == ctx ? array : array.Copy(ctx);
  }
  // Positional files: the ONNX graph's input order (inputs the outputs never read are skipped),
  // or the CachedOp's order for MXNet models.
  std::vector<std::string> order;
  if (r.onnx) {
    for (const auto& gi : r.onnx->inputs) order.push_back(gi.name);
  } else {
    order = used;
  }
  size_t next = 0;
  for (const std::string& name : order) {
    if (feed.count(name)) continue;
    if (next == in.positional.size()) {
      if (is_used(name)) throw UsageError("no --input for the data input '" + name + "'");
      continue;
    }
    const tandem::NDArray& a = in.positional[next++];
    if (is_used(name)) feed[name] = a.ctx() == ctx ? a : a.Copy(ctx);
  }
  if (next != in.positional.size()) throw UsageError("more --input files than data inputs");
  std::vector<tandem::NDArray> outputs = op.Forward(feed);
  for (tandem::NDArray& o : outputs)
    if (!o.ctx().is_cpu()) o = o.Copy(tandem::Context::cpu());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string name = r.onnx && k < r.onnx->output_names.size() ? r.onnx->output_names[k] : op.output_names()[k];
    if (!opts.output_dir.empty()) {
      // The inputs' format: .npy when they were .npy files.
      const bool npy = !opts.inputs.empty() && IsNpy(opts.inputs[0].second);
      const std::string file = opts.output_dir + "/output_" + std::to_string(k) + (npy ? ".npy" : ".pb");
      if (npy) SaveNpy(file, outputs[k]);
      else tandem::onnx::SaveTensor(file, outputs[k], name);
      std::cerr << "tandem-info: wrote " << name << " " << outputs[k].shape().ToString() << " to " << file << "\n";
    } else {
      std::cerr << "tandem-info: ran; output " << name << " " << outputs[k].shape().ToString() << "\n";
    }
  }
}

int main(int argc, char** argv) {
  try {
    Options opts = ParseArgs(argc, argv);
    const InputTensors in = ReadInputs(opts);
    tandem::Symbol symbol;
    std::map<std::string, tandem::NDArray> params;
    const Report report = Inspect(opts, in, &symbol, &params);
    if (opts.json) PrintJson(report);
    else PrintText(report);
    if (!opts.inputs.empty()) RunOnce(opts, in, report, symbol, params);
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "tandem-info: " << e.what() << "\n" << kUsage;
    return kExitUsage;
  } catch (const tandem::Error& e) {
    return Fail(tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::bad_alloc&) {
    return Fail("OutOfMemory", "allocation failed");
  } catch (const std::exception& e) {
    return Fail("InternalError", e.what());
  }
}
