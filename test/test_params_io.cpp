// Tests of the MXNet .params reader / writer (lib/core/params_io.cpp). Every file here is built byte
// by byte by the test itself, so each record generation and each kind of damage is exercised on
// purpose rather than by whatever files happen to be around.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"

using tandem::DType;
using tandem::FormatError;
using tandem::NDArray;
using tandem::Shape;

namespace {

constexpr uint32_t kMagicV1 = 0xF993FAC8;
constexpr uint32_t kMagicV2 = 0xF993FAC9;
constexpr uint32_t kMagicV3 = 0xF993FACA;
constexpr int32_t kCpu = 1;
constexpr int32_t kFlagF32 = 0, kFlagF64 = 1, kFlagU8 = 3, kFlagI32 = 4, kFlagI64 = 6;

// Appends little-endian values (the test machines are little-endian, as MXNet files are).
class ByteWriter {
 public:
  template <class T>
  ByteWriter& Put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  ByteWriter& U32(uint32_t v) { return Put(v); }
  ByteWriter& I32(int32_t v) { return Put(v); }
  ByteWriter& U64(uint64_t v) { return Put(v); }
  ByteWriter& I64(int64_t v) { return Put(v); }
  template <class T>
  ByteWriter& Values(const std::vector<T>& values) {
    for (const T& v : values) Put(v);
    return *this;
  }
  ByteWriter& Name(const std::string& s) {
    U64(s.size());
    bytes_ += s;
    return *this;
  }
  // List header: magic, reserved word, array count.
  ByteWriter& ListHeader(uint64_t count) { return U64(0x112).U64(0).U64(count); }
  // Context (cpu 0) and dtype flag, the part every generation shares after the shape.
  ByteWriter& CpuAndFlag(int32_t flag) { return I32(kCpu).I32(0).I32(flag); }
  // V2 / V3 dense record header up to and including the dims.
  ByteWriter& DenseHeader(uint32_t magic, const std::vector<int64_t>& dims) {
    U32(magic).I32(0).I32(static_cast<int32_t>(dims.size()));
    for (int64_t d : dims) I64(d);
    return *this;
  }
  template <class T>
  ByteWriter& DenseRecord(uint32_t magic, const std::vector<int64_t>& dims, int32_t flag,
                          const std::vector<T>& values) {
    return DenseHeader(magic, dims).CpuAndFlag(flag).Values(values);
  }
  const std::string& str() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

struct Loaded {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
};

Loaded LoadBytes(const std::string& bytes, const std::string& source = "test.params") {
  Loaded out;
  NDArray::LoadFromBuffer(bytes.data(), bytes.size(), source, &out.arrays, &out.names);
  return out;
}

void LoadOnly(const std::string& bytes, const std::string& source = "test.params") {
  LoadBytes(bytes, source);
}

// A file under the system temp folder, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& stem) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             (stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  void Write(const std::string& bytes) const {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A valid named file with one array of each record generation, used by the truncation test.
std::string AllGenerationsFile() {
  ByteWriter w;
  w.ListHeader(4);
  w.DenseRecord<float>(kMagicV3, {2}, kFlagF32, {1.5f, -2.5f});
  w.DenseRecord<double>(kMagicV2, {1, 2}, kFlagF64, {3.0, 4.0});
  w.U32(kMagicV1).I32(1).I64(3).CpuAndFlag(kFlagI32).Values<int32_t>({7, 8, 9});
  w.U32(2).U32(1).U32(2).CpuAndFlag(kFlagU8).Values<uint8_t>({10, 20});  // legacy
  w.U64(4).Name("arg:a").Name("arg:b").Name("aux:c").Name("aux:d");
  return w.str();
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Each record generation

TEST_CASE("params: V3 record (0xF993FACA) loads shape, float32 dtype and values", "[params]") {
  ByteWriter w;
  w.ListHeader(1).DenseRecord<float>(kMagicV3, {2, 3}, kFlagF32, {1, 2, 3, 4, 5, 6.5f}).U64(1).Name("arg:w");
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 1);
  REQUIRE(l.names == std::vector<std::string>{"arg:w"});
  CHECK(l.arrays[0].shape() == Shape{2, 3});
  CHECK(l.arrays[0].dtype() == DType::f32);
  CHECK(l.arrays[0].ToVector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6.5f});
}

TEST_CASE("params: V2 record (0xF993FAC9) loads a float64 array", "[params]") {
  ByteWriter w;
  w.ListHeader(1).DenseRecord<double>(kMagicV2, {3}, kFlagF64, {0.25, -1e300, 7}).U64(0);
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 1);
  CHECK(l.names.empty());
  CHECK(l.arrays[0].shape() == Shape{3});
  CHECK(l.arrays[0].dtype() == DType::f64);
  CHECK(l.arrays[0].ToVector<double>() == std::vector<double>{0.25, -1e300, 7});
}

