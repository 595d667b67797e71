#pragma once
// The typed interfaces of the engine's actors: one caf::typed_actor per protocol (CAF 0.17
// spelling), so each protocol is written once and the compiler checks both sides of it. A send
// of a message the receiver's interface does not list, or a behavior that does not handle
// exactly what its interface lists, does not compile.
//
// Replies are explicit messages (ports/messages.hpp explains why): a receiver answers the
// sender of a message through one of the small *_sink interfaces below, which the actors that
// send that message include in their own interface (the compiler checks the host and the shard
// handle every reply they can get). The one unchecked step is the receiver's cast of
// `current_sender()` to the sink: only the actors named beside each sink send that message.
//
// Timers and other messages an actor sends only to itself are not part of these interfaces:
// each actor extends its interface privately (`X::extend<...>`) where it is implemented.
//
// Adding a message: add its atom (and struct, with an `inspect`) to ports/messages.hpp or
// ports/storage_messages.hpp, add a `reacts_to<...>` or `replies_to<...>::with<...>` to the
// interface of the actor that receives it, and the compiler lists what is missing: the handler
// in that actor's behavior, and in every other implementation of the interface (the
// simulator's store, tests/sim/sim.cpp, implements the writer's and the loaders').
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "ports/messages.hpp"
#include "ports/storage_messages.hpp"

