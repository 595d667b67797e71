// The partition leases in MySQL (persistence/lease_store.hpp, issue 14) against the private
// MariaDB server: registration of node ids, compare-and-set takeovers on the server's clock, and
// the fence a commit runs: a takeover waits for a commit holding the lease, a commit after a
// takeover finds its lease gone, and a paused holder is cut off by the server.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "persistence/bulk_connection.hpp"
#include "persistence/lease_store.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"

using namespace txengine;
using namespace txengine::persistence;

namespace {

shard_layout lease_layout() {
  shard_layout l;
  l.databases = 2;
  l.tables = 2;
  l.prefix = "txtest_leases_";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    for (char c : std::string(info->name()))
      l.prefix += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_');
  l.prefix = l.prefix.substr(0, 40);
  return l;
}

lease_rules rules(uint32_t partitions, int64_t ttl_ms = 1'000) {
  lease_rules r;
  r.partitions = partitions;
  r.ttl_ms = ttl_ms;
  return r;
}

class LeaseStore : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = std::make_unique<mysql_connection>(endpoint_from_environment());
    drop_schema(*conn_, layout_);
    apply_schema(*conn_, layout_);
  }
  void TearDown() override { drop_schema(*conn_, layout_); }
  std::unique_ptr<lease_store> store(uint32_t partitions, int64_t ttl_ms = 1'000) {
    auto s = std::make_unique<lease_store>(endpoint_from_environment(), layout_, rules(partitions, ttl_ms));
    s->prepare();
    return s;
  }
  void expire_all() { conn_->execute("UPDATE " + layout_.database_name(0) + ".cluster_leases SET expires_ms = 0"); }
  shard_layout layout_ = lease_layout();
  std::unique_ptr<mysql_connection> conn_;
};

}  // namespace

TEST_F(LeaseStore, ThePartitionCountIsFixedForADeployment) {
  auto s = store(16);
  EXPECT_EQ(s->leases().size(), 16u);
  store(16);  // again: nothing changes
  try {
    store(32);
    FAIL() << "another partition count was accepted";
  } catch (const lease_store_error& e) {
    EXPECT_NE(std::string(e.what()).find("this deployment has 16 partitions, not 32"), std::string::npos) << e.what();
  }
}

