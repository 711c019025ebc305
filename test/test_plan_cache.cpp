// The persistent plan cache (lib/core/plan_cache.hpp, lib/exec/choice_table.hpp,
// CachedOpFlags::plan_cache; docs/plan-cache.md): entries round-trip; truncated, corrupted,
// wrong-version, foreign and hostile files are ignored with one warning; concurrent writers
// (threads and processes) leave every entry readable; a choice table measures once per machine;
// the CachedOp flag and TANDEM_PLAN_CACHE reach the plan. The GPU side is in test_gpu.cpp.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "lib/core/plan_cache.hpp"
#include "lib/exec/choice_table.hpp"
#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"

using tandem::detail::ChoiceId;
using tandem::detail::ChoiceTable;
using tandem::detail::PlanCache;
using tandem::detail::PlanCacheEntry;
using tandem::detail::PlanChoiceCounters;
using tandem::detail::PlanningScope;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory under the system's temporary directory, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "tandem-plan-cache-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const std::string kFingerprint = "NVIDIA H100 80GB HBM3 sm_90 driver 13000 cuda 13000 tandem 0.1.0";
const std::string kKind = "cudnn-conv/1";

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string KeyOf(int i) { return "type 0|1,64,56,56,|shape " + std::to_string(i); }
std::string PayloadOf(int i) { return "use_graph 1 engine " + std::to_string(i * 7); }

size_t EntryFiles(const fs::path& dir, size_t* temporaries = nullptr) {
  size_t entries = 0, temps = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == PlanCache::kExtension) ++entries;
    else ++temps;
  }
  if (temporaries) *temporaries = temps;
  return entries;
}

}  // namespace

TEST_CASE("plan cache: entries round-trip between cache objects (and processes) on one directory",
          "[plan_cache]") {
  TempDir dir;
  {
    const PlanCache writer(dir.path);
    for (int i = 0; i < 20; ++i) writer.Store(kFingerprint, kKind, KeyOf(i), PayloadOf(i));
    writer.Store(kFingerprint, kKind, KeyOf(3), PayloadOf(33));  // replaced whole
  }
  const PlanCache reader(dir.path);
  for (int i = 0; i < 20; ++i) {
    INFO("entry " << i);
    REQUIRE(reader.Has(kFingerprint, kKind, KeyOf(i)));
    CHECK(reader.Load(kFingerprint, kKind, KeyOf(i)) == PayloadOf(i == 3 ? 33 : i));
  }
  CHECK_FALSE(reader.Load(kFingerprint, kKind, KeyOf(20)));
  CHECK_FALSE(reader.Load(kFingerprint, "cudnn-conv/2", KeyOf(1)));  // a new payload format
  size_t temporaries = 0;
  CHECK(EntryFiles(dir.path, &temporaries) == 20);
  CHECK(temporaries == 0);
  CHECK(reader.warning_count() == 0);

  // The encoding itself, with empty and binary strings.
  const PlanCacheEntry e{"", "k", std::string("a\0b\xff", 4), ""};
  const auto back = PlanCache::Decode(PlanCache::Encode(e));
  REQUIRE(back);
  CHECK(back->fingerprint == e.fingerprint);
  CHECK(back->kind == e.kind);
  CHECK(back->key == e.key);
  CHECK(back->payload == e.payload);
}

TEST_CASE("plan cache: a cache from another GPU or version is never read", "[plan_cache]") {
  TempDir dir;
  const PlanCache cache(dir.path);
  cache.Store(kFingerprint, kKind, KeyOf(1), PayloadOf(1));
  const std::string other_gpu = "NVIDIA A100-SXM4-80GB sm_80 driver 13000 cuda 13000 tandem 0.1.0";
  const std::string other_cudnn = kFingerprint + " cudnn 91000";
  CHECK_FALSE(cache.Load(other_gpu, kKind, KeyOf(1)));
  CHECK_FALSE(cache.Load(other_cudnn, kKind, KeyOf(1)));
  CHECK(cache.warning_count() == 0);  // another file name: simply absent

  // An entry copied or renamed over another device's name is read, found foreign and ignored.
  fs::copy_file(cache.PathFor(kFingerprint, kKind, KeyOf(1)), cache.PathFor(other_gpu, kKind, KeyOf(1)));
  CHECK_FALSE(cache.Load(other_gpu, kKind, KeyOf(1)));
  CHECK_FALSE(cache.Load(other_gpu, kKind, KeyOf(1)));
  CHECK(cache.warning_count() == 1);
  CHECK(cache.Load(kFingerprint, kKind, KeyOf(1)) == PayloadOf(1));
}

