// tandem/onnx.hpp — ONNX import: run an ONNX model through the same thread-safe CachedOp.
//
//   tandem::onnx::Model m = tandem::onnx::Load("resnet50.onnx");
//   tandem::CachedOp op(m.symbol, m.params, tandem::Context::cpu());
//   tandem::NDArray y = op.Forward({{m.inputs[0].name, image}})[0];
//
// Load reads the file with the ONNX protobuf schema, folds what is known at load time (constants,
// Shape / Gather / Unsqueeze / Concat chains, Pads in front of Conv / Pool) and maps every other
// node onto tandem's own operators, so the result is an ordinary Symbol + params map. Supported
// operators, opsets (7 to 21) and limitations: docs/onnx.md. A model that uses operators tandem
// cannot map is one Unsupported error naming every such node; a malformed file is a FormatError.
//
// The API is always declared. When tandem was built without ONNX support (no protobuf at build
// time, or -Donnx=disabled), Available() is false and every other function throws Unsupported.
//
// Thread safety: every function is reentrant and shares no state, so any number of threads may
// load models at once. The returned Model is a plain value (its Symbol and arrays follow the
// rules of symbol.hpp and ndarray.hpp).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "tandem/dtype.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/shape.hpp"
#include "tandem/symbol.hpp"

namespace tandem::onnx {

// Whether this build of tandem can read ONNX files.
bool Available();

// One data input of the graph (graph inputs that are initializers are parameters, not inputs).
struct GraphInput {
  std::string name;
  // The dims as the file gives them; -1 where the file leaves a dim open (a dim_param such as
  // "batch", or no value). ndim() == 0 when the file gives no shape at all.
  Shape shape;
  DType dtype = DType::f32;
  std::vector<std::string> dim_params;  // per dim: the symbolic name, "" for fixed dims
  bool is_static() const;               // every dim fixed
};

struct Model {
  Symbol symbol;
  // Initializers the graph reads, as CachedOp takes them: "arg:<name>", or "aux:<name>" for
  // BatchNormalization's running mean / variance.
  std::map<std::string, NDArray> params;
  // Data inputs the outputs depend on, in the graph's order (CachedOp::input_names() may list
  // them in another order: pass inputs by name when there are several).
  std::vector<GraphInput> inputs;
  std::vector<std::string> output_names;   // ONNX names of symbol's outputs, in order
  int64_t ir_version = 0;
  int64_t opset = 0;                       // of the default ("ai.onnx") domain
  std::string producer;                    // producer_name and producer_version
};

struct LoadOptions {
  // Fixed shapes for data inputs, by name; they replace open dims (and must agree with the fixed
  // ones). Shape-dependent folding (Shape, Flatten on an odd axis, auto_pad SAME, ...) then
  // resolves dims the file leaves open.
  std::map<std::string, Shape> input_shapes;
};

// Reads an ONNX model file (protobuf ModelProto). Tensors with external data are Unsupported.
Model Load(const std::string& path, const LoadOptions& options = {});
// Same from memory; `source` names the buffer in error messages.
Model LoadFromBuffer(const void* data, size_t size, const LoadOptions& options = {},
                     const std::string& source = "<buffer>");

// A serialized TensorProto (the input_0.pb / output_0.pb files of ONNX test data sets) as a
// CPU array of its own dtype; a 0-d tensor becomes shape (1).
NDArray LoadTensor(const std::string& path);
NDArray LoadTensorFromBuffer(const void* data, size_t size, const std::string& source = "<buffer>");
// Writes `array` as a serialized TensorProto named `name`.
void SaveTensor(const std::string& path, const NDArray& array, const std::string& name = "");

}  // namespace tandem::onnx