TEST_CASE("params: V1 record (0xF993FAC8, int32 ndim + int64 dims) loads an int32 array",
          "[params]") {
  ByteWriter w;
  w.ListHeader(1).U32(kMagicV1).I32(2).I64(2).I64(2);
  w.CpuAndFlag(kFlagI32).Values<int32_t>({-1, 0, 1, 2147483647}).U64(1).Name("arg:idx");
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 1);
  CHECK(l.names == std::vector<std::string>{"arg:idx"});
  CHECK(l.arrays[0].shape() == Shape{2, 2});
  CHECK(l.arrays[0].dtype() == DType::i32);
  CHECK(l.arrays[0].ToVector<int32_t>() == std::vector<int32_t>{-1, 0, 1, 2147483647});
}

TEST_CASE("params: legacy record (first u32 is ndim, u32 dims) loads shape and values",
          "[params]") {
  ByteWriter w;
  w.ListHeader(2);
  w.U32(2).U32(2).U32(2).CpuAndFlag(kFlagF32).Values<float>({1, 2, 3, 4});
  w.U32(1).U32(3).CpuAndFlag(kFlagU8).Values<uint8_t>({0, 128, 255});
  w.U64(2).Name("arg:fc_weight").Name("arg:mask");
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 2);
  CHECK(l.names == std::vector<std::string>{"arg:fc_weight", "arg:mask"});
  CHECK(l.arrays[0].shape() == Shape{2, 2});
  CHECK(l.arrays[0].dtype() == DType::f32);
  CHECK(l.arrays[0].ToVector<float>() == std::vector<float>{1, 2, 3, 4});
  CHECK(l.arrays[1].shape() == Shape{3});
  CHECK(l.arrays[1].dtype() == DType::u8);
  CHECK(l.arrays[1].ToVector<uint8_t>() == std::vector<uint8_t>{0, 128, 255});
}

TEST_CASE("params: dtypes f32, f64, i32, u8 and i64 load with their own element width",
          "[params]") {
  ByteWriter w;
  w.ListHeader(5);
  w.DenseRecord<float>(kMagicV2, {2}, kFlagF32, {0.5f, -0.5f});
  w.DenseRecord<double>(kMagicV2, {2}, kFlagF64, {1.0 / 3, 2.0});
  w.DenseRecord<int32_t>(kMagicV2, {2}, kFlagI32, {-7, 70000});
  w.DenseRecord<uint8_t>(kMagicV2, {3}, kFlagU8, {1, 2, 250});
  w.DenseRecord<int64_t>(kMagicV2, {1}, kFlagI64, {int64_t{1} << 40});
  w.U64(5).Name("f32").Name("f64").Name("i32").Name("u8").Name("i64");
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 5);
  CHECK(l.arrays[0].dtype() == DType::f32);
  CHECK(l.arrays[0].ToVector<float>() == std::vector<float>{0.5f, -0.5f});
  CHECK(l.arrays[1].dtype() == DType::f64);
  CHECK(l.arrays[1].ToVector<double>() == std::vector<double>{1.0 / 3, 2.0});
  CHECK(l.arrays[2].dtype() == DType::i32);
  CHECK(l.arrays[2].ToVector<int32_t>() == std::vector<int32_t>{-7, 70000});
  CHECK(l.arrays[3].dtype() == DType::u8);
  CHECK(l.arrays[3].ToVector<uint8_t>() == std::vector<uint8_t>{1, 2, 250});
  CHECK(l.arrays[4].dtype() == DType::i64);
  CHECK(l.arrays[4].ToVector<int64_t>() == std::vector<int64_t>{int64_t{1} << 40});
  CHECK(l.names == std::vector<std::string>{"f32", "f64", "i32", "u8", "i64"});
}