TEST_CASE("plan cache: truncated, corrupted and wrong-version files are ignored with one warning",
          "[plan_cache]") {
  TempDir dir;
  const PlanCache cache(dir.path);
  const std::string bytes = PlanCache::Encode({kFingerprint, kKind, KeyOf(1), PayloadOf(1)});

  SECTION("every proper prefix fails to decode") {
    for (size_t n = 0; n < bytes.size(); ++n) {
      std::string why;
      INFO("prefix of " << n << " bytes");
      CHECK_FALSE(PlanCache::Decode(std::string_view(bytes).substr(0, n), &why));
      CHECK_FALSE(why.empty());
    }
  }
  SECTION("every single-bit flip fails to decode") {
    for (size_t i = 0; i < bytes.size(); ++i) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
      INFO("bit flip at byte " << i);
      CHECK_FALSE(PlanCache::Decode(flipped));
    }
  }
  SECTION("truncated, corrupted and wrong-version files on disk") {
    const fs::path path = cache.PathFor(kFingerprint, kKind, KeyOf(1));
    // Format version 2 with a valid CRC: what a future tandem would write.
    std::string wrong_version = bytes.substr(0, bytes.size() - 4);
    wrong_version[8] = 2;
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(wrong_version.data()),
                            static_cast<uInt>(wrong_version.size()));
    for (int i = 0; i < 4; ++i) wrong_version.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    std::string why;
    CHECK_FALSE(PlanCache::Decode(wrong_version, &why));
    CHECK(why.find("format version 2") != std::string::npos);
    for (const std::string& bad : {bytes.substr(0, bytes.size() / 2), std::string(),
                                   bytes.substr(0, bytes.size() - 1) + "x", wrong_version,
                                   std::string(4096, '\0')}) {
      const size_t before = cache.warning_count();
      WriteFile(path, bad);
      CHECK_FALSE(cache.Load(kFingerprint, kKind, KeyOf(1)));
      fs::remove(path);  // each case is a new file: warned anew
      const PlanCache fresh(dir.path);
      WriteFile(path, bad);
      CHECK_FALSE(fresh.Load(kFingerprint, kKind, KeyOf(1)));
      CHECK_FALSE(fresh.Load(kFingerprint, kKind, KeyOf(1)));
      CHECK(fresh.warning_count() == 1);  // once per file, however often it is read
      CHECK(cache.warning_count() <= before + 1);
    }
    // Storing again replaces the bad file with a good one.
    cache.Store(kFingerprint, kKind, KeyOf(1), PayloadOf(1));
    CHECK(cache.Load(kFingerprint, kKind, KeyOf(1)) == PayloadOf(1));
  }
}

TEST_CASE("plan cache: hostile files (huge length fields, huge files, FIFOs, directories) are "
          "ignored without reading them whole or blocking",
          "[plan_cache]") {
  TempDir dir;
  const PlanCache cache(dir.path);
  const fs::path path = cache.PathFor(kFingerprint, kKind, KeyOf(1));

  // Length fields of 0xffffffff with a valid CRC: the sum cannot match the file size.
  std::string bytes = PlanCache::Encode({kFingerprint, kKind, KeyOf(1), PayloadOf(1)});
  for (size_t at = 12; at < 28; ++at) bytes[at] = '\xff';
  CHECK_FALSE(PlanCache::Decode(bytes));
  WriteFile(path, bytes);
  CHECK_FALSE(cache.Load(kFingerprint, kKind, KeyOf(1)));

  fs::remove(path);
  WriteFile(path, std::string(PlanCache::kMaxFileBytes + 1, 'T'));
  CHECK_FALSE(cache.Load(kFingerprint, kKind, KeyOf(1)));
  fs::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);  // opening it for reading must not block
  CHECK_FALSE(cache.Load(kFingerprint, kKind, KeyOf(1)));
  fs::remove(path);
  fs::create_directory(path);
  CHECK_FALSE(cache.Load(kFingerprint, kKind, KeyOf(1)));
  // One warning for the path, whatever was found there (warnings are once per file).
  CHECK(cache.warning_count() == 1);

  // A directory that cannot be one (a regular file) disables the cache after one warning.
  const fs::path not_a_dir = dir.path / "plain-file";
  WriteFile(not_a_dir, "x");
  const PlanCache unusable(not_a_dir);
  unusable.Store(kFingerprint, kKind, KeyOf(1), PayloadOf(1));
  CHECK_FALSE(unusable.Load(kFingerprint, kKind, KeyOf(1)));
  CHECK(unusable.warning_count() == 1);
}

