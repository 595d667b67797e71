// txengine serve: the engine behind the wire protocol (docs/protocol.md).
#include "apps/serve.hpp"

#include <cctype>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "node/engine.hpp"
#include "apps/config_file.hpp"
#include "protocol/server.hpp"

namespace txengine {

namespace {

bool parse_listen(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  char* end = nullptr;
  long p = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (end == text.c_str() + colon + 1 || *end != '\0' || p < 0 || p > 65535) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

//! The flags as given; each one given overrides the configuration file.
struct serve_flags {
  std::string config, listen, keys, deployment, tls_cert, tls_key, tls_client_ca, mysql, mysql_password_file, ack, db_prefix, kafka, kafka_topic;
  size_t in_flight = wire::server_config{}.in_flight_max;
  uint32_t threads = 0;
  uint32_t node_id = 0, partitions = 0;
  std::string cluster_endpoint, cluster_tls_cert, cluster_tls_key, cluster_tls_ca;
  uint32_t databases = storage_config{}.databases, tables = storage_config{}.tables;
  uint64_t outbox_max = static_cast<uint64_t>(publication_config{}.outbox_unpublished_max);
  std::vector<std::string> kafka_properties;
  bool insecure_dev = false;
  CLI::App* app = nullptr;
  bool given(const char* name) const { return app->count(name) > 0; }
};

CLI::Validator listen_address() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string host;
        uint16_t port = 0;
        return parse_listen(text, host, port) ? "" : "expects HOST:PORT, got '" + text + "'";
      },
      "", "HOST:PORT");
}

void add_options(CLI::App& cmd, serve_flags& f) {
  cmd.add_option("--config", f.config,
                 "settings in TOML (config/txengine.example.toml lists every key); flags given on the command line "
                 "override the file");
  cmd.add_option("--listen", f.listen, "address to accept clients on (default 127.0.0.1:7400; port 0 = any)")
      ->check(listen_address());
  cmd.add_option("--keys", f.keys,
                 "client keys, lines 'key_id secret tenant'; without it: development mode (one tenant 1, key '" +
                     std::string(wire::dev_key_id) + "', secret '" + std::string(wire::dev_secret) + "')");
  cmd.add_option("--deployment", f.deployment,
                 "this deployment's id, covered by every client signature (default " +
                     std::string(wire::dev_deployment_id) + "; also [server] deployment_id)")
      ->check(CLI::Validator(
          [](std::string& v) {
            bool ok = !v.empty() && v.size() <= wire::deployment_id_length_max;
            for (char c : v)
              if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') ok = false;
            return ok ? "" : "expects 1..64 letters, digits, '.', '_' or '-'";
          },
          "", "ID"));
  cmd.add_option("--tls-cert", f.tls_cert,
                 "TLS 1.3 for every client: this PEM certificate (chain, leaf first; also [server] tls_cert)")
      ->type_name("FILE");
  cmd.add_option("--tls-key", f.tls_key, "with --tls-cert: its PEM private key, an owner-only file ([server] tls_key)")
      ->type_name("FILE");
  cmd.add_option("--tls-client-ca", f.tls_client_ca,
                 "with --tls-cert: mutual TLS, clients must present a certificate issued by these PEM CAs "
                 "([server] tls_client_ca)")
      ->type_name("FILE");
  cmd.add_flag("--insecure-dev", f.insecure_dev,
               "allow the public development key, and plain TCP, on a non-loopback address (never in production)");
  cli::add_number(cmd, "--in-flight", f.in_flight, "requests in flight per connection before reading pauses", 1);
  cli::add_number(cmd, "--threads", f.threads, "engine scheduler threads (0: number of cores)");
  cmd.add_option("--mysql", f.mysql,
                               "MySQL storage, e.g. mysql://txengine:txengine@127.0.0.1:3407 (default: in memory)");
  cmd.add_option("--mysql-password-file", f.mysql_password_file,
                 "with --mysql: the password, first line of this owner-only file, instead of the URI's (or set "
                 "TXENGINE_MYSQL_PASSWORD)")
      ->type_name("FILE");
  cli::add_choice(cmd, "--ack", f.ack, "with --mysql: durable (default: answer once committed) or memory",
                  {"durable", "memory"});
  cmd.add_option("--db-prefix,--prefix", f.db_prefix, "with --mysql: databases P_0 .. P_<D-1> (default txengine)");
  cli::add_number(cmd, "--databases", f.databases, "with --mysql: wallet id mod D picks the database", 1);
  cli::add_number(cmd, "--tables", f.tables, "with --mysql: wallet id mod T picks the table", 1);
  cmd.add_option("--kafka", f.kafka,
                 "with --mysql: publish final states to Kafka (bootstrap servers host:port,...; default: not "
                 "published)")
      ->check(CLI::Validator([](std::string& v) { return v.empty() ? "expects host:port[,host:port...]" : ""; }, "",
                             "SERVERS"));
  cmd.add_option("--kafka-topic", f.kafka_topic, "topic of the OrderFinalized events (default txengine.orders.finalized)");
  cli::add_number(cmd, "--outbox-max", f.outbox_max,
                  "unpublished outbox rows past which new commands get 'unavailable'", 1, INT64_MAX);
  cmd.add_option("--kafka-property", f.kafka_properties,
                 "a librdkafka producer property NAME=VALUE (security, compression, ...); repeatable")
      ->check(CLI::Validator(
          [](std::string& v) { return v.find('=') == std::string::npos || v[0] == '=' ? "expects NAME=VALUE" : ""; },
          "", "NAME=VALUE"));
  cli::add_number(cmd, "--node-id", f.node_id, "this node's id, 0..63, in every order id; 1.. in a cluster ([engine] node_id)",
                  0, 63);
  cmd.add_option("--cluster-endpoint", f.cluster_endpoint,
                 "with --mysql and --node-id: run as a cluster node whose cluster link is HOST:PORT ([cluster] endpoint; "
                 "docs/cluster.md)")
      ->check(listen_address());
  cmd.add_option("--cluster-tls-cert", f.cluster_tls_cert,
                 "with a cluster: this node's certificate chain (PEM) for TLS on the cluster links ([cluster] tls_cert; "
                 "needed off loopback)");
  cmd.add_option("--cluster-tls-key", f.cluster_tls_key,
                 "with a cluster: its private key (PEM, owner-only) ([cluster] tls_key)");
  cmd.add_option("--cluster-tls-ca", f.cluster_tls_ca,
                 "with a cluster: the CA that issued every node's certificate; each end verifies the other's "
                 "([cluster] tls_ca)");
  cli::add_number(cmd, "--partitions", f.partitions,
                  "with a cluster: the partition count, fixed for a deployment ([cluster] partitions, default 256)",
                  cluster_partitions_min, cluster_partitions_max);
  cmd.footer("Channel 1 is a well-behaved simulated provider; channel 2 misbehaves (declines, lost replies).");
}

