// Helpers shared by tandem's own tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace tandem::test {

// ../shared/models beside the repository, or $TANDEM_MODELS.
inline std::string ModelsDir() {
  if (const char* env = std::getenv("TANDEM_MODELS")) return env;
  return std::string(TANDEM_SOURCE_DIR) + "/../shared/models";
}

// Path of a file under the models folder; the calling test is skipped (with a message saying
// what is missing) when it is absent.
#define TANDEM_REQUIRE_MODEL_FILE(var, rel)                                                  \
  std::string var = ::tandem::test::ModelsDir() + "/" + (rel);                               \
  if (!std::filesystem::exists(var)) {                                                       \
    WARN("SKIPPED: " << var << " is absent (set TANDEM_MODELS to the shared models folder)"); \
    return;                                                                                  \
  }

}  // namespace tandem::test
