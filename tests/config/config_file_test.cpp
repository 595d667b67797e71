// The TOML configuration of `txengine serve` (apps/config_file): every key reaches its setting,
// the example file states the built-in defaults, and every bad input is refused with its name.
#include "apps/config_file.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#ifndef TXENGINE_SOURCE_DIR
#error "TXENGINE_SOURCE_DIR must name the source tree (set by tests/CMakeLists.txt)"
#endif

namespace txengine {
namespace {

bool load(const std::string& text, serve_settings& s, std::string& error) {
  return load_config_text(text, "test.toml", s, error);
}

TEST(ConfigFile, ExampleFileStatesTheDefaults) {
  serve_settings defaults;
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load_config_file(std::string(TXENGINE_SOURCE_DIR) + "/config/txengine.example.toml", s, error)) << error;
  EXPECT_EQ(s.listen, "127.0.0.1:7400");
  EXPECT_EQ(s.server.in_flight_max, defaults.server.in_flight_max);
  EXPECT_EQ(s.server.connections_max, defaults.server.connections_max);
  EXPECT_EQ(s.server.query_threads, defaults.server.query_threads);
  EXPECT_EQ(s.server.query_queue_max, defaults.server.query_queue_max);
  EXPECT_EQ(s.engine.orders_retained_max, defaults.engine.orders_retained_max);
  EXPECT_EQ(s.engine.order.final_retention_ms, defaults.engine.order.final_retention_ms);
  EXPECT_EQ(s.engine.node_id, defaults.engine.node_id);
  EXPECT_EQ(s.engine.order_hosts, defaults.engine.order_hosts);
  EXPECT_EQ(s.engine.scheduler_threads, defaults.engine.scheduler_threads);
  EXPECT_EQ(s.engine.orders_in_flight_max, defaults.engine.orders_in_flight_max);
  EXPECT_EQ(s.engine.wallet.shards, defaults.engine.wallet.shards);
  EXPECT_EQ(s.engine.wallet.core.journal_entries_max, defaults.engine.wallet.core.journal_entries_max);
  EXPECT_EQ(s.engine.wallet.core.finished_record_retention_ms, defaults.engine.wallet.core.finished_record_retention_ms);
  EXPECT_EQ(s.engine.wallet.idle_ms, defaults.engine.wallet.idle_ms);
  EXPECT_EQ(s.engine.order.try_deadline_ms, defaults.engine.order.try_deadline_ms);
  EXPECT_EQ(s.engine.order.retry_initial_ms, defaults.engine.order.retry_initial_ms);
  EXPECT_EQ(s.engine.order.retry_max_ms, defaults.engine.order.retry_max_ms);
  EXPECT_EQ(s.engine.order.alert_attempts, defaults.engine.order.alert_attempts);
  EXPECT_EQ(s.engine.order.processing_alert_ms, defaults.engine.order.processing_alert_ms);
  EXPECT_EQ(s.engine.order.payment_deadline_ms, defaults.engine.order.payment_deadline_ms);
  EXPECT_EQ(s.engine.order.channel_submit_timeout_ms, defaults.engine.order.channel_submit_timeout_ms);
  EXPECT_EQ(s.engine.order.channel_query_min_delay_ms, defaults.engine.order.channel_query_min_delay_ms);
  EXPECT_EQ(s.engine.order.channel_not_found_final_ms, defaults.engine.order.channel_not_found_final_ms);
  ASSERT_TRUE(s.engine.storage.has_value());  // the example turns storage on
  storage_config storage_defaults;
  EXPECT_EQ(s.engine.storage->uri, storage_defaults.uri);
  EXPECT_EQ(s.engine.storage->ack, storage_defaults.ack);
  EXPECT_EQ(s.engine.storage->prefix, storage_defaults.prefix);
  EXPECT_EQ(s.engine.storage->databases, storage_defaults.databases);
  EXPECT_EQ(s.engine.storage->tables, storage_defaults.tables);
  EXPECT_EQ(s.engine.storage->batch_rows_max, storage_defaults.batch_rows_max);
  EXPECT_EQ(s.engine.storage->batch_latency_max_ms, storage_defaults.batch_latency_max_ms);
  EXPECT_EQ(s.engine.storage->wallet_checkpoint_interval_ms, storage_defaults.wallet_checkpoint_interval_ms);
  EXPECT_EQ(s.engine.storage->split_commit, storage_defaults.split_commit);
  EXPECT_EQ(s.engine.storage->queue_rows_high_water, storage_defaults.queue_rows_high_water);
  publication_config kafka_defaults;
  EXPECT_EQ(s.kafka.bootstrap_servers, kafka_defaults.bootstrap_servers);
  EXPECT_EQ(s.kafka.topic, kafka_defaults.topic);
  EXPECT_EQ(s.kafka.outbox_unpublished_max, kafka_defaults.outbox_unpublished_max);
  EXPECT_EQ(s.kafka.message_timeout_ms, kafka_defaults.message_timeout_ms);
  EXPECT_EQ(s.kafka.linger_ms, kafka_defaults.linger_ms);
  EXPECT_EQ(s.kafka.published_retention_ms, kafka_defaults.published_retention_ms);
  EXPECT_TRUE(s.kafka.properties.empty());
}

TEST(ConfigFile, KafkaIsOneLineAndNeedsStorage) {
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load("[storage]\nmysql = \"mysql://u:p@db:3306\"\n[kafka]\nbootstrap_servers = \"k1:9092,k2:9092\"\n"
                   "[kafka.properties]\n\"compression.type\" = \"lz4\"\n",
                   s, error))
      << error;
  EXPECT_EQ(s.kafka.bootstrap_servers, "k1:9092,k2:9092");
  ASSERT_EQ(s.kafka.properties.size(), 1u);
  EXPECT_EQ(s.kafka.properties[0].first, "compression.type");
  EXPECT_EQ(s.kafka.properties[0].second, "lz4");
  serve_settings t;
  EXPECT_FALSE(load("[kafka]\nbootstrap_servers = \"k1:9092\"\n", t, error));
  EXPECT_NE(error.find("kafka.bootstrap_servers needs [storage]"), std::string::npos) << error;
  serve_settings u;
  EXPECT_FALSE(load("[storage]\n[kafka]\nproperties = 3\n", u, error));
  EXPECT_NE(error.find("kafka.properties expects a table"), std::string::npos) << error;
}

