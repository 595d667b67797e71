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
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "persistence/audit.hpp"
#include "apps/mysql_cli.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/shard_scan.hpp"
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
  //! Shards read at once (persistence/shard_scan.hpp); 0: one per core.
  size_t connections = 0;
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
  cli::add_number(app, "--connections", o.connections,
                  "shards (or wallet ranges of a shard) read at once, each on its own connection; 0: one per core", 0,
                  256);
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

//! Orders not final, read from the order rows themselves (no index: a full scan of every shard,
//! the shards in parallel); with `f`, the first few of each shard are described.
uint64_t count_open_orders(const options& o, findings* f) {
  std::vector<uint64_t> open(shard_tables(o.layout).size());
  std::vector<std::vector<std::string>> described(open.size());
  for_each_shard(o.endpoint, o.layout, o.connections, [&](bulk_connection& c, uint32_t d, uint32_t t, size_t i) {
    const std::string orders = o.layout.table_at("orders", d, t);
    open[i] = static_cast<uint64_t>(c.query_int("SELECT COUNT(*) FROM " + orders + " WHERE is_final = 0"));
    if (f && open[i] > 0)
      c.stream_rows("SELECT id, state, kind FROM " + orders + " WHERE is_final = 0 LIMIT 5", [&](const row_view& row) {
        described[i].push_back("order " + std::to_string(row.u(0)) + " is not final (state " +
                               std::to_string(row.i(1)) + ", kind " + std::to_string(row.i(2)) + ")");
      });
  });
  uint64_t total = 0;
  for (size_t i = 0; i < open.size(); ++i) {
    total += open[i];
    if (f)
      for (auto& text : described[i]) f->add(std::move(text));
  }
  return total;
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

//! 1. Every order final: a restarted engine drives what it resumed to a final state. Waits
//! (bounded) for the side tables to empty; the audit then counts the order rows themselves.
void wait_final(mysql_connection& conn, const options& o, result& r) {
  double& waited_s = r.waited_s;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(o.wait_final_s);
  for (;;) {
    if (count_open_side_rows(conn, o.layout) == 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling a condition, bounded by the deadline
  }
  waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

//! Prepared branches of this prefix: the batches they belong to are decided (committed) or
//! not only once the engine starts again and settles them.
void check_prepared(const options& o, findings& f) {
  bulk_connection xa(o.endpoint);
  // A single node's branches, and every cluster node's (docs/cluster.md).
  f.prepared_branches = prepared_branches(xa, xa_branch_prefix(o.layout.prefix));
  for (uint32_t node = 1; node < 64; ++node)
    f.prepared_branches += prepared_branches(xa, xa_branch_prefix(o.layout.prefix, node));
  if (f.prepared_branches > 0)
    f.add(std::to_string(f.prepared_branches) +
          " order-side branches are prepared, not settled: start the engine once (it commits the decided "
          "ones and rolls back the others), then audit");
}

//! An open (tried) TCC record of a wallet: (wallet, order).
using tcc_record = std::pair<uint64_t, uint64_t>;

std::vector<tcc_record> open_tcc_records(const options& o) {
  std::vector<std::vector<tcc_record>> parts(shard_tables(o.layout).size());
  for_each_shard(o.endpoint, o.layout, o.connections, [&](bulk_connection& c, uint32_t d, uint32_t t, size_t i) {
    c.stream_rows("SELECT wallet_id, order_id FROM " + o.layout.table_at("tcc_records", d, t) +
                      " WHERE state = 0 AND try_result = 0",
                  [&](const row_view& row) { parts[i].emplace_back(row.u(0), row.u(1)); });
  });
  std::vector<tcc_record> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

//! What one streamed pass over the order rows (every shard, in parallel) keeps.
struct order_scan {
  uint64_t orders = 0;
  //! (hash of tenant and request id, order), when asked for: duplicates show as equal hashes.
  std::vector<std::pair<uint64_t, uint64_t>> request_keys;
  //! order -> (final state or -1 when not final, request id), for the orders asked for only.
  std::unordered_map<uint64_t, std::pair<int, std::string>> state_by_order;
  //! order -> "tenant/request id", for the orders asked for only.
  std::unordered_map<uint64_t, std::string> request_by_order;
};

uint64_t request_hash(uint64_t tenant, std::string_view request_id) {
  std::string key = std::to_string(tenant) + "/";
  key += request_id;
  return std::hash<std::string>{}(key);
}

//! Keeps of one order row what the checks need: 16 bytes per order (the request key) plus the
//! orders in `wanted`. 20 million orders held as maps of strings took gigabytes.
void keep(order_scan& p, const audited_order& order, const std::unordered_set<uint64_t>& wanted, bool request_keys) {
  ++p.orders;
  if (request_keys) p.request_keys.emplace_back(request_hash(order.tenant, order.request_id), order.id);
  if (wanted.count(order.id) == 0) return;
  p.state_by_order[order.id] = {order.final ? order.state : -1, std::string(order.request_id)};
  p.request_by_order[order.id] = std::to_string(order.tenant) + "/" + std::string(order.request_id);
}

order_scan merge(std::vector<order_scan>& parts) {
  order_scan all;
  for (auto& p : parts) {
    all.orders += p.orders;
    all.request_keys.insert(all.request_keys.end(), p.request_keys.begin(), p.request_keys.end());
    p.request_keys = {};
    all.state_by_order.merge(p.state_by_order);
    all.request_by_order.merge(p.request_by_order);
  }
  return all;
}

//! A pass of its own over every order row (shards in parallel), keeping the orders in `wanted`.
order_scan scan_orders(const options& o, const std::unordered_set<uint64_t>& wanted) {
  std::vector<order_scan> parts(shard_tables(o.layout).size());
  for_each_shard(o.endpoint, o.layout, o.connections, [&](bulk_connection& c, uint32_t d, uint32_t t, size_t i) {
    c.stream_rows("SELECT id, tenant, request_id, state, is_final FROM " + o.layout.table_at("orders", d, t),
                  [&](const row_view& row) {
                    keep(parts[i],
                         audited_order{row.u(0), static_cast<uint32_t>(row.u(1)), row.text(2),
                                       static_cast<int>(row.i(3)), row.i(4) != 0},
                         wanted, false);
                  });
  });
  return merge(parts);
}

//! Request ids used once: orders with equal hashes are read again and compared in full (a
//! 64-bit hash collision is not a duplicate).
void check_request_ids(const options& o, std::vector<std::pair<uint64_t, uint64_t>>& keys, findings& f) {
  std::sort(keys.begin(), keys.end());
  std::unordered_set<uint64_t> suspects;
  for (size_t i = 1; i < keys.size(); ++i)
    if (keys[i].first == keys[i - 1].first) {
      suspects.insert(keys[i].second);
      suspects.insert(keys[i - 1].second);
    }
  keys = {};
  if (suspects.empty()) return;
  order_scan again = scan_orders(o, suspects);
  std::unordered_map<std::string, uint64_t> first_of;
  std::vector<uint64_t> ids(suspects.begin(), suspects.end());
  std::sort(ids.begin(), ids.end());
  for (uint64_t id : ids) {
    auto found = again.request_by_order.find(id);
    if (found == again.request_by_order.end()) continue;  // gone since the first pass
    auto [it, fresh] = first_of.emplace(found->second, id);
    if (!fresh) {
      ++f.duplicate_request_ids;
      f.add("request id " + found->second + " belongs to more than one order (" + std::to_string(it->second) +
            " and " + std::to_string(id) + ")");
    }
  }
}

//! An open TCC record (tried) of a final order would hold its wallet's funds forever.
void check_tcc(const std::vector<tcc_record>& open, findings& f,
               const std::unordered_map<uint64_t, std::pair<int, std::string>>& state_by_order) {
  for (const auto& [wallet, order] : open) {
    auto it = state_by_order.find(order);
    if (it == state_by_order.end() || it->second.first != -1) {
      ++f.stale_tcc;
      f.add("wallet " + std::to_string(wallet) + " holds an open TCC record of order " + std::to_string(order) +
            (it == state_by_order.end() ? " (no such order)" : " (final)"));
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
  wait_final(conn, o, r);
  check_prepared(o, r.f);
  // The orders needed in full: acknowledged ones and those of open TCC records; every other
  // order row only as its request key, taken from the audit's own pass over the order rows.
  std::vector<tcc_record> open = open_tcc_records(o);
  std::unordered_set<uint64_t> wanted;
  for (const auto& a : acks) wanted.insert(a.order);
  for (const auto& rec : open) wanted.insert(rec.second);
  std::vector<order_scan> parts(shard_tables(o.layout).size());
  audit_options ao;
  ao.connections = o.connections;
  ao.on_order = [&](size_t table, const audited_order& order) { keep(parts[table], order, wanted, true); };
  r.ledger = audit(o.endpoint, o.layout, ao);
  r.f.duplicate_movements = r.ledger.duplicate_movements;  // the ledger audit checks them (and lists them)
  // The order rows decide (the ledger audit checks the side table against them); the few not
  // final are described with a second scan, only when there are any.
  r.f.open_orders = r.ledger.orders_not_final;
  if (r.f.open_orders > 0) count_open_orders(o, &r.f);
  order_scan orders = merge(parts);
  r.f.orders = orders.orders;
  check_request_ids(o, orders.request_keys, r.f);
  check_tcc(open, r.f, orders.state_by_order);
  check_acks(acks, r.f, orders.state_by_order);
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
