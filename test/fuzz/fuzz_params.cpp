// libFuzzer target: the in-memory .params reader (NDArray::LoadFromBuffer).
//
// Contract checked: any byte string either loads or throws tandem::Error (FormatError in
// practice); nothing else may escape, and no allocation may exceed what the bytes can hold
// (libFuzzer's -malloc_limit_mb / -rss_limit_mb turn an oversized allocation into a crash).
// A list that loads must survive NDArray::SaveToBuffer and load back identical.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tandem/tandem.hpp"

using tandem::NDArray;

namespace {

// Built once: a std::string per iteration is measurable at >1,000,000 runs.
const std::string kSource = "<fuzz>";

bool SameArrays(const std::vector<NDArray>& a, const std::vector<NDArray>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].is_none() != b[i].is_none()) return false;
    if (a[i].is_none()) continue;
    if (a[i].shape() != b[i].shape() || a[i].dtype() != b[i].dtype()) return false;
    if (a[i].nbytes() && std::memcmp(a[i].raw_data(), b[i].raw_data(), a[i].nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  try {
    NDArray::LoadFromBuffer(data, size, kSource, &arrays, &names);
  } catch (const tandem::Error&) {
    return 0;  // the only acceptable failure
  }
  // Round trip. A V3 record with ndim 0 loads as a 0-d (one element) array, which the V2 writer
  // cannot express (V2 ndim 0 means "none"); such lists are not compared.
  for (const NDArray& a : arrays)
    if (!a.is_none() && a.shape().ndim() == 0) return 0;
  std::string saved = NDArray::SaveToBuffer(arrays, names);
  std::vector<NDArray> again;
  std::vector<std::string> again_names;
  NDArray::LoadFromBuffer(saved.data(), saved.size(), kSource, &again, &again_names);
  if (again_names != names || !SameArrays(arrays, again)) __builtin_trap();
  return 0;
}
