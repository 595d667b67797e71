#include "persistence/audit.hpp"

#include <unordered_map>

#include "core/types.hpp"
#include "persistence/wallet_state.hpp"

namespace txengine::persistence {

namespace {

void problem(audit_report& r, const audit_options& o, std::string text) {
  r.ok = false;
  ++r.problem_count;
  if (r.problems.size() < o.max_problems) r.problems.push_back(std::move(text));
}

}  // namespace

std::string audit_report::summary() const {
  std::string s = ok ? "ok: " : "FAILED (" + std::to_string(problem_count) + " problems): ";
  s += std::to_string(wallets) + " wallets, " + std::to_string(movements) + " movements, " + std::to_string(orders) +
       " orders, sum of balances";
  if (sum_by_currency.empty()) s += " (no wallets)";
  for (const auto& [cur, sum] : sum_by_currency) s += " " + cur + "=" + std::to_string(sum);
  for (const auto& p : problems) s += "\n  " + p;
  return s;
}

audit_report audit(mysql_connection& conn, const shard_layout& layout, const audit_options& options) {
  audit_report r;
  std::unordered_map<uint64_t, int64_t> order_sums;
  for (uint32_t d = 0; d < layout.databases; ++d) {
    for (uint32_t t : layout.tables_in(d)) {
      const std::string wallets = layout.table_at("wallets", d, t);
      const std::string movements = layout.table_at("fund_movements", d, t);
      const std::string where = layout.database_name(d) + " table " + std::to_string(t);
      // The wallet rows are checkpoints (persistence/wallet_state.hpp): sums and journal checks
      // are over the effective state, and the checkpoint itself is checked against its movement.
      const std::string effective = "(" + effective_wallets_sql(wallets, movements) + ")";
      {
        auto rs = conn.query("SELECT currency, COUNT(*), CAST(SUM(available) + SUM(frozen) + SUM(incoming) AS SIGNED) FROM " +
                             effective + " e GROUP BY currency");
        while (rs->next()) {
          r.wallets += rs->getUInt64(2);
          r.sum_by_currency[std::string(rs->getString(1))] += rs->getInt64(3);
        }
      }
      r.movements += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + movements));
      r.orders += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + layout.table_at("orders", d, t)));
      {
        // The effective balances are the sum of the journal, the effective version its last seq
        // and the seqs have no gap (last seq = count; a phase-4 row, a try and its confirm stored
        // together, stands for two sequence numbers).
        auto rs = conn.query(
            "SELECT e.id, e.available, e.frozen, e.incoming, e.version, COALESCE(m.a, 0), COALESCE(m.f, 0), "
            "COALESCE(m.i, 0), COALESCE(m.s, 0), COALESCE(m.n, 0) FROM " +
            effective +
            " e LEFT JOIN (SELECT wallet_id, CAST(SUM(d_available) AS SIGNED) a, CAST(SUM(d_frozen) AS SIGNED) f, "
            "CAST(SUM(d_incoming) AS SIGNED) i, MAX(seq) s, CAST(SUM(IF(phase=4,2,1)) AS UNSIGNED) n FROM " +
            movements +
            " GROUP BY wallet_id) m ON m.wallet_id = e.id WHERE e.available <> COALESCE(m.a, 0) OR e.frozen <> "
            "COALESCE(m.f, 0) OR e.incoming <> COALESCE(m.i, 0) OR e.version <> COALESCE(m.s, 0) OR "
            "COALESCE(m.s, 0) <> COALESCE(m.n, 0)");
        while (rs->next())
          problem(r, options,
                  where + ": wallet " + std::to_string(rs->getUInt64(1)) + " balances " +
                      std::to_string(rs->getInt64(2)) + "/" + std::to_string(rs->getInt64(3)) + "/" +
                      std::to_string(rs->getInt64(4)) + " version " + std::to_string(rs->getUInt64(5)) +
                      ", movements sum to " + std::to_string(rs->getInt64(6)) + "/" + std::to_string(rs->getInt64(7)) +
                      "/" + std::to_string(rs->getInt64(8)) + " last seq " + std::to_string(rs->getUInt64(9)) +
                      " count " + std::to_string(rs->getUInt64(10)));
      }
      {
        // The checkpoint: a row at version v > 0 holds the balances after movement v; at version 0, none.
        auto rs = conn.query(
            "SELECT w.id, w.version, w.available, w.frozen, w.incoming, c.seq IS NOT NULL, "
            "COALESCE(c.available_after, 0), COALESCE(c.frozen_after, 0), COALESCE(c.incoming_after, 0) FROM " +
            wallets + " w LEFT JOIN " + movements +
            " c ON c.wallet_id = w.id AND c.seq = w.version WHERE (w.version = 0 AND (w.available <> 0 OR w.frozen <> 0 "
            "OR w.incoming <> 0)) OR (w.version > 0 AND (c.seq IS NULL OR c.available_after <> w.available OR "
            "c.frozen_after <> w.frozen OR c.incoming_after <> w.incoming))");
        while (rs->next()) {
          std::string text = where + ": wallet " + std::to_string(rs->getUInt64(1)) + " row (checkpoint) at version " +
                             std::to_string(rs->getUInt64(2)) + " holds " + std::to_string(rs->getInt64(3)) + "/" +
                             std::to_string(rs->getInt64(4)) + "/" + std::to_string(rs->getInt64(5));
          if (rs->getUInt64(2) == 0)
            text += ", not 0/0/0";
          else if (!rs->getBoolean(6))
            text += ", but the wallet has no movement with that seq";
          else
            text += ", its movement says " + std::to_string(rs->getInt64(7)) + "/" + std::to_string(rs->getInt64(8)) +
                    "/" + std::to_string(rs->getInt64(9));
          problem(r, options, std::move(text));
        }
      }
      {
        int64_t orphans = conn.query_int("SELECT COUNT(*) FROM " + movements + " m LEFT JOIN " + wallets +
                                         " w ON w.id = m.wallet_id WHERE w.id IS NULL");
        if (orphans > 0) problem(r, options, where + ": " + std::to_string(orphans) + " movements of no wallet");
      }
      {
        auto rs = conn.query(
            "SELECT wallet_id, seq FROM (SELECT wallet_id, seq, available_after, frozen_after, incoming_after, "
            "SUM(d_available) OVER w ra, SUM(d_frozen) OVER w rf, SUM(d_incoming) OVER w ri FROM " +
            movements +
            " WINDOW w AS (PARTITION BY wallet_id ORDER BY seq)) x WHERE available_after <> ra OR frozen_after <> rf "
            "OR incoming_after <> ri LIMIT " +
            std::to_string(options.max_problems));
        while (rs->next())
          problem(r, options,
                  where + ": movement " + std::to_string(rs->getUInt64(1)) + "#" + std::to_string(rs->getUInt64(2)) +
                      " resulting balances differ from the running sum");
      }
      {
        // The side tables of the order rows (migration 0006) agree with them: recovery finds the
        // non-final orders through open_orders, and a payment's refunds through refunds.
        const std::string orders = layout.table_at("orders", d, t);
        const std::string open = layout.table_at("open_orders", d, t);
        const std::string refunds = layout.table_at("refunds", d, t);
        const std::string refund_kind = std::to_string(static_cast<unsigned>(order_kind::refund));
        auto check = [&](const std::string& from_where, const std::string& what) {
          auto rs = conn.query("SELECT id FROM (SELECT " + from_where + ") x ORDER BY id LIMIT 6");
          std::string ids;
          size_t n = 0;
          while (rs->next()) {
            if (++n == 6) {
              ids += ", ...";
              break;
            }
            ids += (ids.empty() ? "" : ", ") + std::to_string(rs->getUInt64(1));
          }
          if (n > 0) problem(r, options, where + ": " + what + " (orders " + ids + ")");
        };
        check("o.id FROM " + orders + " o LEFT JOIN " + open + " p ON p.id = o.id WHERE o.is_final = 0 AND p.id IS NULL",
              "orders not final without their open_orders row: recovery would not resume them");
        check("p.id FROM " + open + " p LEFT JOIN " + orders + " o ON o.id = p.id WHERE o.id IS NULL OR o.is_final <> 0",
              "open_orders rows of final or missing orders");
        check("o.id FROM " + orders + " o LEFT JOIN " + refunds +
                  " f ON f.refund_id = o.id AND f.original_order = o.original_order WHERE o.kind = " + refund_kind +
                  " AND f.refund_id IS NULL",
              "refunds without their refunds row: a restart would not count them against their payment");
        check("f.refund_id AS id FROM " + refunds + " f LEFT JOIN " + orders +
                  " o ON o.id = f.refund_id AND o.original_order = f.original_order AND o.kind = " + refund_kind +
                  " WHERE o.id IS NULL",
              "refunds rows without their refund order");
      }
      if (options.orders_zero_sum) {
        auto rs = conn.query("SELECT order_id, CAST(SUM(d_available) + SUM(d_frozen) + SUM(d_incoming) AS SIGNED) FROM " +
                             movements + " GROUP BY order_id");
        while (rs->next()) order_sums[rs->getUInt64(1)] += rs->getInt64(2);
      }
    }
  }
  for (const auto& [cur, sum] : r.sum_by_currency)
    if (sum != 0) problem(r, options, "sum of balances of " + cur + " is " + std::to_string(sum) + ", not 0");
  for (const auto& [order, sum] : order_sums)
    if (sum != 0) problem(r, options, "movements of order " + std::to_string(order) + " sum to " + std::to_string(sum));
  return r;
}

}  // namespace txengine::persistence
