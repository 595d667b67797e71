#include "apps/consumer_common.hpp"

#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <utility>

#include "apps/kafka_properties.hpp"

namespace txengine::consumers {

namespace detail {
extern const char* const consumers_schema_sql;
}

namespace {

std::atomic<bool> stop_flag{false};

extern "C" void on_stop_signal(int) { stop_flag.store(true); }

// The statements of consumers_schema.sql: split at ';' ending a line, comments dropped.
std::vector<std::string> schema_statements() {
  std::vector<std::string> out;
  std::string current;
  const char* p = detail::consumers_schema_sql;
  while (*p) {
    const char* eol = std::strchr(p, '\n');
    std::string line = eol ? std::string(p, eol) : std::string(p);
    p = eol ? eol + 1 : p + line.size();
    if (line.rfind("--", 0) == 0) continue;
    current += line + "\n";
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty() && line.back() == ';') {
      current.erase(current.find_last_of(';'));
      out.push_back(current);
      current.clear();
    }
  }
  return out;
}

}  // namespace

void add_common_options(CLI::App& app, common_options& opt) {
  namespace cli = txengine::cli;
  auto not_empty = CLI::Validator([](std::string& v) { return v.empty() ? "must not be empty" : ""; }, "", "not_empty");
  app.add_option("--bootstrap", opt.bootstrap, "Kafka bootstrap servers (txengine-devbroker prints them)")
      ->required()
      ->type_name("HOST:PORT[,...]")
      ->check(not_empty);
  app.add_option("--topic", opt.topic, "events topic")->capture_default_str()->type_name("NAME")->check(not_empty);
  app.add_option("--group", opt.group, "consumer group (default: the consumer's name)")->type_name("ID")->check(not_empty);
  app.add_option("--mysql", opt.mysql_uri, "mysql://user:pass@host:port (default TXENGINE_MYSQL_URI)")
      ->type_name("URI")
      ->check(not_empty);
  app.add_option("--database", opt.database, "the consumers' database")
      ->capture_default_str()
      ->type_name("NAME")
      ->check(not_empty);
  cli::add_number(app, "--batch", opt.batch_max, "messages per batch", 1, 10'000);
  cli::add_number(app, "--poll-ms", opt.poll_ms, "wait for a first message, in ms", 1, 10'000);
  cli::add_number(app, "--stats-interval-ms", opt.stats_interval_ms, "a stats line on stderr every MS (0: off)", 0,
                  3'600'000);
  cli::add_number(app, "--idle-exit-ms", opt.idle_exit_ms,
                  "exit after MS without messages while partitions are assigned (0: never)", 0, 86'400'000);
  cli::add_number(app, "--max-messages", opt.max_messages, "exit after N messages (0: no limit)", 0, INT64_MAX);
  cli::add_number(app, "--max-store-attempts", opt.max_store_attempts, "MySQL attempts per batch before exiting with 3",
                  1, 1000);
  cli::add_number(app, "--session-timeout-ms", opt.session_timeout_ms,
                  "group session timeout: a dead member's partitions move after it", 1000, 300'000);
  cli::add_number(app, "--processed-retention-hours", opt.processed_retention_hours,
                  "processed_events rows (the de-duplication record) kept this many hours (0 keeps them forever)", 0,
                  87'600);
  app.add_flag("--json", opt.json, "final summary as one JSON line on stdout");
  app.add_option("--config", opt.config,
                 "txengine's config file: its [kafka.properties] (librdkafka: security.protocol, ssl.ca.location, "
                 "...) apply to this consumer")
      ->type_name("FILE")
      ->check(not_empty);
  app.add_option("--kafka-property", opt.kafka_property_flags,
                 "a librdkafka consumer property NAME=VALUE (after the config file's); repeatable")
      ->type_name("NAME=VALUE")
      ->check(CLI::Validator(
          [](std::string& v) { return v.find('=') == std::string::npos || v[0] == '=' ? "expects NAME=VALUE" : ""; },
          "", "NAME=VALUE"));
}

bool is_reserved_consumer_property(const std::string& name) {
  return name == "bootstrap.servers" || name == "group.id" || name == "enable.auto.commit" ||
         name == "enable.auto.offset.store";
}

bool finish_common_options(common_options& opt, const std::string& name, std::string& error) {
  if (opt.group.empty()) opt.group = name;
  if (opt.database.size() > 64) {
    error = "--database is longer than 64 characters";
    return false;
  }
  persistence::mysql_endpoint ep;
  if (!opt.mysql_uri.empty() && !persistence::parse_mysql_uri(opt.mysql_uri, ep, &error)) {
    error = "--mysql: " + error;
    return false;
  }
  opt.kafka_properties.clear();
  if (!opt.config.empty() && !kafka_properties_of_file(opt.config, opt.kafka_properties, error)) {
    error = "--config " + error;
    return false;
  }
  for (const auto& p : opt.kafka_property_flags) {
    auto eq = p.find('=');
    opt.kafka_properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  for (const auto& [name, value] : opt.kafka_properties) {
    if (is_reserved_consumer_property(name)) {
      error = "the Kafka property " + name + " is the consumer's own (--bootstrap, --group; offsets are committed "
              "after MySQL)";
      return false;
    }
  }
  // librdkafka's own check of every name and value, now rather than at the first poll.
  if (rd_kafka_conf_s* conf = make_consumer_conf(opt, error)) {
    rd_kafka_conf_destroy(conf);
    return true;
  }
  error = "Kafka property " + error;
  return false;
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return stop_flag.load(); }
void request_stop() { stop_flag.store(true); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleep_unless_stopped(int64_t ms) {
  int64_t until = steady_ms() + ms;
  while (!stop_requested()) {
    int64_t left = until - steady_ms();
    if (left <= 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(left < 50 ? left : 50));
  }
}

// ---- Kafka -----------------------------------------------------------------------------------

batch_consumer::batch_consumer(const common_options& opt) : opt_(opt) {}

batch_consumer::~batch_consumer() { close(); }

rd_kafka_conf_s* make_consumer_conf(const common_options& opt, std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      error = k + ": " + errstr;
      return false;
    }
    return true;
  };
  // Offsets move only when we say so: stored after the batch's effects committed in MySQL.
  bool ok = set("bootstrap.servers", opt.bootstrap) && set("group.id", opt.group) && set("client.id", opt.group) &&
            set("enable.auto.commit", "false") && set("enable.auto.offset.store", "false") &&
            set("auto.offset.reset", "earliest") &&
            // Bounded memory: at most this much prefetched per partition.
            set("queued.max.messages.kbytes", "16384") && set("log_level", "4") &&
            // A killed member's partitions move to the others after this long (librdkafka's
            // default is 45 s); the heartbeat keeps a live one in the group.
            set("session.timeout.ms", std::to_string(opt.session_timeout_ms)) &&
            set("heartbeat.interval.ms", std::to_string(opt.session_timeout_ms / 3 > 0 ? opt.session_timeout_ms / 3 : 1));
  // The config file's and the flags' (security.protocol, ssl.ca.location, sasl.*, ...).
  for (const auto& [name, value] : opt.kafka_properties) ok = ok && set(name, value);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  return conf;
}

bool batch_consumer::start(std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = make_consumer_conf(opt_, error);
  if (!conf) return false;
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk_) {
    error = std::string("rd_kafka_new: ") + errstr;
    return false;
  }
  rd_kafka_poll_set_consumer(rk_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, opt_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    error = std::string("subscribe: ") + rd_kafka_err2str(err);
    return false;
  }
  return true;
}

std::vector<kafka_message> batch_consumer::poll_batch() {
  std::vector<kafka_message> out;
  if (!rk_) return out;
  int wait_ms = opt_.poll_ms;
  while (static_cast<int>(out.size()) < opt_.batch_max) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait_ms);
    if (!m) break;
    wait_ms = 0;  // after the first message: only what is already here
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ++errors_;
        std::fprintf(stderr, "%s: consumer error: %s\n", opt_.group.c_str(), rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    kafka_message km;
    km.topic = rd_kafka_topic_name(m->rkt);
    km.partition = m->partition;
    km.offset = m->offset;
    if (m->key) km.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) km.payload.assign(static_cast<const char*>(m->payload), m->len);
    out.push_back(std::move(km));
    rd_kafka_message_destroy(m);
  }
  return out;
}

bool batch_consumer::commit(const std::vector<kafka_message>& batch, std::string& error) {
  if (!rk_ || batch.empty()) return true;
  std::map<std::pair<std::string, int32_t>, int64_t> next;
  for (const auto& m : batch) {
    auto& o = next[{m.topic, m.partition}];
    if (m.offset + 1 > o) o = m.offset + 1;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
  for (const auto& [tp, offset] : next)
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
  // Store, then commit asynchronously: the effects are already durable, so a lost commit only
  // means a redelivery, which the processed_events rows absorb. A synchronous commit would
  // block the loop (and a graceful stop) for as long as the coordinator is unreachable.
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err && err != RD_KAFKA_RESP_ERR__STATE) {
    error = std::string("offsets_store: ") + rd_kafka_err2str(err);
    return false;
  }
  err = rd_kafka_commit(rk_, nullptr, 1);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    error = std::string("commit: ") + rd_kafka_err2str(err);
    return false;
  }
  return true;
}