TEST(ConfigFile, KeysReachTheirSettings) {
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load(R"(
[server]
listen = "0.0.0.0:9000"
keys = "/etc/txengine/keys"
in_flight_max = 64
query_queue_max = 10
[engine]
node_id = 7
order_hosts = 4
orders_retained_max = 100000
[order]
try_deadline_ms = 1500
final_retention_ms = 60000
[storage]
mysql = "mysql://u:p@db:3306"
ack = "memory"
databases = 2
tables = 8
prefix = "prod"
wallet_checkpoint_interval_ms = 5000
split_commit = false
)",
                   s, error))
      << error;
  EXPECT_EQ(s.listen, "0.0.0.0:9000");
  EXPECT_EQ(s.keys_file, "/etc/txengine/keys");
  EXPECT_EQ(s.server.in_flight_max, 64u);
  EXPECT_EQ(s.engine.node_id, 7u);
  EXPECT_EQ(s.engine.order_hosts, 4u);
  EXPECT_EQ(s.engine.order.try_deadline_ms, 1500);
  EXPECT_EQ(s.server.query_queue_max, 10u);
  EXPECT_EQ(s.engine.orders_retained_max, 100000u);
  EXPECT_EQ(s.engine.order.final_retention_ms, 60000);
  ASSERT_TRUE(s.engine.storage.has_value());
  EXPECT_EQ(s.engine.storage->uri, "mysql://u:p@db:3306");
  EXPECT_EQ(s.engine.storage->ack, ack_mode::memory);
  EXPECT_EQ(s.engine.storage->databases, 2u);
  EXPECT_EQ(s.engine.storage->tables, 8u);
  EXPECT_EQ(s.engine.storage->prefix, "prod");
  EXPECT_EQ(s.engine.storage->wallet_checkpoint_interval_ms, 5000);
  EXPECT_FALSE(s.engine.storage->split_commit);
}

TEST(ConfigFile, TlsFilesReachTheServer) {
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load("[server]\ntls_cert = \"/etc/t/server.crt\"\ntls_key = \"/etc/t/server.key\"\n"
                   "tls_client_ca = \"/etc/t/ca.crt\"\n",
                   s, error))
      << error;
  EXPECT_EQ(s.server.tls.cert, "/etc/t/server.crt");
  EXPECT_EQ(s.server.tls.key, "/etc/t/server.key");
  EXPECT_EQ(s.server.tls.ca, "/etc/t/ca.crt");
  EXPECT_FALSE(load("[server]\ntls_cert = 5\n", s, error));
  EXPECT_NE(error.find("server.tls_cert"), std::string::npos) << error;
  // The example file leaves TLS off (plain TCP on loopback).
  serve_settings example;
  ASSERT_TRUE(load_config_file(std::string(TXENGINE_SOURCE_DIR) + "/config/txengine.example.toml", example, error));
  EXPECT_TRUE(example.server.tls.cert.empty());
}