namespace txengine {

// -- reply sinks ---------------------------------------------------------------------------

//! The writer's acknowledgement of a committed write_batch with ack_seq != 0 (to hosts, shards).
using committed_sink = caf::typed_actor<caf::reacts_to<committed_atom, uint64_t>>;

//! A client of the order hosts (the server's broker, the engine, load drivers, tests): the
//! answers to its submits.
using order_client_actor = caf::typed_actor<caf::reacts_to<replies_atom, std::vector<order_reply>>>;

// -- storage: the writer and the loaders (persistence/, or the simulator's store) -------------

//! persistence/writer.hpp. (persist_atom, write_batch): rows to commit; with ack_seq != 0 the
//! sender (a committed_sink) gets (committed_atom, ack_seq) once they are committed.
//! (sync_atom [, checkpoint_all_atom]) -> true once everything received before is committed.
using writer_actor = caf::typed_actor<caf::reacts_to<persist_atom, write_batch>,
                                      caf::replies_to<sync_atom>::with<bool>,
                                      caf::replies_to<sync_atom, checkpoint_all_atom>::with<bool>>;

//! persistence/wallet_loader.hpp. (load_atom, wallet_id): the sender (a wallet shard) gets
//! (loaded_atom, wallet_id, loaded_wallet); (lookup_atom, requests): the sender (an order host)
//! gets (found_atom, answers).
using wallet_loader_actor =
    caf::typed_actor<caf::reacts_to<load_atom, wallet_id>, caf::reacts_to<lookup_atom, std::vector<request_lookup>>,
                     caf::replies_to<wallet_lookup_atom, tenant_id, std::string>::with<wallet_request_found>>;

// -- the order hosts and the channels (they name each other) -----------------------------------

struct host_peers;

//! actors/order_host.hpp: the actor in which orders live.
using order_host_actor = caf::typed_actor<
    caf::reacts_to<peers_atom, host_peers>,
    // from clients: answered by (replies_atom, ...) to the sender, an order_client_actor
    caf::reacts_to<submit_atom, std::vector<submit_item>>,
    // a cluster node: submits another node's host forwarded (through this node's wallet
    // gateway), answered by (replies_atom, ...) to that host and never forwarded again; and the
    // answers to the submits this host forwarded (docs/cluster.md, "Clients reach any node")
    caf::reacts_to<forward_atom, std::vector<submit_item>>, caf::reacts_to<replies_atom, std::vector<order_reply>>,
    // from wallet shards (answers to steps_atom)
    caf::reacts_to<step_ack_atom, std::vector<leg_result>>,
    // from channels (answers to channel_atom)
    caf::reacts_to<chan_ack_atom, std::vector<channel_response>>,
    // between hosts: a refund's allowance step, answered by allow_ack_atom to the sending host
    caf::reacts_to<allowance_atom, allowance_step>, caf::reacts_to<allow_ack_atom, allowance_result>,
    // from the writer and the loaders
    caf::reacts_to<committed_atom, uint64_t>, caf::reacts_to<found_atom, std::vector<request_found>>,
    caf::reacts_to<origin_found_atom, std::vector<loaded_original>>,
    caf::replies_to<recover_atom, std::vector<recovered_order>>::with<uint64_t>, caf::reacts_to<recovered_atom>,
    // queries
    caf::replies_to<get_order_atom, tenant_id, order_id, bool>::with<order_reply>,
    caf::replies_to<stats_atom>::with<host_stats>, caf::replies_to<stats_atom, tenant_id>::with<tenant_stats>>;

//! actors/channel_actor.hpp: one per external payment provider. (peers_atom, hosts) first;
//! (channel_atom, requests) answered by (chan_ack_atom, responses) to the host of each order's
//! lane; (stats_atom) -> the messages it handled so far.
using channel_actor = caf::typed_actor<caf::reacts_to<peers_atom, std::vector<order_host_actor>>,
                                       caf::reacts_to<channel_atom, std::vector<channel_request>>,
                                       caf::replies_to<stats_atom>::with<uint64_t>>;

//! Routing of a host's peers: every host of the node (by lane) and every channel.
struct host_peers {
  std::vector<order_host_actor> hosts;
  std::vector<std::pair<channel_id, channel_actor>> channels;
};

//! persistence/order_loader.hpp. (recover_atom, hosts): recovery at start, which requests
//! (recover_atom, orders) -> resumed of the hosts and sends them (recovered_atom);
//! (recover_atom, partitions): a cluster node's takeover: the same for those partitions' orders;
//! (origin_atom, ids): the sender (an order host) gets (origin_found_atom, originals);
//! (history_atom, ...) -> an order's movements or a page of a wallet's journal.
using order_loader_actor =
    caf::typed_actor<caf::reacts_to<recover_atom, std::vector<order_host_actor>>,
                     caf::reacts_to<recover_atom, std::vector<uint32_t>>,
                     caf::reacts_to<origin_atom, std::vector<order_id>>,
                     caf::replies_to<history_atom, history_page_request>::with<history_page>,
                     caf::replies_to<history_atom, order_history_request>::with<order_history>>;

//! actors/wallet_actor.hpp: a wallet shard. (steps_atom, steps) answered by (step_ack_atom,
//! results) to the sending order host; the rest are queries and administration.
using wallet_shard_actor = caf::typed_actor<
    caf::reacts_to<steps_atom, std::vector<leg_step>>,
    // from the wallet loader (answers to load_atom)
    caf::reacts_to<loaded_atom, wallet_id, loaded_wallet>,
    caf::replies_to<get_wallet_atom, wallet_id, tenant_id>::with<wallet_view>,
    caf::replies_to<admin_atom, wallet_id, admin_op, tenant_id, int64_t>::with<wallet_view>,
    caf::replies_to<movements_atom, wallet_id, tenant_id, uint64_t, uint32_t>::with<result_code,
                                                                                    std::vector<journal_entry>>,
    caf::replies_to<history_atom, wallet_id, tenant_id, order_id>::with<std::vector<journal_entry>>,
    caf::replies_to<audit_atom>::with<std::vector<wallet_view>>>;

//! cluster/wallet_gateway.hpp: this node as other nodes see it (docs/cluster.md). (steps_atom,
//! steps, fences: one per step, ports/messages.hpp) from a remote order host is answered by
//! (step_ack_atom, results) to that host once the steps' effects are committed on this node
//! (durable mode); a step whose fence is stale is refused unanswered; the local wallet shards answer the
//! gateway with (step_ack_atom, results). (forward_atom, submits) from a remote order host go to
//! the local host of each one's lane, which answers that remote host. The queries go to the local
//! shard of the wallet or the host of the order's lane, which answers the asker. (hello_atom,
//! node, gateway): the node that made the link introduces its own gateway over it (TLS links:
//! one connection per pair of nodes, docs/cluster.md "TLS on the links"). (ping_atom) is answered
//! at once: the other node's health check of the link ("Link health").
using wallet_gateway_actor = caf::typed_actor<
    caf::reacts_to<hello_atom, uint32_t, caf::actor>, caf::replies_to<ping_atom>::with<ping_atom>,
    caf::reacts_to<steps_atom, std::vector<leg_step>, std::vector<step_fence>>,
    caf::reacts_to<step_ack_atom, std::vector<leg_result>>, caf::reacts_to<forward_atom, std::vector<submit_item>>,
    caf::replies_to<get_wallet_atom, wallet_id, tenant_id>::with<wallet_view>,
    caf::replies_to<admin_atom, wallet_id, admin_op, tenant_id, int64_t>::with<wallet_view>,
    caf::replies_to<movements_atom, wallet_id, tenant_id, uint64_t, uint32_t>::with<result_code,
                                                                                    std::vector<journal_entry>>,
    caf::replies_to<history_atom, wallet_id, tenant_id, order_id>::with<std::vector<journal_entry>>,
    caf::replies_to<get_order_atom, tenant_id, order_id, bool>::with<order_reply>>;

}  // namespace txengine

// Local messages only (they never cross the network).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::host_peers)
