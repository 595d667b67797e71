#include "persistence/lease_store.hpp"

#include <cstdlib>

#include <algorithm>

namespace txengine::persistence {

namespace {

//! The server's clock in Unix milliseconds, as an SQL expression.
constexpr const char* db_now = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

std::string pairs_sql(const std::vector<std::pair<uint32_t, uint64_t>>& partition_epochs) {
  std::string s;
  for (const auto& [p, e] : partition_epochs) s += (s.empty() ? "(" : ",(") + std::to_string(p) + "," + std::to_string(e) + ")";
  return s;
}

}  // namespace

lease_store::lease_store(const mysql_endpoint& endpoint, const shard_layout& layout, lease_rules rules)
    : layout_(layout), rules_(rules), conn_(endpoint) {
  conn_.set_autocommit(true);  // every call below is one statement or says otherwise
  // A takeover waits for a commit holding the lease row (milliseconds) at most about one lease
  // period, then fails and is tried again next round.
  conn_.execute("SET SESSION innodb_lock_wait_timeout = " + std::to_string(std::max<int64_t>(1, rules_.ttl_ms / 1000)));
}

std::string lease_store::table(const char* name) const { return layout_.database_name(0) + "." + name; }

void lease_store::prepare() {
  conn_.execute("INSERT IGNORE INTO " + table("cluster_settings") + " (name, value) VALUES ('partitions', " +
                std::to_string(rules_.partitions) + ")");
  int64_t recorded = conn_.query_int("SELECT value FROM " + table("cluster_settings") + " WHERE name = 'partitions'");
  if (recorded != static_cast<int64_t>(rules_.partitions))
    throw lease_store_error("this deployment has " + std::to_string(recorded) + " partitions, not " +
                            std::to_string(rules_.partitions) +
                            " ([cluster] partitions is fixed for a deployment: set it back)");
  std::string values;
  for (uint32_t p = 0; p < rules_.partitions; ++p) {
    values += (values.empty() ? "(" : ",(") + std::to_string(p) + ")";
    if (values.size() > 60'000 || p + 1 == rules_.partitions) {
      conn_.execute("INSERT IGNORE INTO " + table("cluster_leases") + " (partition_id) VALUES " + values);
      values.clear();
    }
  }
}

int64_t lease_store::now_ms() { return conn_.query_int(std::string("SELECT ") + db_now); }

void lease_store::join(cluster_node node, uint64_t incarnation, const std::string& endpoint) {
  if (node == no_node) throw lease_store_error("node id 0 is not a node: ids start at 1");
  if (endpoint.size() > 255) throw lease_store_error("endpoint longer than 255 bytes");
  for (char c : endpoint)
    if (c == '\'' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      throw lease_store_error("endpoint with a quote, backslash or control character");
  const bool rejoin = conn_.query_int("SELECT COUNT(*) FROM " + table("cluster_nodes") + " WHERE node_id = " +
                                      std::to_string(node) + " AND incarnation = " + std::to_string(incarnation)) == 1;
  // Taken only when free, expired, or this incarnation's already (a repeated join).
  conn_.execute("INSERT IGNORE INTO " + table("cluster_nodes") + " (node_id, incarnation, endpoint, expires_ms) VALUES (" +
                std::to_string(node) + ", 0, '', 0)");
  uint64_t taken = conn_.execute_affected(
      "UPDATE " + table("cluster_nodes") + " SET incarnation = " + std::to_string(incarnation) + ", endpoint = '" +
      endpoint + "', expires_ms = " + db_now + " + " + std::to_string(rules_.ttl_ms) +
      " WHERE node_id = " + std::to_string(node) + " AND (expires_ms < " + db_now +
      " OR incarnation = " + std::to_string(incarnation) + ")");
  // Affected rows count changed rows: a repeated join in the same millisecond changes nothing.
  if (taken == 0 && conn_.query_int("SELECT COUNT(*) FROM " + table("cluster_nodes") + " WHERE node_id = " +
                                    std::to_string(node) + " AND incarnation = " + std::to_string(incarnation)) == 1)
    taken = 1;
  if (taken == 0) {
    auto rows = conn_.query_rows("SELECT endpoint, expires_ms - " + std::string(db_now) + ", expires_ms FROM " +
                                     table("cluster_nodes") + " WHERE node_id = " + std::to_string(node),
                                 1);
    std::string where = rows.empty() ? "?" : rows[0][0];
    std::string left = rows.empty() ? "?" : rows[0][1];
    int64_t expires = rows.empty() ? 0 : std::strtoll(rows[0][2].c_str(), nullptr, 10);
    throw node_in_use_error("node id " + std::to_string(node) + " is in use by a live node at " + where +
                                " (its registration expires in " + left +
                                " ms unless renewed): give this node another [cluster] node_id",
                            expires);
  }
  // Every lease an earlier process of this id still names is given up with a new epoch: that
  // process may be paused rather than dead, and must never commit with its epochs again. (A
  // paused commit holding a lease row blocks this for at most the lock wait timeout; the
  // writer's idle_transaction_timeout cuts it before.)
  if (!rejoin)
    conn_.execute("UPDATE " + table("cluster_leases") + " SET owner = 0, epoch = epoch + 1, expires_ms = " + db_now +
                  " WHERE owner = " + std::to_string(node));
}

bool lease_store::heartbeat(cluster_node node, uint64_t incarnation) {
  return conn_.execute_affected("UPDATE " + table("cluster_nodes") + " SET expires_ms = " + db_now + " + " +
                                std::to_string(rules_.ttl_ms) + " WHERE node_id = " + std::to_string(node) +
                                " AND incarnation = " + std::to_string(incarnation)) == 1 ||
         // Within the same millisecond the row does not change: still ours if it says so.
         conn_.query_int("SELECT COUNT(*) FROM " + table("cluster_nodes") + " WHERE node_id = " + std::to_string(node) +
                         " AND incarnation = " + std::to_string(incarnation)) == 1;
}

void lease_store::leave(cluster_node node, uint64_t incarnation) {
  conn_.execute("UPDATE " + table("cluster_leases") + " SET owner = 0, expires_ms = " + db_now +
                " WHERE owner = " + std::to_string(node));
  conn_.execute("UPDATE " + table("cluster_nodes") + " SET expires_ms = 0 WHERE node_id = " + std::to_string(node) +
                " AND incarnation = " + std::to_string(incarnation));
}

void lease_store::deregister(cluster_node node, uint64_t incarnation) {
  conn_.execute("UPDATE " + table("cluster_nodes") + " SET expires_ms = 0 WHERE node_id = " + std::to_string(node) +
                " AND incarnation = " + std::to_string(incarnation));
}

std::vector<cluster_member> lease_store::live_members() {
  std::vector<cluster_member> out;
  conn_.stream_rows("SELECT node_id, endpoint, expires_ms, incarnation FROM " + table("cluster_nodes") +
                        " WHERE expires_ms >= " + db_now + " ORDER BY node_id",
                    [&](const row_view& row) {
                      out.push_back(cluster_member{static_cast<cluster_node>(row.u(0)), std::string(row.text(1)),
                                                   row.i(2), row.u(3)});
                    });
  return out;
}

std::vector<partition_lease> lease_store::leases() {
  std::vector<partition_lease> out;
  out.reserve(rules_.partitions);
  conn_.stream_rows("SELECT partition_id, owner, epoch, expires_ms FROM " + table("cluster_leases") +
                        " WHERE partition_id < " + std::to_string(rules_.partitions) + " ORDER BY partition_id",
                    [&](const row_view& row) {
                      out.push_back(partition_lease{static_cast<uint32_t>(row.u(0)),
                                                    static_cast<cluster_node>(row.u(1)), row.u(2), row.i(3)});
                    });
  return out;
}

bool lease_store::acquire(const partition_lease& seen, cluster_node node) {
  return conn_.execute_affected("UPDATE " + table("cluster_leases") + " SET owner = " + std::to_string(node) +
                                ", epoch = epoch + 1, expires_ms = " + db_now + " + " + std::to_string(rules_.ttl_ms) +
                                " WHERE partition_id = " + std::to_string(seen.partition) +
                                " AND epoch = " + std::to_string(seen.epoch) + " AND (owner = 0 OR expires_ms < " +
                                db_now + ")") == 1;
}

std::vector<partition_lease> lease_store::renew(const std::vector<partition_lease>& held, cluster_node node) {
  if (held.empty()) return {};
  std::vector<std::pair<uint32_t, uint64_t>> pairs;
  for (const auto& l : held) pairs.emplace_back(l.partition, l.epoch);
  conn_.execute("UPDATE " + table("cluster_leases") + " SET expires_ms = " + db_now + " + " +
                std::to_string(rules_.ttl_ms) + " WHERE owner = " + std::to_string(node) +
                " AND (partition_id, epoch) IN (" + pairs_sql(pairs) + ")");
  std::vector<partition_lease> still;
  conn_.stream_rows("SELECT partition_id, owner, epoch, expires_ms FROM " + table("cluster_leases") +
                        " WHERE owner = " + std::to_string(node) + " AND (partition_id, epoch) IN (" + pairs_sql(pairs) +
                        ") ORDER BY partition_id",
                    [&](const row_view& row) {
                      still.push_back(partition_lease{static_cast<uint32_t>(row.u(0)),
                                                      static_cast<cluster_node>(row.u(1)), row.u(2), row.i(3)});
                    });
  return still;
}

void lease_store::release(const partition_lease& held, cluster_node node) {
  conn_.execute("UPDATE " + table("cluster_leases") + " SET owner = 0, expires_ms = " + db_now +
                " WHERE partition_id = " + std::to_string(held.partition) + " AND owner = " + std::to_string(node) +
                " AND epoch = " + std::to_string(held.epoch));
}

std::vector<partition_lease> lease_store::run_round(cluster_node node) {
  int64_t now = now_ms();
  std::vector<cluster_node> live;
  for (const auto& m : live_members()) live.push_back(m.node);
  lease_plan plan = plan_lease_round(leases(), live, node, now, rules_);
  for (const auto& l : plan.release) release(l, node);
  for (const auto& l : plan.acquire) acquire(l, node);
  renew(plan.renew, node);
  std::vector<partition_lease> held;
  now = now_ms();
  for (const auto& l : leases())
    if (l.owner == node && l.expires_ms >= now) held.push_back(l);
  return held;
}

std::string lease_store::fence_sql(const shard_layout& layout, cluster_node node,
                                   const std::vector<std::pair<uint32_t, uint64_t>>& partition_epochs) {
  return "SELECT partition_id FROM " + layout.database_name(0) + ".cluster_leases WHERE owner = " +
         std::to_string(node) + " AND (partition_id, epoch) IN (" + pairs_sql(partition_epochs) +
         ") LOCK IN SHARE MODE";
}

}  // namespace txengine::persistence
