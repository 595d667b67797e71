#pragma once
// A FIFO on one contiguous vector: push at the back, pop at the front, iterate oldest first.
// Why not std::deque: a deque allocates a map and a 512-byte chunk for its first element,
// and a wallet keeps two of these queues; with 100k active wallets that is 200k scattered
// allocations and a cache miss per step. Here a small queue is one small allocation, and
// popped slots are reclaimed by compacting once they are at least half of the storage.
#include <cstddef>
#include <vector>

namespace txengine {

template <class T>
class fifo_vector {
 public:
  using const_iterator = typename std::vector<T>::const_iterator;

  void push_back(const T& value) {
    // The first push makes room for a few: most queues stay short (a wallet's journal and
    // finished records over one order or two), and growing 1, 2, 4 costs three allocations.
    if (items_.capacity() == 0) items_.reserve(initial_capacity);
    items_.push_back(value);
  }
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  const T& front() const { return items_[head_]; }
  const T& back() const { return items_.back(); }
  const T& operator[](size_t i) const { return items_[head_ + i]; }
  size_t size() const { return items_.size() - head_; }
  bool empty() const { return size() == 0; }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }

 private:
  static constexpr size_t initial_capacity = 4;
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace txengine
