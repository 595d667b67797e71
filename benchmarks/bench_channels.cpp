// bench_channels: channel orders end to end through the HTTP provider adapters (issue 15, item 7)
// against the txprovider-sim program at a fixed provider latency.
//   topup_http   top-ups (money in: payments at the provider)
//   payout_http  withdrawals (payouts), from wallets funded first through a simulated channel
// Each workload also runs its baseline in the same sitting: the same orders through the
// in-process simulated provider at the same latency (no HTTP, no second process). The ratio is
// HTTP / in-process. engine_cpu_us_per_order is this process's CPU (the engine and the load
// driver) per order; provider_cpu_us_per_order the simulator's (it shares the machine).
//
// Usage: bench_channels [--orders N] [--concurrency C] [--latency-ms L] [--submit-inflight N]
//                       [--query-inflight N] [--workload NAME] [--sim PATH] [--json]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include "apps/cli.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#include "apps/provider_sim_process.hpp"
#include "node/engine.hpp"

using namespace txengine;

namespace {

constexpr tenant_id bench_tenant = 1;
constexpr channel_id http_channel = 1;
constexpr channel_id local_channel = 2;
constexpr channel_id funding_channel = 9;

struct options {
  uint64_t orders = 20'000;
  size_t wallets = 1'000;
  uint32_t concurrency = 500;
  int64_t latency_ms = 5;
  size_t submit_inflight = 64;
  size_t query_inflight = 32;
  std::string only;
  std::string sim;
  bool json = false;
};

//! The txprovider-sim program on a free port, its profile and journal in a temporary directory.
struct sim_process {
  std::string dir;
  std::unique_ptr<provider_sim_process> process;
  explicit sim_process(const options& opt) {
    dir = (std::filesystem::temp_directory_path() / ("bench_channels_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/profile.toml") << "seed = 1\n[latency]\nmin_ms = " << opt.latency_ms
                                         << "\nmax_ms = " << opt.latency_ms << "\n";
    process = std::make_unique<provider_sim_process>(
        opt.sim, std::vector<std::string>{"--profile", dir + "/profile.toml", "--state-dir", dir + "/state", "--threads",
                                          std::to_string(opt.submit_inflight + opt.query_inflight + 32)});
  }
  ~sim_process() {
    process->end(SIGTERM);
    std::filesystem::remove_all(dir);
  }
  int port() const { return process->port(); }
  double cpu_s() const { return process->cpu_s(); }
};

struct row {
  std::string name;
  load_result http;
  load_result local;
  double provider_cpu_s = 0;
};

class channel_load : public workload {
 public:
  channel_load(const std::vector<wallet_id>& wallets, order_kind kind, channel_id channel, std::string prefix)
      : wallets_(wallets), kind_(kind), channel_(channel), prefix_(std::move(prefix)) {}
  order_command next(uint64_t sequence) override {
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.kind = kind_;
    (kind_ == order_kind::top_up ? c.destination : c.source) = wallets_[sequence % wallets_.size()];
    c.amount = 1 + static_cast<int64_t>(sequence % 100);
    c.cur = *currency::parse("USD");
    c.channel = channel_;
    return c;
  }