TEST(ConfigFile, NoStorageSectionMeansInMemory) {
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load("[engine]\norder_hosts = 2\n", s, error)) << error;
  EXPECT_FALSE(s.engine.storage.has_value());
}

TEST(ConfigFile, BadInputIsRefusedWithItsName) {
  struct bad_case {
    const char* text;
    const char* expected;
  };
  const bad_case cases[] = {
      {"[engine]\norder_hostz = 2\n", "unknown key 'engine.order_hostz'"},
      {"[nosuch]\nx = 1\n", "unknown key 'nosuch.x'"},
      {"listen = \"x\"\n", "'listen' must be a section"},
      {"[engine]\norder_hosts = \"two\"\n", "engine.order_hosts expects an integer"},
      {"[engine]\norder_hosts = 0\n", "engine.order_hosts expects 1 .. 16, got 0"},
      {"[engine]\nnode_id = 64\n", "engine.node_id expects 0 .. 63, got 64"},
      {"[order]\ntry_deadline_ms = -5\n", "order.try_deadline_ms expects 1 .."},
      {"[order]\nretry_initial_ms = 2.5\n", "order.retry_initial_ms expects an integer"},
      {"[storage]\nack = \"sometimes\"\n", "storage.ack expects \"durable\" or \"memory\""},
      {"[storage]\nmysql = \"\"\n", "storage.mysql must name a server"},
      {"[storage]\ndatabases = 1000\n", "storage.databases expects 1 .. 256"},
      {"[storage]\nwallet_checkpoint_interval_ms = 0\n", "storage.wallet_checkpoint_interval_ms expects 1 .."},
      {"[order]\nfinal_retention_ms = 999\n", "order.final_retention_ms expects 1000 .. 604800000, got 999"},
      {"[engine]\norders_retained_max = 0\n", "engine.orders_retained_max expects 1 .."},
      {"[server]\nquery_queue_max = 0\n", "server.query_queue_max expects 1 .."},
      {"[wallet]\njournal_entries_max = 0\n", "wallet.journal_entries_max expects 1 .."},
      {"[wallet]\nfinished_record_retention_ms = 10000\n",
       "wallet.finished_record_retention_ms (10000) must exceed order.try_deadline_ms + order.retry_max_ms (10000)"},
      {"[order]\nretry_initial_ms = 6000\n", "order.retry_initial_ms (6000) must not exceed order.retry_max_ms (5000)"},
      {"[storage]\nsplit_commit = 1\n", "storage.split_commit expects true or false"},
      {"[storage]\nsplit_commit = \"no\"\n", "storage.split_commit expects true or false"},
      {"[engine\norder_hosts = 2\n", "test.toml:"},  // a TOML syntax error, with its place
  };
  for (const auto& c : cases) {
    serve_settings s;
    std::string error;
    EXPECT_FALSE(load(c.text, s, error)) << c.text;
    EXPECT_NE(error.find(c.expected), std::string::npos) << "input:\n" << c.text << "error: " << error;
  }
}

