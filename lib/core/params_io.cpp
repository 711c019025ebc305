// MXNet .params (NDArray list) reader and writer. See docs/file-formats.md for the layout.
// The whole file is read into memory first, so every length and count read from it can be checked
// against the bytes that are really there before anything is allocated.
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "lib/core/host_memory.hpp"
#include "tandem/ndarray.hpp"

namespace tandem {
namespace {

constexpr uint64_t kListMagic = 0x112;
constexpr uint32_t kMagicV1 = 0xF993FAC8;
constexpr uint32_t kMagicV2 = 0xF993FAC9;
constexpr uint32_t kMagicV3 = 0xF993FACA;
constexpr int kMaxNdim = 32;

class ByteReader {
 public:
  ByteReader(const void* data, size_t size, const std::string& source)
      : data_(static_cast<const unsigned char*>(data)), size_(size), source_(source) {}

  template <class T>
  T Read(const char* what) {
    Need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const unsigned char* Take(size_t n, const char* what) {
    Need(n, what);
    const unsigned char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  size_t remaining() const { return size_ - pos_; }
  size_t pos() const { return pos_; }

  template <class... Args>
  [[noreturn]] void Fail(Args&&... args) const {
    Throw<FormatError>(source_, ": ", std::forward<Args>(args)..., " (at byte ", pos_, ")");
  }

 private:
  void Need(size_t n, const char* what) const {
    if (n > remaining())
      Fail("file truncated while reading ", what, ": need ", n, " bytes, ", remaining(), " left");
  }
  const unsigned char* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& source_;
};

// Reads a shape of `ndim` dims, each stored as Dim (int64 for V1+, uint32 for legacy records).
template <class Dim>
Shape ReadDims(ByteReader& in, int64_t ndim, const char* what) {
  if (ndim < 0 || ndim > kMaxNdim) in.Fail("absurd ndim ", ndim, " in ", what);
  std::vector<int64_t> dims(static_cast<size_t>(ndim));
  for (auto& d : dims) {
    int64_t v = static_cast<int64_t>(in.Read<Dim>("a dimension"));
    if (v < 0) in.Fail("negative dimension ", v, " in ", what);
    d = v;
  }
  return Shape(std::move(dims));
}

Shape ReadShape(ByteReader& in) {
  int32_t ndim = in.Read<int32_t>("ndim");
  return ReadDims<int64_t>(in, ndim, "shape");
}

// Element count and byte size of `shape`, refusing claims larger than the file itself.
size_t CheckedBytes(ByteReader& in, const Shape& shape, DType dtype) {
  int64_t count = 0;
  try {
    count = shape.Size();
  } catch (const ShapeError&) {
    in.Fail("shape ", shape.ToString(), " has more elements than 64 bits can count");
  }
  const size_t width = DTypeSize(dtype);
  if (static_cast<uint64_t>(count) > in.remaining() / width)
    in.Fail("array of shape ", shape.ToString(), " ", DTypeName(dtype), " needs ",
            static_cast<uint64_t>(count), " elements but only ", in.remaining(), " bytes remain");
  return static_cast<size_t>(count) * width;
}

NDArray ReadPayload(ByteReader& in, const Shape& shape) {
  int32_t dev_type = in.Read<int32_t>("context device type");
  in.Read<int32_t>("context device id");  // advisory: arrays are always loaded to the CPU
  if (dev_type < 1 || dev_type > 5) in.Fail("invalid device type ", dev_type);
  int32_t flag = in.Read<int32_t>("dtype flag");
  DType dtype;
  if (!FromMXNetFlag(flag, &dtype)) in.Fail("unsupported dtype flag ", flag);
  size_t bytes = CheckedBytes(in, shape, dtype);
  const unsigned char* src = in.Take(bytes, "array data");
  NDArray out(shape, Context::cpu(), dtype);
  std::memcpy(out.raw_data(), src, bytes);
  return out;
}

NDArray ReadRecord(ByteReader& in) {
  uint32_t magic = in.Read<uint32_t>("record magic");
  if (magic == kMagicV2 || magic == kMagicV3) {
    int32_t stype = in.Read<int32_t>("storage type");
    if (stype == 1 || stype == 2)
      in.Fail("sparse storage (", stype == 1 ? "row_sparse" : "csr",
              ") is not supported; convert the array to dense (tostype('default')) before saving");
    if (stype != 0 && stype != -1) in.Fail("unknown storage type ", stype);
    int32_t ndim = in.Read<int32_t>("ndim");
    if (magic == kMagicV3 && ndim == -1) return {};  // unknown shape: a none array
    if (magic == kMagicV2 && ndim == 0) return {};
    Shape shape = ReadDims<int64_t>(in, ndim, "shape");
    return ReadPayload(in, shape);
  }
  if (magic == kMagicV1) {
    Shape shape = ReadShape(in);
    if (shape.ndim() == 0) return {};
    return ReadPayload(in, shape);
  }
  // Legacy (pre-V1) record: the word just read is ndim, dims are uint32.
  Shape shape = ReadDims<uint32_t>(in, static_cast<int64_t>(magic), "legacy shape");
  if (shape.ndim() == 0) return {};
  return ReadPayload(in, shape);
}

// A file's bytes in one host buffer of exactly its size. A checkpoint is as large as the weights:
// reading it through a growing string held up to twice that, and the freed string left malloc
// with a raised mmap threshold, so every caller thread's later buffers piled up in its heap. A
// host buffer of that size is mapped directly and unmapped once the arrays are read
// (lib/core/host_memory.hpp).
class FileBytes {
 public:
  explicit FileBytes(const std::string& file) {
    std::ifstream f(file, std::ios::binary | std::ios::ate);
    if (!f) Throw<FormatError>(file, ": cannot open file");
    const std::streamoff end = f.tellg();
    if (end < 0 || !f.seekg(0)) {  // not seekable (a pipe): read it as a stream
      std::ostringstream ss;
      f.clear();
      ss << f.rdbuf();
      text_ = ss.str();
      return;
    }
    size_ = static_cast<size_t>(end);
    data_ = detail::AllocateHost(size_);
    if (size_ && !f.read(static_cast<char*>(data_), end))
      Throw<FormatError>(file, ": cannot read ", size_, " bytes");
  }
  ~FileBytes() { detail::FreeHost(data_, size_); }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  const void* data() const { return data_ ? data_ : text_.data(); }
  size_t size() const { return data_ ? size_ : text_.size(); }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  std::string text_;
};

template <class T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

void NDArray::LoadFromBuffer(const void* data, size_t size, const std::string& source,
                             std::vector<NDArray>* arrays, std::vector<std::string>* names) {
  ByteReader in(data, size, source);
  uint64_t magic = in.Read<uint64_t>("list magic");
  if (magic != kListMagic)
    in.Fail("not an MXNet NDArray list file (magic 0x", std::hex, magic, ", expected 0x112)");
  in.Read<uint64_t>("reserved word");
  uint64_t count = in.Read<uint64_t>("array count");
  if (count > in.remaining() / 4) in.Fail("array count ", count, " is larger than the file can hold");
  std::vector<NDArray> loaded;
  loaded.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) loaded.push_back(ReadRecord(in));

  uint64_t name_count = in.Read<uint64_t>("name count");
  if (name_count != 0 && name_count != count)
    in.Fail("name count ", name_count, " does not match array count ", count);
  std::vector<std::string> loaded_names;
  for (uint64_t i = 0; i < name_count; ++i) {
    uint64_t len = in.Read<uint64_t>("name length");
    if (len > in.remaining()) in.Fail("name length ", len, " exceeds the file");
    const unsigned char* p = in.Take(static_cast<size_t>(len), "name");
    loaded_names.emplace_back(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
  }
  if (arrays) *arrays = std::move(loaded);
  if (names) *names = std::move(loaded_names);
}

void NDArray::Load(const std::string& file, std::vector<NDArray>* arrays,
                   std::vector<std::string>* names) {
  const FileBytes bytes(file);
  LoadFromBuffer(bytes.data(), bytes.size(), file, arrays, names);
}

std::map<std::string, NDArray> NDArray::LoadToMap(const std::string& file) {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  Load(file, &arrays, &names);
  if (names.size() != arrays.size())
    Throw<FormatError>(file, ": the file stores ", arrays.size(),
                       " unnamed arrays; use NDArray::Load for unnamed lists");
  std::map<std::string, NDArray> out;
  for (size_t i = 0; i < arrays.size(); ++i)
    if (!out.emplace(names[i], arrays[i]).second)
      Throw<FormatError>(file, ": duplicate array name '", names[i], "'");
  return out;
}

std::string NDArray::SaveToBuffer(const std::vector<NDArray>& arrays,
                                  const std::vector<std::string>& names) {
  if (!names.empty() && names.size() != arrays.size())
    Throw<InvalidArgument>("NDArray::Save: ", names.size(), " names for ", arrays.size(), " arrays");
  std::string out;
  Put<uint64_t>(out, kListMagic);
  Put<uint64_t>(out, 0);
  Put<uint64_t>(out, arrays.size());
  for (const NDArray& a : arrays) {
    Put<uint32_t>(out, kMagicV2);
    Put<int32_t>(out, 0);  // dense storage
    if (a.is_none()) {
      Put<int32_t>(out, 0);
      continue;
    }
    Put<int32_t>(out, a.shape().ndim());
    for (int64_t d : a.shape()) Put<int64_t>(out, d);
    Put<int32_t>(out, 1);  // saved as cpu(0): the loader decides where it goes
    Put<int32_t>(out, 0);
    Put<int32_t>(out, ToMXNetFlag(a.dtype()));
    NDArray host = a.ctx().is_cpu() ? a : a.Copy(Context::cpu());
    out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  Put<uint64_t>(out, names.size());
  for (const std::string& n : names) {
    Put<uint64_t>(out, n.size());
    out += n;
  }
  return out;
}

void NDArray::Save(const std::string& file, const std::vector<NDArray>& arrays,
                   const std::vector<std::string>& names) {
  std::string bytes = SaveToBuffer(arrays, names);
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  if (!f) Throw<InvalidArgument>(file, ": cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) Throw<InvalidArgument>(file, ": write failed");
}

void NDArray::Save(const std::string& file, const std::map<std::string, NDArray>& arrays) {
  std::vector<NDArray> values;
  std::vector<std::string> names;
  for (const auto& [name, array] : arrays) {
    names.push_back(name);
    values.push_back(array);
  }
  Save(file, values, names);
}

}  // namespace tandem
