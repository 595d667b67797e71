#pragma once
// The lease keeper of a cluster node (issue 14, docs/cluster.md): a thread of its own that
// registers the node, then every round (ports/cluster.hpp round_interval_ms) heartbeats,
// renews what the node holds, takes free or expired partitions up to its fair share
// (core/partition_leases.hpp) and publishes what it holds to the node's partition_ownership,
// which the writer's fence reads. Blocking MySQL calls, never on CAF's workers.
//
// What it does when something is lost: a node that serves may have wallets and orders of a
// partition in memory, so a partition taken by another node while this one held it (it did not
// renew in time: paused, slow, cut off from MySQL), or its node id taken by another process,
// fences the node (partition_ownership::fence): it commits nothing more and stops. Before the
// node serves, partitions come and go freely. While it serves it gives nothing back to
// rebalance (docs/cluster.md says why and what comes next).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ports/cluster.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

class lease_store;
struct cluster_member;

//! Counters of the keeper (ownership changes are counted and logged).
struct lease_keeper_stats {
  uint64_t rounds = 0;
  uint64_t round_failures = 0;  //!< rounds MySQL did not complete (retried next round)
  uint64_t acquired = 0;
  uint64_t released = 0;
  uint64_t lost = 0;            //!< taken by another node while held
  uint32_t held = 0;
  uint32_t live_nodes = 0;
};

class lease_keeper {
 public:
  //! The live nodes after a round, this one included; called on the keeper's thread (it must
  //! return quickly: the links connect on a thread of their own).
  using members_handler = std::function<void(const std::vector<cluster_peer>&)>;
  //! Partitions the node took while it serves (a dead or fenced node's): their wallets' ids
  //! and their non-final orders are the node's to continue. Called on the keeper's thread.
  using acquired_handler = std::function<void(const std::vector<uint32_t>& partitions)>;
  //! Settles the prepared XA branches node `node` left (persistence/split_commit.hpp), rolling
  //! the undecided ones back only when `may_roll_back` (that node can decide nothing more).
  //! True once none of its decided branches is still prepared: every batch it committed is
  //! wholly visible. False (or a throw) when one still is (held by its paused process) or MySQL
  //! failed: asked again next round. Called on the keeper's thread.
  using settle_handler = std::function<bool(cluster_node node, bool may_roll_back)>;

  //! Nothing happens before start(). `ownership` is the node's (its node id is this node's).
  lease_keeper(mysql_endpoint endpoint, shard_layout layout, cluster_config config,
               std::shared_ptr<partition_ownership> ownership, members_handler on_members = {},
               acquired_handler on_acquired = {}, settle_handler settle = {});
  ~lease_keeper();
  lease_keeper(const lease_keeper&) = delete;
  lease_keeper& operator=(const lease_keeper&) = delete;

  //! Joins the cluster (the partition count and the node id are checked: lease_store_error
  //! says why not), waits `join_settle_ms`, takes its first partitions, then runs its rounds
  //! on its thread. Throws on refusal or when MySQL does not answer: the node does not start.
  void start();
  //! Ends the thread. `leave`: gives back every lease and the registration (a clean stop,
  //! after the writer committed everything); otherwise they expire (as after a crash). A
  //! fenced node ends its registration only, so that its restart can join at once.
  void stop(bool leave);

  uint64_t incarnation() const { return incarnation_; }
  lease_keeper_stats stats() const;
  //! One line for the operator: node, endpoint, partitions held of P, live nodes.
  std::string describe() const;

 private:
  void main();
  //! One round (heartbeat, plan, apply, publish). Throws sql::SQLException when MySQL fails.
  void round();
  lease_store& store();

  mysql_endpoint endpoint_;
  shard_layout layout_;
  cluster_config config_;
  std::shared_ptr<partition_ownership> ownership_;
  members_handler on_members_;
  acquired_handler on_acquired_;
  settle_handler settle_;
  const uint64_t incarnation_;
  //! Partitions taken from another node whose decided branches are not all committed yet, with
  //! that node: held in MySQL, not served (not published as held) until they are. Keeper's thread.
  std::map<uint32_t, cluster_node> unsettled_;
  size_t unsettled_logged_ = 0;  //!< how many unsettled_ the last warning named (logged again on a change)

  std::unique_ptr<lease_store> store_;  //!< the keeper's thread only (and start/stop around it)
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool quit_ = false;     //!< guarded by mutex_
  bool stopped_ = false;  //!< guarded by mutex_: stop() ran
  mutable std::mutex stats_mutex_;
  lease_keeper_stats stats_;  //!< guarded by stats_mutex_
};

}  // namespace txengine::persistence
