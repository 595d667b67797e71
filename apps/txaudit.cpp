// txaudit: checks what a txengine has committed in MySQL, for operators and for the crash and
// outage tests. Read-only. Checks:
//   - every order is final (optionally waiting, bounded, while a restarted engine recovers);
//   - the ledger invariants of persistence/audit over each wallet's effective state (the wallet
//     row is a checkpoint, persistence/wallet_state.hpp): per-currency sums zero, balances equal
//     their fund movements, each checkpoint equals its movement, the movements of each order sum
//     to zero;
//   - no request id belongs to two orders, and no wallet has two movements of one order's phase;
//   - no open (tried) TCC record belongs to a final or unknown order;
//   - every order a client heard as final (txbench --ack-log files) is committed with that state;
//   - no order-side XA branch of the writer is left prepared (persistence/split_commit.hpp): after
//     a crash those await the engine's next start, and until then the committed data lacks them.
// Exit codes: 0 all hold, 1 a check failed, 2 bad usage, 3 MySQL could not be read.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "persistence/audit.hpp"
#include "apps/mysql_cli.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/split_commit.hpp"

using namespace txengine::persistence;
namespace cli = txengine::cli;

namespace {

struct options {
  mysql_endpoint endpoint = endpoint_from_environment();
  shard_layout layout;
  std::vector<std::string> ack_logs;
  double wait_final_s = 0;
  bool json = false;
};

void add_options(CLI::App& app, options& o) {
  cli::add_mysql_endpoint(app, o.endpoint,
                          "the server, mysql://USER:PASSWORD@HOST:PORT (default: TXENGINE_MYSQL_URI or the private "
                          "server)");
  app.add_option("--db-prefix,--prefix", o.layout.prefix, "databases P_0 .. P_<D-1>")->capture_default_str()->type_name("P");
  cli::add_number(app, "--databases", o.layout.databases, "wallet id mod D picks the database", 1);
  cli::add_number(app, "--tables", o.layout.tables, "wallet id mod T picks the table", 1);
  app.add_option("--acks", o.ack_logs,
                 "a txbench --ack-log: every line's order must be committed with the final state the client heard "
                 "(repeatable)")
      ->type_name("FILE");
  cli::add_real(app, "--wait-final", o.wait_final_s,
                "wait up to this many seconds for every order to be final (a restarted engine resuming its orders); "
                "0: check once",
                0);
  app.add_flag("--json", o.json, "the result as one JSON object");
  app.footer("exit: 0 every check holds, 1 a check failed, 2 usage, 3 MySQL could not be read");
}

struct ack {
  std::string request_id;
  uint64_t order = 0;
  int state = 0;
};

struct findings {
  uint64_t orders = 0, open_orders = 0, acks = 0, acks_missing = 0, acks_wrong_state = 0, duplicate_request_ids = 0,
           duplicate_movements = 0, stale_tcc = 0, prepared_branches = 0;
  std::vector<std::string> problems;
  void add(std::string p) {
    if (problems.size() < 20) problems.push_back(std::move(p));
  }
};

//! Rows of the open_orders side tables (migration 0006): cheap to poll while the engine
//! finishes; count_open_orders (a scan of every order row) is what the audit reports.
uint64_t count_open_side_rows(mysql_connection& conn, const shard_layout& layout) {
  uint64_t open = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      open += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + layout.table_at("open_orders", d, t)));
  return open;
}

//! Orders not final, read from the order rows themselves (no index: a full scan, once).
uint64_t count_open_orders(mysql_connection& conn, const shard_layout& layout, findings* f) {
  uint64_t open = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d)) {
      const std::string orders = layout.table_at("orders", d, t);
      open += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + orders + " WHERE is_final = 0"));
      if (f) {
        auto rs = conn.query("SELECT id, state, kind, attempts FROM " + orders + " WHERE is_final = 0 LIMIT 5");
        while (rs->next())
          f->add("order " + std::to_string(rs->getUInt64(1)) + " is not final (state " +
                 std::to_string(rs->getInt(2)) + ", kind " + std::to_string(rs->getInt(3)) + ")");
      }
    }
  return open;
}

bool read_acks(const std::string& path, std::vector<ack>& out) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  char id[256];
  unsigned long long order = 0;
  long long amount = 0;
  int state = 0;
  while (std::fscanf(f, "%255s %llu %lld %d", id, &order, &amount, &state) == 4) out.push_back(ack{id, order, state});
  std::fclose(f);
  return true;
}

//! What the checks found, for the report.
struct result {
  findings f;
  audit_report ledger;
  double waited_s = 0;
};