TEST(ConfigFile, AClusterSectionMakesAClusterNode) {
  serve_settings s;
  std::string error;
  const std::string storage = "[storage]\nmysql = \"mysql://u:p@127.0.0.1:3407\"\n";
  ASSERT_TRUE(load(storage + "[engine]\nnode_id = 3\n[cluster]\nendpoint = \"10.0.0.3:7500\"\npartitions = 64\n"
                             "lease_ttl_ms = 3000\nround_interval_ms = 500\njoin_settle_ms = 0\n"
                             "tls_cert = \"/etc/tx/n3.crt\"\ntls_key = \"/etc/tx/n3.key\"\ntls_ca = \"/etc/tx/ca.crt\"\n",
                   s, error))
      << error;
  EXPECT_EQ(s.engine.cluster->tls_cert, "/etc/tx/n3.crt");
  EXPECT_EQ(s.engine.cluster->tls_key, "/etc/tx/n3.key");
  EXPECT_EQ(s.engine.cluster->tls_ca, "/etc/tx/ca.crt");
  ASSERT_TRUE(s.engine.cluster.has_value());
  EXPECT_EQ(s.engine.cluster->endpoint, "10.0.0.3:7500");
  EXPECT_EQ(s.engine.cluster->leases.partitions, 64u);
  EXPECT_EQ(s.engine.cluster->leases.ttl_ms, 3000);
  EXPECT_EQ(s.engine.cluster->round_interval_ms, 500);
  EXPECT_EQ(s.engine.cluster->join_settle_ms, 0);
  // Without [cluster], no cluster; the example file leaves it commented out.
  serve_settings example;
  ASSERT_TRUE(load_config_file(std::string(TXENGINE_SOURCE_DIR) + "/config/txengine.example.toml", example, error));
  EXPECT_FALSE(example.engine.cluster.has_value());
  // The defaults of an otherwise empty section are the documented ones.
  serve_settings d;
  ASSERT_TRUE(load(storage + "[engine]\nnode_id = 1\n[cluster]\nendpoint = \"localhost:1\"\n", d, error)) << error;
  EXPECT_FALSE(d.engine.cluster->tls());  // plain links: on loopback only
  EXPECT_EQ(d.engine.cluster->leases.partitions, 256u);
  EXPECT_EQ(d.engine.cluster->leases.ttl_ms, 5000);
  EXPECT_EQ(d.engine.cluster->round_interval_ms, 1000);
}

TEST(ConfigFile, BadClusterSettingsAreRefusedWithWhatIsWrong) {
  struct bad_case {
    std::string text;
    const char* expected;
  };
  const std::string storage = "[storage]\nmysql = \"mysql://u:p@127.0.0.1:3407\"\n";
  const std::string node = "[engine]\nnode_id = 2\n";
  const bad_case cases[] = {
      {"[engine]\nnode_id = 2\n[cluster]\nendpoint = \"h:1\"\n", "[cluster] needs [storage]"},
      {storage + "[cluster]\nendpoint = \"h:1\"\n", "needs a node id of 1 or more"},
      {storage + node + "[cluster]\nendpoint = \"10.0.0.2:7500\"\n", "is not a loopback address: its links need TLS"},
      {storage + node + "[cluster]\nendpoint = \"10.0.0.2:7500\"\ntls_cert = \"n.crt\"\n",
       "needs all three of [cluster] tls_cert, tls_key and tls_ca"},
      {storage + node + "[cluster]\n", "needs its endpoint"},
      {storage + node + "[cluster]\nendpoint = \"no-port\"\n", "must be HOST:PORT"},
      {storage + node + "[cluster]\nendpoint = \"h:1 x\"\n", "without spaces or quotes"},
      {storage + node + "[cluster]\nendpoint = \"h:1'\"\n", "without spaces or quotes"},
      {storage + node + "[cluster]\nendpoint = \"h:1\"\npartitions = 0\n", "cluster.partitions expects 1 .. 65536"},
      {storage + node + "[cluster]\nendpoint = \"h:1\"\npartitions = 70000\n", "cluster.partitions expects 1 .. 65536"},
      {storage + node + "[cluster]\nendpoint = \"h:1\"\nlease_ttl_ms = 50\n", "cluster.lease_ttl_ms expects 100 .."},
      {storage + node + "[cluster]\nendpoint = \"h:1\"\nlease_ttl_ms = 1000\nround_interval_ms = 500\n",
       "round interval must be 20 ms .. a third of the lease ttl (333 ms), not 500"},
      {storage + node + "[cluster]\nendpoint = \"h:1\"\nseeds = [\"a:1\"]\n", "unknown key 'cluster.seeds'"},
      {storage + node + "[cluster]\nendpoint = 7\n", "cluster.endpoint expects a string"},
  };
  for (const auto& c : cases) {
    serve_settings s;
    std::string error;
    EXPECT_FALSE(load(c.text, s, error)) << c.text;
    EXPECT_NE(error.find(c.expected), std::string::npos) << "input:\n" << c.text << "error: " << error;
  }
}

