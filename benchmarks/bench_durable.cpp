// bench_durable: durable throughput on MariaDB. Issue 4 compares the engine (write-behind group
// commit) with the classic design of seed 000 on the same server; this build has the BASELINE
// HALF ONLY, the classic row-lock design:
//
//   one MySQL transaction per order:
//     INSERT the request id (idempotency; a duplicate is answered from it)
//     SELECT ... FOR UPDATE each wallet of the order, in wallet id order (no deadlocks)
//     check status and balance
//     UPDATE each wallet, INSERT one fund movement per wallet (with the resulting balances)
//     INSERT the order in its final state
//     COMMIT (innodb_flush_log_at_trx_commit = 1: durable when acknowledged)
//   run by a pool of worker threads, one connection each.
//
// Workloads (the same as bench_engine): transfer_uniform (transfers among W wallets chosen
// uniformly) and pay_hot_wallet (payments from W payers into one merchant wallet). Wallets are
// seeded by bulk inserts, funded by a system wallet, so the sum of all balances is zero. After
// each workload the committed data is audited (persistence/audit.hpp): sums per currency are
// zero, every wallet equals its fund movements, every order's movements sum to zero, and every
// order is recorded. The exit status is non-zero when an audit fails.
//
// Usage: bench_durable [--orders N] [--wallets W] [--threads C] [--databases D] [--tables T]
//                      [--prefix NAME] [--mysql URI] [--workload NAME] [--json]
//                      [--inject-violation]   (tests: corrupts one balance before the audit, which must fail)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"

using namespace txengine;
using namespace txengine::persistence;

namespace {

constexpr uint32_t bench_tenant = 1;
constexpr uint64_t system_wallet = 1;
constexpr int64_t initial_balance = 1'000'000'000;
constexpr uint8_t phase_direct = 3;        // fund_movements.phase of a one-step change
constexpr uint8_t state_succeeded = 5;     // order_state::succeeded
constexpr uint8_t state_failed = 6;        // order_state::failed
constexpr uint16_t insufficient_funds = 25;  // result_code::insufficient_funds
constexpr int max_attempts = 20;

struct options {
  uint64_t orders = 50'000;
  uint64_t wallets = 100'000;
  uint32_t threads = 32;
  shard_layout layout;
  mysql_endpoint endpoint = endpoint_from_environment();
  std::string only;
  bool json = false;
  bool inject_violation = false;  //!< test of the audit: a cent out of nowhere before it runs
};

struct result {
  std::string name;
  uint64_t orders = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t retries = 0;
  double seconds = 0;
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  bool audit_ok = false;
  std::string audit_summary;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Wallet ids: 1 the system wallet, 2..W+1 users, W+2 the merchant.
struct order_spec {
  uint64_t id;
  uint64_t source;
  uint64_t destination;
  int64_t amount;
  uint8_t kind;  // order_kind: 1 pay, 3 transfer
};

order_spec make_order(const std::string& workload, uint64_t sequence, uint64_t wallets) {
  uint64_t r = splitmix(sequence * 2654435761u + 17);
  order_spec o;
  o.id = sequence + 1;
  o.amount = 1 + static_cast<int64_t>(r % 100);
  uint64_t a = (r >> 8) % wallets;
  if (workload == "transfer_uniform") {
    uint64_t b = (a + 1 + (r >> 32) % (wallets - 1)) % wallets;
    o.source = 2 + a;
    o.destination = 2 + b;
    o.kind = 3;
  } else {
    o.source = 2 + a;
    o.destination = wallets + 2;
    o.kind = 1;
  }
  return o;
}

//! Prepared statements of one connection, per SQL text (table names are part of the text).
class statement_cache {
 public:
  explicit statement_cache(mysql_connection& conn) : conn_(conn) {}
  sql::PreparedStatement& get(const std::string& sql) {
    auto& slot = cache_[sql];
    if (!slot) slot = conn_.prepare(sql);
    return *slot;
  }