//! The configuration file first, whatever its place among the flags; then the flags given.
//! False with the message printed.
bool settings_of(const serve_flags& f, serve_settings& settings, bool& mysql_given) {
  std::string error;
  if (f.given("--config") && !load_config_file(f.config, settings, error)) {
    std::fprintf(stderr, "txengine serve: %s\n", error.c_str());
    return false;
  }
  if (!settings.listen.empty() && !parse_listen(settings.listen, settings.server.host, settings.server.port)) {
    std::fprintf(stderr, "txengine serve: server.listen expects HOST:PORT\n");
    return false;
  }
  // [storage] in the file turns MySQL storage on, like --mysql; the other storage flags need one of them.
  mysql_given = settings.engine.storage.has_value() || f.given("--mysql");
  auto storage = [&]() -> storage_config& {
    if (!settings.engine.storage) settings.engine.storage = storage_config{};
    return *settings.engine.storage;
  };
  if (f.given("--listen")) parse_listen(f.listen, settings.server.host, settings.server.port);
  if (f.given("--keys")) settings.keys_file = f.keys;
  if (f.given("--deployment")) settings.server.deployment_id = f.deployment;
  if (f.given("--tls-cert")) settings.server.tls.cert = f.tls_cert;
  if (f.given("--tls-key")) settings.server.tls.key = f.tls_key;
  if (f.given("--tls-client-ca")) settings.server.tls.ca = f.tls_client_ca;
  if (f.given("--in-flight")) settings.server.in_flight_max = f.in_flight;
  if (f.given("--threads")) settings.engine.scheduler_threads = f.threads;
  if (f.given("--mysql")) storage().uri = f.mysql;
  if (f.given("--mysql-password-file")) settings.mysql_password_file = f.mysql_password_file;
  if (f.given("--ack")) storage().ack = f.ack == "memory" ? ack_mode::memory : ack_mode::durable;
  if (f.given("--db-prefix")) storage().prefix = f.db_prefix;
  if (f.given("--databases")) storage().databases = f.databases;
  if (f.given("--tables")) storage().tables = f.tables;
  if (f.given("--node-id")) settings.engine.node_id = f.node_id;
  auto cluster = [&]() -> cluster_config& {
    if (!settings.engine.cluster) settings.engine.cluster = cluster_config{};
    return *settings.engine.cluster;
  };
  if (f.given("--cluster-endpoint")) cluster().endpoint = f.cluster_endpoint;
  if (f.given("--partitions")) cluster().leases.partitions = f.partitions;
  if (f.given("--cluster-tls-cert")) cluster().tls_cert = f.cluster_tls_cert;
  if (f.given("--cluster-tls-key")) cluster().tls_key = f.cluster_tls_key;
  if (f.given("--cluster-tls-ca")) cluster().tls_ca = f.cluster_tls_ca;
  if (f.given("--kafka")) settings.kafka.bootstrap_servers = f.kafka;
  if (f.given("--kafka-topic")) settings.kafka.topic = f.kafka_topic;
  if (f.given("--outbox-max")) settings.kafka.outbox_unpublished_max = static_cast<int64_t>(f.outbox_max);
  for (const auto& property : f.kafka_properties) {
    auto eq = property.find('=');
    settings.kafka.properties.emplace_back(property.substr(0, eq), property.substr(eq + 1));
  }
  return true;
}