TEST(ConfigFile, ProvidersReplaceTheSimulatedChannels) {
  auto secret = std::filesystem::temp_directory_path() / ("txengine_provider_secret_" + std::to_string(::getpid()));
  std::ofstream(secret) << "s3cret\n";
  std::filesystem::permissions(secret, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  serve_settings s;
  std::string error;
  std::string text = "[[providers]]\nid = 7\nbase_url = \"http://127.0.0.1:8700\"\napi_key = \"k\"\nsecret_file = \"" +
                     secret.string() +
                     "\"\nqps = 90\nburst = 10\nsubmit_inflight_max = 50\nbreaker_open_ms = 777\n"
                     "[[providers]]\nid = 8\nbase_url = \"https://pay.example:443\"\napi_key = \"k2\"\nsecret_file = \"" +
                     secret.string() + "\"\n";
  ASSERT_TRUE(load(text, s, error)) << error;
  EXPECT_TRUE(s.engine.channels.empty()) << "no simulated channel beside real providers";
  ASSERT_EQ(s.engine.http_channels.size(), 2u);
  const auto& [id, p] = s.engine.http_channels[0];
  EXPECT_EQ(id, 7u);
  EXPECT_EQ(p.base_url, "http://127.0.0.1:8700");
  EXPECT_EQ(p.secret, "s3cret");
  EXPECT_EQ(p.qps, 90u);
  EXPECT_EQ(p.submit_inflight_max, 50u);
  EXPECT_EQ(p.breaker.open_ms, 777);
  EXPECT_EQ(s.engine.http_channels[1].first, 8u);

  const std::string secret_line = "secret_file = \"" + secret.string() + "\"\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[providers]\nid = 1\n", "providers must be tables"},
      {"[[providers]]\nid = 1\n", "needs id, base_url, api_key and secret_file"},
      {"[[providers]]\nid = 1\nbase_url = \"http://h:1\"\napi_key = \"k\"\nsecret_file = \"/nonexistent\"\n",
       "providers.secret_file"},
      {"[[providers]]\nid = 1\nbase_url = \"ftp://h:1\"\napi_key = \"k\"\n" + secret_line, "base_url must be"},
      {"[[providers]]\nid = 1\nbase_url = \"http://h:1/v1\"\napi_key = \"k\"\n" + secret_line, "without a path"},
      {"[[providers]]\nid = 1\nbase_url = \"http://h:1\"\napi_key = \"k\"\nqps = -1\n" + secret_line,
       "providers.qps expects 0"},
      {"[[providers]]\nid = 1\nbase_url = \"http://h:1\"\napi_key = \"k\"\ncolour = 1\n" + secret_line,
       "unknown key 'providers.colour'"},
      {"[[providers]]\nid = 3\nbase_url = \"http://h:1\"\napi_key = \"k\"\n" + secret_line +
           "[[providers]]\nid = 3\nbase_url = \"http://h:2\"\napi_key = \"k\"\n" + secret_line,
       "channel 3 is configured twice"},
  };
  for (const auto& [input, expected] : bad) {
    serve_settings t;
    std::string why;
    EXPECT_FALSE(load(input, t, why)) << input;
    EXPECT_NE(why.find(expected), std::string::npos) << input << " -> " << why;
  }
  {  // routes and the codes a provider declared "nothing moved"
    serve_settings r;
    std::string routes = text + "reroute_codes = [\"invalid_account\", \"limit_exceeded\"]\n"
                                "[[routes]]\nkinds = [\"withdraw\"]\ncurrency = \"USD\"\nmin_amount = 100\n"
                                "max_amount = 5000\ntenants = [3, 4]\nproviders = [8, 7]\nweights = [2, 1]\n"
                                "[[routes]]\nproviders = [7, 8]\n";
    ASSERT_TRUE(load(routes, r, error)) << error;
    EXPECT_EQ(r.engine.http_channels[1].second.reroute_codes,
              (std::vector<std::string>{"invalid_account", "limit_exceeded"}));
    ASSERT_EQ(r.engine.routes.size(), 2u);
    const route_rule& first = r.engine.routes[0];
    EXPECT_FALSE(first.top_up);
    EXPECT_TRUE(first.withdraw);
    EXPECT_EQ(first.cur.code(), "USD");
    EXPECT_EQ(first.min_amount, 100);
    EXPECT_EQ(first.max_amount, 5000);
    EXPECT_EQ(first.tenants, (std::vector<tenant_id>{3, 4}));
    ASSERT_EQ(first.providers.size(), 2u);
    EXPECT_EQ(first.providers[0].channel, 8u);
    EXPECT_EQ(first.providers[0].weight, 2u);
    EXPECT_EQ(first.providers[1].weight, 1u);
    // Without weights: the first provider takes every order, the rest only what it refuses.
    EXPECT_EQ(r.engine.routes[1].providers[0].weight, 1u);
    EXPECT_EQ(r.engine.routes[1].providers[1].weight, 0u);
    const std::vector<std::pair<std::string, std::string>> bad_routes = {
        {"[routes]\nproviders = [7]\n", "routes must be tables"},
        {"[[routes]]\ncurrency = \"USD\"\n", "routes.providers is required"},
        {"[[routes]]\nproviders = [9]\n", "provider 9 is not a configured channel"},
        {"[[routes]]\nproviders = [7, 7]\n", "named twice"},
        {"[[routes]]\nproviders = [7, 8]\nweights = [1]\n", "one weight per provider"},
        {"[[routes]]\nproviders = [7, 8]\nweights = [0, 0]\n", "weight above 0"},
        {"[[routes]]\nproviders = [7]\nkinds = [\"pay\"]\n", "routes.kinds"},
        {"[[routes]]\nproviders = [7]\ncurrency = \"usd\"\n", "routes.currency"},
        {"[[routes]]\nproviders = [7]\nmin_amount = 0\n", "routes.min_amount"},
        {"[[routes]]\nproviders = [7]\nmin_amount = 9\nmax_amount = 8\n", "amount range"},
        {"[[routes]]\nproviders = [\"7\"]\n", "routes.providers expects"},
        {"[[routes]]\nproviders = [7]\ncolour = 1\n", "unknown key 'routes.colour'"},
        {"[[providers]]\nid = 9\nbase_url = \"http://h:1\"\napi_key = \"k\"\nreroute_codes = [\"\"]\n" +
             secret_line,
         "providers.reroute_codes"},
    };
    for (const auto& [input, expected] : bad_routes) {
      serve_settings t;
      std::string why;
      EXPECT_FALSE(load(text + input, t, why)) << input;
      EXPECT_NE(why.find(expected), std::string::npos) << input << " -> " << why;
    }
  }
  {  // the callback endpoint
    serve_settings c;
    ASSERT_TRUE(load(text + "[callbacks]\nlisten = \"0.0.0.0:8800\"\nthreads = 4\n", c, error)) << error;
    ASSERT_TRUE(c.engine.callbacks);
    EXPECT_EQ(c.engine.callbacks->host, "0.0.0.0");
    EXPECT_EQ(c.engine.callbacks->port, 8800);
    EXPECT_EQ(c.engine.callbacks->threads, 4u);
    serve_settings d;
    EXPECT_FALSE(load("[callbacks]\nlisten = \"0.0.0.0:8800\"\n", d, error));
    EXPECT_NE(error.find("[callbacks] needs [[providers]]"), std::string::npos) << error;
    for (const char* listen : {"8800", "h:", "h:99999", "h:-1", ":8800"}) {
      serve_settings e;
      EXPECT_FALSE(load(text + "[callbacks]\nlisten = \"" + listen + "\"\n", e, error)) << listen;
      EXPECT_NE(error.find("callbacks.listen"), std::string::npos) << listen << " -> " << error;
    }
  }
  std::filesystem::permissions(secret, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  serve_settings t;
  EXPECT_FALSE(load(text, t, error)) << "a secret others can read is refused";
  std::filesystem::remove(secret);
}

