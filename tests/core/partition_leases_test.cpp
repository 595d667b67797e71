// Partition leases (issue 14): what a node asks the lease store for in one round, against a
// store with the same compare-and-set rules as persistence/lease_store (in memory here).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "core/partition_leases.hpp"

using namespace txengine;

namespace {

//! The lease store's rules: acquire is a CAS on the epoch seen and needs the lease free or
//! expired; renew and release need owner and epoch to match.
struct fake_store {
  std::vector<partition_lease> leases;
  int64_t ttl_ms;
  uint64_t changes_of_owner = 0;

  fake_store(uint32_t partitions, int64_t ttl) : ttl_ms(ttl) {
    for (uint32_t p = 0; p < partitions; ++p) leases.push_back(partition_lease{p, no_node, 0, 0});
  }
  bool acquire(const partition_lease& seen, cluster_node node, int64_t now) {
    partition_lease& l = leases[seen.partition];
    if (l.epoch != seen.epoch || !(l.owner == no_node || l.expires_ms < now)) return false;
    l = partition_lease{l.partition, node, l.epoch + 1, now + ttl_ms};
    ++changes_of_owner;
    return true;
  }
  bool renew(const partition_lease& seen, cluster_node node, int64_t now) {
    partition_lease& l = leases[seen.partition];
    if (l.owner != node || l.epoch != seen.epoch) return false;
    l.expires_ms = now + ttl_ms;
    return true;
  }
  void release(const partition_lease& seen, cluster_node node, int64_t now) {
    partition_lease& l = leases[seen.partition];
    if (l.owner == node && l.epoch == seen.epoch) {
      l.owner = no_node;
      l.expires_ms = now;
    }
  }
  //! One round of `node`: plan on a snapshot, then apply.
  lease_plan round(cluster_node node, const std::vector<cluster_node>& live, int64_t now, const lease_rules& rules) {
    lease_plan plan = plan_lease_round(leases, live, node, now, rules);
    for (const auto& l : plan.renew) renew(l, node, now);
    for (const auto& l : plan.release) release(l, node, now);
    for (const auto& l : plan.acquire) acquire(l, node, now);
    return plan;
  }
  uint32_t held(cluster_node node, int64_t now) const {
    return static_cast<uint32_t>(std::count_if(leases.begin(), leases.end(), [&](const partition_lease& l) {
      return l.owner == node && l.expires_ms >= now;
    }));
  }
  uint32_t unowned(int64_t now) const {
    return static_cast<uint32_t>(std::count_if(leases.begin(), leases.end(), [&](const partition_lease& l) {
      return l.owner == no_node || l.expires_ms < now;
    }));
  }
};

lease_rules rules_of(uint32_t partitions) {
  lease_rules r;
  r.partitions = partitions;
  r.ttl_ms = 5'000;
  r.release_per_round = 8;
  return r;
}

}  // namespace

TEST(PartitionLeases, WalletsMapToPartitionsById) {
  EXPECT_EQ(partition_of(0, 256), 0u);
  EXPECT_EQ(partition_of(257, 256), 1u);
  EXPECT_EQ(partition_of(UINT64_MAX, 256), 255u);
  EXPECT_EQ(partition_of(12345, 1), 0u);
}

TEST(PartitionLeases, FairShareRoundsUp) {
  EXPECT_EQ(fair_share(256, 1), 256u);
  EXPECT_EQ(fair_share(256, 3), 86u);
  EXPECT_EQ(fair_share(256, 256), 1u);
  EXPECT_EQ(fair_share(256, 1000), 1u);
}

TEST(PartitionLeases, BadRulesAreNamed) {
  EXPECT_EQ(lease_rules_problem(rules_of(256)), "");
  EXPECT_NE(lease_rules_problem(rules_of(0)).find("partitions must be 1..65536"), std::string::npos);
  lease_rules r = rules_of(256);
  r.ttl_ms = 10;
  EXPECT_NE(lease_rules_problem(r).find("ttl_ms"), std::string::npos);
  r = rules_of(256);
  r.release_per_round = 0;
  EXPECT_NE(lease_rules_problem(r), "");
}

