// tandem/error.hpp — the one exception family thrown by tandem's public API.
//
// Every failure that user input can cause (a broken model file, a wrong shape, a wrong dtype, a
// missing device, memory exhaustion, an unknown operator) is reported by throwing a subclass of
// tandem::Error whose message names the file / node / shape at fault. Nothing in tandem aborts on
// user input. Catch tandem::Error to catch them all, or a subclass to react to one kind.
//
// Thread safety: exception objects are plain values; throwing in one thread never touches state
// visible to another thread.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tandem {

enum class ErrorKind {
  kInvalidArgument,  // a bad value passed to an API call
  kFormat,           // a model / params / image file that is malformed or truncated
  kShape,            // shapes that do not fit together
  kType,             // wrong or unsupported dtype
  kDevice,           // missing device, wrong device, driver or vendor-library failure
  kOutOfMemory,      // host or device allocation failed
  kUnsupported,      // unknown operator, unsupported attribute combination
  kInternal,         // a broken invariant inside tandem (a bug: please report it)
};

inline const char* ErrorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kInvalidArgument: return "InvalidArgument";
    case ErrorKind::kFormat: return "FormatError";
    case ErrorKind::kShape: return "ShapeError";
    case ErrorKind::kType: return "TypeError";
    case ErrorKind::kDevice: return "DeviceError";
    case ErrorKind::kOutOfMemory: return "OutOfMemory";
    case ErrorKind::kUnsupported: return "Unsupported";
    case ErrorKind::kInternal: return "InternalError";
  }
  return "Error";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

#define TANDEM_DEFINE_ERROR(Name, Kind)                                     \
  class Name : public Error {                                               \
   public:                                                                  \
    explicit Name(const std::string& message) : Error(Kind, message) {}     \
  };
TANDEM_DEFINE_ERROR(InvalidArgument, ErrorKind::kInvalidArgument)
TANDEM_DEFINE_ERROR(FormatError, ErrorKind::kFormat)
TANDEM_DEFINE_ERROR(ShapeError, ErrorKind::kShape)
TANDEM_DEFINE_ERROR(TypeError, ErrorKind::kType)
TANDEM_DEFINE_ERROR(DeviceError, ErrorKind::kDevice)
TANDEM_DEFINE_ERROR(OutOfMemory, ErrorKind::kOutOfMemory)
TANDEM_DEFINE_ERROR(Unsupported, ErrorKind::kUnsupported)
TANDEM_DEFINE_ERROR(InternalError, ErrorKind::kInternal)
#undef TANDEM_DEFINE_ERROR

namespace detail {
template <class... Args>
std::string StrCat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Throws E with the streamed message, e.g. Throw<ShapeError>("node ", name, ": expected ", s).
template <class E, class... Args>
[[noreturn]] void Throw(Args&&... args) {
  throw E(detail::StrCat(std::forward<Args>(args)...));
}

// Re-throws `e` as the same subclass with `prefix` prepended (adds the file / node at fault).
[[noreturn]] inline void RethrowWithContext(const Error& e, const std::string& prefix) {
  const std::string msg = prefix + e.what();
  switch (e.kind()) {
    case ErrorKind::kInvalidArgument: throw InvalidArgument(msg);
    case ErrorKind::kFormat: throw FormatError(msg);
    case ErrorKind::kShape: throw ShapeError(msg);
    case ErrorKind::kType: throw TypeError(msg);
    case ErrorKind::kDevice: throw DeviceError(msg);
    case ErrorKind::kOutOfMemory: throw OutOfMemory(msg);
    case ErrorKind::kUnsupported: throw Unsupported(msg);
    case ErrorKind::kInternal: throw InternalError(msg);
  }
  throw Error(e.kind(), msg);
}

}  // namespace tandem
