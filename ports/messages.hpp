#pragma once
// Every message the actors exchange: atoms and plain structs with CAF 0.17 `inspect`
// functions (so they can cross the network later: register them with add_message_type on
// every node). Replies are explicit messages, not `request` responses: an order host has
// thousands of steps outstanding, and CAF 0.17 keeps pending responses in a flat vector.
// Which actor takes which of them: its typed interface in ports/actor_interfaces.hpp.
#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "core/order_command.hpp"
#include "core/movement_history.hpp"
#include "core/order_core.hpp"
#include "core/result_code.hpp"
#include "core/simulated_channel.hpp"
#include "core/types.hpp"
#include "core/wallet_core.hpp"

namespace txengine {

// Atoms (at most 10 characters each).
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using replies_atom = caf::atom_constant<caf::atom("replies")>;
using steps_atom = caf::atom_constant<caf::atom("steps")>;
//! A cluster node introduces its wallet gateway over the link it made (TLS: one link per pair).
using hello_atom = caf::atom_constant<caf::atom("hello")>;
//! A cluster node asks another's wallet gateway whether it answers (peer_links' health check).
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using step_ack_atom = caf::atom_constant<caf::atom("stepack")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using get_order_atom = caf::atom_constant<caf::atom("getorder")>;
using get_wallet_atom = caf::atom_constant<caf::atom("getwallet")>;
using movements_atom = caf::atom_constant<caf::atom("movements")>;
using admin_atom = caf::atom_constant<caf::atom("admin")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using allowance_atom = caf::atom_constant<caf::atom("allowance")>;
using allow_ack_atom = caf::atom_constant<caf::atom("allowack")>;
using channel_atom = caf::atom_constant<caf::atom("channel")>;
using chan_ack_atom = caf::atom_constant<caf::atom("chanack")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, currency& x) {
  return f(caf::meta::type_name("currency"), x.packed_for_serialization());
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balances& x) {
  return f(caf::meta::type_name("balances"), x.available, x.frozen, x.incoming);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_command& x) {
  return f(caf::meta::type_name("order_command"), x.tenant, x.request_id, x.kind, x.source, x.destination, x.amount,
           x.cur, x.fee_wallet, x.fee_amount, x.original_order, x.channel, x.home);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leg_command& x) {
  return f(caf::meta::type_name("leg_command"), x.txn, x.phase, x.type, x.amount, x.tenant, x.cur, x.try_deadline_ms,
           x.wallet_kinds_allowed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_entry& x) {
  return f(caf::meta::type_name("journal_entry"), x.sequence, x.txn, x.phase, x.delta, x.after, x.at_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wallet_info& x) {
  return f(caf::meta::type_name("wallet_info"), x.id, x.tenant, x.cur, x.kind, x.status, x.overdraft_limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_movement& x) {
  return f(caf::meta::type_name("order_movement"), x.wallet, x.entry);
}

//! One TCC step for one wallet, from an order host.
struct leg_step {
  wallet_id wallet = no_wallet;
  uint16_t leg = 0;
  leg_command command;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leg_step& x) {
  return f(caf::meta::type_name("leg_step"), x.wallet, x.leg, x.command);
}

//! What a cluster node's step to another node's wallet carries beside it (one per step, in a
//! vector of their own so that local steps stay as small as they were): the partition of its
//! order's home wallet and the epoch at which the sending node holds it. The receiving node
//! refuses a step whose epoch is older than one it has seen for that partition: the sender lost
//! the order to a node that resumed it (docs/cluster.md, "Steps of a node that lost its order").
struct step_fence {
  uint32_t partition = 0;
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_fence& x) {
  return f(caf::meta::type_name("step_fence"), x.partition, x.epoch);
}

//! A wallet's answer to one step.
struct leg_result {
  order_id txn = 0;
  uint16_t leg = 0;
  tcc_phase phase = tcc_phase::try_;
  result_code code = result_code::ok;
  //! The wallet's tenant (0 when no wallet answered: an unknown id): the order keeps the
  //! balances only of a wallet of its own tenant.
  tenant_id tenant = 0;
  balances after;
  uint64_t sequence = 0;  //!< the journal entry the step made at the wallet (0: none, or a repeat)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leg_result& x) {
  return f(caf::meta::type_name("leg_result"), x.txn, x.leg, x.phase, x.code, x.tenant, x.after, x.sequence);
}

//! A client's command with the tag the client correlates the reply by.
struct submit_item {
  uint64_t client_tag = 0;
  order_command command;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_item& x) {
  return f(caf::meta::type_name("submit_item"), x.client_tag, x.command);
}

// wallet_balance (a wallet and its balances after an order's step) is in core/types.hpp.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wallet_balance& x) {
  return f(caf::meta::type_name("wallet_balance"), x.wallet, x.after);
}

//! The answer to a command or a query: the order's state and the affected wallets' balances.
//! `id == 0` means the command was refused before an order existed: nothing was recorded
//! or changed, and `code` says why (retryable codes may be sent again as they are).
struct order_reply {
  uint64_t client_tag = 0;
  order_id id = 0;
  tenant_id tenant = 0;
  std::string request_id;
  order_kind kind = order_kind::transfer;
  order_state state = order_state::failed;
  result_code code = result_code::ok;
  int64_t amount = 0;
  int64_t posted_amount = 0;
  currency cur;
  wallet_id source = no_wallet;
  wallet_id destination = no_wallet;
  std::vector<wallet_balance> wallets;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  //! True when this answers a repeated request id with the original order.
  bool duplicate = false;
  //! GetOrder with movements: the journal entries the order's steps made, by wallet leg.
  std::vector<order_movement> movements;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_reply& x) {
  return f(caf::meta::type_name("order_reply"), x.client_tag, x.id, x.tenant, x.request_id, x.kind, x.state, x.code,
           x.amount, x.posted_amount, x.cur, x.source, x.destination, x.wallets, x.created_ms, x.finished_ms,
           x.duplicate, x.movements);
}

//! A wallet as queries see it.
struct wallet_view {
  result_code code = result_code::ok;
  wallet_info info;
  balances current;
  uint64_t open_transactions = 0;
  uint64_t journal_sequence = 0;
  //! Journal replays from its base to the balances (checked by the wallet on each query).
  bool journal_ok = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wallet_view& x) {
  return f(caf::meta::type_name("wallet_view"), x.code, x.info, x.current, x.open_transactions, x.journal_sequence,
           x.journal_ok);
}

enum class admin_op : uint8_t { freeze = 0, unfreeze = 1, close = 2, set_overdraft_limit = 3 };

//! Refund allowance step between order hosts (the original payment is the participant).
struct allowance_step {
  order_id refund = 0;
  order_id original = 0;
  tcc_phase phase = tcc_phase::try_;
  int64_t amount = 0;
  tenant_id tenant = 0;
  currency cur;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, allowance_step& x) {
  return f(caf::meta::type_name("allowance_step"), x.refund, x.original, x.phase, x.amount, x.tenant, x.cur);
}

struct allowance_result {
  order_id refund = 0;
  tcc_phase phase = tcc_phase::try_;
  result_code code = result_code::ok;
  wallet_id payer = no_wallet;
  wallet_id merchant = no_wallet;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, allowance_result& x) {
  return f(caf::meta::type_name("allowance_result"), x.refund, x.phase, x.code, x.payer, x.merchant);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_request& x) {
  return f(caf::meta::type_name("channel_request"), x.what, x.order, x.amount, x.cur, x.money_in);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_response& x) {
  return f(caf::meta::type_name("channel_response"), x.order, x.outcome, x.settled_amount, x.busy,
           x.nothing_moved, x.channel);
}

//! What one tenant may see of the engine's counters: its own orders and wallets, nothing of
//! other tenants (GetStats on the wire). An order host counts its orders per tenant; the
//! engine sums the hosts and adds the tenant's wallets from the directory.
struct tenant_stats {
  uint64_t submitted = 0;
  uint64_t refused = 0;  //!< refused before an order existed (validation, overload)
  uint64_t duplicates = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t in_flight = 0;
  uint64_t wallets = 0;  //!< the tenant's wallets this engine knows (system wallets included)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_stats& x) {
  return f(caf::meta::type_name("tenant_stats"), x.submitted, x.refused, x.duplicates, x.succeeded, x.failed,
           x.in_flight, x.wallets);
}

//! Counters of one order host; the engine sums them.
struct host_stats {
  uint64_t submitted = 0;
  uint64_t refused = 0;          //!< refused before an order existed (validation, overload)
  uint64_t duplicates = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t in_flight = 0;
  uint64_t retained = 0;
  uint64_t step_resends = 0;
  uint64_t channel_queries = 0;
  //! Orders sent on to their route's next provider after a refusal that moved nothing.
  uint64_t channel_reroutes = 0;
  uint64_t alerts = 0;
  uint64_t resumed = 0;  //!< orders resumed by recovery at start
  uint64_t final_retained = 0;  //!< final orders kept in memory (idempotency window)
  uint64_t evicted = 0;         //!< final orders that left memory (window or retained maximum)
  uint64_t forwarded = 0;       //!< a cluster node: submits sent on to the node holding their home wallet
  // A cluster node's forwarding path, counted at each stage (docs/cluster.md, "Clients reach any
  // node"): what one node sends on shows up in the other's counts, so a loss shows where it is.
  uint64_t forward_resends = 0;        //!< forwarded submits sent again (not answered in time, or routes changed)
  uint64_t forwarded_in = 0;           //!< submits other nodes' hosts forwarded to this host
  uint64_t remote_replies = 0;         //!< answers sent to other nodes' hosts (to their forwarded submits)
  uint64_t forward_replies = 0;        //!< answers to this host's forwarded submits, passed to their clients
  uint64_t forward_replies_stale = 0;  //!< answers to forwarded submits answered already (a resend's second answer)
  uint64_t relays = 0;                 //!< forwarded submits not answered yet, now
  std::vector<uint64_t> alerts_by_kind = std::vector<uint64_t>(6, 0);
  std::vector<uint64_t> failed_by_code = std::vector<uint64_t>(128, 0);
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, host_stats& x) {
  return f(caf::meta::type_name("host_stats"), x.submitted, x.refused, x.duplicates, x.succeeded, x.failed,
           x.in_flight, x.retained, x.step_resends, x.channel_queries, x.channel_reroutes, x.alerts, x.resumed, x.final_retained, x.evicted, x.forwarded, x.forward_resends, x.forwarded_in, x.remote_replies, x.forward_replies,
           x.forward_replies_stale, x.relays, x.alerts_by_kind,
           x.failed_by_code);
}

}  // namespace txengine

