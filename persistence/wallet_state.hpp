#pragma once
// The effective state of a wallet. Its row in wallets_t is a checkpoint: written when the wallet
// is created or its status or limit changes, and otherwise only now and then (docs/persistence.md,
// "Wallet rows are checkpoints"). Its newest fund movement, committed atomically with its order,
// holds the current balances (`*_after`) and version (`seq`). So:
//   identity, limits, status      from the wallet row;
//   balances, version, updated_ms from its newest movement when that movement's seq > the row's
//                                 version, else from the row.
// Every reader of wallet state (the engine's loader, the audit, tests and tools) goes through
// this one SELECT, so none of them mistakes a stale checkpoint for the truth.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! Column positions (1-based, for ResultSet getters) of effective_wallets_sql().
namespace effective_column {
constexpr uint32_t id = 1, tenant = 2, currency = 3, kind = 4, status = 5, overdraft_limit = 6, available = 7,
                   frozen = 8, incoming = 9, version = 10, updated_ms = 11;
}  // namespace effective_column

//! SELECT id, tenant, currency, kind, status, overdraft_limit, available, frozen, incoming,
//! version, updated_ms (named so, usable as a derived table): the effective state of the wallets of `wallets_table`, their
//! newest movement taken from `movements_table` (the same shard index). `id_list`, when not
//! empty, is "id,id,..." (decimal ids) and restricts the rows to those wallets; it is put in the
//! SQL as is, so it must come from integers, never from user text.
std::string effective_wallets_sql(const std::string& wallets_table, const std::string& movements_table,
                                  const std::string& id_list = {});
//! The same restricted by `condition` on the wallet row `c` (e.g. "c.id BETWEEN 1 AND 9"), put in
//! the SQL as is: built from integers only. Empty: every wallet.
std::string effective_wallets_where_sql(const std::string& wallets_table, const std::string& movements_table,
                                        const std::string& condition);
//! The same for the tables of shard (d, t).
std::string effective_wallets_sql(const shard_layout& layout, uint32_t d, uint32_t t, const std::string& id_list = {});

struct effective_wallet {
  uint64_t id = 0;
  uint32_t tenant = 0;
  std::string currency;
  uint32_t kind = 0;
  uint32_t status = 0;
  int64_t overdraft_limit = 0;
  int64_t available = 0, frozen = 0, incoming = 0;
  uint64_t version = 0;
  int64_t updated_ms = 0;
};

//! One wallet's effective state, or nothing when it has no row (tests and tools; the loader
//! reads 1,000 at a time with effective_wallets_sql()).
std::optional<effective_wallet> read_effective_wallet(mysql_connection& conn, const shard_layout& layout, uint64_t id);

}  // namespace txengine::persistence
