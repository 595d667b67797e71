#include "apps/config_file.hpp"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include <toml++/toml.h>

#include "apps/kafka_properties.hpp"

namespace txengine {

namespace {

// One handler per key: reads the node into the settings, or says why it cannot.
using handler = std::function<bool(const toml::node&, serve_settings&, std::string&)>;

//! An integer key stored through `target` (a function returning a reference to the field).
template <class Field>
handler integer_key(std::function<Field&(serve_settings&)> target, int64_t min, int64_t max) {
  return [target, min, max](const toml::node& node, serve_settings& s, std::string& why) {
    auto v = node.value_exact<int64_t>();
    if (!v) {
      why = "expects an integer";
      return false;
    }
    if (*v < min || *v > max) {
      why = "expects " + std::to_string(min) + " .. " + std::to_string(max) + ", got " + std::to_string(*v);
      return false;
    }
    target(s) = static_cast<Field>(*v);
    return true;
  };
}

handler string_key(std::function<std::string&(serve_settings&)> target) {
  return [target](const toml::node& node, serve_settings& s, std::string& why) {
    auto v = node.value_exact<std::string>();
    if (!v) {
      why = "expects a string";
      return false;
    }
    target(s) = *v;
    return true;
  };
}

//! A name: 1..`length_max` bytes of letters, digits, '.', '_' and '-'.
handler name_key(std::function<std::string&(serve_settings&)> target, size_t length_max) {
  return [target, length_max](const toml::node& node, serve_settings& s, std::string& why) {
    auto v = node.value_exact<std::string>();
    bool ok = v && !v->empty() && v->size() <= length_max;
    for (char c : ok ? *v : std::string())
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') ok = false;
    if (!ok) {
      why = "expects 1.." + std::to_string(length_max) + " letters, digits, '.', '_' or '-'";
      return false;
    }
    target(s) = *v;
    return true;
  };
}

handler bool_key(std::function<bool&(serve_settings&)> target) {
  return [target](const toml::node& node, serve_settings& s, std::string& why) {
    auto v = node.value_exact<bool>();
    if (!v) {
      why = "expects true or false";
      return false;
    }
    target(s) = *v;
    return true;
  };
}

storage_config& storage(serve_settings& s) {
  if (!s.engine.storage) {
    // No built-in server or password: [storage] must name its server (storage.mysql).
    s.engine.storage = storage_config{};
    s.engine.storage->uri.clear();
  }
  return *s.engine.storage;
}

cluster_config& cluster(serve_settings& s) {
  if (!s.engine.cluster) s.engine.cluster = cluster_config{};
  return *s.engine.cluster;
}

constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();
constexpr int64_t uint32_max = std::numeric_limits<uint32_t>::max();

//! The [[providers]] table being read (apply() adds one per table before its keys).
http_provider_settings& provider(serve_settings& s) { return s.engine.http_channels.back().second; }

const std::map<std::string, handler>& handlers() {
  static const std::map<std::string, handler> table = {
      // [server]
      {"server.listen", string_key([](serve_settings& s) -> std::string& { return s.listen; })},
      {"server.keys", string_key([](serve_settings& s) -> std::string& { return s.keys_file; })},
      {"server.tls_cert", string_key([](serve_settings& s) -> std::string& { return s.server.tls.cert; })},
      {"server.tls_key", string_key([](serve_settings& s) -> std::string& { return s.server.tls.key; })},
      {"server.tls_client_ca", string_key([](serve_settings& s) -> std::string& { return s.server.tls.ca; })},
      {"server.in_flight_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.in_flight_max; }, 1, 1 << 20)},
      {"server.connections_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.connections_max; }, 1, 1 << 20)},
      {"server.query_queue_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.query_queue_max; }, 1, 1 << 20)},
      {"server.connections_per_address_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.connections_per_address_max; }, 1,
                           1 << 20)},
      {"server.auth_failures_max",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.server.auth_failures_max; }, 1, 1000)},
      {"server.auth_deadline_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.server.auth_deadline_ms; }, 1000, 3'600'000)},
      {"server.idle_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.server.idle_timeout_ms; }, 1000,
                            7 * 24 * 3'600'000ll)},
      {"server.deployment_id",
       name_key([](serve_settings& s) -> std::string& { return s.server.deployment_id; },
                wire::deployment_id_length_max)},
      {"server.replay_cache_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.replay_cache_max; }, 1024, 1 << 26)},
      {"server.query_threads",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.server.query_threads; }, 1, 64)},
      // [engine]
      {"engine.node_id",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.engine.node_id; }, 0, 63)},
      {"engine.order_hosts",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.engine.order_hosts; }, 1, 16)},
      {"engine.scheduler_threads",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.engine.scheduler_threads; }, 0, 256)},
      {"engine.orders_in_flight_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.engine.orders_in_flight_max; }, 1,
                           static_cast<int64_t>(limits::engine_orders_in_flight_max))},
      {"engine.orders_retained_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.engine.orders_retained_max; }, 1,
                           static_cast<int64_t>(limits::engine_orders_retained_max))},
      {"engine.wallet_shards",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.engine.wallet.shards; }, 0, uint32_max)},
      // [[providers]]: payment providers over HTTP (docs/channels.md)
      {"providers.id",
       integer_key<channel_id>([](serve_settings& s) -> channel_id& { return s.engine.http_channels.back().first; }, 1,
                               uint32_max)},
      {"providers.base_url", string_key([](serve_settings& s) -> std::string& { return provider(s).base_url; })},
      {"providers.api_key", string_key([](serve_settings& s) -> std::string& { return provider(s).api_key; })},
      {"providers.secret_file",
       [](const toml::node& node, serve_settings& s, std::string& why) {
         auto path = node.value_exact<std::string>();
         std::ifstream in(path ? *path : std::string());
         std::string line;
         if (!path || !wire::check_private_file(*path, why) || !in || !std::getline(in, line) || line.empty()) {
           if (why.empty()) why = "expects an owner-only file whose first line is the secret";
           return false;
         }
         if (line.back() == '\r') line.pop_back();
         provider(s).secret = line;
         return true;
       }},
      {"providers.connect_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return provider(s).connect_timeout_ms; }, 1, 600'000)},
      {"providers.submit_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return provider(s).submit_timeout_ms; }, 1, 600'000)},
      {"providers.query_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return provider(s).query_timeout_ms; }, 1, 600'000)},
      {"providers.submit_inflight_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return provider(s).submit_inflight_max; }, 1, 10'000)},
      {"providers.query_inflight_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return provider(s).query_inflight_max; }, 1, 10'000)},
      {"providers.queue_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return provider(s).queue_max; }, 1, 10'000'000)},
      {"providers.qps", integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).qps; }, 0,
                                              1'000'000)},
      {"providers.burst",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).burst; }, 1, 1'000'000)},
      {"providers.unseen_retries",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).unseen_retries; }, 0, 100)},
      {"providers.breaker_window_s",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).breaker.window_s; }, 1,
                             circuit_breaker::window_max_s)},
      {"providers.breaker_min_requests",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).breaker.min_requests; }, 1,
                             1'000'000)},
      {"providers.breaker_failure_ppm",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).breaker.failure_ppm; }, 1,
                             1'000'000)},
      {"providers.breaker_open_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return provider(s).breaker.open_ms; }, 1,
                            3'600'000)},
      {"providers.reroute_codes",
       [](const toml::node& node, serve_settings& s, std::string& why) {
         const toml::array* list = node.as_array();
         std::vector<std::string> codes;
         for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
           auto v = list->get(i)->value_exact<std::string>();
           if (!v || v->empty() || v->size() > 64) break;
           codes.push_back(*v);
         }
         if (list == nullptr || codes.size() != list->size() || codes.size() > 64) {
           why = "expects a list of at most 64 decline codes, each 1 .. 64 characters";
           return false;
         }
         provider(s).reroute_codes = std::move(codes);
         return true;
       }},
      {"providers.breaker_probes",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return provider(s).breaker.probes; }, 1, 1000)},
      // [callbacks]: the providers' callback endpoint (docs/channels.md)
      {"callbacks.listen",
       [](const toml::node& node, serve_settings& s, std::string& why) {
         auto v = node.value_exact<std::string>();
         auto colon = v ? v->rfind(':') : std::string::npos;
         int port = -1;
         if (colon != std::string::npos && colon > 0 && colon + 1 < v->size() && colon + 6 >= v->size() &&
             v->find_first_not_of("0123456789", colon + 1) == std::string::npos)
           port = std::stoi(v->substr(colon + 1));
         if (port < 0 || port > 65535) {
           why = "expects HOST:PORT";
           return false;
         }
         if (!s.engine.callbacks) s.engine.callbacks = callback_listener_config{};
         s.engine.callbacks->host = v->substr(0, colon);
         s.engine.callbacks->port = port;
         return true;
       }},
      {"callbacks.threads",
       integer_key<size_t>(
           [](serve_settings& s) -> size_t& {
             if (!s.engine.callbacks) s.engine.callbacks = callback_listener_config{};
             return s.engine.callbacks->threads;
           },
           1, 256)},
      // [wallet]
      {"wallet.journal_entries_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return s.engine.wallet.core.journal_entries_max; }, 1,
                           static_cast<int64_t>(limits::wallet_journal_entries_limit))},
      {"wallet.finished_record_retention_ms",
       integer_key<int64_t>(
           [](serve_settings& s) -> int64_t& { return s.engine.wallet.core.finished_record_retention_ms; }, 1,
           int64_max)},
      {"wallet.idle_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.wallet.idle_ms; }, 1, int64_max)},
      // [order]
      {"order.try_deadline_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.try_deadline_ms; }, 1, int64_max)},
      {"order.retry_initial_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.retry_initial_ms; }, 1, int64_max)},
      {"order.retry_max_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.retry_max_ms; }, 1, int64_max)},
      {"order.alert_attempts",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return s.engine.order.alert_attempts; }, 1, 1'000'000)},
      {"order.channel_submit_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.channel_submit_timeout_ms; }, 1,
                            int64_max)},
      {"order.channel_query_min_delay_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.channel_query_min_delay_ms; },
                            0, int64_max)},
      {"order.channel_not_found_final_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.channel_not_found_final_ms; },
                            1, int64_max)},
      {"order.payment_deadline_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.payment_deadline_ms; }, 1,
                            int64_max)},
      {"order.processing_alert_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.processing_alert_ms; }, 1,
                            int64_max)},
      {"order.final_retention_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.engine.order.final_retention_ms; },
                            limits::order_final_retention_ms_min, limits::order_final_retention_ms_max)},
      // [storage]: its presence turns MySQL storage on.
      {"storage.mysql", string_key([](serve_settings& s) -> std::string& { return storage(s).uri; })},
      {"storage.ack",
       [](const toml::node& node, serve_settings& s, std::string& why) {
         auto v = node.value_exact<std::string>();
         if (!v || (*v != "durable" && *v != "memory")) {
           why = "expects \"durable\" or \"memory\"";
           return false;
         }
         storage(s).ack = *v == "memory" ? ack_mode::memory : ack_mode::durable;
         return true;
       }},
      {"storage.mysql_password_file",
       string_key([](serve_settings& s) -> std::string& {
         storage(s);
         return s.mysql_password_file;
       })},
      {"storage.prefix", string_key([](serve_settings& s) -> std::string& { return storage(s).prefix; })},
      {"storage.databases",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return storage(s).databases; }, 1, 256)},
      {"storage.tables",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return storage(s).tables; }, 1, 4096)},
      {"storage.batch_rows_max",
       integer_key<size_t>([](serve_settings& s) -> size_t& { return storage(s).batch_rows_max; }, 1, 1'000'000)},
      {"storage.batch_latency_max_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return storage(s).batch_latency_max_ms; }, 0, 10'000)},
      {"storage.wallet_checkpoint_interval_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return storage(s).wallet_checkpoint_interval_ms; }, 1,
                            86'400'000)},
      {"storage.split_commit", bool_key([](serve_settings& s) -> bool& { return storage(s).split_commit; })},
      {"storage.queue_rows_high_water",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return storage(s).queue_rows_high_water; }, 1,
                            100'000'000)},
      // [cluster]: its presence makes this node a cluster node (needs [storage] and [engine] node_id).
      {"cluster.endpoint", string_key([](serve_settings& s) -> std::string& { return cluster(s).endpoint; })},
      {"cluster.tls_cert", string_key([](serve_settings& s) -> std::string& { return cluster(s).tls_cert; })},
      {"cluster.tls_key", string_key([](serve_settings& s) -> std::string& { return cluster(s).tls_key; })},
      {"cluster.tls_ca", string_key([](serve_settings& s) -> std::string& { return cluster(s).tls_ca; })},
      {"cluster.partitions",
       integer_key<uint32_t>([](serve_settings& s) -> uint32_t& { return cluster(s).leases.partitions; },
                             cluster_partitions_min, cluster_partitions_max)},
      {"cluster.lease_ttl_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return cluster(s).leases.ttl_ms; }, 100, 600'000)},
      {"cluster.round_interval_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return cluster(s).round_interval_ms; },
                            cluster_round_interval_ms_min, 200'000)},
      {"cluster.join_settle_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return cluster(s).join_settle_ms; }, 0,
                            cluster_join_settle_ms_max)},
      // [kafka]: publication of final states through the MySQL outbox (needs [storage]).
      {"kafka.bootstrap_servers", string_key([](serve_settings& s) -> std::string& { return s.kafka.bootstrap_servers; })},
      {"kafka.topic", string_key([](serve_settings& s) -> std::string& { return s.kafka.topic; })},
      {"kafka.outbox_unpublished_max",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.kafka.outbox_unpublished_max; }, 1,
                            1'000'000'000)},
      {"kafka.message_timeout_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.kafka.message_timeout_ms; }, 1, int64_max)},
      {"kafka.linger_ms", integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.kafka.linger_ms; }, 0, 60'000)},
      {"kafka.published_retention_ms",
       integer_key<int64_t>([](serve_settings& s) -> int64_t& { return s.kafka.published_retention_ms; }, 0, int64_max)},
      {"kafka.properties",
       [](const toml::node& node, serve_settings& s, std::string& why) {
         return kafka_properties_from(node, s.kafka.properties, why);
       }},
  };
  return table;
}

