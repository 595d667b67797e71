#pragma once
// Cluster ownership (issue 14), the rules only: which partition a wallet is in, and what a node
// does with the partition leases it sees. Every partition has one lease (owner node, epoch,
// expiry on the lease store's clock); a node owns a partition while its lease is unexpired, and
// every commit for a partition's wallets checks the owner's epoch in the same transaction
// (persistence/lease_store.hpp), so a node that lost a lease can never commit for it again.
//
// This file decides, from a snapshot of the leases and of the live nodes, what one node asks
// the store for in one round: renew what it holds, acquire expired or free partitions up to its
// fair share, release partitions above its share when another live node holds fewer than the
// floor (a node that came back gets partitions again, a few per round, without stopping traffic).
// Acquisitions are compare-and-set on the epoch in the store: two nodes planning the same
// partition cannot both get it. No partition stays without an owner: a dead node's registration
// expires like its leases (one ttl), after which the live nodes' shares cover every partition.
// Deterministic: time and the snapshot are arguments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace txengine {

//! Node ids are the engine's node ids (they are also in every order id): 1 and up; 0 = nobody.
using cluster_node = uint32_t;
constexpr cluster_node no_node = 0;

//! The partition of a wallet: its id modulo the partition count (fixed for a deployment).
inline uint32_t partition_of(wallet_id wallet, uint32_t partitions) { return static_cast<uint32_t>(wallet % partitions); }

struct partition_lease {
  uint32_t partition = 0;
  cluster_node owner = no_node;
  uint64_t epoch = 0;       //!< +1 at every change of owner; commits check it
  int64_t expires_ms = 0;   //!< on the store's clock
};

struct lease_rules {
  uint32_t partitions = 256;
  //! A lease lasts this long after its last renewal.
  int64_t ttl_ms = 5'000;
  //! Partitions a node gives up per round when rebalancing (so ownership moves gradually).
  uint32_t release_per_round = 8;
};

//! Partition count bounds, and a problem text for bad rules ("" when fine).
constexpr uint32_t cluster_partitions_min = 1;
constexpr uint32_t cluster_partitions_max = 65'536;
std::string lease_rules_problem(const lease_rules& rules);

struct lease_plan {
  std::vector<partition_lease> renew;    //!< held and unexpired: extend (epoch unchanged)
  std::vector<partition_lease> acquire;  //!< free or expired: take (CAS on the epoch seen)
  std::vector<partition_lease> release;  //!< held above the fair share: give back
};

//! Partitions a node should hold when `live` nodes share them: ceil(partitions / live).
uint32_t fair_share(uint32_t partitions, size_t live);

//! The round of node `self`, given every partition's lease (any order) and the live nodes
//! (`self` counts as live). Lists are in partition order, starting from an offset that depends
//! on `self` so that nodes racing for free partitions mostly try different ones.
lease_plan plan_lease_round(const std::vector<partition_lease>& leases, const std::vector<cluster_node>& live,
                            cluster_node self, int64_t now_ms, const lease_rules& rules);

//! True when `lease` lets `node` commit for its partition: it owns it at `epoch` (expiry does not
//! matter here: nobody else can have it at that epoch; the store enforces the same in SQL).
inline bool lease_allows_commit(const partition_lease& lease, cluster_node node, uint64_t epoch) {
  return lease.owner == node && lease.epoch == epoch;
}

}  // namespace txengine
