#pragma once
// A vector of at most N elements kept inside its owner: no allocation, and the elements sit
// next to the rest of the owner. An order's legs live here: the order host reaches a leg on
// every step answer, and a separate heap block cost an allocation per order and a cache miss
// per answer.
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/check.hpp"

namespace txengine {

template <class T, size_t N>
class inline_vector {
 public:
  using iterator = T*;
  using const_iterator = const T*;

  void push_back(const T& value) {
    TX_CHECK(size_ < N);
    items_[size_++] = value;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  static constexpr size_t capacity() { return N; }
  T& operator[](size_t i) { return items_[i]; }
  const T& operator[](size_t i) const { return items_[i]; }
  iterator begin() { return items_.data(); }
  iterator end() { return items_.data() + size_; }
  const_iterator begin() const { return items_.data(); }
  const_iterator end() const { return items_.data() + size_; }

 private:
  std::array<T, N> items_{};
  uint8_t size_ = 0;
  static_assert(N < 256, "the size is kept in a byte");
};

}  // namespace txengine