TEST_CASE("params: V2 ndim 0 and V3 ndim -1 load as none arrays, the next record still reads",
          "[params]") {
  ByteWriter w;
  w.ListHeader(3);
  w.U32(kMagicV2).I32(0).I32(0);   // V2: empty shape => none, nothing follows
  w.U32(kMagicV3).I32(0).I32(-1);  // V3: unknown shape => none
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {42});
  w.U64(3).Name("a").Name("b").Name("c");
  Loaded l = LoadBytes(w.str());
  REQUIRE(l.arrays.size() == 3);
  CHECK(l.arrays[0].is_none());
  CHECK(l.arrays[1].is_none());
  REQUIRE_FALSE(l.arrays[2].is_none());
  CHECK(l.arrays[2].ToVector<float>() == std::vector<float>{42});
}

TEST_CASE("params: arg:/aux: named file loads by LoadToMap with every name and value",
          "[params]") {
  ByteWriter w;
  w.ListHeader(3);
  w.DenseRecord<float>(kMagicV2, {2, 1}, kFlagF32, {1, 2});
  w.DenseRecord<float>(kMagicV2, {2}, kFlagF32, {3, 4});
  w.DenseRecord<float>(kMagicV2, {2}, kFlagF32, {5, 6});
  w.U64(3).Name("arg:conv0_weight").Name("aux:bn0_moving_mean").Name("aux:bn0_moving_var");
  TempFile file("tandem_named_params");
  file.Write(w.str());
  std::map<std::string, NDArray> m = NDArray::LoadToMap(file.path());
  REQUIRE(m.size() == 3);
  REQUIRE(m.count("arg:conv0_weight") == 1);
  CHECK(m.at("arg:conv0_weight").shape() == Shape{2, 1});
  CHECK(m.at("arg:conv0_weight").ToVector<float>() == std::vector<float>{1, 2});
  CHECK(m.at("aux:bn0_moving_mean").ToVector<float>() == std::vector<float>{3, 4});
  CHECK(m.at("aux:bn0_moving_var").ToVector<float>() == std::vector<float>{5, 6});
}

TEST_CASE("params: unnamed file (name count 0) loads with Load, LoadToMap throws FormatError",
          "[params]") {
  ByteWriter w;
  w.ListHeader(2);
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {1});
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {2});
  w.U64(0);
  TempFile file("tandem_unnamed_params");
  file.Write(w.str());
  std::vector<NDArray> arrays;
  std::vector<std::string> names{"stale"};
  NDArray::Load(file.path(), &arrays, &names);
  REQUIRE(arrays.size() == 2);
  CHECK(names.empty());
  CHECK(arrays[0].ToVector<float>() == std::vector<float>{1});
  CHECK(arrays[1].ToVector<float>() == std::vector<float>{2});
  REQUIRE_THROWS_AS(NDArray::LoadToMap(file.path()), FormatError);
  REQUIRE_THROWS_WITH(NDArray::LoadToMap(file.path()), Catch::Contains("unnamed"));
}

TEST_CASE("params: duplicate names make LoadToMap throw FormatError naming the duplicate",
          "[params]") {
  ByteWriter w;
  w.ListHeader(2);
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {1});
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {2});
  w.U64(2).Name("arg:x").Name("arg:x");
  TempFile file("tandem_duplicate_params");
  file.Write(w.str());
  REQUIRE_THROWS_AS(NDArray::LoadToMap(file.path()), FormatError);
  REQUIRE_THROWS_WITH(NDArray::LoadToMap(file.path()), Catch::Contains("arg:x"));
}

// ------------------------------------------------------------------------------------------------
// Round trips