 private:
  mysql_connection& conn_;
  std::unordered_map<std::string, std::unique_ptr<sql::PreparedStatement>> cache_;
};

struct locked_wallet {
  uint64_t id;
  int64_t amount;  // signed change of available
  int64_t available = 0, frozen = 0, incoming = 0, overdraft_limit = 0;
  uint64_t version = 0;
  int status = 0;
};

//! One order as one transaction. Returns true when the order succeeded, false when it failed a
//! business check; throws sql::SQLException on a database error (the caller rolls back).
bool run_order(mysql_connection& conn, statement_cache& stmts, const shard_layout& layout, const std::string& workload,
               const order_spec& o) {
  const int64_t now = now_ms();
  const std::string request_id = workload.substr(0, 1) + "-" + std::to_string(o.id);
  conn.begin();
  {
    uint64_t key = shard_layout::request_key(bench_tenant, request_id);
    auto& s = stmts.get("INSERT INTO " + layout.table_for("request_ids", key) +
                        " (tenant, request_id, order_id, content_hash, created_ms) VALUES (?, ?, ?, ?, ?)");
    s.setUInt(1, bench_tenant);
    s.setString(2, request_id);
    s.setUInt64(3, o.id);
    s.setUInt64(4, splitmix(o.source ^ (o.destination << 20) ^ static_cast<uint64_t>(o.amount) << 44));
    s.setInt64(5, now);
    s.executeUpdate();
  }
  locked_wallet w[2] = {{o.source, -o.amount}, {o.destination, o.amount}};
  if (w[1].id < w[0].id) std::swap(w[0], w[1]);
  for (auto& lw : w) {
    auto& s = stmts.get("SELECT available, frozen, incoming, overdraft_limit, version, status FROM " +
                        layout.table_for("wallets", lw.id) + " WHERE id = ? FOR UPDATE");
    s.setUInt64(1, lw.id);
    std::unique_ptr<sql::ResultSet> rs(s.executeQuery());
    if (!rs->next()) throw std::runtime_error("wallet " + std::to_string(lw.id) + " does not exist");
    lw.available = rs->getInt64(1);
    lw.frozen = rs->getInt64(2);
    lw.incoming = rs->getInt64(3);
    lw.overdraft_limit = rs->getInt64(4);
    lw.version = rs->getUInt64(5);
    lw.status = rs->getInt(6);
  }
  bool ok = true;
  for (const auto& lw : w) {
    if (lw.amount < 0 && (lw.status != 0 || lw.available + lw.amount < -lw.overdraft_limit)) ok = false;
    if (lw.amount > 0 && lw.status == 2) ok = false;
  }
  if (ok) {
    for (auto& lw : w) {
      lw.available += lw.amount;
      ++lw.version;
      auto& u = stmts.get("UPDATE " + layout.table_for("wallets", lw.id) +
                          " SET available = ?, version = ?, updated_ms = ? WHERE id = ?");
      u.setInt64(1, lw.available);
      u.setUInt64(2, lw.version);
      u.setInt64(3, now);
      u.setUInt64(4, lw.id);
      u.executeUpdate();
      auto& m = stmts.get("INSERT INTO " + layout.table_for("fund_movements", lw.id) +
                          " (wallet_id, seq, order_id, phase, d_available, d_frozen, d_incoming, available_after, "
                          "frozen_after, incoming_after, at_ms) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)");
      m.setUInt64(1, lw.id);
      m.setUInt64(2, lw.version);
      m.setUInt64(3, o.id);
      m.setUInt(4, phase_direct);
      m.setInt64(5, lw.amount);
      m.setInt64(6, lw.available);
      m.setInt64(7, lw.frozen);
      m.setInt64(8, lw.incoming);
      m.setInt64(9, now);
      m.executeUpdate();
    }
  }
  {
    auto& s = stmts.get("INSERT INTO " + layout.table_for("orders", o.source) +
                        " (id, tenant, request_id, kind, state, is_final, result_code, currency, amount, "
                        "confirmed_amount, source, destination, legs, attempts, created_ms, updated_ms, final_ms) "
                        "VALUES (?, ?, ?, ?, ?, 1, ?, 'USD', ?, ?, ?, ?, ?, 1, ?, ?, ?)");
    std::string legs = "[{\"w\":" + std::to_string(o.source) + ",\"amount\":" + std::to_string(-o.amount) +
                       "},{\"w\":" + std::to_string(o.destination) + ",\"amount\":" + std::to_string(o.amount) + "}]";
    s.setUInt64(1, o.id);
    s.setUInt(2, bench_tenant);
    s.setString(3, request_id);
    s.setUInt(4, o.kind);
    s.setUInt(5, ok ? state_succeeded : state_failed);
    s.setUInt(6, ok ? 0 : insufficient_funds);
    s.setInt64(7, o.amount);
    s.setInt64(8, ok ? o.amount : 0);
    s.setUInt64(9, o.source);
    s.setUInt64(10, o.destination);
    s.setString(11, legs);
    s.setInt64(12, now);
    s.setInt64(13, now);
    s.setInt64(14, now);
    s.executeUpdate();
  }
  conn.commit();
  return ok;
}

//! Fresh schema and wallets: users funded by the system wallet, one empty merchant.
void seed(mysql_connection& conn, const options& opt) {
  drop_schema(conn, opt.layout);
  apply_schema(conn, opt.layout);
  const int64_t now = now_ms();
  struct batch {
    std::string wallets, movements;
    size_t rows = 0;
  };
  std::unordered_map<std::string, batch> batches;  // by "d.t"
  auto flush = [&](const std::string& key, batch& b) {
    if (b.rows == 0) return;
    auto dot = key.find('.');
    uint32_t d = static_cast<uint32_t>(std::stoul(key.substr(0, dot)));
    uint32_t t = static_cast<uint32_t>(std::stoul(key.substr(dot + 1)));
    conn.execute("INSERT INTO " + opt.layout.table_at("wallets", d, t) +
                 " (id, tenant, currency, kind, status, overdraft_limit, available, frozen, incoming, version, "
                 "created_ms, updated_ms) VALUES " +
                 b.wallets);
    if (!b.movements.empty())
      conn.execute("INSERT INTO " + opt.layout.table_at("fund_movements", d, t) +
                   " (wallet_id, seq, order_id, phase, d_available, d_frozen, d_incoming, available_after, "
                   "frozen_after, incoming_after, at_ms) VALUES " +
                   b.movements);
    b = batch{};
  };
  auto add = [&](uint64_t id, int kind, int64_t available) {
    std::string key = std::to_string(opt.layout.database_of(id)) + "." + std::to_string(opt.layout.table_of(id));
    batch& b = batches[key];
    const std::string n = std::to_string(now);
    if (b.rows) b.wallets += ",";
    b.wallets += "(" + std::to_string(id) + "," + std::to_string(bench_tenant) + ",'USD'," + std::to_string(kind) +
                 ",0,0," + std::to_string(available) + ",0,0," + (available ? "1" : "0") + "," + n + "," + n + ")";
    if (available) {
      if (!b.movements.empty()) b.movements += ",";
      b.movements += "(" + std::to_string(id) + ",1,0," + std::to_string(phase_direct) + "," +
                     std::to_string(available) + ",0,0," + std::to_string(available) + ",0,0," + n + ")";
    }
    if (++b.rows == 1000) flush(key, b);
  };
  conn.begin();
  add(system_wallet, 2, -initial_balance * static_cast<int64_t>(opt.wallets));
  for (uint64_t i = 0; i < opt.wallets; ++i) add(2 + i, 0, initial_balance);
  add(opt.wallets + 2, 1, 0);
  for (auto& [key, b] : batches) flush(key, b);
  conn.commit();
  conn.set_autocommit(true);
}

double percentile(std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i];
}

result run_workload(const std::string& name, const options& opt) {
  result r;
  r.name = name;
  r.orders = opt.orders;
  mysql_connection admin(opt.endpoint);
  auto seed_started = std::chrono::steady_clock::now();
  seed(admin, opt);
  if (!opt.json)
    std::fprintf(stderr, "%s: seeded %llu wallets in %.1f s\n", name.c_str(), (unsigned long long)opt.wallets,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_started).count());

