// Shared by the fuzz targets and the seed generator: the layout of a fuzz_model input.
//
//   byte 0             flags (see fuzz_model.cpp)
//   bytes 1..          symbol JSON
//   kParamsSeparator   (optional) followed by a .params image; absent: the model has no params
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tandem::fuzz {

inline constexpr std::string_view kParamsSeparator = "\n#--tandem-params--#\n";

struct ModelInput {
  uint8_t flags = 0;
  std::string_view json;
  std::string_view params;  // empty: no params image
  bool has_params = false;
};

inline ModelInput SplitModelInput(const uint8_t* data, size_t size) {
  ModelInput in;
  if (size == 0) return in;
  in.flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t at = rest.find(kParamsSeparator);
  if (at == std::string_view::npos) {
    in.json = rest;
    return in;
  }
  in.json = rest.substr(0, at);
  in.params = rest.substr(at + kParamsSeparator.size());
  in.has_params = true;
  return in;
}

inline std::string JoinModelInput(uint8_t flags, const std::string& json, const std::string* params) {
  std::string out(1, static_cast<char>(flags));
  out += json;
  if (params) {
    out += kParamsSeparator;
    out += *params;
  }
  return out;
}

}  // namespace tandem::fuzz
