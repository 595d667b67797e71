#pragma once
// The invariants of what is committed in MySQL, checked with SQL over every shard:
// Wallet state is the effective state of persistence/wallet_state.hpp (the wallet row is a
// checkpoint; the newest movement may be newer).
//   - per currency, the sum of all effective sub-balances of all wallets (system wallets
//     included) is zero;
//   - every wallet's effective balances equal the sum of its fund movements, its effective
//     version is the sequence of its last movement and the sequences have no gap;
//   - every checkpoint is consistent: a wallet row at version v > 0 holds the resulting balances
//     of its movement v; at version 0 its balances are zero;
//   - every movement's resulting balances equal the running sum of the deltas before it;
//   - every movement belongs to a wallet that exists;
//   - per wallet and order at most one try, one confirm, one cancel and one one-step change (a
//     phase-4 row, a try and its confirm stored together, counts as both);
//   - optionally, the movements of each order sum to zero (checked only when every order row is
//     final: a mid-phase order legitimately does not);
//   - the side tables of the orders (migration 0006) agree with the order rows: every order not
//     final has its open_orders row and no other order has one; every refund has its refunds
//     row and every refunds row its refund.
// Used by txaudit, bench_durable, bench_soak, bench_recovery, the demo and the tests.
//
// How it scales (tens of millions of orders): the shards are audited in parallel, one
// connection each at a time; per shard the movements are read once, streamed in primary-key
// order (wallet, seq) and never held in memory, and every per-movement check (running sums,
// journal sums, gaps, orphans, duplicates, the order sums) is done in that one pass. What is
// kept: the shard's effective wallets while it is audited, and the partial sums of orders
// whose movements do not already sum to zero within one shard. The database should be
// quiescent (no engine writing): shards are read at slightly different moments.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! An order row as the audit reads it (audit_options::on_order); valid during the call.
struct audited_order {
  uint64_t id = 0;
  uint32_t tenant = 0;
  std::string_view request_id;
  int state = 0;
  bool final = false;
};

struct audit_options {
  bool orders_zero_sum = true;
  size_t max_problems = 20;  //!< how many problems are described in full
  //! Shards audited at once, each on a connection of its own (persistence/shard_scan.hpp).
  size_t connections = 0;
  //! When set, called for every order row the audit reads, with the index of its shard table
  //! (shard_tables()), from the audit's threads: concurrently for different tables, never for
  //! one table from two threads. Lets a caller check the orders without reading them again
  //! (txaudit's request ids): on a large database each pass over the order rows costs as much
  //! as the rest of the audit.
  std::function<void(size_t table, const audited_order&)> on_order;
};

struct audit_report {
  bool ok = true;
  uint64_t wallets = 0;
  uint64_t movements = 0;
  uint64_t orders = 0;  //!< order rows
  uint64_t orders_not_final = 0;     //!< of which not final (is_final = 0)
  uint64_t orphan_movements = 0;     //!< movements of no wallet
  uint64_t duplicate_movements = 0;  //!< (wallet, order) pairs with a phase applied twice
  std::map<std::string, int64_t> sum_by_currency;
  std::vector<std::string> problems;
  uint64_t problem_count = 0;
  //! One line: "ok: W wallets, M movements, O orders, sums USD=0" or the first problems.
  std::string summary() const;
};

//! Throws sql::SQLException when the server cannot be read (connections are its own).
audit_report audit(const mysql_endpoint& endpoint, const shard_layout& layout, const audit_options& options = {});

}  // namespace txengine::persistence
