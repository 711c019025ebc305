#include "lib/core/plan_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <vector>

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "unknown"
#endif

namespace tandem::detail {
namespace {

// Entry layout (all integers little-endian u32):
//   magic (8 bytes) | format version | fingerprint length | kind length | key length |
//   payload length | fingerprint | kind | key | payload | CRC-32 of everything before it
constexpr char kMagic[8] = {'T', 'D', 'P', 'L', 'A', 'N', 'C', '\n'};
constexpr size_t kHeaderBytes = sizeof kMagic + 5 * 4;
constexpr size_t kCrcBytes = 4;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return v;
}

uint32_t Crc32(std::string_view bytes) {
  // zlib takes uInt lengths; entries are far below 4 GiB (kMaxFileBytes).
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()),
                                     static_cast<uInt>(bytes.size())));
}

// FNV-1a, 64 bits: stable across compilers and runs (std::hash is neither), which file names
// shared by processes need. Collisions are harmless: the entry repeats its strings.
uint64_t Fnv1a(std::string_view bytes, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The whole file if it is a regular file of at most `limit` bytes; nothing if absent. Opened
// without blocking, so a FIFO planted under an entry's name cannot hang the planning thread.
std::optional<std::string> ReadSmallFile(const std::filesystem::path& path, size_t limit,
                                         std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) *why = std::string("cannot open it: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::optional<std::string> out;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > limit) {
    *why = "larger than " + std::to_string(limit) + " bytes";
  } else {
    std::string bytes(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    bytes.resize(done);  // a file shrunk meanwhile is caught by the length checks
    out = std::move(bytes);
  }
  ::close(fd);
  return out;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string TandemVersion() { return TANDEM_VERSION; }

PlanCache::PlanCache(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (!std::filesystem::is_directory(dir_, ec)) {
    usable_ = false;
    Warn("dir", "not a directory and cannot be created; kernel choices are measured, not cached");
  }
}

std::string PlanCache::Encode(const PlanCacheEntry& e) {
  std::string out(kMagic, sizeof kMagic);
  PutU32(out, kFormatVersion);
  for (const std::string* s : {&e.fingerprint, &e.kind, &e.key, &e.payload})
    PutU32(out, static_cast<uint32_t>(s->size()));
  for (const std::string* s : {&e.fingerprint, &e.kind, &e.key, &e.payload}) out += *s;
  PutU32(out, Crc32(out));
  return out;
}

std::optional<PlanCacheEntry> PlanCache::Decode(std::string_view bytes, std::string* why) {
  std::string ignored;
  std::string& reason = why ? *why : ignored;
  if (bytes.size() < kHeaderBytes + kCrcBytes) {
    reason = "truncated (" + std::to_string(bytes.size()) + " bytes)";
    return std::nullopt;
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    reason = "not a tandem plan cache entry (bad magic)";
    return std::nullopt;
  }
  const uint32_t version = GetU32(bytes, sizeof kMagic);
  if (version != kFormatVersion) {
    reason = "format version " + std::to_string(version) + ", this tandem reads version " +
             std::to_string(kFormatVersion);
    return std::nullopt;
  }
  uint64_t lengths[4], total = 0;  // 64-bit sums: four hostile u32 lengths cannot wrap
  for (int i = 0; i < 4; ++i) total += lengths[i] = GetU32(bytes, sizeof kMagic + 4 + 4 * i);
  if (total != bytes.size() - kHeaderBytes - kCrcBytes) {
    reason = "lengths do not match the file size (truncated or corrupted)";
    return std::nullopt;
  }
  const size_t body_end = bytes.size() - kCrcBytes;
  if (Crc32(bytes.substr(0, body_end)) != GetU32(bytes, body_end)) {
    reason = "CRC-32 mismatch (corrupted)";
    return std::nullopt;
  }
  PlanCacheEntry e;
  size_t at = kHeaderBytes;
  std::string* fields[4] = {&e.fingerprint, &e.kind, &e.key, &e.payload};
  for (int i = 0; i < 4; ++i) {
    fields[i]->assign(bytes.substr(at, static_cast<size_t>(lengths[i])));
    at += static_cast<size_t>(lengths[i]);
  }
  return e;
}

std::filesystem::path PlanCache::PathFor(const std::string& fingerprint, const std::string& kind,
                                         const std::string& key) const {
  uint64_t h = Fnv1a(std::to_string(kFormatVersion));
  for (const std::string* s : {&fingerprint, &kind, &key}) h = Fnv1a(*s, Fnv1a({"\0", 1}, h));
  char name[32];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(h));
  return dir_ / (std::string(name) + kExtension);
}

std::optional<std::string> PlanCache::Load(const std::string& fingerprint, const std::string& kind,
                                           const std::string& key) const {
  if (!usable_) return std::nullopt;
  const std::filesystem::path path = PathFor(fingerprint, kind, key);
  std::string why;
  std::optional<std::string> bytes = ReadSmallFile(path, kMaxFileBytes, &why);
  std::optional<PlanCacheEntry> entry;
  if (bytes) entry = Decode(*bytes, &why);
  if (entry && (entry->fingerprint != fingerprint || entry->kind != kind || entry->key != key))
    why = "an entry for another device, version or shape (renamed, or a hash collision)";
  else if (entry)
    return std::move(entry->payload);
  if (!why.empty()) Warn(path.string(), path.filename().string() + " ignored: " + why);
  return std::nullopt;
}

bool PlanCache::Has(const std::string& fingerprint, const std::string& kind,
                    const std::string& key) const {
  std::error_code ec;
  return usable_ && std::filesystem::exists(PathFor(fingerprint, kind, key), ec);
}

void PlanCache::Store(const std::string& fingerprint, const std::string& kind,
                      const std::string& key, const std::string& payload) const {
  if (!usable_) return;
  const std::filesystem::path path = PathFor(fingerprint, kind, key);
  const std::string bytes = Encode({fingerprint, kind, key, payload});
  // mkstemp: a name no other thread or process uses; the dot keeps it out of entry globs.
  std::string temp = (dir_ / ".tmp-XXXXXX").string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    Warn("store", std::string("cannot write entries (") + std::strerror(errno) +
                      "); kernel choices are measured, not cached");
    return;
  }
  const bool written = WriteAll(fd, bytes);
  const bool closed = ::close(fd) == 0;
  ::chmod(temp.c_str(), 0644);  // mkstemp makes 0600: let other users of a shared dir read it
  if (!written || !closed || std::rename(temp.c_str(), path.c_str()) != 0) {
    Warn("store", std::string("cannot write ") + path.filename().string() + " (" +
                      std::strerror(errno) + ")");
    ::unlink(temp.c_str());
  }
}

void PlanCache::Warn(const std::string& once_key, const std::string& what) const {
  {
    std::lock_guard lock(warned_mutex_);
    if (!warned_.insert(once_key).second) return;
  }
  ++warnings_;
  std::fprintf(stderr, "tandem: plan cache %s: %s\n", dir_.c_str(), what.c_str());
}

}  // namespace tandem::detail
