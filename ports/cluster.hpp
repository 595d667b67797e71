#pragma once
// The cluster (issue 14, docs/cluster.md): a node's `[cluster]` settings, and its view of the
// partitions it owns, shared by the lease keeper's thread (which writes it after each round)
// and the writer (whose fence reads the epochs of a batch's partitions). Plain data and
// atomics, no MySQL and no CAF include.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/partition_leases.hpp"
#include "core/types.hpp"

namespace txengine {

struct cluster_config {
  //! HOST:PORT where this node's cluster link listens (registered with its leases, so the other
  //! nodes find it). Required.
  std::string endpoint;
  //! Partition count (fixed for a deployment), lease ttl, release per round.
  lease_rules leases;
  //! The lease keeper's round (heartbeat, renewals, acquisitions) every this often; at most a
  //! third of the ttl, so a lease survives two missed rounds.
  int64_t round_interval_ms = 1'000;
  //! At start, the keeper waits this long after joining before it takes partitions, so that
  //! nodes started together see one another and share the partitions from the first round.
  int64_t join_settle_ms = 2'000;
  //! TLS on the links (CAF's openssl module, docs/cluster.md "TLS on the links"): this node's
  //! certificate chain and private key (PEM; the key owner-only), and the CA that issued every
  //! node's certificate. Each end verifies the other's certificate against it (mutual TLS). All
  //! three or none; none (plain TCP) only with a loopback endpoint.
  std::string tls_cert, tls_key, tls_ca;
  bool tls() const { return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty(); }
};

//! 127.x.y.z, ::1 or localhost: an address no other machine reaches.
inline bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

//! A live node as the lease keeper's last round saw it: its id, cluster endpoint and the
//! incarnation of its process (a restart at the same endpoint is another incarnation).
struct cluster_peer {
  cluster_node node = no_node;
  std::string endpoint;
  uint64_t incarnation = 0;
  bool operator==(const cluster_peer& o) const {
    return node == o.node && endpoint == o.endpoint && incarnation == o.incarnation;
  }
};

//! Node ids are 1 .. cluster_nodes_max - 1 (they are in every order id: 6 bits).
constexpr size_t cluster_nodes_max = 64;

//! Bounds of the keeper's timing.
constexpr int64_t cluster_round_interval_ms_min = 20;
constexpr int64_t cluster_join_settle_ms_max = 600'000;
//! Longest cluster endpoint (it is stored in a VARBINARY(255) column).
constexpr size_t cluster_endpoint_length_max = 255;

//! Why these settings cannot run a cluster node `node_id` ("" when they can).
inline std::string cluster_config_problem(const cluster_config& config, uint32_t node_id) {
  if (node_id == no_node) return "a cluster node needs a node id of 1 or more ([engine] node_id)";
  if (config.endpoint.empty()) return "a cluster node needs its endpoint ([cluster] endpoint = \"HOST:PORT\")";
  if (config.endpoint.size() > cluster_endpoint_length_max)
    return "the cluster endpoint is longer than " + std::to_string(cluster_endpoint_length_max) + " bytes";
  for (char c : config.endpoint)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '\'' || c == '\\')
      return "the cluster endpoint must be HOST:PORT in printable ASCII without spaces or quotes";
  if (config.endpoint.find(':') == std::string::npos) return "the cluster endpoint must be HOST:PORT";
  std::string rules = lease_rules_problem(config.leases);
  if (!rules.empty()) return rules;
  if (config.round_interval_ms < cluster_round_interval_ms_min || config.round_interval_ms * 3 > config.leases.ttl_ms)
    return "the lease round interval must be " + std::to_string(cluster_round_interval_ms_min) +
           " ms .. a third of the lease ttl (" + std::to_string(config.leases.ttl_ms / 3) + " ms), not " +
           std::to_string(config.round_interval_ms);
  if (config.join_settle_ms < 0 || config.join_settle_ms > cluster_join_settle_ms_max)
    return "join_settle_ms must be 0.." + std::to_string(cluster_join_settle_ms_max);
  if (config.tls() && (config.tls_cert.empty() || config.tls_key.empty() || config.tls_ca.empty()))
    return "TLS on the cluster links needs all three of [cluster] tls_cert, tls_key and tls_ca (the CA that "
           "issued every node's certificate)";
  // Steps carry amounts, wallets and balances: off loopback, the links are encrypted and each end
  // proves it is a node of this cluster.
  if (!config.tls() && !is_loopback_host(config.endpoint.substr(0, config.endpoint.rfind(':'))))
    return "the cluster endpoint " + config.endpoint +
           " is not a loopback address: its links need TLS ([cluster] tls_cert, tls_key and tls_ca; plain TCP "
           "only on 127.0.0.1, ::1 or localhost)";
  return {};
}

