// bench_engine: in-memory throughput and latency of the engine for three workloads.
//   transfer_uniform  transfers among W wallets chosen uniformly
//   pay_hot_wallet    payments from W payers into one merchant wallet
//   topup_channel     top-ups through the simulated channel
// Each workload also runs a baseline in the same process: the same orders applied to the
// wallet cores directly on one thread, without actors or messages. The ratio (engine /
// baseline) is the share of the bare business logic's speed the actor engine keeps while
// adding isolation, timers, retries and idempotency.
//
// Usage: bench_engine [--orders N] [--wallets W] [--concurrency C] [--hosts H]
//                     [--shards S] [--retained-max N] [--workload NAME] [--json]
// --retained-max N: final orders kept in memory (the engine's orders_retained_max); a small
// value makes eviction run all the time (its cost against the default, in the same sitting).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/wallet_core.hpp"
#include "node/engine.hpp"
#include "apps/cli.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#ifdef TXENGINE_WITH_MYSQL
#include "persistence/schema.hpp"
#endif

using namespace txengine;

namespace {

constexpr tenant_id bench_tenant = 1;
constexpr channel_id funding_channel = 9;
constexpr channel_id bench_channel = 1;

struct options {
  uint64_t orders = 1'000'000;
  size_t wallets = 100'000;
  uint32_t concurrency = 2'000;
  uint32_t hosts = 2;
  uint32_t shards = 0;  //!< wallet shards; 0 = the engine's default
  size_t retained_max = 0;  //!< final orders kept in memory; 0 = the engine's default
  std::string only;
  bool json = false;
  std::string mysql;  //!< --mysql URI: the engine on MySQL storage (databases txbench_engine_*, dropped first)
  std::string ack = "durable";
};

struct row {
  std::string name;
  load_result engine_result;
  double baseline_ops_per_s = 0;
};

class transfer_load : public workload {
 public:
  transfer_load(const std::vector<wallet_id>& wallets, std::string prefix) : wallets_(wallets), prefix_(prefix) {}
  order_command next(uint64_t sequence) override {
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.kind = order_kind::transfer;
    size_t a = rng_() % wallets_.size();
    size_t b = rng_() % (wallets_.size() - 1);
    if (b >= a) ++b;
    c.source = wallets_[a];
    c.destination = wallets_[b];
    c.amount = 1 + static_cast<int64_t>(rng_() % 100);
    c.cur = *currency::parse("USD");
    return c;
  }

 private:
  const std::vector<wallet_id>& wallets_;
  std::string prefix_;
  std::mt19937_64 rng_{7};
};

class pay_hot_load : public workload {
 public:
  pay_hot_load(const std::vector<wallet_id>& payers, wallet_id merchant, std::string prefix)
      : payers_(payers), merchant_(merchant), prefix_(prefix) {}
  order_command next(uint64_t sequence) override {
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.kind = order_kind::pay;
    c.source = payers_[sequence % payers_.size()];
    c.destination = merchant_;
    c.amount = 1 + static_cast<int64_t>(sequence % 100);
    c.cur = *currency::parse("USD");
    return c;
  }

