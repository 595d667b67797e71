#include "persistence/storage_bootstrap.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/split_commit.hpp"
#include "persistence/storage_target.hpp"

namespace txengine::persistence {

namespace {

storage_start prepare_once(const storage_config& config, const shard_layout& layout, bool& transient);

}  // namespace

storage_start prepare_storage(const storage_config& config) {
  shard_layout layout = layout_of(config);
  std::string why;
  if (!layout.valid(&why)) {
    storage_start start;
    start.error = why;
    return start;
  }
  // Everything here is idempotent (settling, migrations, reads): a deadlock with another
  // cluster node's commits (or a lock wait past its timeout) is tried again, a few times.
  constexpr int attempts = 5;
  for (int attempt = 1;; ++attempt) {
    bool transient = false;
    storage_start start = prepare_once(config, layout, transient);
    if (start.ok || !transient || attempt == attempts) return start;
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
  }
}

namespace {

storage_start prepare_once(const storage_config& config, const shard_layout& layout, bool& transient) {
  storage_start start;
  try {
    mysql_endpoint endpoint = endpoint_of(config);
    start.description = endpoint.describe() + " (" + std::to_string(config.databases) + " databases x " +
                        std::to_string(config.tables) + " tables, prefix " + config.prefix + ")";
    mysql_thread_scope scope;
    mysql_connection conn(endpoint);
    // Branches of two-connection commits a crash left prepared: committed when their decision
    // was, else rolled back, before anything reads (they hold their rows' locks until then).
    // Before the migrations too when the decisions exist already (migration 0004): a migration
    // must not wait for a branch's locks, nor backfill without its rows (0006 does).
    auto settle = [&] {
      bulk_connection settler(endpoint);
      settle_report settled = settle_prepared_branches(settler, layout, xa_branch_prefix(config.prefix, config.xa_node));
      start.branches_committed += settled.committed;
      start.branches_rolled_back += settled.rolled_back;
    };
    if (conn.query_int("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='" +
                       layout.database_name(0) + "' AND TABLE_NAME='xa_decisions'") > 0)
      settle();
    schema_report report = apply_schema(conn, layout);
    start.migrations_applied = report.migrations_applied;
    settle();
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) {
        std::string table = layout.table_at("wallets", d, t);
        start.orders += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + layout.table_at("orders", d, t)));
        auto rs = conn.query("SELECT COUNT(*), COALESCE(MAX(id),0) FROM " + table);
        if (rs->next()) {
          start.wallets += rs->getUInt64(1);
          start.max_wallet_id = std::max<wallet_id>(start.max_wallet_id, rs->getUInt64(2));
        }
        auto systems = conn.query("SELECT tenant, currency, id FROM " + table + " WHERE kind=" +
                                  std::to_string(static_cast<unsigned>(wallet_kind::system)));
        while (systems->next()) {
          auto cur = currency::parse(std::string(systems->getString(2)));
          if (cur) start.system_wallets.emplace_back(systems->getUInt(1), cur->packed(), systems->getUInt64(3));
        }
      }
    start.ok = true;
  } catch (const sql::SQLException& e) {
    start.error = std::string("MySQL: ") + e.what() + " (" + std::to_string(e.getErrorCode()) + ")";
    transient = e.getErrorCode() == 1213 || e.getErrorCode() == 1205;  // deadlock, lock wait timeout
  } catch (const std::exception& e) {
    start.error = e.what();
    const std::string what = e.what();
    transient = what.find("(1213)") != std::string::npos || what.find("(1205)") != std::string::npos;
  }
  return start;
}

}  // namespace

wallet_id read_max_wallet_id(const storage_config& config) {
  shard_layout layout = layout_of(config);
  mysql_connection conn(endpoint_of(config));  // on a thread already in the client library (the keeper's)
  wallet_id max_id = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      max_id = std::max<wallet_id>(max_id, static_cast<wallet_id>(conn.query_int(
                                               "SELECT COALESCE(MAX(id),0) FROM " + layout.table_at("wallets", d, t))));
  return max_id;
}

settle_report settle_branches_of_node(const storage_config& config, uint32_t node, bool may_roll_back) {
  bulk_connection settler(endpoint_of(config));
  return settle_prepared_branches(settler, layout_of(config), xa_branch_prefix(config.prefix, node), may_roll_back);
}

}  // namespace txengine::persistence