//! Reads one [[routes]] table (docs/channels.md, "Routing"); false with `why` on a bad key.
bool read_route(const toml::table& table, route_rule& rule, std::string& why) {
  std::vector<uint32_t> weights;
  bool weighted = false;
  auto integers = [&](const toml::node& node, std::vector<uint32_t>& out, int64_t min, int64_t max) {
    const toml::array* list = node.as_array();
    if (list == nullptr || list->empty()) return false;
    for (const auto& item : *list) {
      auto v = item.value_exact<int64_t>();
      if (!v || *v < min || *v > max) return false;
      out.push_back(static_cast<uint32_t>(*v));
    }
    return true;
  };
  for (const auto& [key, node] : table) {
    std::string name(key.str());
    if (name == "kinds") {
      const toml::array* list = node.as_array();
      rule.top_up = rule.withdraw = false;
      bool ok = list != nullptr && !list->empty();
      for (size_t i = 0; ok && i < list->size(); ++i) {
        auto v = list->get(i)->value_exact<std::string>();
        if (v && *v == "top_up") rule.top_up = true;
        else if (v && *v == "withdraw") rule.withdraw = true;
        else ok = false;
      }
      if (!ok) return why = "routes.kinds expects a list of \"top_up\" and \"withdraw\"", false;
    } else if (name == "currency") {
      auto v = node.value_exact<std::string>();
      auto cur = v ? currency::parse(*v) : std::nullopt;
      if (!cur) return why = "routes.currency expects three capital letters", false;
      rule.cur = *cur;
    } else if (name == "min_amount" || name == "max_amount") {
      auto v = node.value_exact<int64_t>();
      if (!v || *v < 1) return why = "routes." + name + " expects an integer >= 1 (minor units)", false;
      (name == "min_amount" ? rule.min_amount : rule.max_amount) = *v;
    } else if (name == "tenants") {
      std::vector<uint32_t> tenants;
      if (!integers(node, tenants, 1, uint32_max)) return why = "routes.tenants expects a list of tenant ids", false;
      rule.tenants.assign(tenants.begin(), tenants.end());
    } else if (name == "providers") {
      std::vector<uint32_t> ids;
      if (!integers(node, ids, 1, uint32_max)) return why = "routes.providers expects a list of channel ids", false;
      rule.providers.clear();
      for (uint32_t id : ids) rule.providers.push_back({id, 0});
    } else if (name == "weights") {
      weighted = true;
      if (!integers(node, weights, 0, 1'000'000)) return why = "routes.weights expects a list of 0 .. 1000000", false;
    } else {
      return why = "unknown key 'routes." + name + "' (config/txengine.example.toml lists them)", false;
    }
  }
  if (rule.providers.empty()) return why = "routes.providers is required", false;
  if (weighted && weights.size() != rule.providers.size())
    return why = "routes.weights must give one weight per provider", false;
  // Without weights the first provider takes every order; the others only what it refuses.
  for (size_t i = 0; i < rule.providers.size(); ++i) rule.providers[i].weight = weighted ? weights[i] : i == 0;
  return true;
}