//! 1. Every order final: a restarted engine drives what it resumed to a final state.
void check_final(mysql_connection& conn, const options& o, result& r) {
  findings& f = r.f;
  double& waited_s = r.waited_s;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(o.wait_final_s);
  for (;;) {
    if (count_open_side_rows(conn, o.layout) == 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling a condition, bounded by the deadline
  }
  waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The order rows decide (the ledger audit below checks the side table against them).
  f.open_orders = count_open_orders(conn, o.layout, nullptr);
  if (f.open_orders) count_open_orders(conn, o.layout, &f);
}

//! Prepared branches of this prefix: the batches they belong to are decided (committed) or
//! not only once the engine starts again and settles them.
void check_prepared(const options& o, findings& f) {
  bulk_connection xa(o.endpoint);
  f.prepared_branches = prepared_branches(xa, xa_branch_prefix(o.layout.prefix));
  if (f.prepared_branches > 0)
    f.add(std::to_string(f.prepared_branches) +
          " order-side branches are prepared, not settled: start the engine once (it commits the decided "
          "ones and rolls back the others), then audit");
}

//! Request ids used once, movements applied once; fills `state_by_order`.
void check_orders(mysql_connection& conn, const options& o, findings& f,
                  std::unordered_map<uint64_t, std::pair<int, std::string>>& state_by_order) {
  std::unordered_set<std::string> request_ids;
  for (uint32_t d = 0; d < o.layout.databases; ++d)
    for (uint32_t t : o.layout.tables_in(d)) {
      auto rs = conn.query("SELECT id, tenant, request_id, state, is_final FROM " + o.layout.table_at("orders", d, t));
      while (rs->next()) {
        ++f.orders;
        uint64_t id = rs->getUInt64(1);
        std::string rid = std::to_string(rs->getUInt(2)) + "/" + std::string(rs->getString(3));
        if (!request_ids.insert(rid).second) {
          ++f.duplicate_request_ids;
          f.add("request id " + rid + " belongs to more than one order (one is " + std::to_string(id) + ")");
        }
        state_by_order[id] = {rs->getInt(5) ? rs->getInt(4) : -1, std::string(rs->getString(3))};
      }
      // Per wallet and order at most one try, one confirm, one cancel, one one-step change; a
      // phase-4 row (try and confirm stored together) counts as a try and as a confirm.
      auto dup = conn.query(
          "SELECT wallet_id, order_id, tries, confirms, cancels, directs FROM (SELECT wallet_id, order_id, "
          "CAST(SUM(phase IN (0,4)) AS UNSIGNED) tries, CAST(SUM(phase IN (1,4)) AS UNSIGNED) confirms, "
          "CAST(SUM(phase=2) AS UNSIGNED) cancels, CAST(SUM(phase=3) AS UNSIGNED) directs FROM " +
          o.layout.table_at("fund_movements", d, t) +
          " GROUP BY wallet_id, order_id) x WHERE tries > 1 OR confirms > 1 OR cancels > 1 OR directs > 1");
      while (dup->next()) {
        ++f.duplicate_movements;
        f.add("wallet " + std::to_string(dup->getUInt64(1)) + " has movements of order " +
              std::to_string(dup->getUInt64(2)) + " applied more than once (tries " +
              std::to_string(dup->getUInt64(3)) + ", confirms " + std::to_string(dup->getUInt64(4)) + ", cancels " +
              std::to_string(dup->getUInt64(5)) + ", one-step " + std::to_string(dup->getUInt64(6)) + ")");
      }
    }
}

//! An open TCC record (tried) of a final order would hold its wallet's funds forever.
void check_tcc(mysql_connection& conn, const options& o, findings& f,
               const std::unordered_map<uint64_t, std::pair<int, std::string>>& state_by_order) {
  for (uint32_t d = 0; d < o.layout.databases; ++d)
    for (uint32_t t : o.layout.tables_in(d)) {
      auto rs = conn.query("SELECT wallet_id, order_id FROM " + o.layout.table_at("tcc_records", d, t) +
                           " WHERE state = 0 AND try_result = 0");
      while (rs->next()) {
        auto it = state_by_order.find(rs->getUInt64(2));
        if (it == state_by_order.end() || it->second.first != -1) {
          ++f.stale_tcc;
          f.add("wallet " + std::to_string(rs->getUInt64(1)) + " holds an open TCC record of order " +
                std::to_string(rs->getUInt64(2)) + (it == state_by_order.end() ? " (no such order)" : " (final)"));
        }
      }
    }
}

//! Every acknowledged order committed with the state the client heard.
void check_acks(const std::vector<ack>& acks, findings& f,
                const std::unordered_map<uint64_t, std::pair<int, std::string>>& state_by_order) {
  for (const auto& a : acks) {
    ++f.acks;
    auto it = state_by_order.find(a.order);
    if (it == state_by_order.end()) {
      ++f.acks_missing;
      f.add("acknowledged order " + std::to_string(a.order) + " (" + a.request_id + ") is not committed");
    } else if (it->second.first != a.state || it->second.second != a.request_id) {
      ++f.acks_wrong_state;
      f.add("acknowledged order " + std::to_string(a.order) + " (" + a.request_id + ", state " +
            std::to_string(a.state) + ") is committed as state " + std::to_string(it->second.first) +
            " (-1: not final), request id " + it->second.second);
    }
  }
}

void run_checks(const options& o, const std::vector<ack>& acks, result& r) {
  mysql_connection conn(o.endpoint);
  check_final(conn, o, r);
  check_prepared(o, r.f);
  audit_options ao;
  ao.orders_zero_sum = r.f.open_orders == 0;  // a mid-phase order legitimately does not sum to zero
  r.ledger = audit(conn, o.layout, ao);
  std::unordered_map<uint64_t, std::pair<int, std::string>> state_by_order;  // id -> (state, request id)
  check_orders(conn, o, r.f, state_by_order);
  check_tcc(conn, o, r.f, state_by_order);
  check_acks(acks, r.f, state_by_order);
}

//! Prints the result; true when every check holds.
bool report(const options& o, const result& r) {
  const findings& f = r.f;
  const audit_report& ledger = r.ledger;
  double waited_s = r.waited_s;
  bool ok = ledger.ok && f.open_orders == 0 && f.duplicate_request_ids == 0 && f.duplicate_movements == 0 &&
            f.stale_tcc == 0 && f.acks_missing == 0 && f.acks_wrong_state == 0 && f.prepared_branches == 0;
  if (o.json) {
    std::string sums;
    for (const auto& [cur, sum] : ledger.sum_by_currency)
      sums += (sums.empty() ? "\"" : ",\"") + cur + "\":" + std::to_string(sum);
    std::printf("{\"ok\":%s,\"orders\":%" PRIu64 ",\"open_orders\":%" PRIu64 ",\"waited_s\":%.1f,\"wallets\":%" PRIu64
                ",\"movements\":%" PRIu64 ",\"ledger_ok\":%s,\"ledger_problems\":%" PRIu64 ",\"sums\":{%s}"
                ",\"duplicate_request_ids\":%" PRIu64 ",\"duplicate_movements\":%" PRIu64 ",\"stale_tcc\":%" PRIu64
                ",\"acks\":%" PRIu64
                ",\"acks_missing\":%" PRIu64 ",\"acks_wrong_state\":%" PRIu64 "}\n",
                ok ? "true" : "false", f.orders, f.open_orders, waited_s, ledger.wallets, ledger.movements,
                ledger.ok ? "true" : "false", ledger.problem_count, sums.c_str(), f.duplicate_request_ids,
                f.duplicate_movements, f.stale_tcc, f.acks, f.acks_missing, f.acks_wrong_state);
  } else {
    std::printf("txaudit %s: %" PRIu64 " orders (%" PRIu64 " not final after %.1f s), %" PRIu64
                " acknowledged checked (%" PRIu64 " missing, %" PRIu64 " with another state), %" PRIu64
                " duplicate request ids, %" PRIu64 " duplicate movements, %" PRIu64 " open TCC records of final orders\n",
                ok ? "ok" : "FAILED", f.orders, f.open_orders, waited_s, f.acks, f.acks_missing, f.acks_wrong_state,
                f.duplicate_request_ids, f.duplicate_movements, f.stale_tcc);
    std::printf("ledger %s\n", ledger.summary().c_str());
  }
  for (const auto& p : f.problems) std::fprintf(o.json ? stderr : stdout, "  %s\n", p.c_str());
  if (o.json && !ledger.ok) std::fprintf(stderr, "ledger %s\n", ledger.summary().c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"txaudit: read-only checks of what an engine committed in MySQL", "txaudit"};
  options o;
  add_options(app, o);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  std::string error;
  if (!o.layout.valid(&error)) {
    std::fprintf(stderr, "txaudit: %s\n", error.c_str());
    return 2;
  }
  std::vector<ack> acks;
  for (const auto& path : o.ack_logs)
    if (!read_acks(path, acks)) {
      std::fprintf(stderr, "txaudit: cannot read %s\n", path.c_str());
      return 2;
    }
  mysql_thread_scope scope;
  result r;
  try {
    run_checks(o, acks, r);
  } catch (const sql::SQLException& e) {
    std::fprintf(stderr, "txaudit: MySQL %s: %s (error %d)\n", o.endpoint.describe().c_str(), e.what(),
                 e.getErrorCode());
    return 3;
  }
  return report(o, r) ? 0 : 1;
}
