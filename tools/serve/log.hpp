// tools/serve/log.hpp — tandem-serve's structured log: one logfmt line per event or request on
// stderr, e.g.
//   ts=2026-12-07T14:31:02.512Z level=info event=infer proto=http model=effnet status=200 ms=41.2
//
// Thread safety: Write may be called from any thread; each line is written whole (one fwrite
// under a mutex), so lines of concurrent requests never interleave.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::serve {

class Log {
 public:
  // kError: failures (and the lifecycle lines); kInfo: + model loads and every inference request;
  // kDebug: + every other HTTP request (health probes, metadata, metrics).
  enum class Level { kError = 0, kInfo = 1, kDebug = 2 };
  using Fields = std::vector<std::pair<std::string_view, std::string>>;

  explicit Log(Level level = Level::kInfo) : level_(level) {}
  bool enabled(Level level) const { return level <= level_; }

  void Write(Level level, std::string_view event, const Fields& fields, const char* label = nullptr) {
    if (!enabled(level)) return;
    std::string line = "ts=" + Timestamp() + " level=" + (label ? label : LevelName(level)) + " event=";
    line += event;
    for (const auto& [key, value] : fields) {
      line += ' ';
      line += key;
      line += '=';
      AppendValue(&line, value);
    }
    line += '\n';
    std::lock_guard<std::mutex> lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void Info(std::string_view event, const Fields& fields) { Write(Level::kInfo, event, fields); }
  // Start-up and shutdown (listening, ready, shutdown, stopped): a few lines that tools and
  // operators wait for, written at every level.
  void Lifecycle(std::string_view event, const Fields& fields) { Write(Level::kError, event, fields, "info"); }
  void Error(std::string_view event, const Fields& fields) { Write(Level::kError, event, fields); }

 private:
  static const char* LevelName(Level level) {
    return level == Level::kError ? "error" : level == Level::kInfo ? "info" : "debug";
  }
  static std::string Timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
  }
  // logfmt: bare when the value has no space, quote or '='; else quoted with \" \\ \n escaped.
  static void AppendValue(std::string* line, const std::string& value) {
    const bool bare = !value.empty() && value.find_first_of(" \"=\n\t\\") == std::string::npos;
    if (bare) {
      *line += value;
      return;
    }
    *line += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') *line += '\\';
      if (c == '\n') {
        *line += "\\n";
        continue;
      }
      *line += c;
    }
    *line += '"';
  }

  Level level_;
  std::mutex mutex_;
};

}  // namespace tandem::serve
