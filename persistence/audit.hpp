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
//   - optionally, the movements of each order sum to zero (true when no order is mid-phase);
//   - the side tables of the orders (migration 0006) agree with the order rows: every order not
//     final has its open_orders row and no other order has one; every refund has its refunds
//     row and every refunds row its refund.
// Used by bench_durable after a run and by the tests; the crash test will use it after recovery.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

struct audit_options {
  bool orders_zero_sum = true;
  size_t max_problems = 20;  //!< how many problems are described in full
};

struct audit_report {
  bool ok = true;
  uint64_t wallets = 0;
  uint64_t movements = 0;
  uint64_t orders = 0;  //!< order rows
  std::map<std::string, int64_t> sum_by_currency;
  std::vector<std::string> problems;
  uint64_t problem_count = 0;
  //! One line: "ok: W wallets, M movements, O orders, sums USD=0" or the first problems.
  std::string summary() const;
};

audit_report audit(mysql_connection& conn, const shard_layout& layout, const audit_options& options = {});

}  // namespace txengine::persistence
