// bench_durable: durable throughput on MariaDB. Issue 4 compares the engine (write-behind group
// commit, docs/durability-design.md) with the classic design of seed 000 on the same server, in
// the same run, on the same seeded data.
//
// The baseline, the classic row-lock design:
//   one MySQL transaction per order:
//     INSERT the request id (idempotency; a duplicate is answered from it)
//     SELECT ... FOR UPDATE each wallet of the order, in wallet id order (no deadlocks)
//     check status and balance
//     UPDATE each wallet, INSERT one fund movement per wallet (with the resulting balances)
//     INSERT the order in its final state
//     COMMIT (innodb_flush_log_at_trx_commit = 1: durable when acknowledged)
//   run by a pool of worker threads, one connection each.
//
// The engine: txengine with MySQL storage on the same freshly seeded databases (its wallets
// load lazily from MySQL on first use), driven closed-loop by the load driver with
// --concurrency orders outstanding; ack durable (a client hears the final state only after it
// is committed) and/or memory (--ack). ratio = engine ops/s / baseline ops/s of the same workload.
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
//                      [--ack durable|memory|both] [--concurrency N] [--cold] [--no-baseline] [--no-engine]
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
#include <ctime>
#include <unistd.h>
#include <vector>

#include "node/engine.hpp"
#include "apps/mysql_cli.hpp"
#include "apps/load_driver.hpp"
#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"
#include "benchmarks/mysql_bench_support.hpp"

using namespace txengine;
using namespace txengine::persistence;
using namespace txengine::bench;

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
  bool baseline = true;
  int64_t batch_latency_ms = -1;  //!< engine: storage_config::batch_latency_max_ms (-1: its default)
  bool single_connection = false;  //!< engine: storage_config::split_commit off
  bool cold = false;  //!< engine: wallets load lazily during the timed part (else all before it)
  std::vector<std::string> acks = {"durable"};  //!< engine runs, by ack mode (empty: no engine run)
  uint32_t concurrency = 2'000;                  //!< engine: orders outstanding (closed loop)
};