//! 127.x.y.z, ::1 or localhost (the cluster links' rule too: ports/cluster.hpp).
bool is_loopback(const std::string& host) { return is_loopback_host(host); }

//! TLS: both files or none, a client CA only with them; plain TCP only on loopback unless
//! --insecure-dev. False with the error printed.
bool check_transport(const wire::server_config& config, bool insecure_dev) {
  const wire::tls_files& tls = config.tls;
  if (tls.cert.empty() != tls.key.empty()) {
    std::fprintf(stderr, "txengine serve: TLS needs both --tls-cert FILE and --tls-key FILE ([server] tls_cert, "
                         "tls_key)\n");
    return false;
  }
  if (!tls.ca.empty() && tls.cert.empty()) {
    std::fprintf(stderr, "txengine serve: --tls-client-ca (mutual TLS) needs --tls-cert and --tls-key\n");
    return false;
  }
  std::string error;
  if (!tls.cert.empty() && !wire::tls_context::server(tls, error)) {  // the files now, before the engine starts
    std::fprintf(stderr, "txengine serve: %s\n", error.c_str());
    return false;
  }
  // Signatures protect the requests, not their contents: amounts, wallets and balances would
  // cross the network in clear text. Off loopback, TLS or the operator's explicit word.
  if (tls.cert.empty() && !is_loopback(config.host) && !insecure_dev) {
    std::fprintf(stderr,
                 "txengine serve: listening on %s needs TLS (--tls-cert FILE --tls-key FILE, or [server] tls_cert "
                 "and tls_key); plain TCP is only allowed on a loopback address (127.0.0.1, ::1, localhost) unless "
                 "--insecure-dev is given\n",
                 config.host.c_str());
    return false;
  }
  return true;
}

//! The client keys: the file's, or the development key without --keys. False with the error printed.
bool load_keys(serve_settings& settings, bool insecure_dev) {
  wire::server_config& config = settings.server;
  if (settings.keys_file.empty()) {
    // The development key is public (it is in the docs): only a loopback listener may use it,
    // unless the operator says, by name, that this is what they want.
    if (!is_loopback(config.host) && !insecure_dev) {
      std::fprintf(stderr,
                   "txengine serve: listening on %s needs client keys (--keys FILE or [server] keys); the "
                   "development key is public and is only allowed on a loopback address (127.0.0.1, ::1, "
                   "localhost) unless --insecure-dev is given\n",
                   config.host.c_str());
      return false;
    }
    config.keys.add(std::string(wire::dev_key_id), std::string(wire::dev_secret), wire::dev_tenant);
    return true;
  }
  std::string error;
  if (!config.keys.load_file(settings.keys_file, error) || config.keys.size() == 0) {
    std::fprintf(stderr, "txengine serve: %s\n", error.empty() ? "no keys in the key file" : error.c_str());
    return false;
  }
  return true;
}