 private:
  const std::vector<wallet_id>& payers_;
  wallet_id merchant_;
  std::string prefix_;
};

//! The baseline: the same kind of orders through wallet cores directly, one thread.
double baseline_ops_per_s(const std::string& workload_name, uint64_t orders, size_t wallet_count) {
  currency usd = *currency::parse("USD");
  std::vector<wallet_core> wallets;
  wallets.reserve(wallet_count + 1);
  for (size_t i = 0; i <= wallet_count; ++i) {
    wallet_info info{i + 1, bench_tenant, usd, i == wallet_count ? wallet_kind::system : wallet_kind::user,
                     wallet_status::active, 0};
    wallets.emplace_back(info);
  }
  wallet_core& system = wallets.back();
  for (size_t i = 0; i < wallet_count; ++i) {  // funding, not timed
    leg_command fund{i + 1, tcc_phase::try_, leg_type::debit_direct, 1'000'000'000, bench_tenant, usd, INT64_MAX, 0};
    system.apply(fund, 0);
    leg_command credit = fund;
    credit.type = leg_type::credit_incoming;
    wallets[i].apply(credit, 0);
    fund.phase = credit.phase = tcc_phase::confirm;
    system.apply(fund, 0);
    wallets[i].apply(credit, 0);
  }
  std::mt19937_64 rng{7};
  auto started = std::chrono::steady_clock::now();
  for (uint64_t n = 0; n < orders; ++n) {
    order_id txn = (uint64_t{1} << 40) + n;
    int64_t now = static_cast<int64_t>(n / 1000);
    size_t a, b;
    leg_type debit = leg_type::debit_hold, credit = leg_type::credit_on_confirm;
    if (workload_name == "transfer_uniform") {
      a = rng() % wallet_count;
      b = (a + 1 + rng() % (wallet_count - 1)) % wallet_count;
    } else if (workload_name == "pay_hot_wallet") {
      a = n % (wallet_count - 1) + 1;
      b = 0;
    } else {  // topup_channel
      a = wallet_count;
      b = n % wallet_count;
      debit = leg_type::debit_direct;
      credit = leg_type::credit_incoming;
    }
    int64_t amount = 1 + static_cast<int64_t>(n % 100);
    leg_command d{txn, tcc_phase::try_, debit, amount, bench_tenant, usd, INT64_MAX, 0};
    leg_command c{txn, tcc_phase::try_, credit, amount, bench_tenant, usd, INT64_MAX, 0};
    bool ok = wallets[a].apply(d, now).code == result_code::ok && wallets[b].apply(c, now).code == result_code::ok;
    d.phase = c.phase = ok ? tcc_phase::confirm : tcc_phase::cancel;
    wallets[a].apply(d, now);
    wallets[b].apply(c, now);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return static_cast<double>(orders) / seconds;
}

engine_config make_config(const options& opt) {
  engine_config config;
  config.order_hosts = opt.hosts;
  config.wallet.shards = opt.shards;
  if (opt.retained_max != 0) config.orders_retained_max = opt.retained_max;
  channel_config clean;  // funding and throughput: a provider that behaves
  clean.latency_ms = 1;
  clean.decline_ppm = clean.reply_lost_ppm = clean.reply_unknown_ppm = clean.submit_lost_ppm = clean.partial_ppm = 0;
  config.channels = {{bench_channel, clean}, {funding_channel, clean}};
  if (!opt.mysql.empty()) {
    storage_config storage;
    storage.uri = opt.mysql;
    storage.prefix = "txbench_engine";
    storage.ack = opt.ack == "memory" ? ack_mode::memory : ack_mode::durable;
#ifdef TXENGINE_WITH_MYSQL
    persistence::mysql_endpoint endpoint;
    if (persistence::parse_mysql_uri(storage.uri, endpoint)) {
      persistence::mysql_thread_scope scope;
      persistence::mysql_connection conn(endpoint);
      persistence::shard_layout layout;
      layout.prefix = storage.prefix;
      persistence::drop_schema(conn, layout);  // each workload starts from empty databases
    }
#endif
    config.storage = storage;
  }
  return config;
}

row run_workload(const std::string& name, const options& opt) {
  engine eng(make_config(opt));
  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, bench_tenant, usd, wallet_kind::user, opt.wallets);
  auto merchant = create_wallets(eng, bench_tenant, usd, wallet_kind::merchant, 1);
  load_options load_opt;
  load_opt.orders = opt.orders;
  load_opt.concurrency = opt.concurrency;
  row r;
  r.name = name;
  if (name == "topup_channel") {
    class topup_load : public workload {
     public:
      explicit topup_load(const std::vector<wallet_id>& w) : wallets_(w) {}
      order_command next(uint64_t sequence) override {
        order_command c;
        c.tenant = bench_tenant;
        c.request_id = "t" + std::to_string(sequence);
        c.kind = order_kind::top_up;
        c.destination = wallets_[sequence % wallets_.size()];
        c.amount = 1 + static_cast<int64_t>(sequence % 100);
        c.cur = *currency::parse("USD");
        c.channel = bench_channel;
        return c;
      }
      const std::vector<wallet_id>& wallets_;
    } load(users);
    r.engine_result = run_load(eng, load, load_opt);
  } else {
    auto funded = fund_wallets(eng, bench_tenant, usd, funding_channel, users, 1'000'000'000, 4'000, "fund-");
    if (funded.succeeded != users.size()) std::fprintf(stderr, "funding incomplete: %llu\n", (unsigned long long)funded.succeeded);
    if (name == "transfer_uniform") {
      transfer_load load(users, "x");
      r.engine_result = run_load(eng, load, load_opt);
    } else {
      pay_hot_load load(users, merchant[0], "p");
      r.engine_result = run_load(eng, load, load_opt);
    }
  }
  if (!eng.wait_until_quiet(std::chrono::seconds(60))) std::fprintf(stderr, "%s: orders still in flight\n", name.c_str());
  if (eng.persistent()) {
    eng.sync_storage();
    auto s = eng.stats();
    std::fprintf(stderr, "%s: storage %s: %llu batches, %llu rows, %.1f rows/batch, %.2f ms/commit, %llu failures\n",
                 name.c_str(), eng.storage_description().c_str(), (unsigned long long)s.storage_batches_committed,
                 (unsigned long long)s.storage_rows_committed,
                 s.storage_batches_committed ? double(s.storage_rows_committed) / s.storage_batches_committed : 0.0,
                 s.storage_batches_committed ? s.storage_commit_us_total / 1e3 / s.storage_batches_committed : 0.0,
                 (unsigned long long)s.storage_commit_failures);
  }
  auto audit = eng.audit_wallets();
  if (!audit.ok) std::fprintf(stderr, "%s: AUDIT FAILED: %s\n", name.c_str(), audit.detail.c_str());
  r.baseline_ops_per_s = baseline_ops_per_s(name, opt.orders, opt.wallets);
  return r;
}

double cpu_us(const row& r) {
  return r.engine_result.orders ? r.engine_result.cpu_s * 1e6 / static_cast<double>(r.engine_result.orders) : 0;
}

void add_options(CLI::App& app, options& opt) {
  cli::add_number(app, "--orders", opt.orders, "orders a workload", 1);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets", 2);
  cli::add_number(app, "--concurrency", opt.concurrency, "orders outstanding at a time", 1);
  cli::add_number(app, "--hosts", opt.hosts, "order hosts", 1, 16);
  cli::add_number(app, "--shards", opt.shards, "wallet shards (0: the engine's default)");
  cli::add_number(app, "--retained-max", opt.retained_max, "final orders kept in memory (0: the engine's default)");
  cli::add_choice(app, "--workload", opt.only, "only this workload (default: all three)",
                  {"transfer_uniform", "pay_hot_wallet", "topup_channel"});
  app.add_flag("--json", opt.json, "one JSON object a workload");
  auto* mysql = app.add_option("--mysql", opt.mysql, "the engine on MySQL storage (databases txbench_engine_*, dropped "
                                                     "first; default: in memory)")
                    ->type_name("URI");
  cli::add_choice(app, "--ack", opt.ack, "with --mysql: answer once committed (durable) or at once (memory)",
                  {"durable", "memory"})
      ->needs(mysql);
}

void print_json(const row& r) {
  double ratio = r.baseline_ops_per_s > 0 ? r.engine_result.ops_per_s / r.baseline_ops_per_s : 0;
  std::printf(
      "{\"name\":\"%s\",\"orders\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"refused\":%llu,"
      "\"ops_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
      "\"baseline_ops_per_s\":%.0f,\"ratio\":%.3f,\"cpu_us_per_order\":%.2f}\n",
      r.name.c_str(), (unsigned long long)r.engine_result.orders, (unsigned long long)r.engine_result.succeeded,
      (unsigned long long)r.engine_result.failed, (unsigned long long)r.engine_result.refused,
      r.engine_result.ops_per_s, r.engine_result.p50_us, r.engine_result.p99_us, r.engine_result.max_us,
      r.baseline_ops_per_s, ratio, cpu_us(r));
  std::fflush(stdout);
}

void print_table(const std::vector<row>& rows) {
  std::printf("%-18s %10s %12s %10s %10s %10s %16s %8s %10s\n", "workload", "orders", "ops/s", "p50 us", "p99 us",
              "max us", "baseline ops/s", "ratio", "cpu us/op");
  for (const auto& r : rows)
    std::printf("%-18s %10llu %12.0f %10.0f %10.0f %10.0f %16.0f %8.3f %10.2f\n", r.name.c_str(),
                (unsigned long long)r.engine_result.orders, r.engine_result.ops_per_s, r.engine_result.p50_us,
                r.engine_result.p99_us, r.engine_result.max_us, r.baseline_ops_per_s,
                r.baseline_ops_per_s > 0 ? r.engine_result.ops_per_s / r.baseline_ops_per_s : 0, cpu_us(r));
  std::printf("baseline: the same orders applied to wallet cores directly on one thread (no actors, no messages)\n");
  std::printf("cpu us/op: process CPU time (all threads) per order during the run; 2e6 / it bounds ops/s on 2 idle cores\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_engine: the engine's throughput and latency per workload, against a one-thread baseline",
               "bench_engine"};
  options opt;
  add_options(app, opt);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  std::vector<row> rows;
  for (std::string name : {"transfer_uniform", "pay_hot_wallet", "topup_channel"}) {
    if (!opt.only.empty() && opt.only != name) continue;
    rows.push_back(run_workload(name, opt));
    if (opt.json) print_json(rows.back());
  }
  if (!opt.json) print_table(rows);
  return 0;
}