struct result {
  std::string name;
  std::string design = "baseline";  //!< "baseline" or "engine"
  std::string ack;                  //!< engine: "durable" or "memory"
  uint64_t orders = 0;
  uint32_t threads = 0;  //!< baseline: worker threads
  uint64_t refused = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t retries = 0;
  double seconds = 0;
  double client_cpu_us = 0;   //!< this process's CPU per order during the timed part
  double server_cpu_us = -1;  //!< the MySQL server's CPU per order during it (-1: not on this machine)
  double committed_ops_per_s = 0;  //!< engine: orders / (timed part + drain): what MySQL kept up with
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  bool audit_ok = false;
  std::string audit_summary;
  // Engine: what the writer did during the run (rows handed to it, statement time per row).
  double rows_per_order = 0;
  double us_per_row = 0;
  double rows_per_batch = 0;
  double drain_s = 0;  //!< after the last reply, until everything handed to the writer was committed
  std::string failed_by;  //!< engine: failure reasons and counts
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
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

result run_baseline(const std::string& name, const options& opt) {
  result r;
  r.name = name;
  r.orders = opt.orders;
  r.threads = opt.threads;
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
  wait_for_idle_server(server_pid(admin), std::chrono::seconds(60));
  cpu_meter cpu(server_pid(admin));
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
  std::tie(r.client_cpu_us, r.server_cpu_us) = cpu.per_order(opt.orders);
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

  // The baseline writes wallet 2's row with every change: the cent shows in the sum of balances,
  // and against its journal and its last movement.
  if (opt.inject_violation)
    admin.execute("UPDATE " + opt.layout.table_for("wallets", 2) + " SET available = available + 1 WHERE id = 2");
  audit_report a = audit(opt.endpoint, opt.layout);
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

// -- the engine half -------------------------------------------------------------------

//! The baseline's orders as engine commands (same wallets, amounts and request ids).
class durable_load : public workload {
 public:
  durable_load(std::string name, uint64_t wallets) : name_(std::move(name)), wallets_(wallets) {}
  order_command next(uint64_t sequence) override {
    order_spec o = make_order(name_, sequence - 1, wallets_);  // the driver counts from 1
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = name_.substr(0, 1) + "-" + std::to_string(o.id);
    c.kind = o.kind == 1 ? order_kind::pay : order_kind::transfer;
    c.source = o.source;
    c.destination = o.destination;
    c.amount = o.amount;
    c.cur = usd_;
    return c;
  }

 private:
  std::string name_;
  uint64_t wallets_;
  currency usd_ = *currency::parse("USD");
};

int64_t count_rows(mysql_connection& conn, const shard_layout& layout, const std::string& family,
                   const std::string& where) {
  int64_t total = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      total += conn.query_int("SELECT COUNT(*) FROM " + layout.table_at(family, d, t) + " WHERE " + where);
  return total;
}

//! The engine on MySQL storage, on freshly seeded databases (the same seed as the baseline).
result run_engine(const std::string& name, const options& opt, const std::string& ack) {
  result r;
  r.name = name;
  r.design = "engine";
  r.ack = ack;
  r.orders = opt.orders;
  mysql_connection admin(opt.endpoint);
  auto seed_started = std::chrono::steady_clock::now();
  seed(admin, opt);
  if (!opt.json)
    std::fprintf(stderr, "%s: engine (ack %s): seeded %llu wallets in %.1f s\n", name.c_str(), ack.c_str(),
                 (unsigned long long)opt.wallets,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_started).count());
  engine_config config;
  storage_config storage;
  storage.uri = uri_of(opt.endpoint);
  storage.databases = opt.layout.databases;
  storage.tables = opt.layout.tables;
  storage.prefix = opt.layout.prefix;
  storage.ack = ack == "memory" ? ack_mode::memory : ack_mode::durable;
  if (opt.batch_latency_ms >= 0) storage.batch_latency_max_ms = opt.batch_latency_ms;
  if (opt.single_connection) storage.split_commit = false;
  // Memory acks run ahead of MySQL; room for the whole run's rows, so no order is refused and
  // the drain time shows how far behind the writer was.
  if (storage.ack == ack_mode::memory)
    storage.queue_rows_high_water = std::max<int64_t>(storage.queue_rows_high_water, static_cast<int64_t>(opt.orders) * 16);
  config.storage = storage;
  engine_stats before, after;
  load_result load;
  {
    engine eng(config);
    durable_load workload(name, opt.wallets);
    load_options load_opt;
    load_opt.orders = opt.orders;
    load_opt.concurrency = opt.concurrency;
    if (!opt.cold) {
      // The working set in memory, as in an engine that has been running: every wallet is
      // loaded (the loader reads them 1,000 at a time) before the timed part.
      auto warm_started = std::chrono::steady_clock::now();
      caf::scoped_actor self{eng.system()};
      const auto& shards = eng.directory().shards();
      uint64_t last = opt.wallets + 2, sent = 0, answered = 0, unknown = 0;
      while (answered < last) {
        // At most 2,000 outstanding: a shard refuses loads past its bound (loads_pending_max).
        for (; sent < last && sent - answered < 2'000; ++sent)
          self->send(shards[eng.directory().shard_index(sent + 1)], get_wallet_atom::value, sent + 1, bench_tenant);
        self->receive([&](wallet_view& view) { unknown += view.code != result_code::ok; });
        ++answered;
      }
      if (unknown != 0) throw std::runtime_error(name + ": " + std::to_string(unknown) + " wallets did not load");
      if (!opt.json)
        std::fprintf(stderr, "%s: engine (ack %s): loaded %llu wallets in %.1f s\n", name.c_str(), ack.c_str(),
                     (unsigned long long)last,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_started).count());
    }
    wait_for_idle_server(server_pid(admin), std::chrono::seconds(60));
    before = eng.stats();
    cpu_meter cpu(server_pid(admin));
    load = run_load(eng, workload, load_opt);
    auto drain_started = std::chrono::steady_clock::now();
    if (!eng.wait_until_quiet(std::chrono::seconds(60))) throw std::runtime_error(name + ": orders still in flight");
    if (!eng.sync_storage(std::chrono::seconds(300))) throw std::runtime_error(name + ": storage did not sync");
    r.drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_started).count();
    std::tie(r.client_cpu_us, r.server_cpu_us) = cpu.per_order(opt.orders);
    after = eng.stats();
  }
  r.succeeded = load.succeeded;
  r.failed = load.failed;
  r.refused = load.refused;
  r.seconds = load.elapsed_s;
  r.ops_per_s = load.ops_per_s;
  r.committed_ops_per_s = static_cast<double>(opt.orders) / (load.elapsed_s + r.drain_s);
  r.p50_us = load.p50_us;
  r.p99_us = load.p99_us;
  double rows = static_cast<double>(after.storage_rows_written - before.storage_rows_written);
  double batches = static_cast<double>(after.storage_batches_committed - before.storage_batches_committed);
  r.rows_per_order = rows / static_cast<double>(opt.orders);
  r.us_per_row = rows > 0 ? static_cast<double>(after.storage_commit_us_total - before.storage_commit_us_total) / rows : 0;
  r.rows_per_batch = batches > 0 ? rows / batches : 0;
  for (const auto& [code, n] : load.failed_by_code) r.failed_by += (r.failed_by.empty() ? "" : ", ") + code + " " + std::to_string(n);
  if (!r.failed_by.empty() && !opt.json)
    std::fprintf(stderr, "%s: engine (ack %s): failed orders: %s\n", name.c_str(), ack.c_str(), r.failed_by.c_str());