bool batch_consumer::assigned() {
  if (!rk_) return false;
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(rk_, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return false;
  bool any = parts->cnt > 0;
  rd_kafka_topic_partition_list_destroy(parts);
  return any;
}

void batch_consumer::close() {
  if (!rk_) return;
  // A last synchronous commit of what was stored; failure only means redelivery.
  rd_kafka_commit(rk_, nullptr, 0);
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

bool start_consumer(const common_options& opt, const std::string& name,
                    std::unique_ptr<persistence::mysql_connection>& db, batch_consumer& consumer) {
  install_stop_signals();
  std::string error;
  if (!with_store(opt, db, [](persistence::mysql_connection&) {}, error)) {
    std::fprintf(stderr, "%s: cannot reach MySQL: %s\n", name.c_str(), error.c_str());
    return false;
  }
  if (!consumer.start(error)) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), error.c_str());
    return false;
  }
  return true;
}

namespace {

//! Retention of processed_events, between batches on a connection of its own. A failure is
//! logged and tried again at the next interval: the record only grows meanwhile.
class processed_pruner {
 public:
  processed_pruner(const common_options& opt, const std::string& name) : opt_(opt), name_(name) {}

  void maybe_prune(int64_t now, loop_counters& counters) {
    if (opt_.processed_retention_hours == 0 || now < next_ms_) return;
    next_ms_ = now + prune_interval_ms;
    try {
      if (!db_) db_ = connect_store(opt_);
      uint64_t deleted = prune_processed(*db_, name_, opt_.processed_retention_hours, prune_rows_per_call);
      counters.pruned += deleted;
      if (deleted == prune_rows_per_call) next_ms_ = now;  // more waiting: the next chunk after the next batch
    } catch (const sql::SQLException& e) {
      db_.reset();
      std::fprintf(stderr, "%s: pruning processed_events failed (tried again in %lld s): %s\n", name_.c_str(),
                   static_cast<long long>(prune_interval_ms / 1000), e.what());
    }
  }

