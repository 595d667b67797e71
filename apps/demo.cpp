#include "apps/demo.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/engine.hpp"
#ifdef TXENGINE_DEMO_KAFKA
#include "apps/cli.hpp"
#include "apps/demo_kafka.hpp"
#endif
#include "apps/demo_providers.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#include "apps/order_mix.hpp"
#ifdef TXENGINE_WITH_MYSQL
#include "persistence/audit.hpp"
#include "persistence/schema.hpp"
#endif

namespace txengine {

namespace {

constexpr tenant_id demo_tenant = 1;
constexpr channel_id demo_channel = 1;

struct demo_options {
  size_t users = 2'000;
  size_t merchants = 20;
  uint64_t orders = 200'000;
  uint32_t concurrency = 1'000;
  bool json = false;
  std::string mysql;  //!< --mysql URI: MySQL storage (empty: in memory)
  std::string ack = "durable";
  std::string kafka;  //!< --kafka SERVERS: publish final states (needs --mysql)
  //! --provider-sim PATH: the txprovider-sim program the channel orders go to over HTTP (default:
  //! the one next to this executable); "none": the in-process simulated provider.
  std::string provider_sim;
};

//! The channel orders the demo saw end (reconciled against the providers' statements).
using channel_log = std::vector<demo_channel_order>;

void log_channel_order(channel_log* log, const order_command& command, const order_reply& reply) {
  if (log == nullptr || reply.id == 0 || reply.duplicate) return;
  if (command.kind != order_kind::top_up && command.kind != order_kind::withdraw) return;
  log->push_back({reply.id, reply.state, reply.posted_amount});
}

//! Expected balances, rebuilt from the engine's own answers: a succeeded order's effects
//! are applied here as the design's money table says; failed orders change nothing.
struct replay_model {
  std::unordered_map<wallet_id, int64_t> available;
  void move(wallet_id from, wallet_id to, int64_t amount) {
    available[from] -= amount;
    available[to] += amount;
  }
};

class mixed_load : public workload {
 public:
  mixed_load(std::vector<wallet_id> users, std::vector<wallet_id> merchants, wallet_id fee_wallet,
             wallet_id system_wallet, replay_model& model, std::string prefix, channel_id channel,
             channel_log* channels)
      : mix_{std::move(users), std::move(merchants), fee_wallet, channel},
        system_wallet_(system_wallet), model_(model), prefix_(std::move(prefix)), channels_(channels) {}

