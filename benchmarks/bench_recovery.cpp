// bench_recovery: recovery at scale (issue 12, item 8). Leaves N non-final orders in MySQL the
// way a crash does, restarts an engine on them and measures how long it takes to load them,
// to resume them and until all are final, and the memory it takes meanwhile.
//
// Seeding (a child process, so its memory does not count against the restart): an engine on
// MySQL (databases <prefix>_*, dropped first) creates W user wallets over several tenants,
// funds them through a fast simulated provider, then submits N top-ups and withdrawals
// through a provider that never answers (its latency is an hour). Each one writes what the
// engine writes for a channel order mid-flight: its intent (order row, open_orders row,
// request id), its wallet tries (fund movements, TCC records left `tried`) and its
// `processing` row. Once N are in flight and committed (sync), the writer stops as a
// `kill -9` would (engine::stop_storage_now) and the child exits without cleaning up.
//
// Restart (this process): a new engine on the same databases, with a provider that behaves
// (it has forgotten every order, like the simulated one after a restart: "not found", a
// decline once channel_not_found_final_ms passed since the stored submit). Measured from the
// engine's construction: loaded (recovery report done: every non-final order read and handed
// to its host), resumed (stats: every one resumed by its host), all final (nothing in flight),
// and the peak RSS (VmHWM). Then the committed data is audited (sums, movements, side tables,
// no order left non-final, no TCC record left tried).
//
// Targets: loaded and resumed within 60 s, all final within 5 minutes.
//
// Usage: bench_recovery [--orders N] [--wallets W] [--tenants T] [--withdraw-percent P]
//                       [--mysql URI] [--prefix NAME] [--final-timeout-s S] [--json]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "node/engine.hpp"
#include "apps/mysql_cli.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"

using namespace txengine;
namespace db = txengine::persistence;

namespace {

using steady = std::chrono::steady_clock;

constexpr channel_id stuck_channel = 1;    //!< the seeding provider: never answers in time
constexpr channel_id funding_channel = 9;  //!< a provider that behaves, for the funding
constexpr int64_t user_funding = 1'000'000'000;
constexpr int64_t hour_ms = 3'600'000;
//! Non-final orders the seeding engine may hold (above the default, for N up to this).
constexpr size_t seed_in_flight_max = size_t{1} << 21;
constexpr uint64_t orders_max = 2'000'000;
//! The seeding engine's try deadline, and the pace of its submissions (orders per 100 ms).
constexpr int64_t seed_try_deadline_ms = 120'000;
constexpr uint64_t seed_orders_per_tick = 3'000;

struct options {
  uint64_t orders = 1'000'000;
  size_t wallets = 100'000;
  uint32_t tenants = 4;
  uint32_t withdraw_percent = 30;
  std::string mysql = "mysql://txengine:txengine@127.0.0.1:3407";
  std::string prefix = "txbench_recovery";
  uint64_t final_timeout_s = 600;
  bool json = false;
};

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

//! Resident and peak resident memory of this process in MiB (/proc/self/status).
std::pair<double, double> rss_and_peak_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return {0, 0};
  char line[256];
  double rss = 0, peak = 0;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long kib = 0;
    if (std::sscanf(line, "VmRSS: %llu kB", &kib) == 1) rss = static_cast<double>(kib) / 1024.0;
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) peak = static_cast<double>(kib) / 1024.0;
  }
  std::fclose(f);
  return {rss, peak};
}

db::shard_layout layout_of(const options& opt) {
  db::shard_layout layout;
  layout.prefix = opt.prefix;
  return layout;
}

int64_t count_rows(db::mysql_connection& conn, const db::shard_layout& layout, const char* family,
                   const std::string& where) {
  int64_t total = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      total += conn.query_int("SELECT COUNT(*) FROM " + layout.table_at(family, d, t) + " WHERE " + where);
  return total;
}

