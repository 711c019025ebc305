// libFuzzer target: the plan cache entry reader (lib/core/plan_cache.hpp, PlanCache::Decode), which
// reads files any process sharing the cache directory may have written.
//
// Contract checked: any byte string either decodes or is refused (nothing thrown, no allocation
// beyond the input's size); an entry that decodes is canonical: encoding it gives back the very
// bytes, and one flipped payload byte is always refused (the CRC).
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/core/plan_cache.hpp"

using tandem::detail::PlanCache;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto entry = PlanCache::Decode(bytes, &why);
  if (!entry) {
    if (why.empty()) __builtin_trap();  // a refusal always says why (the one warning prints it)
    return 0;
  }
  std::string again = PlanCache::Encode(*entry);
  if (again != bytes) __builtin_trap();
  if (!entry->payload.empty()) {
    again[again.size() - 5] = static_cast<char>(again[again.size() - 5] ^ 1);
    if (PlanCache::Decode(again)) __builtin_trap();
  }
  return 0;
}
