// libFuzzer target: the symbol JSON reader (Symbol::LoadJSON) and what is done with a graph right
// after loading it (introspection, shape inference, writing it back).
//
// Contract checked: any text either loads or throws tandem::Error; nothing else may escape. A
// graph that loads must be written by ToJSON as JSON that loads again and writes the same text.
#include <cstdint>
#include <string>

#include "tandem/tandem.hpp"

using namespace tandem;

namespace {
const std::string kSource = "<fuzz>";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Symbol net;
  try {
    net = Symbol::LoadJSON(std::string(reinterpret_cast<const char*>(data), size), kSource);
  } catch (const Error&) {
    return 0;
  }
  std::vector<std::string> inputs;
  try {
    inputs = net.ListInputs();
    net.ListArguments();
    net.ListAuxiliaryStates();
    net.ListOutputs();
    net.GetInternals().ListOutputs();
  } catch (const Error&) {
  }
  try {
    net.InferShapeMap({});
  } catch (const Error&) {
  }
  if (std::find(inputs.begin(), inputs.end(), "data") != inputs.end()) {
    try {
      net.InferShapeMap({{"data", Shape{1, 3, 8, 8}}});
    } catch (const Error&) {
    }
  }
  // Round trip: what tandem writes, tandem must read, and reading it must change nothing.
  std::string json;
  try {
    json = net.ToJSON();
  } catch (const Error&) {
    return 0;
  }
  Symbol again = Symbol::LoadJSON(json, kSource);  // throwing here is a bug: not caught
  if (again.ToJSON() != json) __builtin_trap();
  return 0;
}