engine_config base_config(const options& opt) {
  engine_config config;
  storage_config storage;
  storage.uri = opt.mysql;
  storage.prefix = opt.prefix;
  storage.ack = ack_mode::durable;
  config.storage = storage;
  channel_config clean;
  clean.latency_ms = 1;
  clean.decline_ppm = clean.reply_lost_ppm = clean.reply_unknown_ppm = clean.submit_lost_ppm = clean.partial_ppm = 0;
  config.channels = {{stuck_channel, clean}, {funding_channel, clean}};
  return config;
}

// ---------------------------------------------------------------------------------------------
// Seeding (child process)

struct seed_counters {
  std::atomic<uint64_t> refused{0};  //!< answered without an order (writer high water): not in flight
  std::atomic<uint64_t> final{0};    //!< answered with a final state (a try deadline passed under load)
};

caf::behavior reply_sink(caf::event_based_actor*, seed_counters* counters) {
  return {
      [=](replies_atom, const std::vector<order_reply>& replies) {
        for (const auto& reply : replies) {
          if (reply.id == 0) counters->refused.fetch_add(1, std::memory_order_relaxed);
          else counters->final.fetch_add(1, std::memory_order_relaxed);
        }
      },
  };
}

order_command seed_command(uint64_t n, const std::vector<std::vector<wallet_id>>& users, uint32_t withdraw_percent,
                           std::mt19937_64& rng) {
  size_t tenant_index = n % users.size();
  const auto& wallets = users[tenant_index];
  order_command c;
  c.tenant = static_cast<tenant_id>(tenant_index + 1);
  c.request_id = "r" + std::to_string(n);
  c.cur = *currency::parse("USD");
  c.amount = 100 + static_cast<int64_t>(rng() % 20'000);
  c.channel = stuck_channel;
  if (rng() % 100 < withdraw_percent) {
    c.kind = order_kind::withdraw;
    c.source = wallets[rng() % wallets.size()];
  } else {
    c.kind = order_kind::top_up;
    c.destination = wallets[rng() % wallets.size()];
  }
  return c;
}

//! Submits until `opt.orders` orders are in flight, keeping the writer's backlog low.
void submit_until_in_flight(engine& eng, const options& opt, const std::vector<std::vector<wallet_id>>& users) {
  seed_counters counters;
  auto sink = eng.system().spawn(reply_sink, &counters);
  std::mt19937_64 rng{12};
  uint64_t sent = 0;
  auto started = steady::now();
  auto last_print = started;
  for (;;) {
    uint64_t answered = counters.refused.load() + counters.final.load();
    uint64_t pending = sent - answered;  // accepted or not yet answered
    engine_stats stats = eng.stats();
    if (pending >= opt.orders) {
      std::this_thread::sleep_for(std::chrono::seconds(2));  // tries settle; late refusals come back
      stats = eng.stats();
      if (stats.orders.in_flight >= opt.orders) break;
      if (sent - counters.refused.load() - counters.final.load() >= opt.orders) continue;
    }
    if (stats.storage_rows_queued > 150'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    uint64_t chunk = std::min<uint64_t>(seed_orders_per_tick, opt.orders - std::min(opt.orders, pending));
    std::vector<std::vector<submit_item>> by_host(eng.hosts().size());
    for (uint64_t i = 0; i < chunk; ++i) {
      order_command c = seed_command(++sent, users, opt.withdraw_percent, rng);
      const order_host_actor& host = eng.host_for(c.tenant, c.request_id);
      size_t index = static_cast<size_t>(&host - eng.hosts().data());
      by_host[index].push_back(submit_item{sent, std::move(c)});
    }
    for (size_t h = 0; h < by_host.size(); ++h)
      if (!by_host[h].empty()) caf::send_as(sink, eng.hosts()[h], submit_atom::value, std::move(by_host[h]));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (seconds_since(last_print) >= 5) {
      last_print = steady::now();
      std::fprintf(stderr, "seed: %.0f s: %llu sent, %llu in flight, %llu refused, %llu final, %lld rows queued\n",
                   seconds_since(started), (unsigned long long)sent, (unsigned long long)stats.orders.in_flight,
                   (unsigned long long)counters.refused.load(), (unsigned long long)counters.final.load(),
                   (long long)stats.storage_rows_queued);
    }
  }
  anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

//! The child's whole work; never returns (exits as a crash would, without cleaning up).
[[noreturn]] void seed(const options& opt) {
  auto started = steady::now();
  try {
    {
      db::mysql_endpoint endpoint;
      db::parse_mysql_uri(opt.mysql, endpoint);
      db::mysql_thread_scope scope;
      db::mysql_connection conn(endpoint);
      db::drop_schema(conn, layout_of(opt));
    }
    engine_config config = base_config(opt);
    config.orders_in_flight_max = seed_in_flight_max;
    config.order.channel_submit_timeout_ms = hour_ms;  // never query the provider that never answers
    config.order.channel_query_max_interval_ms = hour_ms;
    config.order.processing_alert_ms = hour_ms;
    // Under this load a system wallet's shard may answer tries late; an order whose tries miss
    // their deadline fails and is of no use here (it would leave nothing to recover).
    config.order.try_deadline_ms = seed_try_deadline_ms;
    channel_config stuck = config.channels[0].second;
    stuck.latency_ms = hour_ms;
    stuck.queue_max = seed_in_flight_max;
    config.channels[0].second = stuck;
    auto* eng = new engine(config);  // never destroyed: the process ends as if killed
    currency usd = *currency::parse("USD");
    std::vector<std::vector<wallet_id>> users;
    for (uint32_t t = 1; t <= opt.tenants; ++t) {
      users.push_back(create_wallets(*eng, t, usd, wallet_kind::user, opt.wallets / opt.tenants));
      auto funded = fund_wallets(*eng, t, usd, funding_channel, users.back(), user_funding, 2'000, "fund-");
      if (funded.succeeded != users.back().size()) throw std::runtime_error("funding incomplete");
    }
    if (!eng->wait_until_quiet(std::chrono::seconds(120))) throw std::runtime_error("funding still in flight");
    std::fprintf(stderr, "seed: %zu wallets over %u tenants created and funded in %.1f s\n", opt.wallets, opt.tenants,
                 seconds_since(started));
    submit_until_in_flight(*eng, opt, users);
    if (!eng->sync_storage(std::chrono::seconds(600))) throw std::runtime_error("storage did not sync");
    eng->stop_storage_now();
    std::fprintf(stderr, "seed: %llu orders in flight and committed, writer stopped, %.1f s in all\n",
                 (unsigned long long)eng->stats().orders.in_flight, seconds_since(started));
    std::fflush(stderr);
    std::_Exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seed: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
}

// ---------------------------------------------------------------------------------------------
// Restart (this process)

struct restart_result {
  int64_t open_rows = 0;       //!< open_orders rows before the restart
  int64_t non_final_rows = 0;  //!< order rows not final before the restart
  recovery_report report;
  double construct_s = 0, loaded_s = -1, resumed_s = -1, final_s = -1;
  double rss_before_mib = 0, rss_peak_mib = 0, rss_end_mib = 0;
  uint64_t in_flight_peak = 0;
  uint64_t succeeded = 0, failed = 0;
  std::string audit_summary;
  bool audit_ok = false;
  bool loaded_ok() const { return loaded_s >= 0 && resumed_s >= 0 && resumed_s <= 60; }
  bool final_ok() const { return final_s >= 0 && final_s <= 300; }
  bool ok() const { return loaded_ok() && final_ok() && audit_ok && report.orders >= static_cast<uint64_t>(non_final_rows); }
};

void audit_after(const options& opt, const db::mysql_endpoint& endpoint, db::mysql_connection& conn, restart_result& r) {
  auto layout = layout_of(opt);
  db::audit_report a = db::audit(endpoint, layout);
  std::string extra;
  if (int64_t open = count_rows(conn, layout, "orders", "is_final=0"); open != 0)
    extra += "; " + std::to_string(open) + " orders not final";
  if (int64_t open = count_rows(conn, layout, "tcc_records", "state=0"); open != 0)
    extra += "; " + std::to_string(open) + " TCC records still tried";
  r.audit_ok = a.ok && extra.empty();
  r.audit_summary = a.summary() + extra;
}

restart_result restart(const options& opt) {
  restart_result r;
  db::mysql_endpoint endpoint;
  db::parse_mysql_uri(opt.mysql, endpoint);
  db::mysql_thread_scope scope;
  db::mysql_connection conn(endpoint);
  auto layout = layout_of(opt);
  r.open_rows = count_rows(conn, layout, "open_orders", "1=1");
  r.non_final_rows = count_rows(conn, layout, "orders", "is_final=0");
  r.rss_before_mib = rss_and_peak_mib().first;
  if (!opt.json)
    std::printf("before the restart: %lld order rows not final, %lld open_orders rows; RSS %.0f MiB\n",
                (long long)r.non_final_rows, (long long)r.open_rows, r.rss_before_mib);
  if (!opt.json)
    std::printf("%8s %10s %10s %10s %10s %10s %9s\n", "t s", "read", "resumed", "in flight", "final", "rows queued",
                "RSS MiB");
  auto started = steady::now();
  engine eng(base_config(opt));
  r.construct_s = seconds_since(started);
  auto last_print = steady::now() - std::chrono::seconds(10);
  for (;;) {
    recovery_report report = eng.recovery();
    engine_stats stats = eng.stats();
    double t = seconds_since(started);
    auto [rss, peak] = rss_and_peak_mib();
    r.in_flight_peak = std::max(r.in_flight_peak, stats.orders.in_flight);
    if (report.done && r.loaded_s < 0) r.loaded_s = t;
    if (report.done && r.resumed_s < 0 && stats.orders.resumed >= report.orders) r.resumed_s = t;
    bool all_final = r.resumed_s >= 0 && stats.orders.in_flight == 0;
    if (!opt.json && (all_final || steady::now() - last_print >= std::chrono::seconds(5))) {
      last_print = steady::now();
      std::printf("%8.1f %10llu %10llu %10llu %10llu %10lld %9.0f\n", t, (unsigned long long)report.orders,
                  (unsigned long long)stats.orders.resumed, (unsigned long long)stats.orders.in_flight,
                  (unsigned long long)(stats.orders.succeeded + stats.orders.failed), (long long)stats.storage_rows_queued,
                  rss);
      std::fflush(stdout);
    }
    if (all_final) {
      r.final_s = t;
      r.report = report;
      r.succeeded = stats.orders.succeeded;
      r.failed = stats.orders.failed;
      break;
    }
    if (t > static_cast<double>(opt.final_timeout_s)) {
      r.report = report;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  eng.sync_storage(std::chrono::seconds(600));
  std::tie(r.rss_end_mib, r.rss_peak_mib) = rss_and_peak_mib();
  audit_after(opt, endpoint, conn, r);
  return r;
}

std::string number_or_null(double v) {
  if (v < 0) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

void print(const options& opt, const restart_result& r, double seed_s) {
  if (opt.json) {
    std::printf(
        "{\"orders\":%llu,\"non_final_rows\":%lld,\"open_orders_rows\":%lld,\"recovered\":%llu,\"resumed\":%llu,"
        "\"seed_s\":%.1f,\"construct_s\":%.2f,\"loaded_s\":%s,\"resumed_s\":%s,\"final_s\":%s,\"recovery_report_ms\":%lld,"
        "\"succeeded\":%llu,\"failed\":%llu,\"in_flight_peak\":%llu,\"rss_before_mib\":%.1f,\"rss_peak_mib\":%.1f,"
        "\"rss_end_mib\":%.1f,\"audit_ok\":%s,\"loaded_resumed_60s\":%s,\"final_300s\":%s,\"ok\":%s}\n",
        (unsigned long long)opt.orders, (long long)r.non_final_rows, (long long)r.open_rows,
        (unsigned long long)r.report.orders, (unsigned long long)r.report.resumed, seed_s, r.construct_s,
        number_or_null(r.loaded_s).c_str(), number_or_null(r.resumed_s).c_str(), number_or_null(r.final_s).c_str(),
        (long long)r.report.elapsed_ms, (unsigned long long)r.succeeded, (unsigned long long)r.failed,
        (unsigned long long)r.in_flight_peak, r.rss_before_mib, r.rss_peak_mib, r.rss_end_mib,
        r.audit_ok ? "true" : "false", r.loaded_ok() ? "true" : "false", r.final_ok() ? "true" : "false",
        r.ok() ? "true" : "false");
    return;
  }
  std::printf("\nrecovery: %s\n", r.report.summary().c_str());
  std::printf("%-34s %s s\n", "seeding (child process)", number_or_null(seed_s).c_str());
  std::printf("%-34s %s s\n", "engine constructed", number_or_null(r.construct_s).c_str());
  std::printf("%-34s %s s\n", "loaded (recovery report done)", number_or_null(r.loaded_s).c_str());
  std::printf("%-34s %s s  (target 60 s: %s)\n", "resumed (every order in its host)", number_or_null(r.resumed_s).c_str(),
              r.loaded_ok() ? "met" : "MISSED");
  std::printf("%-34s %s s  (target 300 s: %s)\n", "all final", number_or_null(r.final_s).c_str(),
              r.final_ok() ? "met" : "MISSED");
  std::printf("%-34s %llu succeeded, %llu failed\n", "outcome", (unsigned long long)r.succeeded,
              (unsigned long long)r.failed);
  std::printf("%-34s before %.0f MiB, peak %.0f MiB, end %.0f MiB; %llu orders in flight at most\n", "memory (RSS)",
              r.rss_before_mib, r.rss_peak_mib, r.rss_end_mib, (unsigned long long)r.in_flight_peak);
  std::printf("%-34s %s\n", "audit", r.audit_summary.c_str());
  std::printf("bench_recovery %s\n", r.ok() ? "PASSED" : "FAILED");
}

void add_options(CLI::App& app, options& opt) {
  cli::add_number(app, "--orders", opt.orders, "non-final orders to leave in MySQL", 1, orders_max);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets over all tenants", 2, 10'000'000);
  cli::add_number(app, "--tenants", opt.tenants, "tenants, each with its own system wallet", 1, 64);
  cli::add_number(app, "--withdraw-percent", opt.withdraw_percent, "withdrawals among the orders, the rest top-ups",
                  0, 100);
  app.add_option("--mysql", opt.mysql, "the MySQL server")
      ->capture_default_str()
      ->type_name("URI")
      ->check(cli::mysql_uri());
  app.add_option("--prefix,--db-prefix", opt.prefix, "databases <prefix>_* (dropped first)")
      ->capture_default_str()
      ->type_name("NAME")
      ->check(cli::database_prefix());
  cli::add_number(app, "--final-timeout-s", opt.final_timeout_s, "give up waiting for all final after this many seconds",
                  1, 86'400);
  app.add_flag("--json", opt.json, "the result as one JSON object");
}

//! The command line; -1 to go on, else the exit code.
int parse(int argc, char** argv, options& opt) {
  CLI::App app{"bench_recovery: N non-final orders left in MySQL as a crash leaves them, then the time to load, "
               "resume and finish them after a restart",
               "bench_recovery"};
  add_options(app, opt);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  if (opt.wallets < 2 * opt.tenants) {
    std::fprintf(stderr, "bench_recovery: --wallets must be at least 2 per tenant\n");
    return cli::exit_usage;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;
  std::fflush(stdout);
  auto seed_started = steady::now();
  pid_t child = fork();  // before any thread: the child seeds and dies, the parent restarts
  if (child < 0) {
    std::fprintf(stderr, "bench_recovery: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (child == 0) seed(opt);
  int status = 0;
  if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_recovery: seeding failed\n");
    return 1;
  }
  double seed_s = seconds_since(seed_started);
  try {
    restart_result r = restart(opt);
    print(opt, r, seed_s);
    return r.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_recovery: %s\n", e.what());
    return 1;
  }
}
