// bench_publication: publication lag (issue 5) while the engine runs the durable transfer
// workload. The engine runs on MySQL storage (durable acks, databases txbench_pub_*, dropped
// first) with Kafka publication to an in-process mock cluster (librdkafka's rdkafka_mock, 3
// brokers on loopback) or to --bootstrap SERVERS. Measured: order throughput and latency, and
// the publication lag per event, from the outbox row's created_ms (the writer building the
// final order's transaction) to the producer's delivery report (acks=all), p50/p99/max; the
// largest unpublished count and oldest unpublished age seen while the load ran. Afterwards the
// topic is read back (mock cluster): every order's event must be there (distinct event ids).
//
// Usage: bench_publication [--orders N] [--wallets W] [--concurrency C] [--mysql URI]
//                          [--bootstrap SERVERS] [--lag-target-ms MS] [--json]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node/engine.hpp"
#include "apps/cli.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "publication/mock_cluster.hpp"

using namespace txengine;

namespace {

constexpr tenant_id bench_tenant = 1;
constexpr channel_id funding_channel = 9;
const std::string topic = "txengine.orders.finalized";
constexpr int partitions = 6;

struct options {
  uint64_t orders = 100'000;
  size_t wallets = 10'000;
  uint32_t concurrency = 1'000;
  std::string mysql;
  std::string bootstrap;  //!< empty: an in-process mock cluster
  int64_t lag_target_ms = 200;
  bool json = false;
};

//! Transfers of 1..100 cents between two distinct wallets chosen uniformly.
class uniform_transfers : public workload {
 public:
  explicit uniform_transfers(const std::vector<wallet_id>& wallets) : wallets_(wallets) {}
  order_command next(uint64_t sequence) override {
    size_t a = rng_() % wallets_.size();
    size_t b = (a + 1 + rng_() % (wallets_.size() - 1)) % wallets_.size();
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = "pub-" + std::to_string(sequence);
    c.kind = order_kind::transfer;
    c.source = wallets_[a];
    c.destination = wallets_[b];
    c.amount = 1 + static_cast<int64_t>(sequence % 100);
    c.cur = *currency::parse("USD");
    return c;
  }
  void on_reply(const order_command&, const order_reply& reply) override {
    if (reply.id != 0) ids.push_back(reply.id);
  }
  std::vector<order_id> ids;