namespace {

void RequireSameArrays(const std::vector<NDArray>& a, const std::vector<NDArray>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("array " << i);
    REQUIRE(a[i].is_none() == b[i].is_none());
    if (a[i].is_none()) continue;
    CHECK(a[i].shape() == b[i].shape());
    REQUIRE(a[i].dtype() == b[i].dtype());
    REQUIRE(a[i].nbytes() == b[i].nbytes());
    CHECK(std::memcmp(a[i].raw_data(), b[i].raw_data(), a[i].nbytes()) == 0);
  }
}

std::vector<NDArray> MixedArrays() {
  return {NDArray(std::vector<float>{1.5f, -2, 3, 4, 5, 6}, Shape{2, 3}),
          NDArray(std::vector<double>{0.1, 0.2}, Shape{2}),
          NDArray(std::vector<int32_t>{-5, 5, 9, 11}, Shape{1, 2, 2}),
          NDArray(std::vector<uint8_t>{255, 0, 7}, Shape{3}),
          NDArray(std::vector<int64_t>{-(int64_t{1} << 50)}, Shape{1, 1, 1, 1}),
          NDArray()};
}

}  // namespace

TEST_CASE("params: Save then Load of a file keeps values, names, shapes and dtypes", "[params]") {
  std::vector<NDArray> arrays = MixedArrays();
  std::vector<std::string> names{"arg:a", "arg:b", "aux:c", "arg:d", "arg:e", "arg:none"};
  TempFile file("tandem_roundtrip_params");
  NDArray::Save(file.path(), arrays, names);
  Loaded l;
  NDArray::Load(file.path(), &l.arrays, &l.names);
  CHECK(l.names == names);
  RequireSameArrays(arrays, l.arrays);
}

TEST_CASE("params: Save of a map then LoadToMap gives the same map", "[params]") {
  std::map<std::string, NDArray> in{
      {"arg:fc_weight", NDArray({1, 2, 3, 4, 5, 6}, Shape{3, 2})},
      {"arg:fc_bias", NDArray({0.5f, -0.5f, 0}, Shape{3})},
      {"aux:bn_moving_var", NDArray(std::vector<double>{9, 8}, Shape{2})}};
  TempFile file("tandem_roundtrip_map_params");
  NDArray::Save(file.path(), in);
  std::map<std::string, NDArray> out = NDArray::LoadToMap(file.path());
  REQUIRE(out.size() == in.size());
  for (const auto& [name, array] : in) {
    INFO(name);
    REQUIRE(out.count(name) == 1);
    RequireSameArrays({array}, {out.at(name)});
  }
}

TEST_CASE("params: SaveToBuffer then LoadFromBuffer round-trips named and unnamed lists",
          "[params]") {
  std::vector<NDArray> arrays = MixedArrays();
  std::vector<std::string> names{"a", "b", "c", "d", "e", "f"};
  Loaded named = LoadBytes(NDArray::SaveToBuffer(arrays, names));
  CHECK(named.names == names);
  RequireSameArrays(arrays, named.arrays);

  Loaded unnamed = LoadBytes(NDArray::SaveToBuffer(arrays, {}));
  CHECK(unnamed.names.empty());
  RequireSameArrays(arrays, unnamed.arrays);
}

TEST_CASE("params: SaveToBuffer writes the V2 layout byte for byte", "[params]") {
  std::string bytes = NDArray::SaveToBuffer({NDArray({1.0f, 2.0f}, Shape{2})}, {"arg:x"});
  ByteWriter expected;
  expected.ListHeader(1).DenseRecord<float>(kMagicV2, {2}, kFlagF32, {1, 2}).U64(1).Name("arg:x");
  CHECK(bytes == expected.str());
}

TEST_CASE("params: SaveToBuffer rejects a names list of the wrong length", "[params]") {
  REQUIRE_THROWS_AS(NDArray::SaveToBuffer({NDArray({1.0f}, Shape{1})}, {"a", "b"}),
                    tandem::InvalidArgument);
}

// ------------------------------------------------------------------------------------------------
// Hostile files: every one must throw FormatError, never crash or allocate what the file claims.

