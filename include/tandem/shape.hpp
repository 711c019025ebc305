// tandem/shape.hpp — tensor shapes.
//
// A Shape is a list of int64 dimensions. ndim()==0 means "unknown" during shape inference (MXNet's
// legacy convention; inference graphs do not use 0-d tensors). Size() checks for overflow so a
// hostile file cannot make tandem compute a wrapped element count.
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tandem/error.hpp"

namespace tandem {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int ndim() const { return static_cast<int>(dims_.size()); }
  bool known() const { return !dims_.empty(); }
  int64_t operator[](int i) const { return dims_.at(i < 0 ? i + ndim() : i); }
  int64_t& operator[](int i) { return dims_.at(i < 0 ? i + ndim() : i); }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& dims() { return dims_; }
  auto begin() const { return dims_.begin(); }
  auto end() const { return dims_.end(); }

  // Number of elements; throws ShapeError on negative dims or 64-bit overflow.
  int64_t Size() const {
    int64_t n = 1;
    for (int64_t d : dims_) {
      if (d < 0) Throw<ShapeError>("negative dimension in shape ", ToString());
      if (d != 0 && n > INT64_MAX / d) Throw<ShapeError>("element count of shape ", ToString(), " overflows 64 bits");
      n *= d;
    }
    return n;
  }
  // Product of dims in [begin, end).
  int64_t Prod(int begin, int end) const {
    int64_t n = 1;
    for (int i = begin; i < end; ++i) n *= dims_.at(i);
    return n;
  }

  std::string ToString() const {
    std::string s = "(";
    for (size_t i = 0; i < dims_.size(); ++i) {
      if (i) s += ',';
      s += std::to_string(dims_[i]);
    }
    s += ')';
    return s;
  }
  friend bool operator==(const Shape&, const Shape&) = default;
  friend bool operator<(const Shape& a, const Shape& b) { return a.dims_ < b.dims_; }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace tandem
