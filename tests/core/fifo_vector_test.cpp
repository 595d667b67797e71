#include "core/fifo_vector.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

namespace txengine {
namespace {

// Against std::deque as the reference: random pushes and pops, wrapping the ring many times
// and growing it, with every element and the iteration order compared after each operation.
TEST(fifo_vector_test, behaves_as_a_deque) {
  std::mt19937_64 rng(12);
  fifo_vector<int> ring;
  std::deque<int> model;
  int next = 0;
  for (int step = 0; step < 20'000; ++step) {
    bool push = model.empty() || rng() % 100 < (step < 10'000 ? 55 : 45);
    if (push) {
      ring.push_back(next);
      model.push_back(next++);
    } else {
      ring.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(ring.size(), model.size());
    ASSERT_EQ(ring.empty(), model.empty());
    if (model.empty()) continue;
    ASSERT_EQ(ring.front(), model.front());
    ASSERT_EQ(ring.back(), model.back());
    size_t probe = rng() % model.size();
    ASSERT_EQ(ring[probe], model[probe]);
    if (step % 997 == 0) {
      ASSERT_EQ(std::vector<int>(ring.begin(), ring.end()), std::vector<int>(model.begin(), model.end()));
    }
  }
}

// The storage doubles only when the queue is full: a queue that never holds more than 256
// entries keeps 256 slots however long it runs (the vector it replaced held up to twice that).
TEST(fifo_vector_test, storage_is_the_most_entries_held_rounded_up_to_a_power_of_two) {
  fifo_vector<int> ring;
  EXPECT_EQ(ring.capacity(), 0u);
  for (int i = 0; i < 256; ++i) ring.push_back(i);
  EXPECT_EQ(ring.capacity(), 256u);
  for (int i = 256; i < 100'000; ++i) {
    ring.pop_front();
    ring.push_back(i);
  }
  EXPECT_EQ(ring.capacity(), 256u);
  EXPECT_EQ(ring.front(), 100'000 - 256);
  ring.push_back(0);  // 257 at once
  EXPECT_EQ(ring.capacity(), 512u);
  fifo_vector<int> small;
  for (int i = 0; i < 3; ++i) small.push_back(i);
  EXPECT_EQ(small.capacity(), 4u);
}

}  // namespace
}  // namespace txengine