TEST(ConfigFile, MissingFileIsAnError) {
  serve_settings s;
  std::string error;
  EXPECT_FALSE(load_config_file("/nonexistent/txengine.toml", s, error));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

// toml++ 3.3.0 has undefined behaviour on some non-ASCII text and asserts on some control
// characters (found by fuzz_config_file): such bytes are refused before it sees them, with where.
TEST(ConfigFile, NonAsciiAndControlCharactersAreRefusedWithTheirPlace) {
  serve_settings s;
  std::string error;
  EXPECT_FALSE(load("[server]\nlisten = \"127.0.0.1:7400\" \xc3\xa9\n", s, error));
  EXPECT_NE(error.find("test.toml: line 2, column 27: byte 0xC3 is not ASCII"), std::string::npos) << error;
  EXPECT_FALSE(load("# caf\xc3\xa9\n[server]\n", s, error));  // comments too: the library decides what is one
  EXPECT_NE(error.find("line 1, column 6: byte 0xC3 is not ASCII"), std::string::npos) << error;
  EXPECT_FALSE(load("[\x12server]\n", s, error));
  EXPECT_NE(error.find("line 1, column 2: byte 0x12 is a control character"), std::string::npos) << error;
  EXPECT_FALSE(load("[server]\nlisten = \"a\x7f\"\n", s, error));
  EXPECT_NE(error.find("byte 0x7F is a control character"), std::string::npos) << error;
  // Tabs and CRLF line ends are fine.
  EXPECT_TRUE(load("[server]\r\n\tlisten = \"127.0.0.1:7400\"\r\n", s, error)) << error;
}

}  // namespace
}  // namespace txengine
