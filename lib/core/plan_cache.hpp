// Internal: the persistent plan cache (CachedOpFlags::plan_cache, TANDEM_PLAN_CACHE; see
// docs/plan-cache.md). A directory of measured kernel choices, one file per choice, so that a
// later process planning the same shape on the same GPU and software reads the choice back
// instead of measuring it again. This file knows nothing about GPUs: the kernel factories supply
// the fingerprint (device and library versions), the kind of choice, the key (the shape) and the
// payload (the choice, encoded by them), and decide themselves whether a payload read back can be
// used.
//
// Safety: an entry is a versioned, length-checked, CRC-32-checked record that repeats its
// fingerprint, kind and key in full, so a truncated, corrupted, hostile, renamed or colliding
// file is ignored (with one warning per file), never trusted. Files are read only when they are
// regular files of at most kMaxFileBytes.
//
// Concurrency: every entry is written to a unique temporary file in the directory and renamed
// over its name, which is atomic on POSIX file systems, so readers see a whole old entry, a whole
// new one or none, whatever number of threads and processes write at once.
//
// Thread safety: all member functions may be called concurrently; a PlanCache is shared by every
// plan of a CachedOp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace tandem::detail {

// How a plan's kernel choices were made (PlanReport's choices_* counters). The kernel factories
// of one plan run in its planning thread; atomics keep the counters safe anyway.
struct PlanChoiceCounters {
  std::atomic<int> measured{0};  // measured at plan time
  std::atomic<int> loaded{0};    // read back from the plan cache directory
  std::atomic<int> reused{0};    // measured earlier in this process (another plan or CachedOp)
  std::atomic<int> winograd{0};  // CPU convolutions made as Winograd kernels (not a measurement)
};

// One decoded entry.
struct PlanCacheEntry {
  std::string fingerprint, kind, key, payload;
};

class PlanCache {
 public:
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr size_t kMaxFileBytes = size_t{1} << 20;  // entries are a few hundred bytes
  static constexpr const char* kExtension = ".tpc";

  // Creates `dir` when missing; a directory that cannot be created or written makes every Load
  // miss and every Store a no-op, after one warning (a plan still builds, by measuring).
  explicit PlanCache(std::filesystem::path dir);

  // The payload stored for (fingerprint, kind, key), or nothing: no entry, or an entry that is
  // unreadable or not for these strings (warned once per file).
  std::optional<std::string> Load(const std::string& fingerprint, const std::string& kind,
                                  const std::string& key) const;
  // Writes the entry (temporary file + rename). Never throws: a failure is warned once.
  void Store(const std::string& fingerprint, const std::string& kind, const std::string& key,
             const std::string& payload) const;
  // Whether an entry file for these strings exists (not read; cheap).
  bool Has(const std::string& fingerprint, const std::string& kind, const std::string& key) const;

  // A warning on stderr ("tandem: plan cache DIR: what"), printed once per `once_key`.
  void Warn(const std::string& once_key, const std::string& what) const;
  size_t warning_count() const { return warnings_.load(); }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path PathFor(const std::string& fingerprint, const std::string& kind,
                                const std::string& key) const;

  // The bytes of an entry file, and back. Decode returns nothing (and says why) for anything
  // that is not a whole, intact entry of this format version.
  static std::string Encode(const PlanCacheEntry& entry);
  static std::optional<PlanCacheEntry> Decode(std::string_view bytes, std::string* why = nullptr);

 private:
  std::filesystem::path dir_;
  bool usable_ = true;  // the directory exists (or was created)
  mutable std::mutex warned_mutex_;
  mutable std::set<std::string> warned_;
  mutable std::atomic<size_t> warnings_{0};
};

// The library's version (meson's project version), part of every GPU fingerprint.
std::string TandemVersion();

}  // namespace tandem::detail