bool apply(const toml::table& root, const std::string& source, serve_settings& settings, std::string& error) {
  // [[providers]]: one table each; the simulated channels are for development only, so a file
  // that names providers has only those.
  std::vector<const toml::table*> tables;
  for (const auto& [section_key, section] : root) {
    std::string section_name(section_key.str());
    if (section_name != "providers") continue;
    const toml::array* list = section.as_array();
    for (size_t i = 0; list && i < list->size(); ++i) tables.push_back(list->get(i)->as_table());
    if (!list || list->empty() || std::count(tables.begin(), tables.end(), nullptr) != 0) {
      error = source + ": providers must be tables ([[providers]])";
      return false;
    }
    settings.engine.channels.clear();
  }
  for (size_t i = 0; i < tables.size(); ++i) {
    settings.engine.http_channels.emplace_back(0, http_provider_settings{});
    for (const auto& [key, node] : *tables[i]) {
      std::string name = "providers." + std::string(key.str());
      auto found = handlers().find(name);
      std::string why;
      if (found == handlers().end()) {
        error = source + ": unknown key '" + name + "' (config/txengine.example.toml lists them)";
        return false;
      }
      if (!found->second(node, settings, why)) {
        error = source + ": provider " + std::to_string(i + 1) + ": " + name + " " + why;
        return false;
      }
    }
    const auto& [id, p] = settings.engine.http_channels.back();
    if (id == 0 || p.base_url.empty() || p.api_key.empty() || p.secret.empty()) {
      error = source + ": provider " + std::to_string(i + 1) + " needs id, base_url, api_key and secret_file";
      return false;
    }
  }
  for (const auto& [section_key, section] : root) {
    std::string section_name(section_key.str());
    if (section_name != "routes") continue;
    const toml::array* list = section.as_array();
    if (list == nullptr || list->empty()) {
      error = source + ": routes must be tables ([[routes]])";
      return false;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const toml::table* table = list->get(i)->as_table();
      std::string why = "must be a table ([[routes]])";
      route_rule rule;
      if (table == nullptr || !read_route(*table, rule, why)) {
        error = source + ": route " + std::to_string(i + 1) + ": " + why;
        return false;
      }
      settings.engine.routes.push_back(std::move(rule));
    }
  }
  for (const auto& [section_key, section] : root) {
    std::string section_name(section_key.str());
    if (section_name == "providers" || section_name == "routes") continue;
    const toml::table* keys = section.as_table();
    if (!keys) {
      error = source + ": '" + section_name + "' must be a section ([" + section_name + "])";
      return false;
    }
    if (section_name == "storage") storage(settings);  // an empty [storage] still turns storage on
    if (section_name == "cluster") cluster(settings);  // so does [cluster] a cluster node (it says what it lacks)
    for (const auto& [key, node] : *keys) {
      std::string name = section_name + "." + std::string(key.str());
      auto found = handlers().find(name);
      if (found == handlers().end()) {
        error = source + ": unknown key '" + name + "' (config/txengine.example.toml lists them)";
        return false;
      }
      std::string why;
      if (!found->second(node, settings, why)) {
        error = source + ": " + name + " " + why;
        return false;
      }
    }
  }
  if (std::string problem = engine_config_problem(settings.engine); !problem.empty()) {
    error = source + ": " + problem;
    return false;
  }
  if (settings.engine.callbacks && settings.engine.http_channels.empty()) {
    error = source + ": [callbacks] needs [[providers]] (their secrets check the callbacks)";
    return false;
  }
  if (settings.engine.callbacks && settings.engine.callbacks->host.empty()) {
    error = source + ": callbacks.listen must name HOST:PORT";
    return false;
  }
  if (settings.kafka.enabled() && !settings.engine.storage) {
    error = source + ": kafka.bootstrap_servers needs [storage] (events go through the MySQL outbox)";
    return false;
  }
  if (settings.engine.storage && settings.engine.storage->uri.empty()) {
    error = source + ": storage.mysql must name a server when [storage] is present";
    return false;
  }
  return true;
}

}  // namespace

bool load_config_text(const std::string& text, const std::string& source, serve_settings& settings,
                      std::string& error) {
  if (std::string problem = config_text_problem(text); !problem.empty()) {
    error = source + ": " + problem;
    return false;
  }
  try {
    toml::table root = toml::parse(text, source);
    return apply(root, source, settings, error);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    error = source + ": " + std::string(e.description()) + " (" + where.str() + ")";
    return false;
  }
}

bool load_config_file(const std::string& path, serve_settings& settings, std::string& error) {
  std::string text;
  return read_config_text(path, text, error) && load_config_text(text, path, settings, error);
}

}  // namespace txengine
