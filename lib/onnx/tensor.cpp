// ONNX TensorProto decoding and encoding (see tensor.hpp).
#include "lib/onnx/tensor.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace tandem::onnx::detail {
namespace {

constexpr int kMaxRank = 32;

// TensorProto.DataType values.
enum OnnxDataType {
  kUndefined = 0, kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6,
  kInt64 = 7, kString = 8, kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13,
  kComplex64 = 14, kComplex128 = 15, kBfloat16 = 16,
};

// Bytes per element as stored in raw_data; 0 for types tandem does not read.
size_t ElementBytes(int type) {
  switch (type) {
    case kFloat: case kInt32: case kUint32: return 4;
    case kUint8: case kInt8: case kBool: return 1;
    case kUint16: case kInt16: case kFloat16: case kBfloat16: return 2;
    case kInt64: case kDouble: case kUint64: return 8;
    default: return 0;
  }
}

bool IsFloatType(int type) {
  return type == kFloat || type == kDouble || type == kFloat16 || type == kBfloat16;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

float BFloatToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

struct Header {
  int type = 0;
  std::vector<int64_t> dims;
  int64_t count = 0;
};

Header CheckHeader(const pb::TensorProto& t, const std::string& what) {
  Header h;
  h.type = t.data_type();
  if (t.data_location() == pb::TensorProto::EXTERNAL || t.external_data_size() > 0)
    Throw<Unsupported>(what, ": tensors with external data are not supported (save the model "
                             "with its weights inside the .onnx file)");
  if (t.has_segment()) Throw<Unsupported>(what, ": segmented tensors are not supported");
  if (t.dims_size() > kMaxRank)
    Throw<FormatError>(what, ": ", t.dims_size(), " dims (at most ", kMaxRank, ")");
  h.dims.assign(t.dims().begin(), t.dims().end());
  h.count = CheckedCount(h.dims, what);
  if (ElementBytes(h.type) == 0) {
    if (h.type == kUndefined) Throw<FormatError>(what, ": the tensor has no data_type");
    Throw<Unsupported>(what, ": tensors of type ", OnnxTypeName(h.type), " are not supported");
  }
  return h;
}

[[noreturn]] void CountMismatch(const std::string& what, const Header& h, const char* field,
                                int64_t have) {
  Throw<FormatError>(what, ": shape ", Shape(h.dims).ToString(), " of ", OnnxTypeName(h.type),
                     " needs ", h.count, " elements, ", field, " holds ", have);
}

// The tensor's elements in their raw_data (little-endian) layout, from whichever field holds them.
std::vector<unsigned char> NativeBytes(const pb::TensorProto& t, const Header& h,
                                       const std::string& what) {
  const size_t esize = ElementBytes(h.type);
  const size_t count = static_cast<size_t>(h.count);
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() / esize != count || raw.size() % esize != 0)
      Throw<FormatError>(what, ": shape ", Shape(h.dims).ToString(), " of ", OnnxTypeName(h.type),
                         " needs ", count * esize, " bytes, raw_data holds ", raw.size());
    return std::vector<unsigned char>(raw.begin(), raw.end());
  }
  std::vector<unsigned char> out;
  auto fill = [&](const auto& field, const char* name, auto convert) {
    if (static_cast<size_t>(field.size()) != count) CountMismatch(what, h, name, field.size());
    out.resize(count * esize);
    for (size_t k = 0; k < count; ++k) convert(field.Get(static_cast<int>(k)), out.data() + k * esize);
  };
  auto store = [&](auto value) {
    return [](auto v, unsigned char* dst) {
      decltype(value) x = static_cast<decltype(value)>(v);
      std::memcpy(dst, &x, sizeof x);
    };
  };
  switch (h.type) {
    case kFloat: fill(t.float_data(), "float_data", store(float{})); break;
    case kDouble: fill(t.double_data(), "double_data", store(double{})); break;
    case kInt64: fill(t.int64_data(), "int64_data", store(int64_t{})); break;
    case kUint32: fill(t.uint64_data(), "uint64_data", store(uint32_t{})); break;
    case kUint64: fill(t.uint64_data(), "uint64_data", store(uint64_t{})); break;
    case kInt32: fill(t.int32_data(), "int32_data", store(int32_t{})); break;
    case kInt16: fill(t.int32_data(), "int32_data", store(int16_t{})); break;
    case kUint16: case kFloat16: case kBfloat16:
      fill(t.int32_data(), "int32_data", store(uint16_t{}));
      break;
    case kInt8: fill(t.int32_data(), "int32_data", store(int8_t{})); break;
    case kUint8: fill(t.int32_data(), "int32_data", store(uint8_t{})); break;
    case kBool:
      fill(t.int32_data(), "int32_data", [](int32_t v, unsigned char* dst) { *dst = v != 0; });
      break;
    default: Throw<InternalError>(what, ": unhandled type ", h.type);
  }
  return out;
}