TEST_CASE("plan cache: 8 threads writing and reading the same entries leave every one intact",
          "[plan_cache][threads]") {
  TempDir dir;
  const PlanCache cache(dir.path);
  constexpr int kThreads = 8, kKeys = 40;
  std::atomic<int> bad_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kKeys; ++i) {
          const int k = (i + t * 5) % kKeys;  // every thread writes every key, in its own order
          cache.Store(kFingerprint, kKind, KeyOf(k), PayloadOf(k));
          const auto read = cache.Load(kFingerprint, kKind, KeyOf((k + 1) % kKeys));
          if (read && *read != PayloadOf((k + 1) % kKeys)) ++bad_reads;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(bad_reads == 0);
  CHECK(cache.warning_count() == 0);  // a reader never saw half a file
  size_t temporaries = 0;
  CHECK(EntryFiles(dir.path, &temporaries) == kKeys);
  CHECK(temporaries == 0);
  const PlanCache reader(dir.path);
  for (int k = 0; k < kKeys; ++k) CHECK(reader.Load(kFingerprint, kKind, KeyOf(k)) == PayloadOf(k));
}

TEST_CASE("plan cache: several processes writing the same directory at once leave it readable",
          "[plan_cache][processes]") {
  TempDir dir;
  constexpr int kProcesses = 4, kKeys = 60;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child: only async-signal-safe-ish work, then _exit (no Catch state)
      int bad = 0;
      {
        const PlanCache cache(dir.path);
        for (int round = 0; round < 3; ++round) {
          for (int i = 0; i < kKeys; ++i) {
            const int k = (i + p * 11) % kKeys;
            cache.Store(kFingerprint, kKind, KeyOf(k), PayloadOf(k));
            // A key all processes write with their own payload: any one of them, whole.
            cache.Store(kFingerprint, kKind, "shared", "writer " + std::to_string(p));
            const auto read = cache.Load(kFingerprint, kKind, KeyOf((k + 7) % kKeys));
            if (read && *read != PayloadOf((k + 7) % kKeys)) ++bad;
          }
        }
        if (cache.warning_count() != 0) ++bad;
      }
      ::_exit(bad == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const PlanCache reader(dir.path);
  for (int k = 0; k < kKeys; ++k) CHECK(reader.Load(kFingerprint, kKind, KeyOf(k)) == PayloadOf(k));
  const auto shared = reader.Load(kFingerprint, kKind, "shared");
  REQUIRE(shared);
  CHECK(shared->rfind("writer ", 0) == 0);
  size_t temporaries = 0;
  CHECK(EntryFiles(dir.path, &temporaries) == kKeys + 1);
  CHECK(temporaries == 0);
  CHECK(reader.warning_count() == 0);
}

TEST_CASE("choice table: measured once per machine, read back by a later 'process', re-measured "
          "when a stored choice cannot be used",
          "[plan_cache]") {
  TempDir dir;
  const PlanCache cache(dir.path);
  const ChoiceId id{"test-choice/1", "shape 1x64x56x56", kFingerprint, 0};
  auto encode = [](int v) { return std::to_string(v); };
  auto decode = [](const std::string& s) -> std::optional<int> {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoi(s);
  };
  int measurements = 0;
  auto measure = [&] { return ++measurements, 42; };

  {  // the first process: measures and stores
    ChoiceTable<int> table;
    PlanChoiceCounters counters;
    const PlanningScope scope(nullptr, &cache, &counters);
    CHECK(table.FindOrMeasure(id, measure, encode, decode) == 42);
    CHECK(table.FindOrMeasure(id, measure, encode, decode) == 42);  // another plan, same process
    CHECK(counters.measured == 1);
    CHECK(counters.reused == 1);
    CHECK(counters.loaded == 0);
  }
  {  // a later process (a fresh table): reads it back, measures nothing
    ChoiceTable<int> table;
    PlanChoiceCounters counters;
    const PlanningScope scope(nullptr, &cache, &counters);
    CHECK(table.FindOrMeasure(id, [&] { return ++measurements, 7; }, encode, decode) == 42);
    CHECK(counters.loaded == 1);
    CHECK(counters.measured == 0);
    CHECK(measurements == 1);
  }
  {  // a stored choice this spec cannot use: measured again after one warning, then stored
    cache.Store(kFingerprint, id.kind, id.key, "not a number");
    ChoiceTable<int> table;
    PlanChoiceCounters counters;
    const PlanningScope scope(nullptr, &cache, &counters);
    CHECK(table.FindOrMeasure(id, measure, encode, decode) == 42);
    CHECK(counters.measured == 1);
    CHECK(cache.warning_count() == 1);
    CHECK(cache.Load(kFingerprint, id.kind, id.key) == "42");
  }
  {  // measured in this process before a cache was given: stored when first reused with one
    TempDir later_dir;
    const PlanCache later(later_dir.path);
    ChoiceTable<int> table;
    CHECK(table.FindOrMeasure(id, measure, encode, decode) == 42);  // no planning scope: no cache
    PlanChoiceCounters counters;
    const PlanningScope scope(nullptr, &later, &counters);
    CHECK(table.FindOrMeasure(id, measure, encode, decode) == 42);
    CHECK(counters.reused == 1);
    CHECK(later.Load(kFingerprint, id.kind, id.key) == "42");
  }
}

namespace {

tandem::Symbol ConvNet() {
  using namespace tandem;
  Symbol x = op::Convolution("conv0", Symbol::Variable("data"), {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  x = op::Activation("relu0", op::BatchNorm("bn0", x, {.fix_gamma = false}));
  x = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  return op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 3});
}

}  // namespace

TEST_CASE("CachedOpFlags::plan_cache and TANDEM_PLAN_CACHE reach a CPU plan, which measures "
          "nothing and computes the same",
          "[plan_cache]") {
  using namespace tandem;
  TempDir dir;
  const Symbol net = ConvNet();
  const Shape shape{2, 3, 8, 8};
  const auto params = testing::random_params(net, {{"data", shape}});
  const NDArray x = testing::random_input(shape, 5);

  CachedOpFlags flags;
  flags.plan_cache = (dir.path / "sub" / "dir").string();  // created when missing
  const CachedOp cached(net, params, Context::cpu(), flags);
  const PlanReport report = cached.Plan({shape});
  CHECK(report.plan_cache == flags.plan_cache);
  CHECK(fs::is_directory(flags.plan_cache));
  CHECK(report.choices_measured == 0);  // oneDNN chooses its own kernels on the CPU
  CHECK(report.choices_from_cache == 0);
  CHECK(report.choices_reused == 0);
  CHECK(report.plan_ms > 0);

  const CachedOp plain(net, params, Context::cpu());
  CHECK(plain.Plan({shape}).plan_cache.empty());
  const NDArray a = cached.Forward({x})[0], b = plain.Forward({x})[0];
  CHECK(testing::compare_arrays(a, b, {.rtol = 0, .atol = 0}).ok());

  const std::string env_dir = (dir.path / "from-env").string();
  ::setenv("TANDEM_PLAN_CACHE", env_dir.c_str(), 1);
  const CachedOp from_env(net, params, Context::cpu());
  const CachedOp flag_wins(net, params, Context::cpu(), flags);
  ::unsetenv("TANDEM_PLAN_CACHE");
  CHECK(from_env.Plan({shape}).plan_cache == env_dir);
  CHECK(flag_wins.Plan({shape}).plan_cache == flags.plan_cache);
}
