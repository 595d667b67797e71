#pragma once
// The rows the order hosts and the wallet shards hand to the writer (write_batch), and what
// the loaders read back from MySQL: wallets, request ids, non-final orders, refunds'
// originals, history pages and the recovery report. Plain data over the core's types, no
// MySQL and no CAF include.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/movement_history.hpp"
#include "core/order_command.hpp"
#include "core/order_core.hpp"
#include "core/types.hpp"
#include "core/wallet_core.hpp"

namespace txengine {

//! A wallet's row: identity, limits, status, balances and version (= its last journal sequence).
//! Handed to the writer when a wallet is created or its status or limit changes; balance
//! changes travel as movement rows only (the writer checkpoints the row from them).
struct wallet_row {
  wallet_info info;
  balances current;
  uint64_t version = 0;
  int64_t updated_ms = 0;
  //! Creation with a request id (idempotent create_wallet): its wallet_requests row goes with
  //! this one. Empty otherwise.
  std::string request_id;
  uint64_t request_hash = 0;
};

//! What MySQL knows about a create_wallet request id: its wallet, if any.
struct wallet_request_found {
  bool found = false;
  bool failed = false;  //!< MySQL did not answer
  wallet_id id = no_wallet;
  uint64_t content_hash = 0;
};


//! fund_movements.phase values: tcc_phase (0 try, 1 confirm, 2 cancel), 3 a one-step change
//! (the baseline's and seeding's), and 4 a try and its confirm committed together as one row,
//! which stands for two sequence numbers (the row's seq is the confirm's).
constexpr unsigned movement_phase_direct = 3;
constexpr unsigned movement_phase_try_confirm = 4;

//! One journal entry of one wallet: a fund movement.
struct movement_row {
  wallet_id wallet = no_wallet;
  journal_entry entry;
};

//! A TCC participant record of one wallet for one order.
struct tcc_row {
  wallet_id wallet = no_wallet;
  order_id order = 0;
  tcc_record record;
  int64_t updated_ms = 0;
};

//! An order's row: its intent (state trying, legs, request id) or its final state.
struct order_row {
  order_id id = 0;
  order_command command;
  order_state state = order_state::trying;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  std::string legs_json;
  std::string route;  //!< format_route_trail of a channel order's providers ('' otherwise)
  uint32_t attempts = 0;
  int64_t try_deadline_ms = 0;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t final_ms = 0;
  bool intent = false;  //!< also writes the request id row
  //! Its host waits for this intent's commit before the order acts (a provider, another cluster
  //! node's wallets): the writer never carries it to a later batch.
  bool awaited = false;
};

//! What one sender hands the writer at once. `ack_seq` != 0 asks for (committed_atom, ack_seq)
//! once every row of this and the sender's earlier batches is committed.
struct write_batch {
  std::vector<wallet_row> wallets;
  std::vector<movement_row> movements;
  std::vector<tcc_row> tcc;
  std::vector<order_row> orders;
  uint64_t ack_seq = 0;
  size_t rows() const { return wallets.size() + movements.size() + tcc.size() + orders.size(); }
  bool empty() const { return rows() == 0; }
};

//! A wallet as the loader found it in MySQL.
struct loaded_wallet {
  bool found = false;
  bool failed = false;  //!< MySQL could not answer: the steps waiting for it are dropped (resent later)
  wallet_row row;
  std::vector<tcc_row> records;
};

//! A request id the host does not know, looked up in MySQL (after a restart).
struct request_lookup {
  tenant_id tenant = 0;
  std::string request_id;
  wallet_id home = no_wallet;  //!< the order's home wallet (orders table shard)
};

//! What MySQL knows about a request id: its order, if any.
struct request_found {
  tenant_id tenant = 0;
  std::string request_id;
  bool found = false;
  bool failed = false;  //!< MySQL did not answer
  order_id id = 0;
  uint64_t content_hash = 0;
  order_state state = order_state::trying;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  int64_t created_ms = 0;
  int64_t final_ms = 0;
};

//! A non-final order read from MySQL at start, for its host to resume (recovery).
struct recovered_order {
  order_id id = 0;
  order_command command;
  stored_order row;
};

//! A refund of a payment, as the orders table holds it (the payment's refund allowance after a restart).
struct stored_refund {
  order_id id = 0;
  order_state state = order_state::trying;
  int64_t amount = 0;
  bool granted = false;  //!< its row holds the wallet legs: the allowance reserved its amount
};

//! A refund's original order read from MySQL (it was final before a restart), with its refunds.
struct loaded_original {
  order_id id = 0;
  bool found = false;
  bool failed = false;  //!< MySQL did not answer: the waiting allowance steps get `unavailable`
  order_command command;
  order_state state = order_state::failed;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  int64_t created_ms = 0;
  int64_t final_ms = 0;
  std::vector<stored_refund> refunds;
  std::vector<stored_leg> legs;  //!< its stored legs (history: the journal entries they name)
};

//! History (issue 12): a page of a wallet's journal older than its entries in memory, read
//! by the order loader (ListMovements): entries with `from_sequence <= seq <= last_sequence`
//! (the first entry in memory included, so a stored try-and-confirm row at the boundary gives
//! both halves), at most `limit` stored rows, oldest first.
struct history_page_request {
  wallet_id wallet = no_wallet;
  uint64_t from_sequence = 0;
  uint64_t last_sequence = 0;
  uint32_t limit = 0;
};

struct history_page {
  bool failed = false;  //!< MySQL did not answer: the query gets `unavailable`
  std::vector<journal_entry> entries;
};

//! History: an order's fund movements, read by the order loader (GetOrder include_movements).
//! With `legs_known` its legs are these (an order in memory); otherwise they are read from its
//! row in the orders table of `home`.
struct order_history_request {
  order_id order = 0;
  tenant_id tenant = 0;
  wallet_id home = no_wallet;
  bool legs_known = false;
  std::vector<stored_leg> legs;
};

struct order_history {
  bool failed = false;  //!< MySQL did not answer: the query gets `unavailable`
  std::vector<order_movement> movements;  //!< by wallet leg, each wallet's oldest first
};

//! What recovery found and resumed at start (engine::recovery()).
struct recovery_report {
  bool done = false;        //!< every non-final order was read and handed to its host
  std::string error;        //!< why recovery stopped early (MySQL kept failing), if it did
  uint64_t orders = 0;      //!< non-final orders read
  uint64_t resumed = 0;     //!< resumed by their hosts
  uint64_t unreadable = 0;  //!< rows that are not a resumable order: left as they are, logged
  std::array<uint64_t, 6> by_kind{};   //!< read, by order_kind
  std::array<uint64_t, 7> by_state{};  //!< read, by stored order_state
  int64_t elapsed_ms = 0;
  //! One line: "resumed N of M non-final orders (trying a, processing b, ...; transfer x, ...) in T ms".
  std::string summary() const;
};

//! The hash of a command's content (request id aside) kept with its request id row.
inline uint64_t command_content_hash(const order_command& c) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  };
  mix(c.tenant);
  mix(static_cast<uint64_t>(c.kind));
  mix(c.source);
  mix(c.destination);
  mix(static_cast<uint64_t>(c.amount));
  mix(c.cur.packed());
  mix(c.fee_wallet);
  mix(static_cast<uint64_t>(c.fee_amount));
  mix(c.original_order);
  mix(c.channel);
  return h & 0x7FFFFFFFFFFFFFFFull;
}

//! The wallet an order's rows follow (orders table, its cluster partition): its source, else
//! its destination; a refund's is its original's home (order_command::home, no_wallet unless a
//! cluster node resolved it).
inline wallet_id order_home(const order_command& c) {
  if (c.kind == order_kind::refund) return c.home;
  return c.source != no_wallet ? c.source : c.destination;
}

}  // namespace txengine