//! The partitions this node holds and at which epoch, as its last lease round saw them; and
//! whether the node has been **fenced**: it lost something it held state for (a commit refused
//! by the fence, a lease another node took while this one still used it, its node id taken by
//! another process). A fenced node commits nothing more and stops; its supervisor restarts it,
//! and it recovers from MySQL like after a crash (docs/cluster.md, "Fenced").
class partition_ownership {
 public:
  partition_ownership(cluster_node self, uint32_t partitions, int64_t lease_ttl_ms)
      : self_(self),
        partitions_(partitions),
        lease_ttl_ms_(lease_ttl_ms),
        epochs_(new std::atomic<uint64_t>[partitions]),
        owners_(new std::atomic<cluster_node>[partitions]),
        seen_(new std::atomic<uint64_t>[partitions]) {
    for (uint32_t p = 0; p < partitions_; ++p) {
      seen_[p].store(0, std::memory_order_relaxed);
      epochs_[p].store(0, std::memory_order_relaxed);
      owners_[p].store(no_node, std::memory_order_relaxed);
    }
  }
  partition_ownership(const partition_ownership&) = delete;
  partition_ownership& operator=(const partition_ownership&) = delete;

  cluster_node self() const { return self_; }
  uint32_t partitions() const { return partitions_; }
  //! A lease lasts this long after its last renewal.
  int64_t lease_ttl_ms() const { return lease_ttl_ms_; }
  //! The epoch at which this node holds `partition`, 0 when it does not hold it.
  uint64_t epoch(uint32_t partition) const {
    return partition < partitions_ ? epochs_[partition].load(std::memory_order_acquire) : 0;
  }
  bool owns(wallet_id wallet) const { return epoch(partition_of(wallet, partitions_)) != 0; }
  //! The keeper after a round: exactly these leases are held (every other partition: none).
  void assign(const std::vector<partition_lease>& held) {
    std::vector<uint64_t> next(partitions_, 0);
    uint32_t count = 0;
    for (const auto& l : held)
      if (l.partition < partitions_ && l.owner == self_ && next[l.partition] == 0 && l.epoch != 0) {
        next[l.partition] = l.epoch;
        ++count;
      }
    bool changed = false;
    for (uint32_t p = 0; p < partitions_; ++p)
      if (epochs_[p].exchange(next[p], std::memory_order_acq_rel) != next[p]) changed = true;
    held_.store(count, std::memory_order_release);
    if (changed) changes_.fetch_add(1, std::memory_order_acq_rel);
  }
  //! Partitions held now.
  uint32_t held() const { return held_.load(std::memory_order_acquire); }
  //! Which partitions are held now.
  std::vector<uint32_t> held_partitions() const {
    std::vector<uint32_t> out;
    for (uint32_t p = 0; p < partitions_; ++p)
      if (epochs_[p].load(std::memory_order_acquire) != 0) out.push_back(p);
    return out;
  }
  //! The owner of a partition as the last round saw it (this node's own partitions: self;
  //! no_node when it has none or its lease expired). Routing only: the fence decides commits.
  cluster_node owner_of(uint32_t partition) const {
    return partition < partitions_ ? owners_[partition].load(std::memory_order_acquire) : no_node;
  }
  cluster_node owner_of_wallet(wallet_id wallet) const { return owner_of(partition_of(wallet, partitions_)); }
  //! The keeper after a round: every partition's owner (unexpired leases at `now_ms`).
  void assign_owners(const std::vector<partition_lease>& leases, int64_t now_ms) {
    bool changed = false;
    for (const auto& l : leases)
      if (l.partition < partitions_) {
        cluster_node owner = l.owner == self_ || l.expires_ms >= now_ms ? l.owner : no_node;
        if (owners_[l.partition].exchange(owner, std::memory_order_acq_rel) != owner) changed = true;
      }
    if (changed) changes_.fetch_add(1, std::memory_order_acq_rel);
  }
  //! The newest epoch this node has seen of a partition: from its lease rounds (every lease) and
  //! from other nodes' steps (the epoch at which their sender holds their order's home).
  uint64_t epoch_seen(uint32_t partition) const {
    return partition < partitions_ ? seen_[partition].load(std::memory_order_acquire) : 0;
  }
  //! Raises the newest epoch seen of `partition` to `epoch`; false when a newer one was seen
  //! (a step at `epoch` comes from a node that lost the partition: refused).
  bool note_epoch(uint32_t partition, uint64_t epoch) {
    if (partition >= partitions_) return false;
    uint64_t seen = seen_[partition].load(std::memory_order_acquire);
    while (seen < epoch && !seen_[partition].compare_exchange_weak(seen, epoch, std::memory_order_acq_rel)) {
    }
    return seen <= epoch;
  }
  //! The keeper, every round and before a takeover's orders are resumed: the leases' epochs.
  void note_epochs(const std::vector<partition_lease>& leases) {
    for (const auto& l : leases) note_epoch(l.partition, l.epoch);
  }
  //! Grows each time a partition's owner, or this node's epoch of one, changed.
  uint64_t changes() const { return changes_.load(std::memory_order_acquire); }

