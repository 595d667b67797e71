// A cluster node on MySQL (issue 14, docs/cluster.md) against the private MariaDB server: the
// node takes its partitions at start, every batch it commits passes the fence, a batch of a
// partition another node took is refused (nothing of it is committed, the client never hears
// success, and the node is fenced: it refuses new commands), a lease lost while serving fences
// the node, a node id in use is refused, and a clean stop gives the leases back. Two nodes run
// orders whose legs cross nodes; clients of either node reach every wallet and order (submits
// sent on to the node that holds their home wallet, queries asked of it); a survivor takes a
// dead node's partitions over, finishes its orders and answers what was sent on to it.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <chrono>
#include <string>
#include <thread>

#include "core/order_id_generator.hpp"
#include "core/routing.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/lease_store.hpp"
#include "persistence/split_commit.hpp"
#include "tests/durable/mysql_engine_support.hpp"
#include "tests/tls_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 9;
constexpr uint32_t partitions = 16;

db::shard_layout test_layout() { return layout_with_prefix("txtest_cluster"); }

//! Node `node` of a cluster of `partitions`, leases of `ttl_ms` renewed every `round_ms`.
engine_config cluster_node_config(cluster_node node, int64_t ttl_ms, int64_t round_ms) {
  engine_config config = engine_config_for(storage_for(test_layout()), 1);
  config.node_id = node;
  cluster_config cluster;
  cluster.endpoint = "127.0.0.1:0";  // any free port: the one taken is registered
  cluster.leases.partitions = partitions;
  cluster.leases.ttl_ms = ttl_ms;
  cluster.round_interval_ms = round_ms;
  cluster.join_settle_ms = 0;
  config.cluster = cluster;
  return config;
}

order_command transfer(const std::string& request_id, wallet_id from, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::transfer, request_id, from, to, amount);
}

order_command top_up(const std::string& request_id, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::top_up, request_id, no_wallet, to, amount);
}

