#include "core/order_id_generator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace txengine {
namespace {

using gen = order_id_generator;
constexpr int64_t t0 = gen::epoch_ms + 1'000'000'000;  // some time after the epoch

TEST(order_id_generator_test, million_ids_strictly_increasing_and_unique) {
  gen g(3, 5);
  std::vector<uint64_t> ids;
  ids.reserve(1'000'000);
  // 1M ids over ~100 ms of clock: far more than 4096 per ms, so sequences run out and
  // milliseconds are borrowed many times.
  for (int i = 0; i < 1'000'000; ++i) ids.push_back(g.next(t0 + i / 10'000));
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << "at " << i;
  // Strictly increasing implies unique; check through a set as well, independently.
  std::unordered_set<uint64_t> seen(ids.begin(), ids.end());
  EXPECT_EQ(seen.size(), ids.size());
  for (uint64_t id : {ids.front(), ids.back()}) {
    EXPECT_EQ(gen::node_of(id), 3u);
    EXPECT_EQ(gen::lane_of(id), 5u);
    EXPECT_EQ(id >> 63, 0u);  // stays positive as a signed 64-bit integer
  }
}

TEST(order_id_generator_test, unique_across_nodes_and_lanes) {
  // Every generator of a cluster issues ids at the same instants: none may collide.
  std::vector<gen> gens;
  for (uint32_t node : {0u, 1u, 17u, gen::nodes_max - 1})
    for (uint32_t lane : {0u, 1u, gen::lanes_max - 1}) gens.emplace_back(node, lane);
  std::unordered_set<uint64_t> seen;
  size_t issued = 0;
  for (int i = 0; i < 20'000; ++i) {
    int64_t now = t0 + i / 5'000;  // 5000 per ms per generator: exhausts sequences too
    for (auto& g : gens) {
      seen.insert(g.next(now));
      ++issued;
    }
  }
  EXPECT_EQ(seen.size(), issued);
}

TEST(order_id_generator_test, decodes_node_lane_and_time) {
  gen g(42, 9);
  uint64_t id = g.next(t0 + 123);
  EXPECT_EQ(gen::node_of(id), 42u);
  EXPECT_EQ(gen::lane_of(id), 9u);
  EXPECT_EQ(gen::unix_ms_of(id), t0 + 123);
  EXPECT_EQ(id & gen::sequence_mask, 0u);  // first id of a fresh millisecond
  uint64_t second = g.next(t0 + 123);
  EXPECT_EQ(second & gen::sequence_mask, 1u);
  EXPECT_EQ(gen::unix_ms_of(second), t0 + 123);

  gen top(gen::nodes_max - 1, gen::lanes_max - 1);
  uint64_t top_id = top.next(t0);
  EXPECT_EQ(gen::node_of(top_id), gen::nodes_max - 1);
  EXPECT_EQ(gen::lane_of(top_id), gen::lanes_max - 1);
  EXPECT_EQ(gen::unix_ms_of(top_id), t0);
}

TEST(order_id_generator_test, time_ordered_across_milliseconds) {
  gen g(1, 1);
  uint64_t a = g.next(t0);
  uint64_t b = g.next(t0 + 1);
  uint64_t c = g.next(t0 + 1000);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(gen::unix_ms_of(c), t0 + 1000);
  EXPECT_EQ(c & gen::sequence_mask, 0u);  // the sequence restarts on a new millisecond
}

TEST(order_id_generator_test, monotonic_when_clock_steps_backwards) {
  gen g(2, 0);
  uint64_t last = g.next(t0 + 10'000);
  // The clock jumps back ten seconds, then creeps forward: ids keep increasing and
  // keep the last issued millisecond until the clock catches up.
  for (int i = 0; i < 100; ++i) {
    uint64_t id = g.next(t0 + i);
    ASSERT_GT(id, last);
    EXPECT_EQ(gen::unix_ms_of(id), t0 + 10'000);
    last = id;
  }
  uint64_t later = g.next(t0 + 10'001);
  EXPECT_GT(later, last);
  EXPECT_EQ(gen::unix_ms_of(later), t0 + 10'001);
  // Before the epoch the clock counts as the epoch itself: still increasing.
  uint64_t before_epoch = g.next(0);
  EXPECT_GT(before_epoch, later);
}

TEST(order_id_generator_test, sequence_exhaustion_borrows_next_millisecond) {
  gen g(5, 3);
  uint64_t last = 0;
  for (uint64_t i = 0; i <= gen::sequence_mask; ++i) {
    last = g.next(t0);
    ASSERT_EQ(gen::unix_ms_of(last), t0);
    ASSERT_EQ(last & gen::sequence_mask, i);
  }
  // The 4097th id in one millisecond: borrowed from the next one, sequence 0.
  uint64_t borrowed = g.next(t0);
  EXPECT_GT(borrowed, last);
  EXPECT_EQ(gen::unix_ms_of(borrowed), t0 + 1);
  EXPECT_EQ(borrowed & gen::sequence_mask, 0u);
  EXPECT_EQ(gen::node_of(borrowed), 5u);
  EXPECT_EQ(gen::lane_of(borrowed), 3u);
  // When the real clock reaches the borrowed millisecond, the sequence continues there.
  uint64_t next = g.next(t0 + 1);
  EXPECT_EQ(gen::unix_ms_of(next), t0 + 1);
  EXPECT_EQ(next & gen::sequence_mask, 1u);
}

}  // namespace
}  // namespace txengine