//! The channels, the checks across settings, the publication into the storage settings. False
//! with the error printed.
//! The MySQL password from --mysql-password-file / storage.mysql_password_file (owner-only, one
//! line), else from TXENGINE_MYSQL_PASSWORD; else the URI's. False with the error printed.
bool mysql_password(serve_settings& settings) {
  const char* env = std::getenv("TXENGINE_MYSQL_PASSWORD");
  if (!settings.engine.storage) {
    if (!settings.mysql_password_file.empty()) {
      std::fprintf(stderr, "txengine serve: a MySQL password file needs --mysql URI\n");
      return false;
    }
    return true;
  }
  storage_config& storage = *settings.engine.storage;
  if (settings.mysql_password_file.empty()) {
    if (env != nullptr && *env != '\0') storage.password = env;
    return true;
  }
  std::string error;
  std::ifstream in(settings.mysql_password_file);
  std::string line;
  if (!wire::check_private_file(settings.mysql_password_file, error) || !in) {
    std::fprintf(stderr, "txengine serve: MySQL password file: %s\n",
                 error.empty() ? ("cannot read " + settings.mysql_password_file).c_str() : error.c_str());
    return false;
  }
  std::getline(in, line);  // an empty file leaves the line empty
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    std::fprintf(stderr, "txengine serve: MySQL password file %s: the first line is empty\n",
                 settings.mysql_password_file.c_str());
    return false;
  }
  storage.password = line;
  return true;
}

bool finish_engine_config(serve_settings& settings, bool mysql_given) {
  engine_config& engine_cfg = settings.engine;
  // Channel 1: a well-behaved provider (what scripts and txctl expect); channel 2: the
  // demo's misbehaving one.
  channel_config good;
  good.latency_ms = 1;
  good.decline_ppm = good.reply_lost_ppm = good.reply_unknown_ppm = good.submit_lost_ppm = good.partial_ppm = 0;
  // Without [[providers]] in the config file (development): the simulated providers.
  if (engine_cfg.http_channels.empty()) engine_cfg.channels = {{1, good}, {2, channel_config{}}};
  if (engine_cfg.storage && !mysql_given) {
    std::fprintf(stderr, "txengine serve: --ack, --db-prefix, --databases and --tables need --mysql URI\n");
    return false;
  }
  if (settings.kafka.enabled() && !mysql_given) {
    std::fprintf(stderr, "txengine serve: --kafka needs --mysql URI (events go through the MySQL outbox)\n");
    return false;
  }
  if (engine_cfg.storage) engine_cfg.storage->kafka = settings.kafka;
  if (!mysql_password(settings)) return false;
  if (std::string problem = engine_config_problem(engine_cfg); !problem.empty()) {
    std::fprintf(stderr, "txengine serve: %s\n", problem.c_str());
    return false;
  }
  return true;
}