 private:
  const std::vector<wallet_id>& wallets_;
  std::mt19937_64 rng_{11};
};

void add_options(CLI::App& app, options& opt) {
  if (const char* uri = std::getenv("TXENGINE_MYSQL_URI"); uri && *uri) opt.mysql = uri;
  if (opt.mysql.empty()) opt.mysql = storage_config{}.uri;
  cli::add_number(app, "--orders", opt.orders, "transfers measured", 1);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets", 2);
  cli::add_number(app, "--concurrency", opt.concurrency, "orders outstanding at a time", 1);
  app.add_option("--mysql", opt.mysql, "MySQL server (databases txbench_pub_*, dropped first; default "
                                       "TXENGINE_MYSQL_URI or the private server)")
      ->capture_default_str()
      ->type_name("URI");
  app.add_option("--bootstrap", opt.bootstrap, "Kafka bootstrap servers (default: an in-process mock cluster)")
      ->type_name("SERVERS");
  cli::add_number(app, "--lag-target-ms", opt.lag_target_ms, "the p99 publication lag to meet", 1);
  app.add_flag("--json", opt.json, "the result as one JSON object");
}

engine_config bench_config(const options& opt, const std::string& bootstrap) {
  engine_config config;
  channel_config clean;
  clean.latency_ms = 1;
  clean.decline_ppm = clean.reply_lost_ppm = clean.reply_unknown_ppm = clean.submit_lost_ppm = clean.partial_ppm = 0;
  config.channels = {{funding_channel, clean}};
  storage_config storage;
  storage.uri = opt.mysql;
  storage.prefix = "txbench_pub";
  storage.ack = ack_mode::durable;
  storage.kafka.bootstrap_servers = bootstrap;
  storage.kafka.topic = topic;
  config.storage = storage;
  return config;
}

//! Drops the benchmark's databases; 0, or the exit code with the error printed.
int drop_databases(const storage_config& storage) {
  try {
    persistence::mysql_endpoint endpoint;
    std::string why;
    if (!persistence::parse_mysql_uri(storage.uri, endpoint, &why)) {
      std::fprintf(stderr, "bench_publication: bad --mysql URI: %s\n", why.c_str());
      return 2;
    }
    persistence::mysql_thread_scope scope;
    persistence::mysql_connection conn(endpoint);
    persistence::shard_layout layout;
    layout.prefix = storage.prefix;
    persistence::drop_schema(conn, layout);  // start from empty databases
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_publication: MySQL: %s\n", e.what());
    return 3;
  }
  return 0;
}

bool drained(engine& eng, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (eng.publication().unpublished > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

//! What the measured load gave.
struct measurement {
  load_result result;
  publication_stats before, after;
  uint64_t published = 0;
  int64_t unpublished_max = 0, age_max_ms = 0;
  bool all_drained = false;
  std::vector<order_id> ids;
  //! Read back from the topic (with the in-process cluster only).
  size_t distinct = 0, messages = 0;
};

measurement measure(engine& eng, const options& opt, const std::vector<wallet_id>& users) {
  measurement m;
  eng.reset_publication_latency();
  m.before = eng.publication();
  // While the load runs: the largest backlog and oldest unpublished age.
  std::atomic<bool> running{true};
  std::thread sampler([&] {
    while (running.load()) {
      auto s = eng.publication();
      m.unpublished_max = std::max(m.unpublished_max, s.unpublished);
      m.age_max_ms = std::max(m.age_max_ms, s.oldest_unpublished_age_ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // sampling period
    }
  });
  uniform_transfers load(users);
  load_options load_opt;
  load_opt.orders = opt.orders;
  load_opt.concurrency = opt.concurrency;
  m.result = run_load(eng, load, load_opt);
  m.all_drained = drained(eng, std::chrono::seconds(120));
  running.store(false);
  sampler.join();
  m.after = eng.publication();
  m.published = m.after.delivered - m.before.delivered;
  m.ids = std::move(load.ids);
  return m;
}

//! Reads the topic back: every event of the measured orders, counted by event id.
void read_back(const std::string& bootstrap, measurement& m) {
  std::set<std::string> wanted;
  for (order_id id : m.ids) wanted.insert(std::to_string(id));
  std::set<std::string> seen;
  size_t messages = 0;
  auto read = publication::read_topic(bootstrap, topic, partitions, std::chrono::seconds(120),
                                      [&](const std::vector<publication::read_message>& got) {
                                        for (size_t i = messages; i < got.size(); ++i)
                                          if (wanted.count(got[i].key) > 0) seen.insert(got[i].key);
                                        messages = got.size();
                                        return seen.size() == wanted.size();
                                      });
  m.messages = read.size();
  m.distinct = seen.size();
}

void print_report(const options& opt, engine& eng, bool in_process, const measurement& m, bool all_published) {
  const load_result& result = m.result;
  const publication_stats& after = m.after;
  const publication_stats& before = m.before;
  uint64_t published = m.published;
  int64_t unpublished_max = m.unpublished_max, age_max_ms = m.age_max_ms;
  size_t distinct = m.distinct, messages = m.messages;
  const bool cluster = in_process;
  bool lag_ok = after.latency_p99_ms < opt.lag_target_ms;
  bool commit_lag_ok = after.commit_latency_p99_ms < opt.lag_target_ms;
  if (opt.json) {
    std::printf(
        "{\"name\":\"publication_transfer_uniform\",\"orders\":%llu,\"succeeded\":%llu,\"failed\":%llu,"
        "\"refused\":%llu,\"ops_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"events\":%llu,"
        "\"lag_p50_ms\":%lld,\"lag_p99_ms\":%lld,\"lag_max_ms\":%lld,\"commit_lag_p50_ms\":%lld,"
        "\"commit_lag_p99_ms\":%lld,\"commit_lag_max_ms\":%lld,\"unpublished_max\":%lld,"
        "\"oldest_age_max_ms\":%lld,\"delivery_failures\":%llu,\"topic_distinct\":%zu,\"all_published\":%s,"
        "\"lag_target_ms\":%lld,\"lag_ok\":%s,\"commit_lag_ok\":%s}\n",
        (unsigned long long)result.orders, (unsigned long long)result.succeeded, (unsigned long long)result.failed,
        (unsigned long long)result.refused, result.ops_per_s, result.p50_us, result.p99_us,
        (unsigned long long)published, (long long)after.latency_p50_ms, (long long)after.latency_p99_ms,
        (long long)after.latency_max_ms, (long long)after.commit_latency_p50_ms,
        (long long)after.commit_latency_p99_ms, (long long)after.commit_latency_max_ms, (long long)unpublished_max,
        (long long)age_max_ms, (unsigned long long)(after.delivery_failures - before.delivery_failures), distinct,
        all_published ? "true" : "false", (long long)opt.lag_target_ms, lag_ok ? "true" : "false",
        commit_lag_ok ? "true" : "false");
  } else {
    std::printf("engine: %s\npublication: %s%s\n", eng.storage_description().c_str(),
                eng.publication_description().c_str(), cluster ? " (in-process mock cluster, 3 brokers)" : "");
    std::printf("%-18s %7s %7s %8s %8s %7s | %-18s | %-18s | %7s %7s\n", "workload", "orders", "ops/s",
                "p50 ms", "p99 ms", "events", "lag p50/p99/max", "commit lag", "backlog", "age max");
    std::printf("%-18s %7llu %7.0f %8.1f %8.1f %7llu | %4lld/%4lld/%4lld ms | %4lld/%4lld/%4lld ms | %7lld %4lld ms\n",
                "transfer_uniform", (unsigned long long)result.orders, result.ops_per_s, result.p50_us / 1e3,
                result.p99_us / 1e3, (unsigned long long)published, (long long)after.latency_p50_ms,
                (long long)after.latency_p99_ms, (long long)after.latency_max_ms, (long long)after.commit_latency_p50_ms,
                (long long)after.commit_latency_p99_ms, (long long)after.commit_latency_max_ms,
                (long long)unpublished_max, (long long)age_max_ms);
    std::printf("lag: outbox row created (writer builds the final order's transaction) -> delivery report (acks=all)\n"
                "commit lag: that transaction committed -> delivery report (the publication's own part)\n"
                "backlog / age max: largest unpublished count and oldest unpublished age seen during the load\n");
    std::printf("read back: %zu messages, %zu of %zu events; all published: %s; lag p99 < %lld ms: %s; "
                "commit lag p99 < %lld ms: %s\n",
                messages, distinct, m.ids.size(), all_published ? "yes" : "NO", (long long)opt.lag_target_ms,
                lag_ok ? "yes" : "NO", (long long)opt.lag_target_ms, commit_lag_ok ? "yes" : "NO");
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_publication: publication lag of the durable transfer workload to Kafka", "bench_publication"};
  options opt;
  add_options(app, opt);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  std::unique_ptr<publication::mock_cluster> cluster;
  std::string bootstrap = opt.bootstrap;
  if (bootstrap.empty()) {
    cluster = std::make_unique<publication::mock_cluster>(3);
    cluster->create_topic(topic, partitions);
    bootstrap = cluster->bootstrap_servers();
  }
  engine_config config = bench_config(opt, bootstrap);
  if (int code = drop_databases(*config.storage); code != 0) return code;
  std::unique_ptr<engine> owner;
  try {
    owner = std::make_unique<engine>(config);
  } catch (const storage_unavailable& e) {
    std::fprintf(stderr, "bench_publication: %s\n", e.what());
    return 3;
  }
  engine& eng = *owner;
  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, bench_tenant, usd, wallet_kind::user, opt.wallets);
  auto funded = fund_wallets(eng, bench_tenant, usd, funding_channel, users, 1'000'000'000, 2'000, "fund-");
  if (funded.succeeded != users.size()) {
    std::fprintf(stderr, "bench_publication: funding incomplete (%llu)\n", (unsigned long long)funded.succeeded);
    return 1;
  }
  if (!drained(eng, std::chrono::seconds(120))) {
    std::fprintf(stderr, "bench_publication: funding events not published: %s\n", eng.publication().last_error.c_str());
    return 1;
  }
  measurement m = measure(eng, opt, users);
  if (cluster) read_back(bootstrap, m);
  bool all_published = m.all_drained && (!cluster || m.distinct == m.ids.size());
  print_report(opt, eng, cluster != nullptr, m, all_published);
  if (!all_published) std::fprintf(stderr, "bench_publication: NOT ALL PUBLISHED\n");
  return all_published ? 0 : 1;
}