 private:
  const std::vector<wallet_id>& wallets_;
  order_kind kind_;
  channel_id channel_;
  std::string prefix_;
};

engine_config make_config(const options& opt, int sim_port) {
  engine_config config;
  channel_config local;  // the baseline and the funding: the simulated provider, well behaved
  local.decline_ppm = local.reply_lost_ppm = local.reply_unknown_ppm = local.submit_lost_ppm = local.partial_ppm = 0;
  local.latency_ms = opt.latency_ms;
  channel_config funding = local;
  funding.latency_ms = 1;
  config.channels = {{local_channel, local}, {funding_channel, funding}};
  http_provider_settings http;
  http.base_url = "http://127.0.0.1:" + std::to_string(sim_port);
  http.api_key = "txsim-merchant";
  http.secret = "txsim-secret";
  http.submit_inflight_max = opt.submit_inflight;
  http.query_inflight_max = opt.query_inflight;
  config.http_channels = {{http_channel, http}};
  return config;
}

load_result run_one(engine& eng, const std::vector<wallet_id>& wallets, order_kind kind, channel_id channel,
                    const std::string& prefix, const options& opt) {
  channel_load load(wallets, kind, channel, prefix);
  load_options load_opt;
  load_opt.orders = opt.orders;
  load_opt.concurrency = opt.concurrency;
  return run_load(eng, load, load_opt);
}

row run_workload(const std::string& name, const options& opt, sim_process& sim) {
  engine eng(make_config(opt, sim.port()));
  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, bench_tenant, usd, wallet_kind::user, opt.wallets);
  order_kind kind = name == "topup_http" ? order_kind::top_up : order_kind::withdraw;
  if (kind == order_kind::withdraw) {
    auto funded = fund_wallets(eng, bench_tenant, usd, funding_channel, users, 1'000'000'000, 1'000, "fund-");
    if (funded.succeeded != users.size()) std::fprintf(stderr, "funding incomplete\n");
  }
  row r;
  r.name = name;
  double sim_before = sim.cpu_s();
  r.http = run_one(eng, users, kind, http_channel, name + "-h", opt);
  r.provider_cpu_s = sim.cpu_s() - sim_before;
  r.local = run_one(eng, users, kind, local_channel, name + "-l", opt);
  if (!eng.wait_until_quiet(std::chrono::seconds(60))) std::fprintf(stderr, "%s: orders still in flight\n", name.c_str());
  auto audit = eng.audit_wallets();
  if (!audit.ok) std::fprintf(stderr, "%s: AUDIT FAILED: %s\n", name.c_str(), audit.detail.c_str());
  for (const auto& [cur, sum] : audit.sum_by_currency)
    if (sum != 0) std::fprintf(stderr, "%s: CONSERVATION FAILED: currency %s sums to %lld\n", name.c_str(), cur.c_str(),
                               static_cast<long long>(sum));
  return r;
}

double per_order_us(double cpu_s, uint64_t orders) { return orders ? cpu_s * 1e6 / static_cast<double>(orders) : 0; }

void print_json(const row& r) {
  std::printf(
      "{\"name\":\"%s\",\"orders\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"refused\":%llu,\"ops_per_s\":%.0f,"
      "\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"engine_cpu_us_per_order\":%.1f,"
      "\"provider_cpu_us_per_order\":%.1f,\"baseline_ops_per_s\":%.0f,\"baseline_p50_us\":%.0f,\"ratio\":%.3f}\n",
      r.name.c_str(), (unsigned long long)r.http.orders, (unsigned long long)r.http.succeeded,
      (unsigned long long)r.http.failed, (unsigned long long)r.http.refused, r.http.ops_per_s, r.http.p50_us,
      r.http.p99_us, r.http.max_us, per_order_us(r.http.cpu_s, r.http.orders),
      per_order_us(r.provider_cpu_s, r.http.orders), r.local.ops_per_s, r.local.p50_us,
      r.local.ops_per_s > 0 ? r.http.ops_per_s / r.local.ops_per_s : 0);
  std::fflush(stdout);
}

void print_table(const std::vector<row>& rows) {
  std::printf("%-12s %8s %10s %9s %9s %9s %12s %14s %14s %7s\n", "workload", "orders", "ops/s", "p50 us", "p99 us",
              "failed", "engine us/op", "provider us/op", "baseline ops/s", "ratio");
  for (const auto& r : rows)
    std::printf("%-12s %8llu %10.0f %9.0f %9.0f %9llu %12.1f %14.1f %14.0f %7.3f\n", r.name.c_str(),
                (unsigned long long)r.http.orders, r.http.ops_per_s, r.http.p50_us, r.http.p99_us,
                (unsigned long long)r.http.failed, per_order_us(r.http.cpu_s, r.http.orders),
                per_order_us(r.provider_cpu_s, r.http.orders), r.local.ops_per_s,
                r.local.ops_per_s > 0 ? r.http.ops_per_s / r.local.ops_per_s : 0);
  std::printf("baseline: the same orders through the in-process simulated provider at the same latency\n");
  std::printf("engine us/op: this process's CPU per order; provider us/op: txprovider-sim's (same machine)\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_channels: channel orders through the HTTP adapters against txprovider-sim", "bench_channels"};
  options opt;
  opt.sim = (std::filesystem::path(argv[0]).parent_path() / ".." / "apps" / "txprovider-sim").string();
  cli::add_number(app, "--orders", opt.orders, "orders a workload", 1);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets", 1);
  cli::add_number(app, "--concurrency", opt.concurrency, "orders outstanding at a time", 1);
  cli::add_number(app, "--latency-ms", opt.latency_ms, "the provider's latency", 0, 10'000);
  cli::add_number(app, "--submit-inflight", opt.submit_inflight, "the adapter's submit in-flight cap", 1, 10'000);
  cli::add_number(app, "--query-inflight", opt.query_inflight, "the adapter's query in-flight cap", 1, 10'000);
  cli::add_choice(app, "--workload", opt.only, "only this workload (default: both)", {"topup_http", "payout_http"});
  app.add_option("--sim", opt.sim, "the txprovider-sim program")->capture_default_str();
  app.add_flag("--json", opt.json, "one JSON object a workload");
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  try {
    sim_process sim(opt);
    std::vector<row> rows;
    for (std::string name : {"topup_http", "payout_http"}) {
      if (!opt.only.empty() && opt.only != name) continue;
      rows.push_back(run_workload(name, opt, sim));
      if (opt.json) print_json(rows.back());
    }
    if (!opt.json) print_table(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_channels: %s\n", e.what());
    return 1;
  }
  return 0;
}