  std::atomic<uint64_t> next{0}, succeeded{0}, failed{0}, retries{0};
  std::atomic<bool> broken{false};
  std::string error;
  std::mutex error_mutex;
  std::vector<std::vector<uint32_t>> latencies(opt.threads);
  // Connect every worker first, so the timed part measures orders only.
  std::vector<std::unique_ptr<mysql_connection>> connections;
  for (uint32_t i = 0; i < opt.threads; ++i) connections.push_back(std::make_unique<mysql_connection>(opt.endpoint));
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (uint32_t i = 0; i < opt.threads; ++i) {
    workers.emplace_back([&, i] {
      mysql_thread_scope scope;
      mysql_connection& conn = *connections[i];
      statement_cache stmts(conn);
      auto& lat = latencies[i];
      lat.reserve(opt.orders / opt.threads + 16);
      for (;;) {
        uint64_t sequence = next.fetch_add(1);
        if (sequence >= opt.orders || broken) return;
        order_spec o = make_order(name, sequence, opt.wallets);
        auto t0 = std::chrono::steady_clock::now();
        for (int attempt = 1;; ++attempt) {
          try {
            (run_order(conn, stmts, opt.layout, name, o) ? succeeded : failed)++;
            break;
          } catch (const sql::SQLException& e) {
            conn.rollback();
            if (is_transient(e) && attempt < max_attempts) {
              ++retries;
              continue;
            }
            std::lock_guard<std::mutex> guard(error_mutex);
            error = "order " + std::to_string(o.id) + ": MySQL error " + std::to_string(e.getErrorCode()) + ": " +
                    e.what();
            broken = true;
            return;
          } catch (const std::exception& e) {
            conn.rollback();
            std::lock_guard<std::mutex> guard(error_mutex);
            error = "order " + std::to_string(o.id) + ": " + e.what();
            broken = true;
            return;
          }
        }
        lat.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count()));
      }
    });
  }
  for (auto& t : workers) t.join();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  connections.clear();
  if (broken) throw std::runtime_error(name + ": " + error);
  std::vector<uint32_t> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  r.succeeded = succeeded;
  r.failed = failed;
  r.retries = retries;
  r.ops_per_s = static_cast<double>(opt.orders) / r.seconds;
  r.p50_us = percentile(all, 0.50);
  r.p99_us = percentile(all, 0.99);

  if (opt.inject_violation)
    admin.execute("UPDATE " + opt.layout.table_for("wallets", 2) + " SET available = available + 1 WHERE id = 2");
  audit_report a = audit(admin, opt.layout);
  std::string extra;
  if (a.orders != opt.orders) extra += "; " + std::to_string(a.orders) + " order rows, expected " + std::to_string(opt.orders);
  uint64_t expected_movements = opt.wallets + 1 + 2 * r.succeeded;
  if (a.movements != expected_movements)
    extra += "; " + std::to_string(a.movements) + " movements, expected " + std::to_string(expected_movements);
  r.audit_ok = a.ok && extra.empty();
  r.audit_summary = a.summary() + extra;
  if (!r.audit_ok) std::fprintf(stderr, "%s: AUDIT FAILED: %s\n", name.c_str(), r.audit_summary.c_str());
  return r;
}

