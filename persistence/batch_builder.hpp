#pragma once
// The writer's pure half (docs/durability-design.md): the rows of a batch merged as they come
// (a wallet's newest row, a record's newest state, an order's newest row), and the statements
// that write them, one function per table. No I/O, no CAF and no clock: unit-tested without
// MariaDB (tests/persistence/batch_builder_test.cpp).
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/partition_leases.hpp"
#include "ports/storage_rows.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

struct tcc_key_hash {
  size_t operator()(const std::pair<wallet_id, order_id>& k) const { return k.first * 0x9E3779B97F4A7C15ull ^ k.second; }
};

//! One fund-movement row as stored: a journal entry, or a wallet's try and confirm of one order
//! committed in the same batch as one row (phase movement_phase_try_confirm, the confirm's
//! sequence and resulting balances, the two deltas summed; it stands for two sequence numbers).
//! Nothing can see the state between a try and a confirm committed together, and the row
//! fewer is a sixth of a transfer's cost in MySQL.
struct stored_movement {
  wallet_id wallet = no_wallet;
  const journal_entry* entry = nullptr;
  unsigned phase = 0;
  balances delta;
};

//! The rows `movements` store, in their order (a try and its confirm merged where they follow).
std::vector<stored_movement> coalesce(const std::vector<movement_row>& movements);

//! What a batch's statements write, beyond the SQL: for the writer's bookkeeping after the commit.
struct built_rows {
  size_t rows = 0;                                       //!< rows written or deleted
  std::vector<std::pair<order_id, wallet_id>> tcc_kept;  //!< TCC rows written for orders not final
  std::vector<order_id> tcc_deleted;                     //!< final orders whose stored TCC rows are deleted
};

//! The rows of a batch being gathered, deduplicated.
struct batch_rows {
  std::unordered_map<wallet_id, wallet_row> wallets;
  std::vector<movement_row> movements;
  std::unordered_map<std::pair<wallet_id, order_id>, tcc_row, tcc_key_hash> tcc;
  std::unordered_map<order_id, order_row> orders;

  //! Merges a sender's rows (moved from `b`): a wallet's row of a newer or equal version
  //! replaces the older one (keeping its creation's request id), a TCC record's and an
  //! order's newest row replace the older ones (an order keeps its intent flag).
  void add(write_batch& b);

  //! Takes out the intent rows of orders that have no effect in this batch and need not be
  //! committed yet: an intent must be committed no later than the order's first effect, which
  //! is in a later batch then, so it goes there (most orders then write one order row, intent
  //! and final state at once, and no TCC rows). Orders with a channel (or `awaited`) are not carried: their
  //! host waits for the intent's commit before it acts outside MySQL.
  std::vector<order_row> take_carried_intents();
};

//! What the TCC rows of a batch build on: the rows earlier batches stored.
//! `stored`: TCC rows committed for orders not final yet, by order (their wallets).
//! `fresh`: orders whose intent this writer committed and whose TCC rows it tracks in
//! `stored`; a final order not among them (resumed after a restart, or past the tracking
//! bounds) may have rows an earlier process wrote: they are deleted in every table.
struct tcc_history {
  const std::unordered_map<order_id, std::vector<wallet_id>>& stored;
  const std::unordered_set<order_id>& fresh;
  //! A cluster node: other nodes' writers write TCC rows of this node's orders (their wallets'
  //! legs), and this node may hold those wallets later (a takeover): a final order's rows are
  //! deleted in every table, as for an order this writer does not know.
  bool every_table = false;
};

// -- one function per table: each appends its statements to `out` and counts its rows in `written`

//! wallets: each wallet row whole (creation, status, limit), balances only from a newer version.
void wallet_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                       built_rows& written);
//! wallet_requests (migration 0007): a created wallet's request id, with its first row (wallet side).
void wallet_request_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                               built_rows& written);
//! fund_movements: the batch's journal entries, coalesced.
void movement_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                         built_rows& written);
//! tcc_records: the records of orders not final in this batch (a final order's are not written).
void tcc_statements(const shard_layout& layout, const batch_rows& rows, const std::unordered_set<order_id>& finals,
                    std::vector<table_statement>& out, built_rows& written);
//! tcc_records delete: every record of the orders final in this batch, by order id (index
//! by_order), in the tables `history` says hold them, or in every table when it does not know.
void tcc_delete_statements(const shard_layout& layout, const std::unordered_set<order_id>& finals,
                           const tcc_history& history, std::vector<table_statement>& out, built_rows& written);
//! orders and request_ids (order side): every order row, and an intent's request id row.
void order_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                      built_rows& written);
//! open_orders (migration 0006, order side): an order whose intent commits before its final row
//! is in it until that row (a resumed order's first row came before this process); an order
//! whose first row is final, most of them, never is.
void open_order_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                           built_rows& written);
//! refunds (migration 0006, order side): a refund's intent names its original order.
void refund_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                       built_rows& written);

//! A wallet checkpoint: its newest state, written over an older row (storage_config::wallet_checkpoint_interval_ms).
struct wallet_checkpoint {
  wallet_id wallet = no_wallet;
  uint64_t version = 0;  //!< the sequence of the wallet's newest movement
  balances current;      //!< its resulting balances
  int64_t updated_ms = 0;
};

//! A cluster node's batch (ports/cluster.hpp): the partitions of every wallet its rows change
//! and of every order's home wallet (the orders' tables are sharded by it), sorted and unique:
//! the writer's fence checks this node's epochs of them.
std::vector<uint32_t> partitions_of(const batch_rows& rows, const std::vector<wallet_checkpoint>& checkpoints,
                                    uint32_t partitions);

//! wallets checkpoint: UPDATE of balances and version, by id and older version (after the
//! batch's movements, in the same transaction). Returns the rows.
size_t checkpoint_statements(const shard_layout& layout, const std::vector<wallet_checkpoint>& chosen,
                             std::vector<table_statement>& out);

//! The statements of a batch, every table in order. TCC records of an order that is final in
//! this batch are not written, and the rows earlier batches wrote for it are deleted: once the
//! final row is committed no step of the order can come after a restart (final orders are not
//! resumed), and until then the shard's memory answers late repeats. `written` gets the TCC
//! rows this batch keeps, and the row count. The side tables of the order rows (open_orders,
//! refunds) go with them (the order side).
std::vector<table_statement> batch_statements(const shard_layout& layout, const batch_rows& rows,
                                              const tcc_history& history, built_rows& written);

}  // namespace txengine::persistence
