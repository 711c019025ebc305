// Reads MNIST idx files (optionally gzip-compressed) — shared by samples/mnist_eval and the tests.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/error.hpp"

namespace tandem::samples {

struct IdxFile {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// gzread reads plain files too, so one path serves .idx and .idx.gz.
inline IdxFile ReadIdx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) Throw<FormatError>(path, ": cannot open");
  auto read = [&](void* dst, unsigned n, const char* what) {
    if (gzread(f, dst, n) != static_cast<int>(n)) {
      gzclose(f);
      Throw<FormatError>(path, ": truncated while reading ", what);
    }
  };
  unsigned char magic[4];
  read(magic, 4, "magic");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08) {
    gzclose(f);
    Throw<FormatError>(path, ": not an unsigned-byte idx file");
  }
  IdxFile out;
  int64_t count = 1;
  for (int i = 0; i < magic[3]; ++i) {
    unsigned char b[4];
    read(b, 4, "dimension");
    out.dims.push_back((int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3]);
    count *= out.dims.back();
  }
  if (count <= 0 || count > (int64_t{1} << 31)) {
    gzclose(f);
    Throw<FormatError>(path, ": implausible element count ", count);
  }
  out.data.resize(static_cast<size_t>(count));
  read(out.data.data(), static_cast<unsigned>(count), "data");
  gzclose(f);
  return out;
}

}  // namespace tandem::samples
