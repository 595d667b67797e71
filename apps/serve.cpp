// txengine serve: the engine behind the wire protocol (docs/protocol.md).
#include "apps/serve.hpp"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "node/engine.hpp"
#include "apps/config_file.hpp"
#include "protocol/server.hpp"

namespace txengine {

namespace {

void serve_usage() {
  std::printf(
      "usage: txengine serve [--config FILE] [--listen HOST:PORT] [--keys FILE] [--in-flight N] [--threads N]\n"
      "  --config FILE       settings in TOML (config/txengine.example.toml lists every key); flags\n"
      "                      given on the command line override the file\n"
      "  --listen HOST:PORT  address to accept clients on (default 127.0.0.1:7400; port 0 = any)\n"
      "  --keys FILE         client keys, lines 'key_id secret tenant'; without it: development mode\n"
      "                      (one tenant 1, key 'dev', secret '%s')\n"
      "  --in-flight N       requests in flight per connection before reading pauses (default 4096)\n"
      "  --threads N         engine scheduler threads (default: number of cores)\n"
      "  --mysql URI         MySQL storage, e.g. mysql://txengine:txengine@127.0.0.1:3407 (default: in memory)\n"
      "  --ack MODE          with --mysql: durable (default: answer once committed) or memory\n"
      "  --db-prefix P       with --mysql: databases P_0 .. P_<D-1> (default txengine)\n"
      "  --databases D       with --mysql: wallet id mod D picks the database (default 1)\n"
      "  --tables T          with --mysql: wallet id mod T picks the table (default 1)\n"
      "  --kafka SERVERS     with --mysql: publish final states to Kafka (bootstrap servers host:port,...;\n"
      "                      default: not published)\n"
      "  --kafka-topic NAME  topic of the OrderFinalized events (default txengine.orders.finalized)\n"
      "  --outbox-max N      unpublished outbox rows past which new commands get 'unavailable'\n"
      "                      (default 1000000)\n"
      "  --kafka-property NAME=VALUE   a librdkafka producer property (security, compression, ...)\n"
      "Channel 1 is a well-behaved simulated provider; channel 2 misbehaves (declines, lost replies).\n",
      std::string(wire::dev_secret).c_str());
}

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

}  // namespace

int run_serve(int argc, char** argv) {
  serve_settings settings;
  // The file first, whatever its place among the flags: the flags override it.
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--config") {
      std::string error;
      if (!load_config_file(argv[i + 1], settings, error)) {
        std::fprintf(stderr, "txengine serve: %s\n", error.c_str());
        return 2;
      }
    }
  if (!settings.listen.empty() && !parse_listen(settings.listen, settings.server.host, settings.server.port)) {
    std::fprintf(stderr, "txengine serve: server.listen expects HOST:PORT\n");
    return 2;
  }
  wire::server_config& config = settings.server;
  engine_config& engine_cfg = settings.engine;
  std::string& keys_file = settings.keys_file;
  // [storage] in the file turns MySQL storage on, like --mysql; the other storage flags need one of them.
  bool mysql_given = settings.engine.storage.has_value();
  publication_config& kafka = settings.kafka;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "txengine serve: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") {
      value();  // read above
    } else if (arg == "--listen") {
      if (!parse_listen(value(), config.host, config.port)) {
        std::fprintf(stderr, "txengine serve: --listen expects HOST:PORT\n");
        return 2;
      }
    } else if (arg == "--keys") {
      keys_file = value();
    } else if (arg == "--in-flight") {
      config.in_flight_max = std::max(1l, std::atol(value()));
    } else if (arg == "--threads") {
      engine_cfg.scheduler_threads = static_cast<uint32_t>(std::max(0l, std::atol(value())));
    } else if (arg == "--mysql") {
      if (!engine_cfg.storage) engine_cfg.storage = storage_config{};
      engine_cfg.storage->uri = value();
      mysql_given = true;
    } else if (arg == "--kafka") {
      kafka.bootstrap_servers = value();
      if (kafka.bootstrap_servers.empty()) {
        std::fprintf(stderr, "txengine serve: --kafka expects host:port[,host:port...]\n");
        return 2;
      }
    } else if (arg == "--kafka-topic") {
      kafka.topic = value();
    } else if (arg == "--outbox-max") {
      char* end = nullptr;
      const char* text = value();
      long long n = std::strtoll(text, &end, 10);
      if (end == text || *end != '\0' || n < 1) {
        std::fprintf(stderr, "txengine serve: --outbox-max expects a positive number\n");
        return 2;
      }
      kafka.outbox_unpublished_max = n;
    } else if (arg == "--kafka-property") {
      std::string property = value();
      auto eq = property.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "txengine serve: --kafka-property expects NAME=VALUE\n");
        return 2;
      }
      kafka.properties.emplace_back(property.substr(0, eq), property.substr(eq + 1));
    } else if (arg == "--ack") {
      std::string mode = value();
      if (mode != "durable" && mode != "memory") {
        std::fprintf(stderr, "txengine serve: --ack expects durable or memory\n");
        return 2;
      }
      if (!engine_cfg.storage) engine_cfg.storage = storage_config{};
      engine_cfg.storage->ack = mode == "memory" ? ack_mode::memory : ack_mode::durable;
    } else if (arg == "--db-prefix") {
      if (!engine_cfg.storage) engine_cfg.storage = storage_config{};
      engine_cfg.storage->prefix = value();
    } else if (arg == "--databases" || arg == "--tables") {
      long n = std::atol(value());
      if (n < 1) {
        std::fprintf(stderr, "txengine serve: %s expects a positive number\n", arg.c_str());
        return 2;
      }
      if (!engine_cfg.storage) engine_cfg.storage = storage_config{};
      (arg == "--databases" ? engine_cfg.storage->databases : engine_cfg.storage->tables) = static_cast<uint32_t>(n);
    } else if (arg == "--help" || arg == "-h") {
      serve_usage();
      return 0;
    } else {
      std::fprintf(stderr, "txengine serve: unknown option '%s'\n", arg.c_str());
      serve_usage();
      return 2;
    }
  }
  bool development = keys_file.empty();
  if (development) {
    config.keys.add(std::string(wire::dev_key_id), std::string(wire::dev_secret), wire::dev_tenant);
  } else {
    std::string error;
    if (!config.keys.load_file(keys_file, error) || config.keys.size() == 0) {
      std::fprintf(stderr, "txengine serve: %s\n", error.empty() ? "no keys in the key file" : error.c_str());
      return 2;
    }
  }
  // Channel 1: a well-behaved provider (what scripts and txctl expect); channel 2: the
  // demo's misbehaving one.
  channel_config good;
  good.latency_ms = 1;
  good.decline_ppm = good.reply_lost_ppm = good.reply_unknown_ppm = good.submit_lost_ppm = good.partial_ppm = 0;
  engine_cfg.channels = {{1, good}, {2, channel_config{}}};

  // Block the stop signals before any thread starts, so that only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (engine_cfg.storage && !mysql_given) {
    std::fprintf(stderr, "txengine serve: --ack, --db-prefix, --databases and --tables need --mysql URI\n");
    return 2;
  }
  if (kafka.enabled() && !mysql_given) {
    std::fprintf(stderr, "txengine serve: --kafka needs --mysql URI (events go through the MySQL outbox)\n");
    return 2;
  }
  if (engine_cfg.storage) engine_cfg.storage->kafka = kafka;
  if (std::string problem = engine_config_problem(engine_cfg); !problem.empty()) {
    std::fprintf(stderr, "txengine serve: %s\n", problem.c_str());
    return 2;
  }
  std::unique_ptr<engine> engine_owner;
  try {
    engine_owner = std::make_unique<engine>(engine_cfg);
  } catch (const storage_unavailable& e) {
    std::fprintf(stderr, "txengine serve: %s\n", e.what());
    return 3;
  }
  engine& eng = *engine_owner;
  std::printf("storage: %s\n", eng.storage_description().c_str());
  std::printf("publication: %s\n", eng.publication_description().c_str());
  wire::server srv(eng, config);
  std::string error;
  if (!srv.start(error)) {
    std::fprintf(stderr, "txengine serve: %s\n", error.c_str());
    return 3;
  }
  const auto& cfg = eng.config();
  if (eng.persistent()) {
    std::printf("retention: final orders stay in memory %lld s (at most %zu); later repeats and queries are answered "
                "from MySQL\n",
                static_cast<long long>(cfg.order.final_retention_ms / 1000), cfg.orders_retained_max);
  } else {
    std::printf("retention: no storage, so the idempotency window is the retention: a final order is forgotten %lld s "
                "after it finished (or sooner past %zu final orders); a request id repeated later starts a new "
                "order, and a query or refund of it gets UNKNOWN_ORDER\n",
                static_cast<long long>(cfg.order.final_retention_ms / 1000), cfg.orders_retained_max);
  }
  if (eng.persistent()) {
    // Orders not final at the last stop are resumed while the server already takes commands;
    // the report comes once all of them were read and handed to their hosts.
    bool read = eng.wait_for_recovery(std::chrono::minutes(2));
    std::printf("recovery: %s\n", eng.recovery().summary().c_str());
    if (!read) std::printf("recovery: still reading after 2 minutes; it goes on\n");
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
  std::printf("txengine listening on %s:%u\n", config.host.c_str(), static_cast<unsigned>(srv.port()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("txengine: signal %d, stopping\n", sig);
  std::fflush(stdout);
  srv.stop();
  return 0;
}

}  // namespace txengine