  order_command next(uint64_t sequence) override {
    // About 1% repeat an earlier request id with the same content: the engine must answer
    // with the original order, never run it twice.
    if (!recent_.empty() && rng_() % 100 == 0) {
      ++repeats_sent;
      return recent_[rng_() % recent_.size()];
    }
    order_command c;
    c.tenant = demo_tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.cur = *currency::parse("USD");
    c.amount = 100 + static_cast<int64_t>(rng_() % 20'000);
    pick_mixed_order(rng_, mix_, paid_, c);
    if (recent_.size() < 512) recent_.push_back(c);
    else recent_[rng_() % recent_.size()] = c;
    return c;
  }

  void on_reply(const order_command& command, const order_reply& reply) override {
    if (reply.id == 0) return;  // refused before an order existed: nothing happened
    log_channel_order(channels_, command, reply);
    if (reply.duplicate) {
      ++repeats_answered;
      return;
    }
    if (reply.state != order_state::succeeded) return;
    switch (command.kind) {
      case order_kind::top_up: model_.move(system_wallet_, command.destination, reply.posted_amount); break;
      case order_kind::withdraw: model_.move(command.source, system_wallet_, reply.posted_amount); break;
      case order_kind::transfer:
      case order_kind::commission: model_.move(command.source, command.destination, command.amount); break;
      case order_kind::pay:
        model_.move(command.source, command.destination, command.amount - command.fee_amount);
        if (command.fee_amount > 0) model_.move(command.source, command.fee_wallet, command.fee_amount);
        if (paid_.size() < 100'000) paid_.push_back({reply.id, command.amount, 0});
        break;
      case order_kind::refund: {
        auto found = pays_by_id_.find(command.original_order);
        if (found != pays_by_id_.end()) model_.move(found->second.second, found->second.first, command.amount);
        break;
      }
    }
    if (command.kind == order_kind::pay) pays_by_id_[reply.id] = {command.source, command.destination};
  }

  uint64_t repeats_sent = 0;
  uint64_t repeats_answered = 0;

 private:
  order_mix mix_;
  wallet_id system_wallet_;
  replay_model& model_;
  std::string prefix_;
  std::mt19937_64 rng_{2026};
  std::vector<order_command> recent_;
  std::vector<refundable_payment> paid_;
  std::unordered_map<order_id, std::pair<wallet_id, wallet_id>> pays_by_id_;  // payer, merchant
  channel_log* channels_;
};

void add_options(CLI::App& cmd, demo_options& opt) {
  cli::add_number(cmd, "--wallets", opt.users, "user wallets", 2);
  cli::add_number(cmd, "--orders", opt.orders, "orders in the mixed workload", 1);
  cli::add_number(cmd, "--concurrency", opt.concurrency, "orders outstanding at a time", 1);
  cmd.add_flag("--json", opt.json, "one JSON object a phase instead of text");
  auto* mysql = cmd.add_option("--mysql", opt.mysql, "MySQL storage, e.g. mysql://txengine:txengine@127.0.0.1:3407 "
                                                      "(databases txdemo_*, recreated; default: in memory)");
  cli::add_choice(cmd, "--ack", opt.ack, "with --mysql: answer once committed (durable) or at once (memory)",
                  {"durable", "memory"})
      ->needs(mysql);
  cmd.add_option("--kafka", opt.kafka, "with --mysql: publish final states to these bootstrap servers "
                                       "(HOST:PORT,...; events go through the MySQL outbox) and run the consumers")
      ->check(CLI::Validator([](std::string& v) { return v.empty() ? "expects HOST:PORT,..." : ""; }, "", "servers"))
      ->needs(mysql);
  cmd.add_option("--provider-sim", opt.provider_sim,
                 "the txprovider-sim program the top-ups and withdrawals go to over HTTP (default: the one next to "
                 "this executable; none: the in-process simulated provider)");
}

engine_config demo_config() {
  engine_config config;
  channel_config provider;  // a provider that misbehaves: declines, lost and "processing" replies
  provider.latency_ms = 3;
  provider.settle_ms = 20;
  provider.decline_ppm = 50'000;
  provider.reply_lost_ppm = 20'000;
  provider.reply_unknown_ppm = 50'000;
  provider.submit_lost_ppm = 5'000;
  provider.partial_ppm = 10'000;
  config.channels = {{demo_channel, provider}};
  // Short horizons so the demo's unknowns resolve within seconds (production: see order_config).
  config.order.channel_submit_timeout_ms = 300;
  config.order.channel_query_min_delay_ms = 50;
  config.order.channel_query_max_interval_ms = 400;
  config.order.channel_not_found_final_ms = 1'500;
  return config;
}

void print_result(const char* name, const load_result& r, bool json, const std::string& extra) {
  if (json) {
    std::printf("{\"name\":\"%s\",\"orders\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"refused\":%llu,"
                "\"ops_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f%s}\n",
                name, (unsigned long long)r.orders, (unsigned long long)r.succeeded, (unsigned long long)r.failed,
                (unsigned long long)r.refused, r.ops_per_s, r.p50_us, r.p99_us, r.max_us, extra.c_str());
    return;
  }
  std::printf("%-8s %8llu orders: %llu succeeded, %llu failed, %llu refused | %.0f orders/s | p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms\n",
              name, (unsigned long long)r.orders, (unsigned long long)r.succeeded, (unsigned long long)r.failed,
              (unsigned long long)r.refused, r.ops_per_s, r.p50_us / 1000, r.p99_us / 1000, r.max_us / 1000);
  for (const auto& [code, count] : r.failed_by_code)
    std::printf("           failed %-26s %llu\n", code.c_str(), (unsigned long long)count);
}

//! The demo's engine: demo_config(), on MySQL with --mysql (its databases txdemo_*, dropped first).
//! False with the error printed.
bool demo_engine_config(const demo_options& opt, engine_config& config) {
  config = demo_config();
  if (opt.mysql.empty()) return true;
  storage_config storage;
  storage.uri = opt.mysql;
  storage.ack = opt.ack == "memory" ? ack_mode::memory : ack_mode::durable;
  storage.prefix = "txdemo";  // the demo's own databases, recreated each run
  storage.kafka.bootstrap_servers = opt.kafka;
#ifdef TXENGINE_WITH_MYSQL
  try {
    persistence::mysql_endpoint endpoint;
    if (persistence::parse_mysql_uri(storage.uri, endpoint)) {
      persistence::mysql_thread_scope scope;
      persistence::mysql_connection conn(endpoint);
      persistence::shard_layout layout;
      layout.prefix = storage.prefix;
      persistence::drop_schema(conn, layout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "txengine demo: MySQL: %s\n", e.what());
    return false;
  }
#endif
  config.storage = storage;
  return true;
}

//! Funding: every user tops up through the misbehaving channel.
class funding_load : public workload {
 public:
  funding_load(const std::vector<wallet_id>& users, wallet_id system, replay_model& model, channel_id channel,
               channel_log* channels)
      : users_(users), system_(system), model_(model), channel_(channel), channels_(channels) {}
  order_command next(uint64_t sequence) override {
    order_command c;
    c.tenant = demo_tenant;
    c.request_id = "fund-" + std::to_string(sequence);
    c.kind = order_kind::top_up;
    c.destination = users_[(sequence - 1) % users_.size()];
    c.amount = 1'000'000;
    c.cur = *currency::parse("USD");
    c.channel = channel_;
    return c;
  }
  void on_reply(const order_command& command, const order_reply& reply) override {
    log_channel_order(channels_, command, reply);
    if (reply.id != 0 && !reply.duplicate && reply.state == order_state::succeeded)
      model_.move(system_, command.destination, reply.posted_amount);
  }

 private:
  const std::vector<wallet_id>& users_;
  wallet_id system_;
  replay_model& model_;
  channel_id channel_;
  channel_log* channels_;
};

//! What the demo checks once the load is done.
struct invariants {
  engine_stats stats;
  wallet_audit audit;
  size_t replay_mismatches = 0;
  int64_t usd_sum = 0;
  bool conservation = false, limits_ok = false, all_final = false, replay_ok = false, repeats_ok = false;
  bool stored_ok = true;
  std::string stored_summary;
  std::optional<demo_providers::reconciliation> providers;  //!< with txprovider-sim
  bool ok() const {
    return conservation && limits_ok && all_final && replay_ok && repeats_ok && audit.ok && stored_ok &&
           (!providers || providers->ok());
  }
};

invariants check_invariants(engine& eng, const replay_model& model, const mixed_load& load) {
  invariants v;
  bool quiet = eng.wait_until_quiet(std::chrono::seconds(120));
  v.stats = eng.stats();
  v.audit = eng.audit_wallets();
  for (const auto& [id, b] : v.audit.balances_by_wallet) {
    auto found = model.available.find(id);
    int64_t expected = found == model.available.end() ? 0 : found->second;
    if (b.available != expected || b.frozen != 0 || b.incoming != 0) ++v.replay_mismatches;
  }
  v.usd_sum = v.audit.sum_by_currency.count("USD") ? v.audit.sum_by_currency.at("USD") : 0;
  v.conservation = v.usd_sum == 0 && v.audit.detail.find("sums to") == std::string::npos;
  v.limits_ok = v.audit.below_limit == 0;
  v.all_final = quiet && v.stats.orders.in_flight == 0;
  v.replay_ok = v.replay_mismatches == 0 && v.audit.journal_mismatches == 0;
  v.repeats_ok = load.repeats_answered == load.repeats_sent;
  return v;
}

//! MySQL storage: what is committed must hold the same invariants.
void check_stored(engine& eng, const storage_config& storage, invariants& v) {
#ifdef TXENGINE_WITH_MYSQL
  v.stored_ok = eng.sync_storage();
  try {
    persistence::mysql_endpoint endpoint;
    persistence::parse_mysql_uri(storage.uri, endpoint);
    persistence::shard_layout layout;
    layout.prefix = storage.prefix;
    auto report = persistence::audit(endpoint, layout);
    uint64_t open = report.orders_not_final;
    v.stored_ok = v.stored_ok && report.ok && open == 0;
    v.stored_summary = report.summary() + ", " + std::to_string(open) + " orders not final";
  } catch (const std::exception& e) {
    v.stored_ok = false;
    v.stored_summary = e.what();
  }
#else
  (void)eng;
  (void)storage;
  (void)v;
#endif
}

void print_summary(const demo_options& opt, engine& eng, const load_result& mixed, const mixed_load& load,
                   const invariants& v) {
  const engine_stats& stats = v.stats;
  if (opt.json) {
    char extra[512];
    std::snprintf(extra, sizeof extra,
                  ",\"invariants_ok\":%s,\"non_final\":%llu,\"usd_sum\":%lld,\"replay_mismatches\":%zu,"
                  "\"repeats_sent\":%llu,\"repeats_answered\":%llu,\"alerts\":%llu,\"step_resends\":%llu,"
                  "\"channel_queries\":%llu",
                  v.ok() ? "true" : "false", (unsigned long long)stats.orders.in_flight, (long long)v.usd_sum,
                  v.replay_mismatches, (unsigned long long)load.repeats_sent,
                  (unsigned long long)load.repeats_answered, (unsigned long long)stats.orders.alerts,
                  (unsigned long long)stats.orders.step_resends, (unsigned long long)stats.orders.channel_queries);
    std::string more = extra;
    if (v.providers)
      more += ",\"channel_orders\":" + std::to_string(v.providers->orders) + ",\"providers_agree\":" +
              std::to_string(v.providers->matched) + ",\"rerouted\":" + std::to_string(stats.orders.channel_reroutes);
    print_result("demo_mixed", mixed, true, more);
    return;
  }
  print_result("mixed", mixed, false, "");
  std::printf("engine: %llu orders final (%llu succeeded, %llu failed), %llu refused, %llu repeats answered "
              "with the original order, %llu step resends, %llu channel queries, %llu alerts, "
              "%zu wallets (%zu active)\n",
              (unsigned long long)(stats.orders.succeeded + stats.orders.failed),
              (unsigned long long)stats.orders.succeeded, (unsigned long long)stats.orders.failed,
              (unsigned long long)stats.orders.refused, (unsigned long long)stats.orders.duplicates,
              (unsigned long long)stats.orders.step_resends, (unsigned long long)stats.orders.channel_queries,
              (unsigned long long)stats.orders.alerts, stats.wallets, stats.active_wallets);
  auto check = [](bool ok, const std::string& what) { std::printf("  [%s] %s\n", ok ? "PASS" : "FAIL", what.c_str()); };
  std::printf("invariants:\n");
  check(v.conservation, "sum of all balances per currency is zero (USD: " + std::to_string(v.usd_sum) + ")");
  check(v.limits_ok, "no balance below its allowed limit (" + std::to_string(v.audit.below_limit) + " violations)");
  check(v.all_final, "every order is final (" + std::to_string(stats.orders.in_flight) + " not final)");
  check(v.replay_ok, "replaying the succeeded orders gives every wallet's balance (" +
                         std::to_string(v.replay_mismatches) + " mismatches), and every wallet's journal replays");
  check(v.repeats_ok, "every repeated request id answered with its original order (" +
                          std::to_string(load.repeats_answered) + "/" + std::to_string(load.repeats_sent) + ")");
  if (eng.persistent()) check(v.stored_ok, "MySQL, committed: " + v.stored_summary);
  if (v.providers) {
    const auto& r = *v.providers;
    check(r.ok(), "every top-up and withdrawal agrees with the providers' statements (" + std::to_string(r.matched) +
                      "/" + std::to_string(r.orders) + "; " + std::to_string(r.rerouted) +
                      " paid by provider 8 after provider 7's declared decline, " +
                      std::to_string(stats.orders.channel_reroutes) + " re-routed)");
    for (const auto& m : r.mismatches) std::printf("    %s\n", m.c_str());
    std::printf("%s", r.provider_counts.c_str());
    for (const auto& [id, c] : eng.provider_counters())
      std::printf("engine's adapter for provider %u: %llu requests, %llu unknown answers (%llu timeouts), %llu sent "
                  "again unseen, %llu queries coalesced, %llu anomalies, circuit opened %llu times\n",
                  id, (unsigned long long)c.requests, (unsigned long long)c.unknown, (unsigned long long)c.timeouts,
                  (unsigned long long)c.retried_unseen, (unsigned long long)c.queries_coalesced,
                  (unsigned long long)c.anomalies, (unsigned long long)c.breaker_opened);
    if (const auto* cb = eng.callbacks()) {
      auto c = cb->counters();
      std::printf("callbacks: %llu received, %llu fed to orders, %llu duplicates dropped, %llu stale dropped, %llu "
                  "refused\n",
                  (unsigned long long)c.received, (unsigned long long)c.delivered, (unsigned long long)c.duplicates,
                  (unsigned long long)c.stale, (unsigned long long)(c.unauthorized + c.malformed));
    }
  }
  if (!v.audit.detail.empty()) std::printf("  audit: %s\n", v.audit.detail.c_str());
  std::printf("%s\n", v.ok() ? "demo: all invariants hold" : "demo: INVARIANT VIOLATED");
}

//! The events of everything the demo did are in Kafka: the consumers act on them
//! (apps/demo_kafka.cpp). False when that check failed.
bool kafka_phase(const demo_options& opt, engine& eng, const engine_config& config) {
#ifdef TXENGINE_DEMO_KAFKA
  if (opt.kafka.empty() || !eng.persistent()) return true;
  kafka_demo_options k;
  k.mysql_uri = opt.mysql;
  k.bootstrap = opt.kafka;
  k.engine_prefix = config.storage->prefix;
  k.json = opt.json;
  bool kafka_ok = run_kafka_demo_phase(eng, k);
  if (!opt.json)
    std::printf("%s\n", kafka_ok ? "demo: events flowed through Kafka, one delivery request and one commission per payment"
                                 : "demo: KAFKA CHECK FAILED");
  return kafka_ok;
#else
  (void)eng;
  (void)config;
  if (!opt.kafka.empty() && !opt.json) {
    std::printf("txengine demo: built without the consumers; events published, not consumed\n");
    std::fflush(stdout);
  }
  return true;
#endif
}

int run_demo(const demo_options& opt) {
  auto log = [&](const char* format, auto... args) {
    if (!opt.json) std::printf(format, args...);
    std::fflush(stdout);
  };
  engine_config config;
  if (!demo_engine_config(opt, config)) return 3;
  // The channel orders go to txprovider-sim over HTTP when the program is there.
  std::unique_ptr<demo_providers> providers;
  std::string sim = opt.provider_sim.empty() ? provider_sim_next_to_self() : opt.provider_sim;
  if (sim != "none" && !sim.empty()) {
    std::string error;
    providers = demo_providers::start(sim, config, error);
    if (!providers) {
      std::fprintf(stderr, "txengine demo: txprovider-sim (%s): %s\n", sim.c_str(), error.c_str());
      return 3;
    }
  }
  const channel_id channel = providers ? 0 : demo_channel;  // 0: the engine's route chooses
  channel_log channel_orders;
  std::unique_ptr<engine> engine_owner;
  try {
    engine_owner = std::make_unique<engine>(config);
  } catch (const storage_unavailable& e) {
    std::fprintf(stderr, "txengine demo: %s\n", e.what());
    return 3;
  }
  engine& eng = *engine_owner;
  log("txengine demo: storage %s%s; %zu users, %zu merchants, %llu orders\n", eng.storage_description().c_str(),
      eng.persistent() ? "" : " -- IN MEMORY ONLY, NOTHING IS PERSISTED", opt.users, opt.merchants,
      (unsigned long long)opt.orders);
  log("txengine demo: publication %s\n", eng.publication_description().c_str());
  if (providers) log("txengine demo: payment providers over HTTP (txprovider-sim, docs/channels.md)\n%s",
                     providers->describe().c_str());
  else log("txengine demo: payment provider simulated in this process (channel 1)\n");
  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, demo_tenant, usd, wallet_kind::user, opt.users);
  auto merchants = create_wallets(eng, demo_tenant, usd, wallet_kind::merchant, opt.merchants);
  auto fee = create_wallets(eng, demo_tenant, usd, wallet_kind::fee, 1);
  wallet_id system = eng.system_wallet(demo_tenant, usd);
  replay_model model;

  load_options options;
  options.concurrency = opt.concurrency;
  options.progress = [&](uint64_t done, uint64_t total) {
    auto s = eng.stats();
    log("  progress: %llu/%llu orders answered, %llu in flight, %llu channel queries, %llu alerts\n",
        (unsigned long long)done, (unsigned long long)total, (unsigned long long)s.orders.in_flight,
        (unsigned long long)s.orders.channel_queries, (unsigned long long)s.orders.alerts);
  };
  funding_load funding(users, system, model, channel, providers ? &channel_orders : nullptr);
  options.orders = users.size();
  log("funding: one top-up per user through the %s\n", providers ? "providers" : "simulated channel");
  print_result("funding", run_load(eng, funding, options), opt.json, "");

  mixed_load load(users, merchants, fee[0], system, model, "demo-", channel, providers ? &channel_orders : nullptr);
  options.orders = opt.orders;
  log("mixed: transfers, payments (half with a fee split), top-ups, withdrawals, refunds, commissions\n");
  load_result mixed = run_load(eng, load, options);

  invariants v = check_invariants(eng, model, load);
  if (eng.persistent()) check_stored(eng, *config.storage, v);
  if (providers) v.providers = providers->reconcile(channel_orders);
  print_summary(opt, eng, mixed, load, v);
  if (!v.ok()) return 1;
  return kafka_phase(opt, eng, config) ? 0 : 1;
}

}  // namespace

cli::command demo_command(CLI::App& txengine_app) {
  auto opt = std::make_shared<demo_options>();
  CLI::App* cmd = txengine_app.add_subcommand(
      "demo", "run a mixed workload (all six order kinds; top-ups and withdrawals through txprovider-sim's "
              "misbehaving providers) on the engine and check the invariants");
  add_options(*cmd, *opt);
  return {cmd, [opt] { return run_demo(*opt); }};
}

}  // namespace txengine