template <class T>
T LoadAt(const unsigned char* p, size_t k) {
  T v;
  std::memcpy(&v, p + k * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

bool Const::has_open_dims() const {
  for (const DimRef& r : refs)
    if (r.is_open()) return true;
  return false;
}

int64_t CheckedCount(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) Throw<FormatError>(what, ": negative dimension in ", Shape(dims).ToString());
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      Throw<FormatError>(what, ": the element count of ", Shape(dims).ToString(), " overflows 64 bits");
    n *= d;
  }
  return n;
}

const char* OnnxTypeName(int type) {
  static const char* const kNames[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                       "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                       "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
  if (type >= 0 && type <= kBfloat16) return kNames[type];
  if (type >= 17 && type <= 20) return "FLOAT8";
  if (type == 21 || type == 22) return "INT4";
  return "unknown type";
}

bool NativeDType(int type, DType* out) {
  switch (type) {
    case kFloat: *out = DType::f32; return true;
    case kDouble: *out = DType::f64; return true;
    case kFloat16: *out = DType::f16; return true;
    case kBfloat16: *out = DType::bf16; return true;
    case kUint8: *out = DType::u8; return true;
    case kInt8: *out = DType::i8; return true;
    case kInt32: *out = DType::i32; return true;
    case kInt64: *out = DType::i64; return true;
    case kBool: *out = DType::boolean; return true;
    default: return false;
  }
}

int OnnxType(DType t) {
  switch (t) {
    case DType::f32: return kFloat;
    case DType::f64: return kDouble;
    case DType::f16: return kFloat16;
    case DType::bf16: return kBfloat16;
    case DType::u8: return kUint8;
    case DType::i8: return kInt8;
    case DType::i32: return kInt32;
    case DType::i64: return kInt64;
    case DType::boolean: return kBool;
  }
  return kUndefined;
}

Const TensorToConst(const pb::TensorProto& t, const std::string& what) {
  const Header h = CheckHeader(t, what);
  Const c;
  c.dims = h.dims;
  const size_t count = static_cast<size_t>(h.count);
  if (h.type == kFloat && t.has_raw_data()) {  // the common case, without an extra copy
    if (t.raw_data().size() != count * sizeof(float))
      Throw<FormatError>(what, ": shape ", Shape(h.dims).ToString(), " of FLOAT needs ",
                         count * sizeof(float), " bytes, raw_data holds ", t.raw_data().size());
    c.f.resize(count);
    if (count) std::memcpy(c.f.data(), t.raw_data().data(), count * sizeof(float));
    return c;
  }
  if (h.type == kFloat) {
    if (static_cast<size_t>(t.float_data_size()) != count) CountMismatch(what, h, "float_data", t.float_data_size());
    c.f.assign(t.float_data().begin(), t.float_data().end());
    return c;
  }
  const std::vector<unsigned char> bytes = NativeBytes(t, h, what);
  const unsigned char* p = bytes.data();
  if (IsFloatType(h.type)) {
    c.f.resize(count);
    for (size_t k = 0; k < count; ++k) {
      switch (h.type) {
        case kDouble: c.f[k] = static_cast<float>(LoadAt<double>(p, k)); break;
        case kFloat16: c.f[k] = HalfToFloat(LoadAt<uint16_t>(p, k)); break;
        default: c.f[k] = BFloatToFloat(LoadAt<uint16_t>(p, k)); break;
      }
    }
    return c;
  }
  switch (h.type) {
    case kUint8: c.dtype = DType::u8; break;
    case kInt8: c.dtype = DType::i8; break;
    case kInt32: case kInt16: case kUint16: c.dtype = DType::i32; break;
    case kBool: c.dtype = DType::boolean; break;
    default: c.dtype = DType::i64; break;
  }
  c.i.resize(count);
  for (size_t k = 0; k < count; ++k) {
    switch (h.type) {
      case kUint8: c.i[k] = LoadAt<uint8_t>(p, k); break;
      case kInt8: c.i[k] = LoadAt<int8_t>(p, k); break;
      case kUint16: c.i[k] = LoadAt<uint16_t>(p, k); break;
      case kInt16: c.i[k] = LoadAt<int16_t>(p, k); break;
      case kInt32: c.i[k] = LoadAt<int32_t>(p, k); break;
      case kUint32: c.i[k] = LoadAt<uint32_t>(p, k); break;
      case kBool: c.i[k] = LoadAt<uint8_t>(p, k) != 0; break;
      default: c.i[k] = LoadAt<int64_t>(p, k); break;  // INT64, UINT64 (wraps above 2^63)
    }
  }
  return c;
}

NDArray TensorToNDArray(const pb::TensorProto& t, const std::string& what) {
  const Header h = CheckHeader(t, what);
  Shape shape = h.dims.empty() ? Shape{1} : Shape(h.dims);
  DType dtype;
  if (!NativeDType(h.type, &dtype)) {
    // INT16 / UINT16 / UINT32 / UINT64: widened to an integer type tandem holds.
    Const c = TensorToConst(t, what);
    c.dtype = DType::i64;
    NDArray a(shape, Context::cpu(), DType::i64);
    if (!c.i.empty()) std::memcpy(a.raw_data(), c.i.data(), c.i.size() * sizeof(int64_t));
    return a;
  }
  const std::vector<unsigned char> bytes = NativeBytes(t, h, what);
  NDArray a(shape, Context::cpu(), dtype);
  if (!bytes.empty()) std::memcpy(a.raw_data(), bytes.data(), bytes.size());
  return a;
}

void NDArrayToTensor(const NDArray& a, const std::string& name, pb::TensorProto* t) {
  if (a.is_none()) Throw<InvalidArgument>("SaveTensor: a none array");
  t->Clear();
  for (int64_t d : a.shape().dims()) t->add_dims(d);
  t->set_data_type(OnnxType(a.dtype()));
  if (!name.empty()) t->set_name(name);
  std::string raw(a.nbytes(), '\0');
  if (!raw.empty())
    tandem::detail::CopyBytes(raw.data(), Context::cpu(), a.raw_data(), a.ctx(), raw.size());
  t->set_raw_data(std::move(raw));
}

NDArray ConstToNDArray(const Const& c) {
  if (c.has_open_dims())
    Throw<Unsupported>("a shape value that depends on dims the file leaves open is used as a tensor");
  Shape shape = c.dims.empty() ? Shape{1} : Shape(c.dims);
  NDArray a(shape, Context::cpu(), c.dtype);
  const size_t n = static_cast<size_t>(c.size());
  if (n == 0) return a;
  if (c.is_float()) {
    std::memcpy(a.raw_data(), c.f.data(), n * sizeof(float));
    return a;
  }
  auto* dst = static_cast<unsigned char*>(a.raw_data());
  for (size_t k = 0; k < n; ++k) {
    const int64_t v = c.i[k];
    switch (c.dtype) {
      case DType::u8: { uint8_t x = static_cast<uint8_t>(v); std::memcpy(dst + k, &x, 1); break; }
      case DType::i8: { int8_t x = static_cast<int8_t>(v); std::memcpy(dst + k, &x, 1); break; }
      case DType::boolean: { uint8_t x = v != 0; std::memcpy(dst + k, &x, 1); break; }
      case DType::i32: { int32_t x = static_cast<int32_t>(v); std::memcpy(dst + 4 * k, &x, 4); break; }
      default: std::memcpy(dst + 8 * k, &v, 8); break;
    }
  }
  return a;
}

}  // namespace tandem::onnx::detail