TEST_F(LeaseStore, ANodeIdHeldByALiveProcessIsRefusedToAnother) {
  auto s = store(4, 60'000);
  s->join(1, 111, "10.0.0.1:7500");
  s->join(1, 111, "10.0.0.1:7500");  // the same process again
  try {
    s->join(1, 222, "10.0.0.2:7500");
    FAIL() << "a second process got node id 1";
  } catch (const lease_store_error& e) {
    EXPECT_NE(std::string(e.what()).find("node id 1 is in use by a live node at 10.0.0.1:7500"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(s->join(0, 1, "x"), lease_store_error);
  EXPECT_THROW(s->join(2, 1, "a'b"), lease_store_error);
  ASSERT_EQ(s->live_members().size(), 1u);
  // Expired (the first process died long ago): the id is free, and the old process learns at
  // its next heartbeat that it is no longer node 1.
  conn_->execute("UPDATE " + layout_.database_name(0) + ".cluster_nodes SET expires_ms = 0");
  s->join(1, 222, "10.0.0.2:7500");
  EXPECT_FALSE(s->heartbeat(1, 111));
  EXPECT_TRUE(s->heartbeat(1, 222));
  s->leave(1, 222);
  EXPECT_TRUE(s->live_members().empty());
}

TEST_F(LeaseStore, TakeoversAreCompareAndSetOnTheEpochAfterExpiry) {
  auto s = store(4, 60'000);
  auto leases = s->leases();
  ASSERT_TRUE(s->acquire(leases[2], 1));
  EXPECT_FALSE(s->acquire(leases[2], 2));  // the epoch it saw is gone
  auto now = s->leases();
  EXPECT_EQ(now[2].owner, 1u);
  EXPECT_EQ(now[2].epoch, 1u);
  EXPECT_FALSE(s->acquire(now[2], 2));  // unexpired
  expire_all();
  now = s->leases();
  EXPECT_TRUE(s->acquire(now[2], 2));
  EXPECT_EQ(s->leases()[2].epoch, 2u);
  // Node 1's renewal of its old epoch changes nothing.
  EXPECT_TRUE(s->renew({now[2]}, 1).empty());
  EXPECT_EQ(s->leases()[2].owner, 2u);
}

TEST_F(LeaseStore, RoundsSplitThePartitionsBetweenLiveNodes) {
  auto a = store(64, 60'000), b = store(64, 60'000);
  a->join(1, 1, "a");
  b->join(2, 2, "b");
  for (int round = 0; round < 3; ++round) {
    a->run_round(1);
    b->run_round(2);
  }
  auto held_a = a->run_round(1), held_b = b->run_round(2);
  EXPECT_EQ(held_a.size(), 32u);
  EXPECT_EQ(held_b.size(), 32u);
  for (const auto& l : a->leases()) EXPECT_NE(l.owner, no_node) << l.partition;
}

TEST_F(LeaseStore, ATakeoverWaitsForACommitAndACommitAfterATakeoverIsRefused) {
  auto s = store(4, 1'000);
  auto leases = s->leases();
  ASSERT_TRUE(s->acquire(leases[1], 1));
  expire_all();  // node 1 is late renewing: its lease expired, nobody took it yet
  uint64_t epoch = s->leases()[1].epoch;
  const std::string fence = lease_store::fence_sql(layout_, 1, {{1, epoch}});

  // Node 1's writer commits a batch for partition 1: the fence holds the lease row.
  bulk_connection writer(endpoint_from_environment());
  EXPECT_EQ(writer.query_rows(fence, 10).size(), 1u);
  // Node 2's takeover waits for that commit (1 s here) and fails; it is tried next round.
  try {
    s->acquire(s->leases()[1], 2);
    FAIL() << "the takeover did not wait for the commit";
  } catch (const sql::SQLException& e) {
    EXPECT_EQ(e.getErrorCode(), mysql_error::lock_wait_timeout) << e.what();
  }
  writer.commit();
  ASSERT_TRUE(s->acquire(s->leases()[1], 2));
  // Node 1's next batch: the fence finds no lease at its epoch, so the batch must roll back.
  EXPECT_TRUE(writer.query_rows(fence, 10).empty());
  writer.rollback();
}

TEST_F(LeaseStore, APausedHolderIsCutOffByTheServerAndItsCommitFails) {
  auto s = store(4, 1'000);
  ASSERT_TRUE(s->acquire(s->leases()[3], 1));
  expire_all();
  uint64_t epoch = s->leases()[3].epoch;
  // The writer's connections run with an idle-transaction timeout: a process paused inside a
  // commit (SIGSTOP, a long GC-like stall) cannot hold the lease row for ever.
  bulk_connection writer(endpoint_from_environment());
  writer.execute("SET SESSION idle_transaction_timeout = 1");
  EXPECT_EQ(writer.query_rows(lease_store::fence_sql(layout_, 1, {{3, epoch}}), 10).size(), 1u);
  // ... and then it is paused. The takeover succeeds once the server has cut the connection
  // (a bounded wait on that condition).
  bool taken = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       !taken && std::chrono::steady_clock::now() < deadline;) {
    try {
      taken = s->acquire(s->leases()[3], 2);
    } catch (const sql::SQLException&) {
      // lock wait timeout while the paused transaction still holds the row
    }
  }
  ASSERT_TRUE(taken);
  EXPECT_EQ(s->leases()[3].owner, 2u);
  // The paused process wakes up and commits: its connection is gone, nothing is committed.
  EXPECT_THROW(writer.commit(), sql::SQLException);
}

TEST_F(LeaseStore, ANewProcessOfANodeIdGivesUpTheEpochsOfTheOldOne) {
  auto s = store(4, 1'000);
  s->join(1, 111, "10.0.0.1:7500");
  ASSERT_TRUE(s->acquire(s->leases()[2], 1));
  const uint64_t old_epoch = s->leases()[2].epoch;
  // The process of incarnation 111 is paused, not dead: its registration and lease expire.
  conn_->execute("UPDATE " + layout_.database_name(0) + ".cluster_nodes SET expires_ms = 0");
  expire_all();
  // A new process with the same node id joins and takes the partition again.
  s->join(1, 222, "10.0.0.1:7500");
  auto released = s->leases()[2];
  EXPECT_EQ(released.owner, no_node);
  EXPECT_GT(released.epoch, old_epoch);
  ASSERT_TRUE(s->acquire(released, 1));
  const uint64_t new_epoch = s->leases()[2].epoch;
  EXPECT_GT(new_epoch, old_epoch);
  // The old process wakes up: its fence at the old epoch finds nothing, though the owner is
  // node 1 again; the new process's fence finds its lease.
  bulk_connection old_writer(endpoint_from_environment());
  EXPECT_TRUE(old_writer.query_rows(lease_store::fence_sql(layout_, 1, {{2, old_epoch}}), 10).empty());
  old_writer.rollback();
  bulk_connection new_writer(endpoint_from_environment());
  EXPECT_EQ(new_writer.query_rows(lease_store::fence_sql(layout_, 1, {{2, new_epoch}}), 10).size(), 1u);
  new_writer.rollback();
  // A repeated join of the same process keeps what it holds.
  s->join(1, 222, "10.0.0.1:7500");
  EXPECT_EQ(s->leases()[2].owner, 1u);
  EXPECT_EQ(s->leases()[2].epoch, new_epoch);
}
