// ONNX import in a build without protobuf (or with -Donnx=disabled): the API of tandem/onnx.hpp
// exists, and every call says how to get a build that has it.
#include "tandem/onnx.hpp"

namespace tandem::onnx {
namespace {

[[noreturn]] void NotBuilt() {
  Throw<Unsupported>("this tandem was built without ONNX support (install libprotobuf-dev, "
                     "protobuf-compiler and libonnx-dev, then reconfigure with -Donnx=enabled)");
}

}  // namespace

bool Available() { return false; }

bool GraphInput::is_static() const {
  if (!shape.known()) return false;
  for (int64_t d : shape.dims())
    if (d < 0) return false;
  return true;
}

Model Load(const std::string&, const LoadOptions&) { NotBuilt(); }
Model LoadFromBuffer(const void*, size_t, const LoadOptions&, const std::string&) { NotBuilt(); }
NDArray LoadTensor(const std::string&) { NotBuilt(); }
NDArray LoadTensorFromBuffer(const void*, size_t, const std::string&) { NotBuilt(); }
void SaveTensor(const std::string&, const NDArray&, const std::string&) { NotBuilt(); }

}  // namespace tandem::onnx