//! On SIGUSR1: the orders' counts and, a cluster node, its links and each stage of the forwarding
//! path (docs/cluster.md, "Counters for a stall": a stall shows where it is).
void print_counters(engine& eng) {
  const host_stats o = eng.stats().orders;
  fmt::print("counters: orders submitted {} refused {} succeeded {} failed {} in flight {}\n", o.submitted, o.refused,
             o.succeeded, o.failed, o.in_flight);
  if (!eng.cluster_description().empty()) {
    const auto l = eng.cluster_link_counters();
    fmt::print("counters: {}; links {} (failed connects {}; silent now {}, fell silent {}; pings answered {})\n",
               eng.cluster_description(), eng.cluster_links(), eng.cluster_link_failures(), l.silent, l.silences,
               l.pings);
    fmt::print("counters: forwarding: sent {} resent {} waiting {} answers {} (stale {}); from other nodes: gateway {} "
               "host {} answered {}\n",
               o.forwarded, o.forward_resends, o.relays, o.forward_replies, o.forward_replies_stale, l.forwarded,
               o.forwarded_in, o.remote_replies);
    fmt::print("counters: gateway: messages in {} out {}, steps {} answered {} not held {} dropped {} without sender {}\n",
               l.messages_in, l.messages_out, l.steps, l.answered, l.not_local, l.dropped, l.no_sender);
  }
  fmt::print("counters: channel orders: queries {} re-routed {}\n", o.channel_queries, o.channel_reroutes);
  for (const auto& [id, c] : eng.provider_counters())
    fmt::print("counters: provider {}: requests {} answered {} unknown {} timeouts {} refused connections {} 429s {} "
               "refused queue full {} refused circuit open {} retried unseen {} anomalies {} circuit opened {} "
               "in flight {} queued {} queries coalesced {}\n",
               id, c.requests, c.answered, c.unknown, c.timeouts, c.connect_failures, c.rate_limited, c.refused_full,
               c.refused_open, c.retried_unseen, c.anomalies, c.breaker_opened, c.in_flight, c.queued,
               c.queries_coalesced);
  if (const auto* callbacks = eng.callbacks()) {
    auto c = callbacks->counters();
    fmt::print("counters: callbacks: received {} delivered {} duplicates {} stale {} unauthorized {} malformed {} "
               "contradictions {} unknown orders {}\n",
               c.received, c.delivered, c.duplicates, c.stale, c.unauthorized, c.malformed, c.contradictions,
               c.unknown_orders);
  }
  std::fflush(stdout);
}

//! Retention, recovery (waits for it to be read, at most 2 minutes) and the keys in use.
void print_startup(engine& eng, const wire::server_config& config, bool development) {
  std::printf("storage: %s\n", eng.storage_description().c_str());
  std::printf("publication: %s\n", eng.publication_description().c_str());
  const auto& cfg = eng.config();
  if (!eng.cluster_description().empty()) {
    std::printf("cluster: %s\n", eng.cluster_description().c_str());
    if (cfg.cluster && cfg.cluster->tls())
      std::printf("cluster links: mutual TLS, certificate %s, peers verified against %s\n", cfg.cluster->tls_cert.c_str(),
                  cfg.cluster->tls_ca.c_str());
    else
      std::printf("cluster links: plain TCP (loopback only; [cluster] tls_cert/tls_key/tls_ca for TLS)\n");
  }
  if (eng.persistent()) {
    std::printf("retention: final orders stay in memory %lld s (at most %zu); later repeats and queries are answered "
                "from MySQL\n",
                static_cast<long long>(cfg.order.final_retention_ms / 1000), cfg.orders_retained_max);
    // Orders not final at the last stop are resumed while the server already takes commands;
    // the report comes once all of them were read and handed to their hosts.
    bool read = eng.wait_for_recovery(std::chrono::minutes(2));
    std::printf("recovery: %s\n", eng.recovery().summary().c_str());
    if (!read) std::printf("recovery: still reading after 2 minutes; it goes on\n");
  } else {
    std::printf("retention: no storage, so the idempotency window is the retention: a final order is forgotten %lld s "
                "after it finished (or sooner past %zu final orders); a request id repeated later starts a new "
                "order, and a query or refund of it gets UNKNOWN_ORDER\n",
                static_cast<long long>(cfg.order.final_retention_ms / 1000), cfg.orders_retained_max);
  }
  if (development) {
    std::printf(
        "************************************************************************\n"
        "*  DEVELOPMENT MODE: %s\n"
        "*  One tenant (1) and one key: key id '%s', secret '%s'.\n"
        "*  Do not use for real money. Pass --keys FILE for real keys.          *\n"
        "************************************************************************\n",
        eng.persistent() ? "MySQL storage, development keys." : "in-memory engine, nothing is persisted.",
        std::string(wire::dev_key_id).c_str(), std::string(wire::dev_secret).c_str());
  } else {
    std::printf("%s; %zu client keys loaded\n", eng.persistent() ? "MySQL storage" : "in-memory engine, nothing persisted",
                config.keys.size());
  }
}

