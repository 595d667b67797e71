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

bool parse(int argc, char** argv, options& opt) {
  if (const char* uri = std::getenv("TXENGINE_MYSQL_URI"); uri && *uri) opt.mysql = uri;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--json") opt.json = true;
    else if (arg == "--orders" && (v = value())) opt.orders = std::stoull(v);
    else if (arg == "--wallets" && (v = value())) opt.wallets = std::stoull(v);
    else if (arg == "--concurrency" && (v = value())) opt.concurrency = static_cast<uint32_t>(std::stoul(v));
    else if (arg == "--mysql" && (v = value())) opt.mysql = v;
    else if (arg == "--bootstrap" && (v = value())) opt.bootstrap = v;
    else if (arg == "--lag-target-ms" && (v = value())) opt.lag_target_ms = std::stoll(v);
    else {
      std::fprintf(stderr,
                   "usage: bench_publication [--orders N] [--wallets W] [--concurrency C] [--mysql URI]\n"
                   "                         [--bootstrap SERVERS] [--lag-target-ms MS] [--json]\n");
      return false;
    }
  }
  if (opt.mysql.empty()) opt.mysql = storage_config{}.uri;
  return opt.wallets >= 2 && opt.orders > 0 && opt.concurrency > 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse(argc, argv, opt)) return 2;
  std::unique_ptr<publication::mock_cluster> cluster;
  std::string bootstrap = opt.bootstrap;
  if (bootstrap.empty()) {
    cluster = std::make_unique<publication::mock_cluster>(3);
    cluster->create_topic(topic, partitions);
    bootstrap = cluster->bootstrap_servers();
  }

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
  config.storage = storage;

  std::unique_ptr<engine> owner;
  try {
    owner = std::make_unique<engine>(config);
  } catch (const storage_unavailable& e) {
    std::fprintf(stderr, "bench_publication: %s\n", e.what());
    return 3;
  }
  engine& eng = *owner;
  auto drained = [&](std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (eng.publication().unpublished > 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  };

  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, bench_tenant, usd, wallet_kind::user, opt.wallets);
  auto funded = fund_wallets(eng, bench_tenant, usd, funding_channel, users, 1'000'000'000, 2'000, "fund-");
  if (funded.succeeded != users.size()) {
    std::fprintf(stderr, "bench_publication: funding incomplete (%llu)\n", (unsigned long long)funded.succeeded);
    return 1;
  }
  if (!drained(std::chrono::seconds(120))) {
    std::fprintf(stderr, "bench_publication: funding events not published: %s\n", eng.publication().last_error.c_str());
    return 1;
  }
  eng.reset_publication_latency();
  auto before = eng.publication();

  // While the load runs: the largest backlog and oldest unpublished age.
  std::atomic<bool> running{true};
  int64_t unpublished_max = 0, age_max_ms = 0;
  std::thread sampler([&] {
    while (running.load()) {
      auto s = eng.publication();
      unpublished_max = std::max(unpublished_max, s.unpublished);
      age_max_ms = std::max(age_max_ms, s.oldest_unpublished_age_ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // sampling period
    }
  });
  uniform_transfers load(users);
  load_options load_opt;
  load_opt.orders = opt.orders;
  load_opt.concurrency = opt.concurrency;
  load_result result = run_load(eng, load, load_opt);
  bool all_drained = drained(std::chrono::seconds(120));
  running.store(false);
  sampler.join();
  auto after = eng.publication();
  uint64_t published = after.delivered - before.delivered;

  // Read the topic back (every event of the measured orders, counted by event id).
  bool all_published = all_drained;
  size_t distinct = 0, messages = 0;
  if (cluster) {
    std::set<std::string> wanted;
    for (order_id id : load.ids) wanted.insert(std::to_string(id));
    std::set<std::string> seen;
    auto read = publication::read_topic(bootstrap, topic, partitions, std::chrono::seconds(120),
                                        [&](const std::vector<publication::read_message>& m) {
                                          for (size_t i = messages; i < m.size(); ++i)
                                            if (wanted.count(m[i].key) > 0) seen.insert(m[i].key);
                                          messages = m.size();
                                          return seen.size() == wanted.size();
                                        });
    messages = read.size();
    distinct = seen.size();
    all_published = all_published && distinct == wanted.size();
  }
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
                messages, distinct, load.ids.size(), all_published ? "yes" : "NO", (long long)opt.lag_target_ms,
                lag_ok ? "yes" : "NO", (long long)opt.lag_target_ms, commit_lag_ok ? "yes" : "NO");
  }
  std::fflush(stdout);
  if (!all_published) std::fprintf(stderr, "bench_publication: NOT ALL PUBLISHED\n");
  return all_published ? 0 : 1;
}
