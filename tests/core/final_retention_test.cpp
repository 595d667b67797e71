// final_retention: which final orders leave memory, and when (issue 12).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/final_retention.hpp"

using namespace txengine;

namespace {

//! A host's final orders as a set; every id may go unless listed otherwise.
struct fake_host {
  std::set<order_id> final_orders;
  std::set<order_id> uncommitted;
  std::set<order_id> pinned;
  std::vector<order_id> evicted;

  eviction operator()(order_id id) {
    if (final_orders.count(id) == 0) return eviction::gone;
    if (uncommitted.count(id)) return eviction::not_yet;
    if (pinned.count(id)) return eviction::pinned;
    final_orders.erase(id);
    evicted.push_back(id);
    return eviction::evict;
  }
};

//! Orders first..last became final, order i at since(i).
template <class Since>
void add_orders(final_retention& r, fake_host& host, order_id first, order_id last, Since since) {
  for (order_id id = first; id <= last; ++id) {
    r.add(id, since(id));
    host.final_orders.insert(id);
  }
}

}  // namespace

TEST(FinalRetention, NothingLeavesWithinTheWindowAndUnderTheMaximum) {
  final_retention r(1'000, 10);
  fake_host host;
  add_orders(r, host, 1, 5, [](order_id id) { return 100 * static_cast<int64_t>(id); });
  EXPECT_EQ(r.expire(1'099, host.final_orders.size(), std::ref(host)), 0u);
  EXPECT_TRUE(host.evicted.empty());
  EXPECT_EQ(r.next_expiry_ms(), 1'100);
}

TEST(FinalRetention, OrdersLeaveOldestFirstOnceTheWindowPassed) {
  final_retention r(1'000, 10);
  fake_host host;
  add_orders(r, host, 1, 5, [](order_id id) { return 100 * static_cast<int64_t>(id); });
  EXPECT_EQ(r.expire(1'300, host.final_orders.size(), std::ref(host)), 3u);
  EXPECT_EQ(host.evicted, (std::vector<order_id>{1, 2, 3}));
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r.next_expiry_ms(), 1'400);
}

TEST(FinalRetention, PastTheMaximumTheOldestLeaveWithinTheWindow) {
  final_retention r(1'000'000, 3);
  fake_host host;
  add_orders(r, host, 1, 7, [](order_id) { return int64_t{10}; });
  EXPECT_EQ(r.expire(20, host.final_orders.size(), std::ref(host)), 4u);
  EXPECT_EQ(host.evicted, (std::vector<order_id>{1, 2, 3, 4}));
  EXPECT_EQ(host.final_orders.size(), 3u);
}

TEST(FinalRetention, AnUncommittedOrderStopsEvictionThere) {
  final_retention r(100, 1);
  fake_host host;
  add_orders(r, host, 1, 4, [](order_id) { return int64_t{0}; });
  host.uncommitted = {3, 4};
  EXPECT_EQ(r.expire(1'000, host.final_orders.size(), std::ref(host)), 2u);
  EXPECT_EQ(host.evicted, (std::vector<order_id>{1, 2}));
  host.uncommitted.clear();  // the writer committed them
  EXPECT_EQ(r.expire(1'000, host.final_orders.size(), std::ref(host)), 2u);
  EXPECT_EQ(r.size(), 0u);
}

TEST(FinalRetention, APinnedOrderWaitsAtTheBackAndTheOthersStillLeave) {
  final_retention r(100, 100);
  fake_host host;
  add_orders(r, host, 1, 3, [](order_id) { return int64_t{0}; });
  host.pinned = {1};
  EXPECT_EQ(r.expire(500, host.final_orders.size(), std::ref(host)), 2u);
  EXPECT_EQ(host.evicted, (std::vector<order_id>{2, 3}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.next_expiry_ms(), 600);  // its age starts again when it was found pinned
  host.pinned.clear();
  EXPECT_EQ(r.expire(599, host.final_orders.size(), std::ref(host)), 0u);
  EXPECT_EQ(r.expire(600, host.final_orders.size(), std::ref(host)), 1u);
}

TEST(FinalRetention, AllPinnedPastTheMaximumEndsTheCall) {
  final_retention r(1'000'000, 1);
  fake_host host;
  add_orders(r, host, 1, 3, [](order_id) { return int64_t{0}; });
  host.pinned = {1, 2, 3};
  EXPECT_EQ(r.expire(5, host.final_orders.size(), std::ref(host)), 0u);
  EXPECT_EQ(r.size(), 3u);
}

TEST(FinalRetention, StaleEntriesAreDroppedWithoutCountingAsEvictions) {
  final_retention r(100, 100);
  fake_host host;
  r.add(1, 0);
  r.add(1, 0);  // adopted twice
  r.add(2, 0);
  host.final_orders = {1, 2};
  EXPECT_EQ(r.expire(100, host.final_orders.size(), std::ref(host)), 2u);
  EXPECT_EQ(r.size(), 0u);
}

TEST(FinalRetention, EachOrderIsLookedAtOnceWhenItLeaves) {
  // O(1) amortized: a million orders, expired in small steps of time, ask once per order.
  final_retention r(1'000, 1u << 30);
  size_t asked = 0;
  for (order_id id = 1; id <= 1'000'000; ++id) r.add(id, static_cast<int64_t>(id / 100));
  size_t evicted = 0;
  for (int64_t now = 0; now <= 20'000; now += 7)
    evicted += r.expire(now, 1'000'000 - evicted, [&](order_id) {
      ++asked;
      return eviction::evict;
    });
  EXPECT_EQ(evicted, 1'000'000u);
  EXPECT_EQ(asked, 1'000'000u);
}
