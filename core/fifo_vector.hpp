#pragma once
// A FIFO on one contiguous ring: push at the back, pop at the front, iterate oldest first.
// Why not std::deque: a deque allocates a map and a 512-byte chunk for its first element,
// and a wallet keeps two of these queues; with 100k active wallets that is 200k scattered
// allocations and a cache miss per step. Here a small queue is one small allocation.
// The ring's storage is a power of two that doubles only when the queue is full, so it is
// never more than twice the most entries the queue held at once, and exactly that many when
// that is a power of two: a wallet's journal of 256 entries takes 256 slots (the compacting
// vector this was before kept popped slots until they were half its storage, and so grew to
// twice the journal's bound, 40 KiB a wallet instead of 20; docs/benchmarks.md).
#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace txengine {

template <class T>
class fifo_vector {
 public:
  //! Oldest first; invalidated by push_back and pop_front.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;

    const_iterator() = default;
    const_iterator(const fifo_vector* queue, size_t index) : queue_(queue), index_(index) {}
    const T& operator*() const { return (*queue_)[index_]; }
    const T* operator->() const { return &(*queue_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++index_;
      return before;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }
    bool operator!=(const const_iterator& other) const { return index_ != other.index_; }

   private:
    const fifo_vector* queue_ = nullptr;
    size_t index_ = 0;
  };

  void push_back(const T& value) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = value;
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }
  const T& front() const { return slots_[head_]; }
  const T& back() const { return (*this)[size_ - 1]; }
  const T& operator[](size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  //! Slots of storage (a power of two, or 0 before the first push).
  size_t capacity() const { return slots_.size(); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

 private:
  //! The first push makes room for a few: most queues stay short (a wallet's journal and
  //! finished records over one order or two), and growing 1, 2, 4 costs three allocations.
  static constexpr size_t initial_capacity = 4;
  static_assert((initial_capacity & (initial_capacity - 1)) == 0, "a power of two: indices wrap with a mask");

  void grow() {
    std::vector<T> bigger(slots_.empty() ? initial_capacity : 2 * slots_.size());
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;
  size_t head_ = 0;  //!< the slot of the oldest entry
  size_t size_ = 0;
};

}  // namespace txengine