  //! Once the node serves, a partition it holds may have wallets and orders in memory: it is
  //! no longer given back to rebalance, and losing it fences the node. Before, the keeper may
  //! release or lose partitions freely (nothing of them is in memory).
  void start_serving() { serving_.store(true, std::memory_order_release); }
  //! The node took partitions over while serving: orders of their wallets may be in MySQL that
  //! another node created (every request id this node does not know is looked up there first).
  void note_takeover() { taken_over_.store(true, std::memory_order_release); }
  bool taken_over() const { return taken_over_.load(std::memory_order_acquire); }
  bool serving() const { return serving_.load(std::memory_order_acquire); }

  //! Fences the node (the first reason is kept); runs the handler once, on the caller's thread.
  void fence(const std::string& why) {
    std::function<void(const std::string&)> handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (fenced_.load(std::memory_order_relaxed)) return;
      fence_reason_ = why;
      fenced_.store(true, std::memory_order_release);
      handler = handler_;
    }
    if (handler) handler(why);
  }
  bool fenced() const { return fenced_.load(std::memory_order_acquire); }
  std::string fence_reason() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return fence_reason_;
  }
  //! Called once when the node is fenced (set before the keeper and the writer start).
  void on_fenced(std::function<void(const std::string&)> handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = std::move(handler);
  }

 private:
  const cluster_node self_;
  const uint32_t partitions_;
  const int64_t lease_ttl_ms_;
  std::unique_ptr<std::atomic<uint64_t>[]> epochs_;
  std::unique_ptr<std::atomic<cluster_node>[]> owners_;
  std::unique_ptr<std::atomic<uint64_t>[]> seen_;
  std::atomic<uint32_t> held_{0};
  std::atomic<uint64_t> changes_{0};
  std::atomic<bool> serving_{false};
  std::atomic<bool> taken_over_{false};
  std::atomic<bool> fenced_{false};
  mutable std::mutex mutex_;
  std::string fence_reason_;                           //!< guarded by mutex_
  std::function<void(const std::string&)> handler_;  //!< guarded by mutex_
};

}  // namespace txengine