void print_transport(const wire::server_config& config) {
  const wire::tls_files& tls = config.tls;
  if (!tls.cert.empty()) {
    std::printf("transport: TLS 1.3 only, certificate %s%s%s\n", tls.cert.c_str(),
                tls.ca.empty() ? "" : "; mutual TLS, client certificates issued by ", tls.ca.c_str());
  } else if (is_loopback(config.host)) {
    std::printf("transport: plain TCP (loopback only; --tls-cert/--tls-key for TLS)\n");
  } else {
    std::printf(
        "************************************************************************\n"
        "*  INSECURE: plain TCP on %s (--insecure-dev).\n"
        "*  Requests, amounts and balances cross the network unencrypted.       *\n"
        "*  Give --tls-cert FILE --tls-key FILE for TLS 1.3.                     *\n"
        "************************************************************************\n",
        config.host.c_str());
  }
}

int run_serve(const serve_flags& flags) {
  serve_settings settings;
  bool mysql_given = false;
  if (!settings_of(flags, settings, mysql_given) || !load_keys(settings, flags.insecure_dev) ||
      !check_transport(settings.server, flags.insecure_dev) ||
      !finish_engine_config(settings, mysql_given))
    return 2;
  // Block the stop signals before any thread starts, so that only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // prints the node's counters (docs/cluster.md, "Counters for a stall")
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A fenced cluster node (docs/cluster.md) stops at once and says so with its own exit code
  // (EX_TEMPFAIL): its supervisor restarts it, and it recovers from MySQL as after a crash.
  static std::atomic<bool> fenced{false};
  settings.engine.on_fenced = [](const std::string&) {
    fenced.store(true);
    ::kill(::getpid(), SIGTERM);
  };
  std::unique_ptr<engine> engine_owner;
  try {
    engine_owner = std::make_unique<engine>(settings.engine);
  } catch (const storage_unavailable& e) {
    std::fprintf(stderr, "txengine serve: %s\n", e.what());
    return 3;
  }
  engine& eng = *engine_owner;
  wire::server srv(eng, settings.server);
  std::string error;
  if (!srv.start(error)) {
    std::fprintf(stderr, "txengine serve: %s\n", error.c_str());
    return 3;
  }
  print_startup(eng, settings.server, settings.keys_file.empty());
  std::printf("deployment: %s (covered by every client signature)\n", settings.server.deployment_id.c_str());
  print_transport(settings.server);
  for (const auto& [id, provider] : settings.engine.http_channels) {
    std::string codes;
    for (const auto& code : provider.reroute_codes) codes += (codes.empty() ? "" : ",") + code;
    std::printf("channel %u: provider %s over HTTP (key %s; re-routed after: %s)\n", id, provider.base_url.c_str(),
                provider.api_key.c_str(), codes.empty() ? "no decline" : codes.c_str());
  }
  for (size_t i = 0; i < settings.engine.routes.size(); ++i)
    std::printf("route %zu: %s\n", i + 1, describe_route(settings.engine.routes[i]).c_str());
  if (settings.engine.routes.empty())
    std::printf("routes: none (a top-up or withdrawal naming no channel goes to channel 1)\n");
  if (const auto* callbacks = eng.callbacks())
    std::printf("callbacks: listening on %s:%d/callbacks/CHANNEL (signed by each provider's secret)\n",
                settings.engine.callbacks->host.c_str(), callbacks->port());
  if (settings.engine.http_channels.empty())
    std::printf("channels 1 and 2: simulated providers in this process (development; [[providers]] configures real ones)\n");
  std::printf("txengine listening on %s:%u\n", settings.server.host.c_str(), static_cast<unsigned>(srv.port()));
  std::fflush(stdout);
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGUSR1) print_counters(eng);
  if (fenced.load()) {
    std::printf("txengine: FENCED, stopping without committing anything more: %s\n", eng.fence_reason().c_str());
    std::fflush(stdout);
    srv.stop();
    engine_owner.reset();  // before the server is destroyed (protocol/server.hpp, stop)
    return 75;
  }
  std::printf("txengine: signal %d, stopping\n", sig);
  std::fflush(stdout);
  srv.stop();
  engine_owner.reset();  // before the server is destroyed (protocol/server.hpp, stop)
  return 0;
}

}  // namespace

cli::command serve_command(CLI::App& txengine_app) {
  auto flags = std::make_shared<serve_flags>();
  flags->app = txengine_app.add_subcommand("serve", "serve the wire protocol (docs/protocol.md) until SIGINT or SIGTERM");
  add_options(*flags->app, *flags);
  return {flags->app, [flags] { return run_serve(*flags); }};
}

}  // namespace txengine