//! Waits (bounded) until `condition` holds.
template <class Condition>
bool eventually(Condition condition, std::chrono::seconds limit = std::chrono::seconds(30)) {
  for (auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class Cluster : public mysql_engine_test {
 protected:
  Cluster() : mysql_engine_test(test_layout()) {}

  std::string leases() { return layout_.database_name(0) + ".cluster_leases"; }
  int64_t owned_by(cluster_node node) {
    return conn_->query_int("SELECT COUNT(*) FROM " + leases() + " WHERE owner = " + std::to_string(node));
  }
  //! Another node takes `partition` the way a takeover does (a new epoch), far into the future.
  void another_node_takes(uint32_t partition, cluster_node other) {
    conn_->execute("UPDATE " + leases() + " SET owner = " + std::to_string(other) +
                   ", epoch = epoch + 1, expires_ms = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + 600000"
                   " WHERE partition_id = " + std::to_string(partition));
  }
  //! A batch with rows of a partition another node took: refused, the node fenced.
  void batch_of_a_taken_partition_is_refused(bool split_commit);
  //! An engine with `config` does not start, and says `expected`.
  static void expect_start_refused(const engine_config& config, const std::string& expected) {
    try {
      engine refused(config);
      ADD_FAILURE() << "the node started; expected: " << expected;
    } catch (const storage_unavailable& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
  int64_t stored_requests(const std::string& request_id) {
    return count("request_ids", "request_id = '" + request_id + "'");
  }
};

}  // namespace

TEST_F(Cluster, ALoneNodeTakesEveryPartitionAndCommitsThroughTheFence) {
  {
    engine eng(cluster_node_config(1, 3'000, 200));
    ASSERT_NE(eng.ownership(), nullptr);
    EXPECT_EQ(eng.ownership()->held(), partitions);
    EXPECT_NE(eng.cluster_description().find("16 of 16 partitions"), std::string::npos) << eng.cluster_description();
    // Port 0 asked for any free port: the one taken is the one registered.
    EXPECT_NE(eng.cluster_port(), 0);
    EXPECT_NE(eng.cluster_description().find(":" + std::to_string(eng.cluster_port()) + ":"), std::string::npos);
    EXPECT_EQ(owned_by(1), partitions);
    std::vector<wallet_id> users;
    for (int i = 0; i < 40; ++i) users.push_back(eng.create_wallet(tenant, usd, wallet_kind::user).id);
    std::vector<order_command> commands;
    for (size_t i = 0; i < users.size(); ++i) commands.push_back(top_up("t" + std::to_string(i), users[i], 1'000));
    for (size_t i = 0; i < 400; ++i)
      commands.push_back(transfer("x" + std::to_string(i), users[i % users.size()], users[(i * 7 + 3) % users.size()],
                                  1 + static_cast<int64_t>(i % 50)));
    auto replies = submit_all(eng, {commands.begin(), commands.begin() + 40}, 100);
    for (const auto& r : replies) EXPECT_EQ(r.state, order_state::succeeded) << to_string(r.code);
    replies = submit_all(eng, {commands.begin() + 40, commands.end()}, 100);
    for (const auto& r : replies) EXPECT_TRUE(is_final(r.state)) << to_string(r.code);
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
    EXPECT_FALSE(eng.fenced());
    EXPECT_EQ(count("orders"), static_cast<int64_t>(commands.size()));
    expect_audit_ok();
  }
  // A clean stop gives every lease back at once (no waiting for their expiry).
  EXPECT_EQ(owned_by(1), 0);
}

void Cluster::batch_of_a_taken_partition_is_refused(bool split_commit) {
  std::atomic<int> fenced_calls{0};
  std::string reason;
  // Long rounds: the keeper does not notice the takeover within the test, the writer's fence must.
  engine_config config = cluster_node_config(1, 60'000, 20'000);
  config.storage->split_commit = split_commit;
  config.on_fenced = [&](const std::string& why) {
    reason = why;
    fenced_calls.fetch_add(1);
  };
  engine eng(config);
  ASSERT_EQ(eng.ownership()->held(), partitions);
  wallet_id a = eng.create_wallet(tenant, usd, wallet_kind::user).id;
  wallet_id b = eng.create_wallet(tenant, usd, wallet_kind::user).id;
  ASSERT_NE(partition_of(a, partitions), partition_of(b, partitions));
  auto funded = eng.execute(top_up("fund-a", a, 10'000));
  ASSERT_EQ(funded.state, order_state::succeeded) << to_string(funded.code);
  ASSERT_TRUE(eng.sync_storage());
  const balances a_before = stored_balances(a);
  const balances b_before = stored_balances(b);

  // Node 2 takes b's partition (this node was, say, paused past its lease).
  another_node_takes(partition_of(b, partitions), 2);
  auto reply = eng.execute(transfer("after-takeover", a, b, 700), std::chrono::seconds(3));
  EXPECT_NE(reply.state, order_state::succeeded) << "a durable success was acknowledged for a batch the fence refused";
  ASSERT_TRUE(eventually([&] { return eng.fenced(); }));
  EXPECT_EQ(fenced_calls.load(), 1);
  EXPECT_NE(reason.find("the fence refused a batch"), std::string::npos) << reason;
  EXPECT_NE(eng.fence_reason().find("another node took them"), std::string::npos) << eng.fence_reason();
  // Nothing of that batch is committed: not the order, not a movement of either wallet.
  EXPECT_EQ(stored_requests("after-takeover"), 0);
  EXPECT_EQ(stored_balances(a), a_before);
  EXPECT_EQ(stored_balances(b), b_before);
  // A fenced node refuses new commands (retryable: the client goes to the partition's owner).
  auto refused = eng.execute(transfer("after-fence", a, b, 1), std::chrono::seconds(3));
  EXPECT_EQ(refused.code, result_code::unavailable) << to_string(refused.code);
  EXPECT_FALSE(eng.sync_storage(std::chrono::seconds(2)));
  EXPECT_EQ(stored_requests("after-fence"), 0);
  // What the fenced node committed before stays and adds up; no branch is left prepared.
  expect_audit_ok();
  db::bulk_connection xa(db::endpoint_from_environment());
  EXPECT_EQ(db::prepared_branches(xa, db::xa_branch_prefix(layout_.prefix)), 0u);
}

TEST_F(Cluster, TakenPartitionsAreServedOnlyOnceThePreviousOwnersCommittedBatchesAreWhollyVisible) {
  // Node 2 "holds" every partition, its leases expired; it committed a batch (its decision row)
  // whose order-side branch is still prepared by its session: a process paused between the two
  // commits (persistence/split_commit.hpp). Reads here would miss that branch's rows (an order's
  // intent, its request id: another order for the same request id; an order nobody resumes).
  {
    engine first(cluster_node_config(1, 1'500, 100));  // makes the schema and the lease rows
  }
  conn_->execute("UPDATE " + leases() + " SET owner = 2, epoch = epoch + 1, "
                 "expires_ms = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) - 1");
  const std::string prefix = db::xa_branch_prefix(layout_.prefix, 2);
  const std::string decided = db::xa_branch_id(prefix, 7, 1), undecided = db::xa_branch_id(prefix, 7, 2);
  const std::string request_ids = layout_.table_for("request_ids", 1);
  auto prepare = [&](db::bulk_connection& c, const std::string& xid, const std::string& request) {
    c.set_autocommit(true);
    c.execute("XA START '" + xid + "'");
    c.execute("INSERT INTO " + request_ids + " (tenant, request_id, order_id, content_hash, created_ms) VALUES (" +
              std::to_string(tenant) + ", '" + request + "', 1, 1, 1)");
    c.execute("XA END '" + xid + "'");
    c.execute("XA PREPARE '" + xid + "'");
  };
  auto paused = std::make_unique<db::bulk_connection>(db::endpoint_from_environment());
  prepare(*paused, decided, "held-by-a-paused-process");
  {
    db::bulk_connection dead(db::endpoint_from_environment());
    prepare(dead, undecided, "left-by-a-dead-process");
  }  // closed: detached, no decision
  conn_->execute("INSERT INTO " + db::xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" + decided + "', 1)");
  // Another node's decision is never touched by a settle of node 2's branches.
  const std::string foreign = db::xa_branch_id(db::xa_branch_prefix(layout_.prefix, 3), 7, 3);
  conn_->execute("INSERT INTO " + db::xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" + foreign + "', 1)");

  engine one(cluster_node_config(1, 1'500, 100));
  // Node 1 takes the expired leases, but serves none of them while node 2's decided branch is
  // held: its wallets are routed nowhere (a submit is refused, retryably).
  ASSERT_TRUE(eventually([&] { return owned_by(1) == partitions; }));
  EXPECT_EQ(one.ownership()->held(), 0u);
  auto refused = one.create_wallet(tenant, usd, wallet_kind::user);
  EXPECT_NE(refused.code, result_code::ok);
  auto decision_kept = [&] {
    return conn_->query_int("SELECT COUNT(*) FROM " + db::xa_decisions_table(layout_) + " WHERE xid='" + decided + "'");
  };
  EXPECT_EQ(decision_kept(), 1);
  // Node 2's process ends (killed): its branch is detached, node 1 commits it by its decision,
  // and only then serves the partitions. Node 2 is not live and holds nothing: its undecided
  // branch is rolled back.
  paused.reset();
  ASSERT_TRUE(eventually([&] { return one.ownership()->held() == partitions; })) << one.ownership()->held();
  EXPECT_EQ(stored_requests("held-by-a-paused-process"), 1);
  EXPECT_EQ(stored_requests("left-by-a-dead-process"), 0);
  EXPECT_EQ(decision_kept(), 0);
  EXPECT_EQ(conn_->query_int("SELECT COUNT(*) FROM " + db::xa_decisions_table(layout_) + " WHERE xid='" + foreign + "'"),
            1);
  db::bulk_connection xa(db::endpoint_from_environment());
  EXPECT_EQ(db::prepared_branches(xa, prefix), 0u);
  EXPECT_EQ(one.create_wallet(tenant, usd, wallet_kind::user).code, result_code::ok);
  EXPECT_FALSE(one.fenced());
}

TEST_F(Cluster, ABatchOfAPartitionAnotherNodeTookIsRefusedAndTheNodeFenced) { batch_of_a_taken_partition_is_refused(true); }

TEST_F(Cluster, ABatchOfATakenPartitionIsRefusedOnOneConnectionToo) { batch_of_a_taken_partition_is_refused(false); }

TEST_F(Cluster, ALeaseLostWhileServingFencesTheNodeWithoutTraffic) {
  engine_config config = cluster_node_config(1, 1'500, 100);
  engine eng(config);
  ASSERT_EQ(eng.ownership()->held(), partitions);
  another_node_takes(5, 2);
  ASSERT_TRUE(eventually([&] { return eng.fenced(); }));
  EXPECT_NE(eng.fence_reason().find("partition 5 was taken by node 2"), std::string::npos) << eng.fence_reason();
}

TEST_F(Cluster, ANodeIdInUseIsRefusedAndTheFirstNodeKeepsServing) {
  engine first(cluster_node_config(1, 30'000, 1'000));
  expect_start_refused(cluster_node_config(1, 30'000, 1'000), "node id 1 is in use by a live node at 127.0.0.1:");
  EXPECT_FALSE(first.fenced());
  EXPECT_EQ(first.ownership()->held(), partitions);
  wallet_id w = first.create_wallet(tenant, usd, wallet_kind::user).id;
  EXPECT_EQ(first.execute(top_up("still-serving", w, 5)).state, order_state::succeeded);
}

TEST_F(Cluster, BadClusterSettingsStopTheStartWithTheirReason) {
  engine_config no_storage = cluster_node_config(1, 3'000, 200);
  no_storage.storage.reset();
  EXPECT_THROW({ engine e(no_storage); }, storage_unavailable);
  engine_config no_node = cluster_node_config(1, 3'000, 200);
  no_node.node_id = 0;
  expect_start_refused(no_node, "node id of 1 or more");
  {
    engine first(cluster_node_config(1, 3'000, 200));
  }
  engine_config other_count = cluster_node_config(2, 3'000, 200);
  other_count.cluster->leases.partitions = 32;
  expect_start_refused(other_count, "this deployment has 16 partitions, not 32");
  // The links off loopback: TLS, all three files, and good ones.
  engine_config public_plain = cluster_node_config(2, 3'000, 200);
  public_plain.cluster->endpoint = "10.1.2.3:7500";
  expect_start_refused(public_plain, "is not a loopback address: its links need TLS");
  tls_testing::test_pki pki;
  engine_config half = cluster_node_config(2, 3'000, 200);
  half.cluster->tls_cert = pki.cert("node");
  expect_start_refused(half, "needs all three of [cluster] tls_cert, tls_key and tls_ca");
  engine_config wrong_key = cluster_node_config(2, 3'000, 200);
  wrong_key.cluster->tls_cert = pki.cert("node");
  wrong_key.cluster->tls_key = pki.key("other_node");
  wrong_key.cluster->tls_ca = pki.cert("ca");
  expect_start_refused(wrong_key, "is not the PEM private key of tls_cert");
  engine_config open_key = wrong_key;
  open_key.cluster->tls_key = pki.key("node");
  ::chmod(pki.key("node").c_str(), 0644);
  expect_start_refused(open_key, "is readable by others than its owner");
  ::chmod(pki.key("node").c_str(), 0600);
  engine_config no_ca = open_key;
  no_ca.cluster->tls_ca = pki.dir + "/missing.crt";
  expect_start_refused(no_ca, "tls_ca " + pki.dir + "/missing.crt is not a PEM CA certificate");
  EXPECT_EQ(owned_by(2), 0);  // nothing of a refused node is left behind
}


namespace {

//! Nodes started together, each on its own thread (as separate processes would be): they see
//! one another within the settle time and split the partitions.
std::vector<std::unique_ptr<engine>> start_together(const std::vector<engine_config>& configs, std::string& error) {
  std::vector<std::unique_ptr<engine>> nodes(configs.size());
  std::vector<std::thread> threads;
  std::mutex mutex;
  for (size_t i = 0; i < configs.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        nodes[i] = std::make_unique<engine>(configs[i]);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        error += e.what();
      }
    });
  for (auto& t : threads) t.join();
  return nodes;
}

}  // namespace

TEST_F(Cluster, NodesLinkOverTlsOnlyWithACertificateOfTheClusterCa) {
  tls_testing::test_pki pki;
  auto with_tls = [&](engine_config& c, const char* cert, const char* ca) {
    c.cluster->tls_cert = pki.cert(cert);
    c.cluster->tls_key = pki.key(cert);
    c.cluster->tls_ca = pki.cert(ca);
  };
  {
    std::vector<engine_config> configs;
    for (cluster_node n : {1u, 2u}) {
      engine_config c = cluster_node_config(n, 3'000, 200);
      c.cluster->join_settle_ms = 1'000;
      with_tls(c, "node", "ca");
      configs.push_back(c);
    }
    std::string error;
    auto nodes = start_together(configs, error);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_TRUE(eventually([&] {
      for (const auto& e : nodes)
        for (uint32_t p = 0; p < partitions; ++p)
          if (e->ownership()->owner_of(p) == no_node) return false;
      return nodes[0]->cluster_links() == 1 && nodes[1]->cluster_links() == 1;
    }));
    wallet_id a = nodes[0]->create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id;
    wallet_id b = nodes[1]->create_wallet(tenant, usd, wallet_kind::user).id;
    ASSERT_NE(a, no_wallet);
    ASSERT_NE(b, no_wallet);
    for (int i = 0; i < 20; ++i) {
      auto reply = nodes[i % 2]->execute(transfer("tls-" + std::to_string(i), a, b, 10));
      EXPECT_EQ(reply.state, order_state::succeeded) << to_string(reply.code);
    }
    ASSERT_TRUE(nodes[0]->wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(nodes[1]->wait_until_quiet(std::chrono::seconds(30)));
    EXPECT_EQ(nodes[1]->get_wallet(tenant, b).current.available, 200);
  }
  // A node whose certificate another CA issued: each end verifies the other against its own CA,
  // so no link is made either way.
  std::vector<engine_config> configs;
  for (cluster_node n : {1u, 2u}) {
    engine_config c = cluster_node_config(n, 3'000, 200);
    c.cluster->join_settle_ms = 1'000;
    with_tls(c, n == 1 ? "node" : "other_node", n == 1 ? "ca" : "other_ca");
    configs.push_back(c);
  }
  std::string error;
  auto nodes = start_together(configs, error);
  ASSERT_TRUE(error.empty()) << error;
  // With TLS the lower id makes the link (and introduces its gateway over it): node 1 tries, and
  // fails every time.
  ASSERT_TRUE(eventually([&] { return nodes[0]->cluster_link_failures() >= 3; })) << nodes[0]->cluster_link_failures();
  EXPECT_EQ(nodes[0]->cluster_links(), 0u);
  EXPECT_EQ(nodes[1]->cluster_links(), 0u);
}

TEST_F(Cluster, TwoNodesRunOrdersWhoseLegsCrossNodesAndMoneyAddsUp) {
  std::vector<engine_config> configs;
  for (cluster_node n : {1u, 2u}) {
    engine_config c = cluster_node_config(n, 3'000, 200);
    c.cluster->join_settle_ms = 1'000;
    configs.push_back(c);
  }
  std::string error;
  auto nodes = start_together(configs, error);
  ASSERT_TRUE(error.empty()) << error;
  engine& one = *nodes[0];
  engine& two = *nodes[1];
  // Racing for free partitions, a node may miss one in its first rounds: its next round takes it.
  ASSERT_TRUE(eventually([&] {
    return one.ownership()->held() == partitions / 2 && two.ownership()->held() == partitions / 2;
  })) << one.ownership()->held() << " + " << two.ownership()->held();
  ASSERT_TRUE(eventually([&] { return one.cluster_links() == 1 && two.cluster_links() == 1; }));

  // Each node creates wallets in the partitions it holds; overdrafts fund the transfers.
  std::vector<wallet_id> on_one, on_two;
  for (int i = 0; i < 12; ++i) {
    on_one.push_back(one.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
    on_two.push_back(two.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
  }
  for (wallet_id w : on_one) ASSERT_EQ(one.ownership()->owner_of_wallet(w), 1u) << w;
  for (wallet_id w : on_two) ASSERT_EQ(two.ownership()->owner_of_wallet(w), 2u) << w;

  // Transfers homed on each node, most of them to the other node's wallets; some too large
  // (their cross-node credit legs are cancelled).
  std::mt19937_64 rng(14);
  std::vector<order_command> from_one, from_two;
  auto pick = [&](const std::vector<wallet_id>& from, const std::vector<wallet_id>& to, bool local) {
    size_t a = rng() % from.size();
    size_t b = local ? (a + 1 + rng() % (from.size() - 1)) % from.size() : rng() % to.size();
    return std::make_pair(from[a], local ? from[b] : to[b]);
  };
  for (int i = 0; i < 600; ++i) {
    int64_t amount = i % 37 == 0 ? 50'000'000 : 1 + static_cast<int64_t>(rng() % 900);
    auto [a1, b1] = pick(on_one, on_two, i % 4 == 0);
    from_one.push_back(transfer("a" + std::to_string(i), a1, b1, amount));
    auto [a2, b2] = pick(on_two, on_one, i % 4 == 0);
    from_two.push_back(transfer("b" + std::to_string(i), a2, b2, amount));
  }
  std::vector<order_reply> replies_one, replies_two;
  std::thread t1([&] { replies_one = submit_all(one, from_one, 50); });
  std::thread t2([&] { replies_two = submit_all(two, from_two, 50); });
  t1.join();
  t2.join();
  size_t succeeded = 0, failed = 0;
  for (const auto* replies : {&replies_one, &replies_two})
    for (const auto& r : *replies) {
      ASSERT_TRUE(is_final(r.state)) << to_string(r.code);
      (r.state == order_state::succeeded ? succeeded : failed)++;
    }
  EXPECT_EQ(failed, 2u * 17u);  // the oversized ones: i % 37 == 0 for i < 600
  EXPECT_EQ(succeeded + failed, 1200u);

  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(two.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(one.sync_storage());
  ASSERT_TRUE(two.sync_storage());
  EXPECT_FALSE(one.fenced());
  EXPECT_FALSE(two.fenced());
  // Every wallet as its node holds it equals what MySQL holds, and the money adds up to zero.
  int64_t sum = 0;
  for (wallet_id w : on_one) {
    balances b = one.get_wallet(tenant, w).current;
    EXPECT_EQ(stored_balances(w), b) << w;
    EXPECT_EQ(b.frozen, 0) << w;
    sum += b.available + b.frozen + b.incoming;
  }
  for (wallet_id w : on_two) {
    balances b = two.get_wallet(tenant, w).current;
    EXPECT_EQ(stored_balances(w), b) << w;
    sum += b.available + b.frozen + b.incoming;
  }
  EXPECT_EQ(sum, 0);
  EXPECT_EQ(count("orders"), 1200);
  EXPECT_EQ(count("orders", "is_final=0"), 0);
  expect_audit_ok();
}

TEST_F(Cluster, ASurvivorTakesOverADeadNodesPartitionsAndFinishesItsOrders) {
  std::vector<engine_config> configs;
  for (cluster_node n : {1u, 2u}) {
    engine_config c = cluster_node_config(n, 1'500, 100);
    c.cluster->join_settle_ms = 1'000;
    // A slow provider: node 2's top-ups are still waiting for it when node 2 dies. The survivor's
    // provider never saw them: "not found" becomes their decline after 1.5 s.
    c.channels = {{1, always_yes_channel(3'000)}};
    c.order.channel_not_found_final_ms = 1'500;
    configs.push_back(c);
  }
  std::string error;
  auto nodes = start_together(configs, error);
  ASSERT_TRUE(error.empty()) << error;
  engine& one = *nodes[0];
  ASSERT_TRUE(eventually([&] {
    return one.ownership()->held() == partitions / 2 && nodes[1]->ownership()->held() == partitions / 2 &&
           one.cluster_links() == 1 && nodes[1]->cluster_links() == 1;
  }));
  std::vector<wallet_id> on_one, on_two;
  for (int i = 0; i < 8; ++i) {
    on_one.push_back(one.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
    on_two.push_back(nodes[1]->create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
  }
  // Node 2 takes transfers (to both nodes' wallets) and top-ups of its wallets, and nobody waits
  // for their answers: it will die with them in flight.
  std::vector<order_command> commands;
  for (int i = 0; i < 300; ++i) {
    wallet_id from = on_two[static_cast<size_t>(i) % on_two.size()];
    if (i % 10 == 0) {
      commands.push_back(top_up("tu" + std::to_string(i), from, 100 + i));
    } else {
      const auto& to = i % 3 == 0 ? on_two : on_one;
      wallet_id dest = to[static_cast<size_t>(i * 7 + 1) % to.size()];
      if (dest == from) dest = to[(static_cast<size_t>(i * 7 + 2)) % to.size()];
      commands.push_back(transfer("tr" + std::to_string(i), from, dest, 1 + i % 300));
    }
  }
  std::vector<std::vector<submit_item>> by_host(nodes[1]->hosts().size());
  for (size_t i = 0; i < commands.size(); ++i)
    by_host[host_index(tenant, commands[i].request_id, by_host.size())].push_back(submit_item{i + 1, commands[i]});
  for (size_t h = 0; h < by_host.size(); ++h)
    caf::anon_send(nodes[1]->hosts()[h], submit_atom::value, std::move(by_host[h]));
  // Its top-ups' intents are committed and waiting for the provider: node 2 dies (nothing more
  // of it is committed, its leases and registration are left to expire).
  ASSERT_TRUE(eventually([&] { return count("orders", "is_final=0") > 0 && count("orders", "is_final=1") > 0; }));
  nodes[1]->stop_storage_now();
  nodes[1].reset();
  const int64_t open_at_death = count("orders", "is_final=0");
  EXPECT_GT(open_at_death, 0);

  // Node 1 takes every partition once node 2's leases expire, and finishes node 2's orders.
  ASSERT_TRUE(eventually([&] { return one.ownership()->held() == partitions; })) << one.ownership()->held();
  ASSERT_TRUE(eventually([&] { return count("orders", "is_final=0") == 0; }, std::chrono::seconds(60)))
      << count("orders", "is_final=0") << " orders not final, " << open_at_death << " at node 2's death";
  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(one.sync_storage());
  EXPECT_FALSE(one.fenced());
  // Node 2's wallets are node 1's now: what it holds equals MySQL; all money adds up.
  for (wallet_id w : on_two) EXPECT_EQ(one.get_wallet(tenant, w).current, stored_balances(w)) << w;
  for (wallet_id w : on_one) EXPECT_EQ(one.get_wallet(tenant, w).current, stored_balances(w)) << w;
  expect_audit_ok();
  // Wallet ids go on past the ones node 2 created.
  wallet_id fresh = one.create_wallet(tenant, usd, wallet_kind::user).id;
  for (wallet_id w : on_two) EXPECT_GT(fresh, w);
}

namespace {

//! Two nodes started together, each holding half the partitions and linked to the other.
std::vector<std::unique_ptr<engine>> two_linked_nodes(int64_t ttl_ms, int64_t round_ms,
                                                      const std::function<void(engine_config&)>& adjust = {}) {
  std::vector<engine_config> configs;
  for (cluster_node n : {1u, 2u}) {
    engine_config c = cluster_node_config(n, ttl_ms, round_ms);
    c.cluster->join_settle_ms = 1'000;
    if (adjust) adjust(c);
    configs.push_back(c);
  }
  std::string error;
  auto nodes = start_together(configs, error);
  EXPECT_TRUE(error.empty()) << error;
  if (!error.empty()) return {};
  // Linked, and each node has seen the other's leases (a round after the other took them): until
  // then a submit homed there is refused as retryable (no owner known).
  auto sees_every_owner = [&](const engine& e) {
    for (uint32_t p = 0; p < partitions; ++p)
      if (e.ownership()->owner_of(p) == no_node) return false;
    return true;
  };
  bool linked = eventually([&] {
    return nodes[0]->ownership()->held() == partitions / 2 && nodes[1]->ownership()->held() == partitions / 2 &&
           nodes[0]->cluster_links() == 1 && nodes[1]->cluster_links() == 1 && sees_every_owner(*nodes[0]) &&
           sees_every_owner(*nodes[1]);
  });
  EXPECT_TRUE(linked) << nodes[0]->ownership()->held() << " + " << nodes[1]->ownership()->held();
  if (!linked) return {};
  return nodes;
}

}  // namespace

TEST_F(Cluster, ClientsOfEitherNodeReachEveryWalletAndOrder) {
  auto nodes = two_linked_nodes(3'000, 200);
  ASSERT_EQ(nodes.size(), 2u);
  engine& one = *nodes[0];
  engine& two = *nodes[1];
  std::vector<wallet_id> on_one, on_two;
  for (int i = 0; i < 6; ++i) {
    on_one.push_back(one.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
    on_two.push_back(two.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
  }
  // Every command goes to node 1: half of them are homed on node 2 (their payer is node 2's),
  // which node 1 sends on; the payees are on both nodes.
  std::vector<order_command> commands;
  for (int i = 0; i < 200; ++i) {
    const auto& payers = i % 2 == 0 ? on_two : on_one;
    const auto& payees = i % 3 == 0 ? on_one : on_two;
    wallet_id from = payers[static_cast<size_t>(i) % payers.size()];
    wallet_id to = payees[static_cast<size_t>(i / 2 + 1) % payees.size()];
    if (to == from) to = payees[(static_cast<size_t>(i / 2) + 2) % payees.size()];
    commands.push_back(transfer("c" + std::to_string(i), from, to, 1 + i));
  }
  auto replies = submit_all(one, commands, 40);
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].state, order_state::succeeded) << i << " " << to_string(replies[i].code);
    EXPECT_EQ(replies[i].request_id, commands[i].request_id);
    EXPECT_FALSE(replies[i].duplicate) << i;
  }
  EXPECT_EQ(one.stats().orders.forwarded, 100u);
  EXPECT_EQ(two.stats().orders.forwarded, 0u);
  {
    // Each stage of the forwarding path, counted on both ends (docs/cluster.md, "Counters for a
    // stall"): what node 1 sent (and sent again) node 2's hosts got and answered, node 1 passed
    // every answer on; answers to node 1's own clients are not counted as another node's.
    const host_stats sent = one.stats().orders, got = two.stats().orders;
    EXPECT_EQ(got.forwarded_in, sent.forwarded + sent.forward_resends);
    EXPECT_EQ(got.remote_replies, got.forwarded_in);
    EXPECT_EQ(sent.forward_replies, 100u);
    EXPECT_EQ(sent.forward_replies + sent.forward_replies_stale, got.remote_replies);
    EXPECT_EQ(sent.relays, 0u);
    EXPECT_EQ(sent.remote_replies, 0u);
    EXPECT_EQ(two.cluster_link_counters().forwarded, got.forwarded_in);
  }
  // The same request ids through node 2: the same orders, answered as repeats (node 2 sends
  // node 1's on); a changed payload under a used request id is a conflict through either node.
  auto again = submit_all(two, commands, 40);
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].id, replies[i].id) << i;
    EXPECT_TRUE(again[i].duplicate) << i;
  }
  EXPECT_EQ(two.stats().orders.forwarded, 100u);
  for (engine* via : {&one, &two})
    for (size_t i : {0u, 1u}) {
      order_command changed = commands[i];
      changed.amount += 1;
      EXPECT_EQ(via->execute(changed).code, result_code::duplicate_conflict) << i;
    }

  // Orders answer through either node, whoever ran them; another tenant sees nothing.
  for (size_t i : {0u, 1u, 2u, 3u}) {
    std::vector<size_t> movements;
    for (engine* via : {&one, &two}) {
      order_reply r = via->get_order(tenant, replies[i].id, true);
      EXPECT_EQ(r.code, result_code::ok) << i;
      EXPECT_EQ(r.state, order_state::succeeded) << i;
      EXPECT_EQ(r.request_id, commands[i].request_id);
      movements.push_back(r.movements.size());
      EXPECT_EQ(via->get_order(tenant + 1, replies[i].id).code, result_code::unknown_order) << i;
    }
    EXPECT_GE(movements[0], 2u) << i;
    EXPECT_EQ(movements[0], movements[1]) << i;
  }
  // Wallets answer through either node: the same balances, the same journal; administration too.
  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(two.wait_until_quiet(std::chrono::seconds(30)));
  for (wallet_id w : {on_one[0], on_two[0]}) {
    wallet_view a = one.get_wallet(tenant, w), b = two.get_wallet(tenant, w);
    ASSERT_EQ(a.code, result_code::ok) << w;
    EXPECT_EQ(a.current, b.current) << w;
    EXPECT_EQ(one.movements(tenant, w, 0, 1'000).second.size(), two.movements(tenant, w, 0, 1'000).second.size());
    EXPECT_EQ(one.get_wallet(tenant + 1, w).code, result_code::unknown_wallet) << "another tenant's wallet";
  }
  EXPECT_EQ(one.admin(tenant, on_two[1], admin_op::freeze).code, result_code::ok);
  EXPECT_EQ(one.execute(transfer("frozen", on_two[1], on_one[1], 5)).code, result_code::wallet_frozen);
  EXPECT_EQ(two.admin(tenant, on_two[1], admin_op::unfreeze).code, result_code::ok);
  EXPECT_EQ(one.execute(transfer("thawed", on_two[1], on_one[1], 5)).state, order_state::succeeded);

  ASSERT_TRUE(one.sync_storage());
  ASSERT_TRUE(two.sync_storage());
  EXPECT_EQ(count("orders"), 202);
  EXPECT_EQ(count("orders", "is_final=0"), 0);
  expect_audit_ok();
}

TEST_F(Cluster, SubmitsForwardedToANodeThatDiesAreAnsweredByTheSurvivor) {
  // A slow provider on node 2: its top-ups wait when it dies.
  auto nodes = two_linked_nodes(1'500, 100, [](engine_config& c) {
    c.channels = {{1, always_yes_channel(3'000)}};
    c.order.channel_not_found_final_ms = 1'500;
  });
  ASSERT_EQ(nodes.size(), 2u);
  engine& one = *nodes[0];
  std::vector<wallet_id> on_one, on_two;
  for (int i = 0; i < 6; ++i) {
    on_one.push_back(one.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
    on_two.push_back(nodes[1]->create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id);
  }
  // Node 1's client sends top-ups of node 2's wallets: node 1 sends them on and waits.
  std::vector<order_command> commands;
  for (int i = 0; i < 60; ++i)
    commands.push_back(top_up("f" + std::to_string(i), on_two[static_cast<size_t>(i) % on_two.size()], 10 + i));
  std::vector<order_reply> replies;
  std::thread client([&] { replies = submit_all(one, commands, 20); });
  ASSERT_TRUE(eventually([&] { return count("orders", "is_final=0") == static_cast<int64_t>(commands.size()); }));
  nodes[1]->stop_storage_now();
  nodes[1].reset();
  // Node 1 takes node 2's partitions, resumes its orders and answers its own client: each
  // submit it sent on is answered, with the order node 2 created, or retryably while that order
  // was still being resumed (a client's resend then gets it).
  client.join();
  ASSERT_EQ(replies.size(), commands.size());
  size_t retryable = 0;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].code == result_code::unavailable && replies[i].id == 0) {
      ++retryable;
      continue;
    }
    EXPECT_TRUE(is_final(replies[i].state)) << i << " " << to_string(replies[i].code);
    EXPECT_NE(replies[i].id, 0u) << i;
  }
  ASSERT_TRUE(eventually([&] { return count("orders", "is_final=0") == 0; }, std::chrono::seconds(60)));
  // Resent, every one is answered with its order, which node 2 created (none twice).
  auto resent = submit_all(one, commands, 20);
  for (size_t i = 0; i < resent.size(); ++i) {
    EXPECT_TRUE(is_final(resent[i].state)) << i << " " << to_string(resent[i].code);
    EXPECT_EQ(order_id_generator::node_of(resent[i].id), 2u) << i;
    if (replies[i].id != 0) {
      EXPECT_EQ(resent[i].id, replies[i].id) << i;
    }
  }
  EXPECT_EQ(count("orders"), static_cast<int64_t>(commands.size()));
  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(one.sync_storage());
  expect_audit_ok();
  std::printf("forwarded submits answered at node 2's death: %zu of %zu retryable\n", retryable, replies.size());
}

namespace {

order_command refund_of(const std::string& request_id, order_id original, int64_t amount) {
  return make_refund(tenant, request_id, original, amount);
}

}  // namespace

TEST_F(Cluster, ARefundRunsWhereItsPaymentIsThroughEitherNodeAndAfterThatNodeDied) {
  auto nodes = two_linked_nodes(1'500, 100);
  ASSERT_EQ(nodes.size(), 2u);
  engine& one = *nodes[0];
  wallet_id payer_one = one.create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id;
  wallet_id merchant_one = one.create_wallet(tenant, usd, wallet_kind::merchant).id;
  wallet_id payer_two = nodes[1]->create_wallet(tenant, usd, wallet_kind::user, 1'000'000).id;
  wallet_id merchant_two = nodes[1]->create_wallet(tenant, usd, wallet_kind::merchant).id;
  // Payments homed on each node (their payer's), to the other node's merchant; every command
  // goes to node 1's clients and node 2's alike.
  order_reply paid_on_one = one.execute(make_command(tenant, order_kind::pay, "pa", payer_one, merchant_two, 1'000));
  order_reply paid_on_two = one.execute(make_command(tenant, order_kind::pay, "pb", payer_two, merchant_one, 1'000));
  order_reply local_on_two =
      nodes[1]->execute(make_command(tenant, order_kind::pay, "pc", payer_two, merchant_two, 500));
  for (const auto* r : {&paid_on_one, &paid_on_two, &local_on_two})
    ASSERT_EQ(r->state, order_state::succeeded) << to_string(r->code);
  ASSERT_EQ(order_id_generator::node_of(paid_on_two.id), 2u);

  // A refund runs on the node of its payment's payer whichever node its client asked, and the
  // one allowance there holds: what exceeds what is left is refused.
  order_reply first = nodes[1]->execute(refund_of("ra1", paid_on_one.id, 300));
  EXPECT_EQ(first.state, order_state::succeeded) << to_string(first.code);
  EXPECT_EQ(order_id_generator::node_of(first.id), 1u);
  EXPECT_EQ(one.execute(refund_of("ra2", paid_on_one.id, 701)).code, result_code::refund_exceeds_original);
  EXPECT_EQ(nodes[1]->execute(refund_of("ra3", paid_on_one.id, 700)).state, order_state::succeeded);
  EXPECT_EQ(one.execute(refund_of("ra4", paid_on_one.id, 1)).code, result_code::refund_exceeds_original);
  order_reply whole = one.execute(refund_of("rb1", paid_on_two.id, 1'000));
  EXPECT_EQ(whole.state, order_state::succeeded) << to_string(whole.code);
  EXPECT_EQ(order_id_generator::node_of(whole.id), 2u);
  // A repeat through the other node is the same order; a changed amount a conflict.
  order_reply again = one.execute(refund_of("ra1", paid_on_one.id, 300));
  EXPECT_EQ(again.id, first.id);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(nodes[1]->execute(refund_of("ra1", paid_on_one.id, 301)).code, result_code::duplicate_conflict);
  // Another tenant's refund of the payment is answered as one of an unknown recent id
  // (retryable: it may not be committed yet); an old unknown id is unknown; nothing moves.
  order_command foreign = refund_of("rx", paid_on_one.id, 10);
  foreign.tenant = tenant + 1;
  EXPECT_EQ(nodes[1]->execute(foreign).code, result_code::unavailable);
  order_id_generator elsewhere(3, 0);
  order_id old_unknown = elsewhere.next(paid_on_one.created_ms - 3'600'000);
  for (engine* via : {&one, nodes[1].get()}) {
    order_reply unknown = via->execute(refund_of("ru", old_unknown, 10));
    EXPECT_EQ(unknown.code, result_code::unknown_order);
    EXPECT_EQ(unknown.state, order_state::failed);
  }
  // One whose lane no host has (answered at once, without asking anyone).
  order_id_generator no_such_lane(3, order_id_generator::lanes_max - 1);
  EXPECT_EQ(nodes[1]->execute(refund_of("rl", no_such_lane.next(paid_on_one.created_ms - 3'600'000), 10)).code,
            result_code::unknown_order);
  order_id young_unknown = elsewhere.next(paid_on_one.created_ms);
  EXPECT_EQ(one.execute(refund_of("ry", young_unknown, 10)).code, result_code::unavailable);
  EXPECT_EQ(nodes[1]->execute(refund_of("r0", 0, 10)).code, result_code::invalid_argument);  // no original
  // Each refund's row is stored in its payment's home partition (fenced there).
  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(nodes[1]->wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(one.sync_storage());
  ASSERT_TRUE(nodes[1]->sync_storage());
  const std::string refund_kind = std::to_string(static_cast<unsigned>(order_kind::refund));
  EXPECT_EQ(count("orders", "kind=" + refund_kind + " AND home_wallet=" + std::to_string(payer_one)), 4);
  EXPECT_EQ(count("orders", "kind=" + refund_kind + " AND home_wallet=" + std::to_string(payer_two)), 1);

  // Node 2 dies: node 1 holds its payments' partitions now, and their allowances come from
  // MySQL with the refunds node 2 committed.
  nodes[1]->stop_storage_now();
  nodes[1].reset();
  ASSERT_TRUE(eventually([&] { return one.ownership()->held() == partitions; })) << one.ownership()->held();
  EXPECT_EQ(one.execute(refund_of("rb2", paid_on_two.id, 1)).code, result_code::refund_exceeds_original);
  order_reply after = one.execute(refund_of("rc1", local_on_two.id, 200));
  EXPECT_EQ(after.state, order_state::succeeded) << to_string(after.code);
  EXPECT_EQ(one.execute(refund_of("rc2", local_on_two.id, 301)).code, result_code::refund_exceeds_original);
  EXPECT_EQ(one.execute(refund_of("rc3", local_on_two.id, 300)).state, order_state::succeeded);
  EXPECT_EQ(one.execute(refund_of("rb1", paid_on_two.id, 1'000)).id, whole.id);  // node 2's, found in MySQL

  ASSERT_TRUE(one.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(one.sync_storage());
  // Every payment refunded in full: each payer is back where it started, each merchant at zero.
  for (wallet_id w : {payer_one, payer_two, merchant_one, merchant_two}) {
    balances b = one.get_wallet(tenant, w).current;
    EXPECT_EQ(b, stored_balances(w)) << w;
    EXPECT_EQ(b.available + b.frozen + b.incoming, 0) << w;
  }
  EXPECT_EQ(count("orders", "is_final=0"), 0);
  expect_audit_ok();
}
