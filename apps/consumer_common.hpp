#pragma once
// The shell shared by the Kafka consumers (delivery-notifier, commission-payer): options, stop
// signals, a batching consumer with manual offset commits (librdkafka high-level consumer), the
// MySQL schema of what they store, and event decoding. docs/kafka.md describes the design.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <unordered_set>
#include <vector>

#include "apps/cli.hpp"
#include "apps/consumer_core.hpp"
#include "apps/consumer_events.hpp"
#include "persistence/mysql_connection.hpp"

struct rd_kafka_s;
struct rd_kafka_conf_s;

namespace txengine::consumers {

struct common_options {
  std::string bootstrap;                              //!< required: host:port[,host:port...]
  std::string topic = "txengine.orders.finalized";
  std::string group;                                  //!< default: the consumer's name
  std::string mysql_uri;                              //!< default: TXENGINE_MYSQL_URI or the dev server
  std::string database = "txconsumers";
  int batch_max = 500;                                //!< messages per batch, 1..10000
  int poll_ms = 200;                                  //!< wait for the first message of a batch
  int stats_interval_ms = 0;                          //!< periodic stats line on stderr; 0 = off
  int idle_exit_ms = 0;                               //!< exit after this long assigned without a message; 0 = never
  int64_t max_messages = 0;                           //!< exit after this many messages; 0 = no limit
  int max_store_attempts = 10;                        //!< MySQL attempts per batch before giving up
  int session_timeout_ms = 6'000;                     //!< consumer group session timeout
  //! processed_events rows older than this are deleted (0 keeps them). A redelivery comes at the
  //! latest one outbox message timeout after the event (30 s by default): days are a wide margin.
  int processed_retention_hours = 168;
  bool json = false;
  //! txengine's config file: its [kafka.properties] apply to the consumer too (TLS:
  //! security.protocol, ssl.ca.location, ...). Other sections and keys are serve's.
  std::string config;
  std::vector<std::string> kafka_property_flags;  //!< --kafka-property NAME=VALUE, as given
  //! librdkafka properties: the config file's, then the flags' (finish_common_options).
  std::vector<std::pair<std::string, std::string>> kafka_properties;
};

//! Adds the flags every consumer has (--bootstrap, --topic, --group, --mysql, --batch, ...).
void add_common_options(CLI::App& app, common_options& opt);
//! Checks the options after parsing and fills defaults; false and `error` when unusable.
bool finish_common_options(common_options& opt, const std::string& name, std::string& error);

//! SIGTERM / SIGINT set a flag the loops check (graceful stop after the current batch).
void install_stop_signals();
bool stop_requested();
void request_stop();

//! Properties the consumers set themselves (offsets move only after MySQL committed; the
//! bootstrap and group have flags): refused in kafka_properties.
bool is_reserved_consumer_property(const std::string& name);

//! The consumer's librdkafka configuration (the caller owns it): its own settings, then
//! opt.kafka_properties. Null with `error` naming a property librdkafka refuses.
rd_kafka_conf_s* make_consumer_conf(const common_options& opt, std::string& error);

//! A high-level consumer in a consumer group; offsets are committed only by commit(), after
//! the caller stored the effect of a batch (at least once).
class batch_consumer {
 public:
  explicit batch_consumer(const common_options& opt);
  ~batch_consumer();
  batch_consumer(const batch_consumer&) = delete;
  batch_consumer& operator=(const batch_consumer&) = delete;

  bool start(std::string& error);
  //! Up to batch_max messages: waits poll_ms for the first, then takes what is ready.
  //! Consumer errors that librdkafka recovers from are logged and counted, not returned.
  std::vector<kafka_message> poll_batch();
  //! Synchronously commits offset+1 of the last message of each partition in `batch`.
  bool commit(const std::vector<kafka_message>& batch, std::string& error);
  //! True when the group gave this member at least one partition.
  bool assigned();
  void close();
  uint64_t errors() const { return errors_; }