  // The engine's wallet row is a checkpoint that may be older than the wallet's journal: the audit
  // then sees the cent as a checkpoint that disagrees with its movement (the effective balance,
  // and so the sum, comes from the journal); with a current row, as in the baseline.
  if (opt.inject_violation)
    admin.execute("UPDATE " + opt.layout.table_for("wallets", 2) + " SET available = available + 1 WHERE id = 2");
  audit_report a = audit(opt.endpoint, opt.layout);
  std::string extra;
  if (a.orders != opt.orders) extra += "; " + std::to_string(a.orders) + " order rows, expected " + std::to_string(opt.orders);
  if (int64_t open = count_rows(admin, opt.layout, "orders", "is_final=0"); open != 0)
    extra += "; " + std::to_string(open) + " orders not final";
  if (int64_t open = count_rows(admin, opt.layout, "tcc_records", "state=0"); open != 0)
    extra += "; " + std::to_string(open) + " TCC records still tried";
  if (r.refused != 0) extra += "; " + std::to_string(r.refused) + " orders refused";
  r.audit_ok = a.ok && extra.empty();
  r.audit_summary = a.summary() + extra;
  if (!r.audit_ok)
    std::fprintf(stderr, "%s: engine (ack %s): AUDIT FAILED: %s\n", name.c_str(), ack.c_str(), r.audit_summary.c_str());
  return r;
}