 private:
  const common_options& opt_;
  std::string name_;
  std::unique_ptr<persistence::mysql_connection> db_;
  int64_t next_ms_ = 0;
};

}  // namespace

int run_consumer_loop(const common_options& opt, const std::string& name, batch_consumer& consumer,
                      loop_counters& counters, const batch_store& store, const std::function<std::string()>& stats) {
  int64_t last_message = steady_ms(), last_stats = steady_ms();
  std::string error;
  processed_pruner pruner(opt, name);
  while (!stop_requested()) {
    auto batch = consumer.poll_batch();
    int64_t now = steady_ms();
    pruner.maybe_prune(now, counters);
    if (opt.stats_interval_ms > 0 && now - last_stats >= opt.stats_interval_ms) {
      std::fprintf(stderr, "%s\n", stats().c_str());
      last_stats = now;
    }
    if (batch.empty()) {
      // Idle counts only while partitions are assigned (not while the group rebalances).
      if (opt.idle_exit_ms > 0 && !consumer.assigned()) last_message = now;
      if (opt.idle_exit_ms > 0 && now - last_message >= opt.idle_exit_ms) break;
      continue;
    }
    last_message = now;
    decoded_batch decoded = decode_batch(name, batch);
    if (!store(batch, decoded, error)) {
      // Offsets of this batch stay uncommitted: it is redelivered after a restart.
      std::fprintf(stderr, "%s: giving up on a batch: %s\n", name.c_str(), error.c_str());
      return 3;
    }
    counters.skipped += decoded.skipped;
    counters.malformed += decoded.malformed;
    counters.messages += batch.size();
    ++counters.batches;
    if (!consumer.commit(batch, error)) {
      ++counters.commit_errors;
      std::fprintf(stderr, "%s: %s (the batch will be redelivered and deduplicated)\n", name.c_str(), error.c_str());
    }
    if (opt.max_messages > 0 && counters.messages >= static_cast<uint64_t>(opt.max_messages)) break;
  }
  return 0;
}