 private:
  common_options opt_;
  rd_kafka_s* rk_ = nullptr;
  uint64_t errors_ = 0;
};

struct loop_counters {
  uint64_t messages = 0, batches = 0, skipped = 0, malformed = 0, commit_errors = 0;
  uint64_t pruned = 0;  //!< processed_events rows deleted past their retention
};

//! What a consumer does with one decoded batch: store its effects durably; false (and a
//! reason) to give up, leaving the batch's offsets uncommitted.
using batch_store = std::function<bool(const std::vector<kafka_message>&, const decoded_batch&, std::string& error)>;

//! Stop signals, the MySQL store (schema created when missing) and the group subscription;
//! false after printing why.
bool start_consumer(const common_options& opt, const std::string& name,
                    std::unique_ptr<persistence::mysql_connection>& db, batch_consumer& consumer);

//! The loop of both consumers until a stop signal, the idle or message limit, or a failure:
//! poll a batch, decode it, `store` it, then commit its offsets; a `stats()` line on stderr
//! every stats_interval_ms. Returns the exit code (0, or 3 when `store` gave up).
int run_consumer_loop(const common_options& opt, const std::string& name, batch_consumer& consumer,
                      loop_counters& counters, const batch_store& store, const std::function<std::string()>& stats);

//! Connects to the consumers' database (creating it and its tables when missing).
std::unique_ptr<persistence::mysql_connection> connect_store(const common_options& opt);

//! Which of `ids` the consumer `name` has already processed (processed_events).
std::unordered_set<uint64_t> processed_among(persistence::mysql_connection& db, const std::string& name,
                                             const std::vector<uint64_t>& ids);

//! Deletes at most `rows_max` processed_events rows of `name` older than `retention_hours`, in
//! their own transaction; returns how many. The de-duplication record is bounded this way.
uint64_t prune_processed(persistence::mysql_connection& db, const std::string& name, int retention_hours,
                         uint64_t rows_max);
//! Rows prune_processed deletes per call, and how often the loop calls it (sooner while a call
//! deletes a full chunk: a backlog is worked off chunk by chunk, between batches).
constexpr uint64_t prune_rows_per_call = 10'000;
constexpr int64_t prune_interval_ms = 60'000;

//! "(?,?,...),(?,?,...)": `rows` groups of `columns` placeholders for a multi-row INSERT.
std::string values_placeholders(size_t rows, size_t columns);

//! Inserts the processed_events rows of `name` for the messages batch[i], i in `indexes`, in the
//! caller's transaction. `ignore`: rows another instance stored first are kept (INSERT IGNORE);
//! otherwise a duplicate key fails the statement.
void insert_processed(persistence::mysql_connection& db, const std::string& name,
                      const std::vector<kafka_message>& batch, const std::vector<finalized_event>& events,
                      const std::vector<size_t>& indexes, bool ignore);

//! Runs `store` (one MySQL transaction) until it succeeds, reconnecting after a lost
//! connection, at most opt.max_store_attempts times; false (and `error`) when it never did.
template <class F>
bool with_store(const common_options& opt, std::unique_ptr<persistence::mysql_connection>& db, F&& store,
                std::string& error);

//! Milliseconds since the epoch and a monotonic clock in ms.
int64_t now_ms();
int64_t steady_ms();
//! Sleeps up to `ms`, returning early when a stop was requested.
void sleep_unless_stopped(int64_t ms);

// ---- template definition -------------------------------------------------------------------

bool store_attempt_failed(const common_options& opt, std::unique_ptr<persistence::mysql_connection>& db,
                          const sql::SQLException& e, int attempt, std::string& error);

template <class F>
bool with_store(const common_options& opt, std::unique_ptr<persistence::mysql_connection>& db, F&& store,
                std::string& error) {
  for (int attempt = 0; attempt < opt.max_store_attempts; ++attempt) {
    try {
      if (!db) db = connect_store(opt);
      db->begin();
      store(*db);
      db->commit();
      return true;
    } catch (const sql::SQLException& e) {
      if (db) db->rollback();
      if (store_attempt_failed(opt, db, e, attempt, error)) return false;
    }
  }
  return false;
}

}  // namespace txengine::consumers