std::string json_number(double v, const char* format = "%.1f") {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

//! One workload's engine run as JSON fields (without braces), its ratio to `baseline` (null without one).
std::string engine_fields(const result& e, const result* baseline) {
  std::string out = "\"ack\":\"" + e.ack + "\",\"orders\":" + std::to_string(e.orders) +
                    ",\"succeeded\":" + std::to_string(e.succeeded) + ",\"failed\":" + std::to_string(e.failed) +
                    ",\"refused\":" + std::to_string(e.refused) + ",\"ops_per_s\":" + json_number(e.ops_per_s) +
                    ",\"p50_us\":" + json_number(e.p50_us, "%.0f") + ",\"p99_us\":" + json_number(e.p99_us, "%.0f");
  out += ",\"baseline_ops_per_s\":" + (baseline ? json_number(baseline->ops_per_s) : std::string("null"));
  out += ",\"ratio\":" + (baseline && baseline->ops_per_s > 0 ? json_number(e.ops_per_s / baseline->ops_per_s, "%.2f")
                                                              : std::string("null"));
  out += ",\"rows_per_order\":" + json_number(e.rows_per_order, "%.2f") +
         ",\"us_per_row\":" + json_number(e.us_per_row, "%.2f") +
         ",\"rows_per_batch\":" + json_number(e.rows_per_batch, "%.0f") + ",\"drain_s\":" + json_number(e.drain_s, "%.2f") +
         ",\"committed_ops_per_s\":" + json_number(e.committed_ops_per_s) +
         ",\"client_cpu_us_per_order\":" + json_number(e.client_cpu_us) +
         ",\"server_cpu_us_per_order\":" + (e.server_cpu_us >= 0 ? json_number(e.server_cpu_us) : std::string("null")) +
         ",\"audit_ok\":" + (e.audit_ok ? "true" : "false");
  return out;
}

//! One JSON object per workload: the first engine run at the top level (issue 4's fields),
//! the baseline and further ack modes nested. Without an engine run, the baseline's fields.
std::string workload_json(const std::vector<result>& runs) {
  const result* baseline = nullptr;
  std::vector<const result*> engines;
  for (const auto& r : runs) {
    if (r.design == "baseline") baseline = &r;
    else engines.push_back(&r);
  }
  std::string base;
  if (baseline)
    base = "{\"design\":\"baseline_row_lock\",\"threads\":" + std::to_string(baseline->threads) + ",\"orders\":" +
           std::to_string(baseline->orders) + ",\"succeeded\":" + std::to_string(baseline->succeeded) +
           ",\"failed\":" + std::to_string(baseline->failed) + ",\"retries\":" + std::to_string(baseline->retries) +
           ",\"ops_per_s\":" + json_number(baseline->ops_per_s) + ",\"p50_us\":" + json_number(baseline->p50_us, "%.0f") +
           ",\"p99_us\":" + json_number(baseline->p99_us, "%.0f") +
           ",\"client_cpu_us_per_order\":" + json_number(baseline->client_cpu_us) + ",\"server_cpu_us_per_order\":" +
           (baseline->server_cpu_us >= 0 ? json_number(baseline->server_cpu_us) : std::string("null")) + ",\"audit_ok\":" +
           (baseline->audit_ok ? "true" : "false") + "}";
  const std::string& name = runs.front().name;
  if (engines.empty())
    return "{\"name\":\"" + name + "\",\"design\":\"baseline_row_lock\",\"ops_per_s\":" + json_number(baseline->ops_per_s) +
           ",\"p50_us\":" + json_number(baseline->p50_us, "%.0f") + ",\"p99_us\":" +
           json_number(baseline->p99_us, "%.0f") + ",\"baseline_ops_per_s\":" + json_number(baseline->ops_per_s) +
           ",\"ratio\":null,\"baseline\":" + base + "}";
  std::string out = "{\"name\":\"" + name + "\",\"design\":\"engine\"," + engine_fields(*engines[0], baseline);
  if (baseline) out += ",\"baseline\":" + base;
  if (engines.size() > 1) {
    out += ",\"other_acks\":[";
    for (size_t i = 1; i < engines.size(); ++i) out += (i > 1 ? ",{" : "{") + engine_fields(*engines[i], baseline) + "}";
    out += "]";
  }
  return out + "}";
}

//! The command line; -1 to go on, else the exit code.
int parse(int argc, char** argv, options& opt) {
  CLI::App app{"bench_durable: the engine on MySQL storage against the row-lock baseline of seed 000, same server, "
               "same run",
               "bench_durable"};
  opt.layout.prefix = "txbench";
  cli::add_number(app, "--orders", opt.orders, "orders per workload", 1);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets", 2);
  cli::add_number(app, "--threads", opt.threads, "baseline: client threads", 1, 1000);
  cli::add_number(app, "--databases", opt.layout.databases, "wallet id mod D picks the database", 1, 1u << 20);
  cli::add_number(app, "--tables", opt.layout.tables, "wallet id mod T picks the table", 1, 1u << 20);
  app.add_option("--prefix,--db-prefix", opt.layout.prefix, "databases <prefix>_0.. (dropped, recreated and seeded before every run)")
      ->capture_default_str()
      ->type_name("NAME");
  cli::add_mysql_endpoint(app, opt.endpoint,
                          "the server (default: TXENGINE_MYSQL_URI or the private server of scripts/mariadb.sh)");
  cli::add_choice(app, "--workload", opt.only, "only this workload (default: both)",
                  {"transfer_uniform", "pay_hot_wallet"});
  app.add_flag("--json", opt.json, "one JSON object a workload");
  std::string ack = "durable";
  cli::add_choice(app, "--ack", ack, "engine runs by ack mode", {"durable", "memory", "both"});
  cli::add_number(app, "--concurrency", opt.concurrency, "engine: orders outstanding (closed loop)", 1, 100'000);
  app.add_flag("--cold", opt.cold, "the engine's wallets load lazily during the timed part (default: all before it)");
  app.add_flag("--no-baseline", "no baseline run");
  app.add_flag("--no-engine", "no engine run");
  uint64_t batch_latency_ms = 0;
  cli::add_number(app, "--batch-latency-ms", batch_latency_ms, "the engine writer's batching (storage_config)", 0,
                  10'000)
      ->default_str("");
  app.add_flag("--single-connection", opt.single_connection,
               "the writer commits on one connection, no XA branch");
  app.add_flag("--inject-violation", opt.inject_violation, "test of the audit: a cent out of nowhere before it runs");
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  opt.acks = ack == "both" ? std::vector<std::string>{"durable", "memory"} : std::vector<std::string>{ack};
  if (app.count("--no-engine")) opt.acks.clear();
  opt.baseline = app.count("--no-baseline") == 0;
  if (app.count("--batch-latency-ms")) opt.batch_latency_ms = static_cast<int64_t>(batch_latency_ms);
  std::string why;
  if (!opt.layout.valid(&why)) {
    std::fprintf(stderr, "bench_durable: %s\n", why.c_str());
    return cli::exit_usage;
  }
  if (!opt.baseline && opt.acks.empty()) {
    std::fprintf(stderr, "bench_durable: --no-baseline and --no-engine leave nothing to run\n");
    return cli::exit_usage;
  }
  return -1;
}

void print_table(const std::vector<std::vector<result>>& results) {
  std::printf("%-18s %-22s %9s %10s %10s %10s %8s %9s %9s %10s %10s %8s  %s\n", "workload", "design", "orders",
              "ops/s", "p50 us", "p99 us", "ratio", "rows/ord", "us/row", "cpu us/op", "db us/op", "failed", "audit");
  for (const auto& runs : results) {
    const result* baseline = nullptr;
    for (const auto& r : runs)
      if (r.design == "baseline") baseline = &r;
    for (const auto& r : runs) {
      std::string design = r.design == "baseline" ? "baseline (row lock)" : "engine (ack " + r.ack + ")";
      std::string ratio = r.design == "engine" && baseline && baseline->ops_per_s > 0
                              ? json_number(r.ops_per_s / baseline->ops_per_s, "%.2f")
                              : std::string("-");
      std::string rows = r.design == "engine" ? json_number(r.rows_per_order, "%.2f") : std::string("-");
      std::string us = r.design == "engine" ? json_number(r.us_per_row, "%.2f") : std::string("-");
      std::string server = r.server_cpu_us >= 0 ? json_number(r.server_cpu_us, "%.0f") : std::string("-");
      std::printf("%-18s %-22s %9llu %10.0f %10.0f %10.0f %8s %9s %9s %10.0f %10s %8llu  %s\n", r.name.c_str(),
                  design.c_str(), (unsigned long long)r.orders, r.ops_per_s, r.p50_us, r.p99_us, ratio.c_str(),
                  rows.c_str(), us.c_str(), r.client_cpu_us, server.c_str(), (unsigned long long)r.failed,
                  r.audit_ok ? "ok" : "FAILED");
      if (r.design == "engine" && r.ack == "memory")
        std::printf("%-18s %-22s %9s %10.0f   (committed: timed part + %.1f s until the writer caught up)\n", "",
                    "  committed", "", r.committed_ops_per_s, r.drain_s);
    }
  }
  for (const auto& runs : results)
    for (const auto& r : runs)
      std::printf("audit %s %s%s: %s\n", r.name.c_str(), r.design.c_str(), r.ack.empty() ? "" : (" " + r.ack).c_str(),
                  r.audit_summary.c_str());
  std::printf("ratio: engine ops/s / baseline ops/s (same workload, same run). rows/ord: rows the writer wrote\n"
              "(or deleted) per order; us/row: the writer's time building and running its statements per row.\n"
              "cpu us/op: this process's CPU per order (engine or baseline clients); db us/op: the MySQL server's\n"
              "CPU per order (when it runs here). 2e6 / (cpu + db) bounds ops/s on 2 idle cores.\n");
}

//! Runs every workload (baseline, then the engine per ack mode); false when an audit failed.
//! Throws on MySQL errors.
bool run_all(const options& opt, std::vector<std::vector<result>>& results) {
  bool all_ok = true;
  for (const char* name : {"transfer_uniform", "pay_hot_wallet"}) {
    if (!opt.only.empty() && opt.only != name) continue;
    std::vector<result> runs;
    if (opt.baseline) runs.push_back(run_baseline(name, opt));
    for (const auto& ack : opt.acks) runs.push_back(run_engine(name, opt, ack));
    for (const auto& r : runs) all_ok = all_ok && r.audit_ok;
    if (opt.json) std::printf("%s\n", workload_json(runs).c_str());
    std::fflush(stdout);
    results.push_back(std::move(runs));
  }
  return all_ok;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;
  if (!opt.json)
    std::printf(
        "bench_durable: the engine (write-behind group commit, docs/durability-design.md) against the classic\n"
        "row-lock design of seed 000 (one MySQL transaction per order, SELECT ... FOR UPDATE on the wallets in\n"
        "id order, balance check, updates, fund-movement inserts, commit), same server, same seed, same run.\n"
        "server %s, shards %ux%u, %llu orders per workload, %llu wallets; baseline %u threads, engine %u outstanding\n\n",
        opt.endpoint.describe().c_str(), opt.layout.databases, opt.layout.tables, (unsigned long long)opt.orders,
        (unsigned long long)opt.wallets, opt.threads, opt.concurrency);
  mysql_thread_scope scope;
  std::vector<std::vector<result>> results;
  bool all_ok = true;
  try {
    all_ok = run_all(opt, results);
  } catch (const sql::SQLException& e) {
    std::fprintf(stderr, "bench_durable: MySQL error %d (%s) at %s: %s\n", e.getErrorCode(), e.getSQLStateCStr(),
                 opt.endpoint.describe().c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_durable: %s\n", e.what());
    return 1;
  }
  if (!opt.json) print_table(results);
  return all_ok ? 0 : 1;
}
