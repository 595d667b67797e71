#include "core/timer_queue.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace txengine {
namespace {

TEST(timer_queue_test, fires_due_entries_in_time_order) {
  timer_queue<int> q;
  EXPECT_EQ(q.next_ms(), timer_queue<int>::never);
  q.arm(30, 3, 0);
  q.arm(10, 1, 7);
  q.arm(20, 2, 0);
  q.arm(10, 4, 8);
  EXPECT_EQ(q.next_ms(), 10);
  EXPECT_EQ(q.size(), 4u);
  std::vector<std::pair<int, uint64_t>> fired;
  auto record = [&](int key, uint64_t tag) { fired.emplace_back(key, tag); };
  EXPECT_EQ(q.expire(9, record), 0u);
  EXPECT_EQ(q.expire(20, record), 3u);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2], std::make_pair(2, uint64_t{0}));  // 20 after both 10s
  EXPECT_EQ(q.next_ms(), 30);
  EXPECT_EQ(q.expire(1000, record), 1u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.next_ms(), timer_queue<int>::never);
}

TEST(timer_queue_test, tags_let_the_owner_skip_stale_entries) {
  // A re-armed key leaves its old entry in the heap; the owner compares tags.
  timer_queue<int> q;
  uint64_t current_tag = 1;
  q.arm(10, 5, current_tag);
  current_tag = 2;
  q.arm(50, 5, current_tag);
  int live = 0, stale = 0;
  q.expire(100, [&](int, uint64_t tag) { (tag == current_tag ? live : stale)++; });
  EXPECT_EQ(live, 1);
  EXPECT_EQ(stale, 1);
}

}  // namespace
}  // namespace txengine
