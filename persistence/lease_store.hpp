#pragma once
// The partition leases of a cluster in MySQL (issue 14; the rules are core/partition_leases.hpp,
// the design docs/cluster.md): tables of migration 0008 in database 0 of the layout, the time of
// every expiry on the server's clock (so the nodes' clocks do not matter), acquisitions as
// compare-and-set on the epoch, and the fence a commit runs in its own transaction. No CAF here:
// these are blocking calls for a thread of their own.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/partition_leases.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! The store refuses: another partition count than the deployment's, a node id held by a live
//! process. The text says which and what to do.
class lease_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! join: another process has this node id and its registration has not expired; `expires_ms`
//! (the database's clock) moves on while that process renews it.
class node_in_use_error : public lease_store_error {
 public:
  node_in_use_error(const std::string& what, int64_t expires_ms) : lease_store_error(what), expires_ms_(expires_ms) {}
  int64_t expires_ms() const { return expires_ms_; }

 private:
  int64_t expires_ms_;
};

//! A live node as the store sees it.
struct cluster_member {
  cluster_node node = no_node;
  std::string endpoint;
  int64_t expires_ms = 0;
  uint64_t incarnation = 0;
};

class lease_store {
 public:
  //! Connects; the schema (migration 0008) must be applied. Throws sql::SQLException.
  lease_store(const mysql_endpoint& endpoint, const shard_layout& layout, lease_rules rules);

  //! Creates the partition rows if missing and records the partition count on first use;
  //! throws lease_store_error when the deployment has another.
  void prepare();
  //! The server's clock, Unix milliseconds.
  int64_t now_ms();

  //! Registers this process as `node` (a random `incarnation` per start): refused with
  //! lease_store_error while another incarnation's registration is unexpired. Gives up every
  //! lease the id still holds with a new epoch (an earlier process of the id, perhaps paused,
  //! can never commit for them again).
  void join(cluster_node node, uint64_t incarnation, const std::string& endpoint);
  //! Extends the registration; false when it is no longer this incarnation's (another process
  //! took the id after it expired): the node must stop.
  bool heartbeat(cluster_node node, uint64_t incarnation);
  //! Ends the registration (a clean stop) and gives back every lease it holds.
  void leave(cluster_node node, uint64_t incarnation);
  //! Ends only the registration (its leases stay until they expire or the id joins again): a
  //! fenced process on its way out, so that its restart need not wait for the ttl.
  void deregister(cluster_node node, uint64_t incarnation);
  std::vector<cluster_member> live_members();

  std::vector<partition_lease> leases();
  //! Takes `seen.partition` if its epoch is still `seen.epoch` and it is free or expired.
  bool acquire(const partition_lease& seen, cluster_node node);
  //! Extends the leases of `held` that are still `node`'s at their epoch; returns those.
  std::vector<partition_lease> renew(const std::vector<partition_lease>& held, cluster_node node);
  //! Gives a lease back (owner none, expired now; the next owner's acquisition bumps the epoch).
  void release(const partition_lease& held, cluster_node node);

  //! One round of `node` (core/partition_leases.hpp plan_lease_round, then applied): what it
  //! holds afterwards, unexpired, in partition order.
  std::vector<partition_lease> run_round(cluster_node node);

  //! The statement a commit for these (partition, epoch) pairs of `node` runs in its own
  //! transaction, before its commit: it returns one row per lease still held at that epoch and
  //! locks them (shared) until the transaction ends, so a takeover waits for the commit and a
  //! commit after a takeover finds fewer rows: it must roll back.
  static std::string fence_sql(const shard_layout& layout, cluster_node node,
                               const std::vector<std::pair<uint32_t, uint64_t>>& partition_epochs);

  const lease_rules& rules() const { return rules_; }

 private:
  std::string table(const char* name) const;
  shard_layout layout_;
  lease_rules rules_;
  bulk_connection conn_;
};

}  // namespace txengine::persistence