// ---- MySQL -----------------------------------------------------------------------------------

std::unique_ptr<persistence::mysql_connection> connect_store(const common_options& opt) {
  persistence::mysql_endpoint ep = persistence::endpoint_from_environment();
  if (!opt.mysql_uri.empty()) persistence::parse_mysql_uri(opt.mysql_uri, ep);
  ep.database.clear();
  auto db = std::make_unique<persistence::mysql_connection>(ep);
  db->execute("CREATE DATABASE IF NOT EXISTS " + persistence::quote_identifier(opt.database));
  db->use(opt.database);
  for (const auto& s : schema_statements()) db->execute(s);
  return db;
}

std::unordered_set<uint64_t> processed_among(persistence::mysql_connection& db, const std::string& name,
                                             const std::vector<uint64_t>& ids) {
  std::unordered_set<uint64_t> out;
  if (ids.empty()) return out;
  std::string sql = "SELECT event_id FROM processed_events WHERE consumer = ? AND event_id IN (";
  for (size_t i = 0; i < ids.size(); ++i) sql += i ? ",?" : "?";
  sql += ")";
  auto st = db.prepare(sql);
  st->setString(1, name);
  for (size_t i = 0; i < ids.size(); ++i) st->setUInt64(static_cast<unsigned>(i + 2), ids[i]);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  while (rs->next()) out.insert(rs->getUInt64(1));
  return out;
}

uint64_t prune_processed(persistence::mysql_connection& db, const std::string& name, int retention_hours,
                         uint64_t rows_max) {
  db.begin();
  auto st = db.prepare(
      "DELETE FROM processed_events WHERE consumer = ? AND processed_at < NOW(3) - INTERVAL ? HOUR LIMIT ?");
  st->setString(1, name);
  st->setInt(2, retention_hours);
  st->setUInt64(3, rows_max);
  uint64_t deleted = static_cast<uint64_t>(st->executeUpdate());
  db.commit();
  return deleted;
}

std::string values_placeholders(size_t rows, size_t columns) {
  std::string group = "(";
  for (size_t c = 0; c < columns; ++c) group += c ? ",?" : "?";
  group += ")";
  std::string out;
  out.reserve(rows * (group.size() + 1));
  for (size_t r = 0; r < rows; ++r) {
    if (r) out += ",";
    out += group;
  }
  return out;
}

void insert_processed(persistence::mysql_connection& db, const std::string& name,
                      const std::vector<kafka_message>& batch, const std::vector<finalized_event>& events,
                      const std::vector<size_t>& indexes, bool ignore) {
  if (indexes.empty()) return;
  auto st = db.prepare(std::string(ignore ? "INSERT IGNORE" : "INSERT") +
                       " INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset) VALUES " +
                       values_placeholders(indexes.size(), 5));
  unsigned n = 1;
  for (size_t i : indexes) {
    st->setString(n++, name);
    st->setUInt64(n++, events[i].event_id);
    st->setString(n++, batch[i].topic);
    st->setInt(n++, batch[i].partition);
    st->setInt64(n++, batch[i].offset);
  }
  st->executeUpdate();
}

bool store_attempt_failed(const common_options& opt, std::unique_ptr<persistence::mysql_connection>& db,
                          const sql::SQLException& e, int attempt, std::string& error) {
  error = std::string("mysql error ") + std::to_string(e.getErrorCode()) + ": " + e.what();
  std::fprintf(stderr, "%s: store attempt %d/%d failed: %s\n", opt.group.c_str(), attempt + 1,
               opt.max_store_attempts, error.c_str());
  // Anything but a deadlock or lock wait: start over on a fresh connection.
  if (!persistence::is_transient(e)) db.reset();
  if (stop_requested()) return true;
  sleep_unless_stopped(backoff_ms(attempt, 100, 5'000));
  return stop_requested();
}

}  // namespace txengine::consumers
