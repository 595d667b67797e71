#pragma once
// The wallet gateway of a cluster node (issue 14, docs/cluster.md, "Cross-node legs"): the one
// actor other nodes' order hosts send TCC steps to for this node's wallets, over CAF's
// middleman. It hands each step to the local wallet shard, and answers the remote host only once
// the step's effect is committed on this node (a commit barrier on the writer, one per round of
// answers), so a remote order never builds on an effect its wallet's node could still lose.
// Steps of wallets this node does not hold (its routing was stale) get no answer: the host
// resends them after its backoff, by then to the owner.
//
// It is also where other nodes reach this node's orders and wallets for their clients: a submit
// another node's host forwards (the order's home wallet is held here) goes to the local host of
// its lane, which answers that remote host; a query of a wallet goes to its local shard, a query
// of an order to the host of its lane, and each answers the asker directly. What this node does
// not hold (the asker's routing was stale) is answered `unavailable` (retryable).
//
// Messages: wallet_gateway_actor (ports/actor_interfaces.hpp).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <caf/all.hpp>

#include "ports/actor_interfaces.hpp"

namespace txengine::cluster {

//! Steps forwarded to local shards and not answered yet, at most (past it new steps are dropped:
//! their hosts resend them after their backoff).
constexpr size_t gateway_steps_pending_max = size_t{1} << 20;

struct gateway_counters {
  std::atomic<uint64_t> steps{0};       //!< received from remote hosts
  std::atomic<uint64_t> answered{0};    //!< answered after their commit
  std::atomic<uint64_t> barriers{0};    //!< commit barriers asked of the writer
  std::atomic<uint64_t> not_local{0};   //!< steps of wallets this node does not hold (no answer)
  //! Steps of a node that lost their order's home partition (an older epoch than one seen here):
  //! refused, no answer (docs/cluster.md, "Steps of a node that lost its order").
  std::atomic<uint64_t> stale{0};
  //! Steps messages whose fences do not match their steps one to one: refused whole, unanswered.
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> dropped{0};     //!< past the pending bound, or their barrier failed
  std::atomic<uint64_t> forwarded{0};   //!< submits received from other nodes' hosts
  std::atomic<uint64_t> queries{0};     //!< queries of wallets and orders from other nodes
  std::atomic<uint64_t> pings{0};       //!< other nodes' health checks answered (not in messages_in)
  //! Messages over the links: received from other nodes' hosts (steps, forwarded submits,
  //! queries) and step answers sent back to them (one per host and barrier).
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> messages_out{0};
  //! Messages from another node that arrived without a sender CAF could hand this node (it made
  //! no proxy for the sending actor): nobody to answer, so dropped; logged (docs/cluster.md, "TLS
  //! on the links").
  std::atomic<uint64_t> no_sender{0};
};

struct wallet_gateway_config {
  //! The local shard of a wallet this node holds; an invalid handle when it does not hold it.
  std::function<wallet_shard_actor(wallet_id)> shard_of;
  //! The epoch fence of remote steps (partition_ownership::note_epoch): false refuses a step
  //! whose order's home epoch is older than one this node has seen. None: every step accepted.
  std::function<bool(uint32_t partition, uint64_t epoch)> note_epoch;
  //! The commit barrier (sync_atom) before answers go out; none: answered at once (memory acks).
  writer_actor writer;
  //! The local host of a request's lane (host_for); an invalid handle until the hosts run.
  std::function<order_host_actor(tenant_id, const std::string&)> host_of_request;
  //! The local host of an order id's lane; an invalid handle until the hosts run.
  std::function<order_host_actor(order_id)> host_of_order;
  //! (hello_atom, node, gateway) from the node that made a TLS link: its gateway, over that link.
  std::function<void(uint32_t, caf::actor)> on_hello;
  size_t steps_pending_max = gateway_steps_pending_max;
  std::shared_ptr<gateway_counters> counters = std::make_shared<gateway_counters>();
};

wallet_gateway_actor spawn_wallet_gateway(caf::actor_system& system, wallet_gateway_config config);

//! Registers the message types that cross the cluster links (call on every node's
//! actor_system_config before the system starts: the typed interfaces must match exactly).
void add_cluster_message_types(caf::actor_system_config& config);

}  // namespace txengine::cluster