TEST_CASE("params hostile: every truncated prefix of a valid file throws FormatError",
          "[params][hostile]") {
  const std::string full = AllGenerationsFile();
  // The untruncated file itself is valid (otherwise this test would prove nothing).
  Loaded l = LoadBytes(full);
  REQUIRE(l.arrays.size() == 4);
  CHECK(l.arrays[3].ToVector<uint8_t>() == std::vector<uint8_t>{10, 20});
  for (size_t len = 0; len < full.size(); ++len) {
    INFO("prefix of " << len << " of " << full.size() << " bytes");
    std::string prefix = full.substr(0, len);
    REQUIRE_THROWS_AS(LoadOnly(prefix), FormatError);
    REQUIRE_THROWS_WITH(LoadOnly(prefix, "cut.params"), Catch::Contains("cut.params"));
  }
}

TEST_CASE("params hostile: wrong list magic throws FormatError naming the magic",
          "[params][hostile]") {
  ByteWriter w;
  w.U64(0x113).U64(0).U64(0).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("magic"));
}

TEST_CASE("params hostile: absurd ndim (1000, -5) throws FormatError in every generation",
          "[params][hostile]") {
  for (int32_t ndim : {1000, -5, 33}) {
    INFO("ndim " << ndim);
    for (uint32_t magic : {kMagicV2, kMagicV3}) {
      ByteWriter w;
      w.ListHeader(1).U32(magic).I32(0).I32(ndim).I64(1).I64(1).CpuAndFlag(kFlagF32).U64(0);
      REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
      REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("ndim"));
    }
    ByteWriter v1;
    v1.ListHeader(1).U32(kMagicV1).I32(ndim).I64(1).CpuAndFlag(kFlagF32).U64(0);
    REQUIRE_THROWS_AS(LoadOnly(v1.str()), FormatError);
  }
  // Legacy: the first word is ndim itself.
  ByteWriter legacy;
  legacy.ListHeader(1).U32(1000).U32(1).U32(1).CpuAndFlag(kFlagF32).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(legacy.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(legacy.str()), Catch::Contains("ndim"));
}

TEST_CASE("params hostile: dims claiming 2^40 elements throw FormatError before allocating",
          "[params][hostile]") {
  ByteWriter w;
  // 2^40 float32 elements would be 4 TiB: the reader must compare with the bytes really left.
  w.ListHeader(1).DenseHeader(kMagicV2, {int64_t{1} << 20, int64_t{1} << 20}).CpuAndFlag(kFlagF32);
  w.Values<float>({1, 2, 3, 4}).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("bytes remain"));

  ByteWriter legacy;  // same claim through uint32 legacy dims
  legacy.ListHeader(1).U32(2).U32(1u << 20).U32(1u << 20).CpuAndFlag(kFlagF64).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(legacy.str()), FormatError);
}

TEST_CASE("params hostile: dims whose product overflows 64 bits throw FormatError",
          "[params][hostile]") {
  ByteWriter w;
  const int64_t big = int64_t{1} << 32;
  w.ListHeader(1).DenseHeader(kMagicV3, {big, big, big}).CpuAndFlag(kFlagF32).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("64 bits"));

  // 2^62 * 4 wraps to 0 mod 2^64: a wrapped product must not be taken at face value.
  ByteWriter wrap;
  wrap.ListHeader(1).DenseHeader(kMagicV2, {int64_t{1} << 62, 4, 1}).CpuAndFlag(kFlagU8).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(wrap.str()), FormatError);
}

TEST_CASE("params hostile: a negative dimension throws FormatError", "[params][hostile]") {
  ByteWriter w;
  w.ListHeader(1).DenseHeader(kMagicV2, {2, -3}).CpuAndFlag(kFlagF32).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("negative dimension"));

  ByteWriter v1;
  v1.ListHeader(1).U32(kMagicV1).I32(1).I64(-1).CpuAndFlag(kFlagF32).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(v1.str()), FormatError);
}