TEST(PartitionLeases, ALoneNodeTakesEveryPartitionAndRenewsThem) {
  fake_store store(64, 5'000);
  lease_plan first = store.round(1, {1}, 1'000, rules_of(64));
  EXPECT_EQ(first.acquire.size(), 64u);
  EXPECT_EQ(store.held(1, 1'000), 64u);
  lease_plan second = store.round(1, {1}, 2'000, rules_of(64));
  EXPECT_TRUE(second.acquire.empty());
  EXPECT_EQ(second.renew.size(), 64u);
  EXPECT_EQ(store.leases[5].expires_ms, 7'000);
  EXPECT_EQ(store.leases[5].epoch, 1u);  // renewing keeps the epoch
}

TEST(PartitionLeases, NodesStartingTogetherSplitThePartitions) {
  fake_store store(256, 5'000);
  std::vector<cluster_node> live = {1, 2, 3};
  for (int64_t t = 0; t < 5'000; t += 1'000)
    for (cluster_node n : live) store.round(n, live, t, rules_of(256));
  EXPECT_EQ(store.unowned(4'000), 0u);
  for (cluster_node n : live) {
    EXPECT_GE(store.held(n, 4'000), 84u) << n;
    EXPECT_LE(store.held(n, 4'000), 86u) << n;
  }
  EXPECT_EQ(store.changes_of_owner, 256u);  // nothing changed hands twice
}

TEST(PartitionLeases, ANodeNeverTakesAnUnexpiredLeaseWhateverItsView) {
  fake_store store(32, 5'000);
  store.round(1, {1}, 0, rules_of(32));
  // Node 2 believes it is alone (a stale view): node 1's leases are unexpired, so it plans nothing.
  lease_plan plan = store.round(2, {2}, 4'999, rules_of(32));
  EXPECT_TRUE(plan.acquire.empty());
  EXPECT_EQ(store.held(1, 4'999), 32u);
}

TEST(PartitionLeases, SurvivorsTakeADeadNodesPartitionsOnceItsLeasesExpire) {
  fake_store store(256, 5'000);
  std::vector<cluster_node> all = {1, 2, 3};
  for (int64_t t = 0; t < 3'000; t += 1'000)
    for (cluster_node n : all) store.round(n, all, t, rules_of(256));
  uint32_t of_three = store.held(3, 2'000);
  ASSERT_GT(of_three, 0u);
  // Node 3 dies at 2 s (last renewal at 2 s: its leases expire at 7 s). The others notice it
  // gone (the live view) and take its partitions as soon as the leases expire, not before.
  std::vector<cluster_node> survivors = {1, 2};
  int64_t taken_at = -1;
  for (int64_t t = 3'000; t < 20'000 && taken_at < 0; t += 1'000) {
    for (cluster_node n : survivors) store.round(n, survivors, t, rules_of(256));
    if (t <= 7'000) {
      EXPECT_EQ(store.held(3, t), of_three) << t;
    }
    if (store.unowned(t) == 0 && store.held(3, t) == 0) taken_at = t;
  }
  EXPECT_EQ(taken_at, 8'000);  // the first round after expiry (ttl + one round)
  EXPECT_EQ(store.held(1, 8'000) + store.held(2, 8'000), 256u);
}

TEST(PartitionLeases, AReturningNodeGetsItsShareBackAFewPerRound) {
  fake_store store(256, 5'000);
  std::vector<cluster_node> two = {1, 2};
  for (int64_t t = 0; t < 3'000; t += 1'000)
    for (cluster_node n : two) store.round(n, two, t, rules_of(256));
  ASSERT_EQ(store.held(1, 2'000) + store.held(2, 2'000), 256u);
  std::vector<cluster_node> three = {1, 2, 3};
  uint32_t before = store.held(1, 2'000);
  int64_t t = 3'000;
  for (; t < 60'000; t += 1'000) {
    for (cluster_node n : three) {
      lease_plan p = store.round(n, three, t, rules_of(256));
      EXPECT_LE(p.release.size(), 8u);
    }
    EXPECT_LE(before - std::min(before, store.held(1, t)), 8u * static_cast<uint32_t>((t - 2'000) / 1'000)) << t;
    if (store.held(1, t) <= 86 && store.held(2, t) <= 86 && store.unowned(t) == 0) break;
  }
  EXPECT_LT(t, 60'000);
  EXPECT_EQ(store.held(3, t), 256u - store.held(1, t) - store.held(2, t));
  EXPECT_GE(store.held(3, t), 84u);  // 86 + 86 + 84: nobody above the share
  // And it stays so.
  for (cluster_node n : three) store.round(n, three, t + 1'000, rules_of(256));
  EXPECT_GE(store.held(3, t + 1'000), 84u);
  for (cluster_node n : three) EXPECT_LE(store.held(n, t + 1'000), 86u) << n;
}

TEST(PartitionLeases, AStaleViewOfTheLiveNodesDelaysButStrandsNothing) {
  fake_store store(8, 5'000);
  // Node 1 still sees node 9 (dead) as live, so its share is 4: four partitions wait...
  store.round(1, {1, 9}, 0, rules_of(8));
  EXPECT_EQ(store.held(1, 0), 4u);
  store.round(1, {1, 9}, 4'000, rules_of(8));
  EXPECT_EQ(store.held(1, 4'000), 4u);
  // ... until node 9's registration expires (one ttl) and the view drops it.
  store.round(1, {1}, 5'001, rules_of(8));
  EXPECT_EQ(store.held(1, 5'001), 8u);
}

TEST(PartitionLeases, AnExpiredLeaseOfOnesOwnIsRenewedWithItsEpoch) {
  fake_store store(4, 5'000);
  store.round(1, {1}, 0, rules_of(4));
  // Paused past expiry; nobody took them: the epoch is unchanged, so renewing is safe.
  lease_plan p = store.round(1, {1}, 9'000, rules_of(4));
  EXPECT_EQ(p.renew.size(), 4u);
  EXPECT_EQ(store.held(1, 9'000), 4u);
  EXPECT_EQ(store.leases[0].epoch, 1u);
  // Had another node taken one meanwhile, the renewal of that one fails on the epoch.
  store.leases[2] = partition_lease{2, 7, 2, 20'000};
  store.round(1, {1, 7}, 10'000, rules_of(4));
  EXPECT_EQ(store.leases[2].owner, 7u);
  EXPECT_FALSE(lease_allows_commit(store.leases[2], 1, 1));
  EXPECT_TRUE(lease_allows_commit(store.leases[2], 7, 2));
}

// Random deaths, pauses and returns of five nodes: at every moment a partition has one lease
// (so one owner); the epoch only grows; whenever the live nodes stay put for a lease period and
// a round, every partition is owned by a live node and nobody holds more than its share plus
// what it has not yet released.
TEST(PartitionLeases, RandomDeathsPausesAndReturnsKeepOneOwnerAndLoseNoPartition) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    const uint32_t partitions = 64;
    fake_store store(partitions, 5'000);
    std::vector<bool> up(6, true);  // nodes 1..5
    up[0] = false;
    std::vector<uint64_t> epochs(partitions, 0);
    int64_t last_change = 0;
    for (int64_t t = 0; t < 300'000; t += 1'000) {
      if (rng() % 20 == 0) {
        cluster_node n = 1 + static_cast<cluster_node>(rng() % 5);
        up[n] = !up[n];
        if (std::count(up.begin(), up.end(), true) == 0) up[n] = true;
        last_change = t;
      }
      std::vector<cluster_node> live;
      for (cluster_node n = 1; n <= 5; ++n)
        if (up[n]) live.push_back(n);
      for (cluster_node n : live) store.round(n, live, t, rules_of(partitions));
      for (uint32_t p = 0; p < partitions; ++p) {
        ASSERT_GE(store.leases[p].epoch, epochs[p]) << "seed " << seed;
        epochs[p] = store.leases[p].epoch;
      }
      if (t - last_change > 5'000 + 1'000) {
        ASSERT_EQ(store.unowned(t), 0u) << "seed " << seed << " t " << t;
        for (const auto& l : store.leases) ASSERT_TRUE(up[l.owner]) << "seed " << seed << " partition " << l.partition;
      }
    }
  }
}
