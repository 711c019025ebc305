// Internal: measured kernel choices, kept for the process and in the persistent plan cache.
// The GPU convolution factories (lib/cuda) measure candidate kernels per shape at plan time and
// keep the fastest; a ChoiceTable makes each measurement happen once per process, and, when the
// CachedOp being planned has a plan cache (CachedOpFlags::plan_cache), once per machine and
// software (lib/core/plan_cache.hpp). Needs no GPU, so it is tested on the CPU.
//
// Thread safety: a ChoiceTable is shared by design (one per kind of choice, for the process); its
// mutex guards lookups and inserts, never a measurement.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "lib/core/plan_cache.hpp"
#include "lib/exec/planning.hpp"

namespace tandem::detail {

// Where a measured choice is kept beyond this process (lib/core/plan_cache.hpp): `kind` names
// what is chosen and its payload format ("cudnn-conv-fwd/1"); `key` is everything the choice
// depends on besides the device (shape, dtype, layout, math mode, settings); `fingerprint` the
// device's (DeviceFingerprint, plus libraries).
struct ChoiceId {
  std::string kind, key, fingerprint;
  int device = 0;
};

// Measured choices kept for the process by device and key, so a second CachedOp or a second
// thread planning the same shape reuses the first measurement; and, when the plan being built
// has a plan cache (PlanningCache), on disk for later processes. The mutex is not held
// while measuring, which takes milliseconds: two threads meeting a new key at once both measure,
// and the first result stored is the one both return. Each choice is counted in the plan's
// PlanChoiceCounters as measured, loaded from the cache, or reused.
template <class Choice>
class ChoiceTable {
 public:
  // `encode`: Choice -> string; `decode`: string -> std::optional<Choice>, nothing for a payload
  // that does not parse or that this spec cannot use (the kernel it names fails to build): the
  // choice is then measured again, after one warning.
  template <class Measure, class Encode, class Decode>
  Choice FindOrMeasure(const ChoiceId& id, Measure&& measure, Encode&& encode, Decode&& decode) {
    PlanChoiceCounters* counters = PlanningCounters();
    const PlanCache* cache = PlanningCache();
    const std::string table_key = std::to_string(id.device) + "|" + id.kind + "|" + id.key;
    std::optional<Choice> choice;
    {
      std::lock_guard lock(mutex_);
      if (auto it = known_.find(table_key); it != known_.end()) choice = it->second;
    }
    if (choice) {
      if (counters) ++counters->reused;
      // Measured before this cache was given (another CachedOp): stored now, so a cache filled
      // by one process holds every choice its plans used.
      if (cache && !cache->Has(id.fingerprint, id.kind, id.key))
        cache->Store(id.fingerprint, id.kind, id.key, encode(*choice));
      return *choice;
    }
    if (cache) {
      if (std::optional<std::string> payload = cache->Load(id.fingerprint, id.kind, id.key)) {
        choice = decode(*payload);
        if (choice) {
          if (counters) ++counters->loaded;
        } else {
          cache->Warn(id.kind + "|" + id.key, "the stored " + id.kind + " choice for " + id.key +
                                                  " cannot be used here; measuring it again");
        }
      }
    }
    if (!choice) {
      choice = measure();
      if (counters) ++counters->measured;
      if (cache) cache->Store(id.fingerprint, id.kind, id.key, encode(*choice));
    }
    std::lock_guard lock(mutex_);
    return known_.emplace(table_key, std::move(*choice)).first->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Choice> known_;
};

}  // namespace tandem::detail