TEST_CASE("params hostile: name count different from array count throws FormatError",
          "[params][hostile]") {
  ByteWriter w;
  w.ListHeader(2);
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {1});
  w.DenseRecord<float>(kMagicV2, {1}, kFlagF32, {2});
  w.U64(1).Name("arg:only_one");
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("name count"));
}

TEST_CASE("params hostile: a name length larger than the file throws FormatError",
          "[params][hostile]") {
  ByteWriter w;
  w.ListHeader(1).DenseRecord<float>(kMagicV2, {1}, kFlagF32, {1});
  w.U64(1).U64(uint64_t{1} << 62);
  w.Put<char>('x');
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("name length"));
}

TEST_CASE("params hostile: sparse storage types (row_sparse, csr) throw FormatError saying sparse",
          "[params][hostile]") {
  for (int32_t stype : {1, 2}) {
    INFO("stype " << stype);
    for (uint32_t magic : {kMagicV2, kMagicV3}) {
      ByteWriter w;
      w.ListHeader(1).U32(magic).I32(stype).I32(1).I64(4).I32(1).I64(4).CpuAndFlag(kFlagF32);
      w.Values<float>({1, 2, 3, 4}).U64(0);
      REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
      REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("sparse"));
    }
  }
}

TEST_CASE("params hostile: an unknown storage type throws FormatError", "[params][hostile]") {
  ByteWriter w;
  w.ListHeader(1).U32(kMagicV2).I32(7).I32(1).I64(1).CpuAndFlag(kFlagF32).Values<float>({1}).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("storage type"));
}

TEST_CASE("params hostile: an unknown dtype flag throws FormatError naming the flag",
          "[params][hostile]") {
  for (int32_t flag : {99, -1, 8}) {  // 8 (int16) exists in mshadow but tandem has no such dtype
    INFO("flag " << flag);
    ByteWriter w;
    w.ListHeader(1).DenseRecord<float>(kMagicV2, {2}, flag, {1, 2}).U64(0);
    REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
    REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("dtype flag " + std::to_string(flag)));
  }
}

TEST_CASE("params hostile: an invalid device type throws FormatError", "[params][hostile]") {
  ByteWriter w;
  w.ListHeader(1).DenseHeader(kMagicV2, {1}).I32(77).I32(0).I32(kFlagF32).Values<float>({1}).U64(0);
  REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("device type"));
}

TEST_CASE("params hostile: an absurdly large array count throws FormatError before reserving",
          "[params][hostile]") {
  for (uint64_t count : {uint64_t{1} << 60, ~uint64_t{0}, uint64_t{1000}}) {
    INFO("count " << count);
    ByteWriter w;
    w.ListHeader(count).DenseRecord<float>(kMagicV2, {1}, kFlagF32, {1}).U64(0);
    REQUIRE_THROWS_AS(LoadOnly(w.str()), FormatError);
  }
  ByteWriter w;
  w.ListHeader(uint64_t{1} << 60).U64(0);
  REQUIRE_THROWS_WITH(LoadOnly(w.str()), Catch::Contains("array count"));
}

TEST_CASE("params hostile: a missing file throws FormatError naming the file",
          "[params][hostile]") {
  const std::string missing =
      (std::filesystem::temp_directory_path() / "tandem_no_such_dir" / "missing-0000.params").string();
  std::vector<NDArray> arrays;
  REQUIRE_THROWS_AS(NDArray::Load(missing, &arrays, nullptr), FormatError);
  REQUIRE_THROWS_WITH(NDArray::Load(missing, &arrays, nullptr), Catch::Contains(missing));
  REQUIRE_THROWS_AS(NDArray::LoadToMap(missing), FormatError);
  REQUIRE_THROWS_WITH(NDArray::LoadToMap(missing), Catch::Contains(missing));
}

TEST_CASE("params hostile: an empty file throws FormatError naming the file",
          "[params][hostile]") {
  TempFile file("tandem_empty_params");
  file.Write("");
  REQUIRE_THROWS_AS(NDArray::LoadToMap(file.path()), FormatError);
  REQUIRE_THROWS_WITH(NDArray::LoadToMap(file.path()), Catch::Contains(file.path()));
}