bool parse_u64(const char* text, uint64_t& out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (!*text || *end) return false;
  out = v;
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_durable [--orders N] [--wallets W] [--threads C] [--databases D] [--tables T]\n"
               "                     [--prefix NAME] [--mysql URI] [--workload transfer_uniform|pay_hot_wallet] [--json]\n"
               "  default: 50000 orders per workload, 100000 wallets, 32 threads, 1x1 shards, prefix txbench,\n"
               "  the private server of scripts/mariadb.sh (TXENGINE_MYSQL_URI overrides). The databases\n"
               "  <prefix>_0.. are dropped and recreated for every workload.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  opt.layout.prefix = "txbench";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    uint64_t v = 0;
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--json") {
      opt.json = true;
    } else if (arg == "--inject-violation") {
      opt.inject_violation = true;
    } else if (arg == "--orders" || arg == "--wallets" || arg == "--threads" || arg == "--databases" ||
               arg == "--tables") {
      const char* text = value();
      if (!text || !parse_u64(text, v) || v == 0) return usage();
      if (arg == "--orders") opt.orders = v;
      if (arg == "--wallets") opt.wallets = v;
      if (arg == "--threads") opt.threads = static_cast<uint32_t>(std::min<uint64_t>(v, 1000));
      if (arg == "--databases") opt.layout.databases = static_cast<uint32_t>(std::min<uint64_t>(v, 1u << 20));
      if (arg == "--tables") opt.layout.tables = static_cast<uint32_t>(std::min<uint64_t>(v, 1u << 20));
    } else if (arg == "--prefix") {
      const char* text = value();
      if (!text) return usage();
      opt.layout.prefix = text;
    } else if (arg == "--mysql") {
      const char* text = value();
      std::string why;
      if (!text || !parse_mysql_uri(text, opt.endpoint, &why)) {
        std::fprintf(stderr, "bench_durable: --mysql: %s\n", text ? why.c_str() : "missing URI");
        return 2;
      }
    } else if (arg == "--workload") {
      const char* text = value();
      if (!text) return usage();
      opt.only = text;
    } else {
      return usage();
    }
  }
  std::string why;
  if (!opt.layout.valid(&why)) {
    std::fprintf(stderr, "bench_durable: %s\n", why.c_str());
    return 2;
  }
  if (opt.wallets < 2) return usage();
  std::vector<std::string> names;
  for (const char* n : {"transfer_uniform", "pay_hot_wallet"})
    if (opt.only.empty() || opt.only == n) names.push_back(n);
  if (names.empty()) return usage();

  if (!opt.json)
    std::printf(
        "bench_durable: BASELINE ONLY (classic row-lock design of seed 000): one MySQL transaction per order,\n"
        "SELECT ... FOR UPDATE on the wallets in id order, balance check, updates, fund-movement inserts, commit.\n"
        "The engine half (write-behind group commit) is not built yet: ratio n/a.\n"
        "server %s, shards %ux%u, %u threads, %llu orders per workload, %llu wallets\n\n",
        opt.endpoint.describe().c_str(), opt.layout.databases, opt.layout.tables, opt.threads,
        (unsigned long long)opt.orders, (unsigned long long)opt.wallets);
  mysql_thread_scope scope;
  std::vector<result> results;
  bool all_ok = true;
  try {
    for (const auto& name : names) {
      results.push_back(run_workload(name, opt));
      const result& r = results.back();
      all_ok = all_ok && r.audit_ok;
      if (opt.json)
        std::printf(
            "{\"name\":\"%s\",\"design\":\"baseline_row_lock\",\"orders\":%llu,\"succeeded\":%llu,\"failed\":%llu,"
            "\"retries\":%llu,\"threads\":%u,\"ops_per_s\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
            "\"baseline_ops_per_s\":%.1f,\"ratio\":null,\"audit_ok\":%s}\n",
            r.name.c_str(), (unsigned long long)r.orders, (unsigned long long)r.succeeded,
            (unsigned long long)r.failed, (unsigned long long)r.retries, opt.threads, r.ops_per_s, r.p50_us, r.p99_us,
            r.ops_per_s, r.audit_ok ? "true" : "false");
      std::fflush(stdout);
    }
  } catch (const sql::SQLException& e) {
    std::fprintf(stderr, "bench_durable: MySQL error %d (%s) at %s: %s\n", e.getErrorCode(), e.getSQLStateCStr(),
                 opt.endpoint.describe().c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_durable: %s\n", e.what());
    return 1;
  }
  if (!opt.json) {
    std::printf("%-18s %-20s %9s %10s %10s %10s %8s %8s  %s\n", "workload", "design", "orders", "ops/s", "p50 us",
                "p99 us", "retries", "failed", "audit");
    for (const auto& r : results)
      std::printf("%-18s %-20s %9llu %10.0f %10.0f %10.0f %8llu %8llu  %s\n", r.name.c_str(), "baseline (row lock)",
                  (unsigned long long)r.orders, r.ops_per_s, r.p50_us, r.p99_us, (unsigned long long)r.retries,
                  (unsigned long long)r.failed, r.audit_ok ? "ok" : "FAILED");
    for (const auto& r : results) std::printf("audit %s: %s\n", r.name.c_str(), r.audit_summary.c_str());
  }
  return all_ok ? 0 : 1;
}
