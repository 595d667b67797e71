#include "publication/publisher.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "ports/clock.hpp"
#include "ports/outbox.hpp"
#include "core/check.hpp"

namespace txengine::publication {

namespace {

constexpr size_t latency_buckets = 60'001;   // 1 ms each; a larger lag counts in the last one
constexpr int64_t age_refresh_ms = 250;      // how often the oldest unpublished row is looked up
constexpr int64_t age_scan_rows = 1000;      // rows per table it looks at (see oldest_age())
constexpr int64_t rescan_ms = 1000;          // read the outbox at least this often
constexpr int64_t sweep_interval_ms = 10'000;
constexpr int64_t sweep_rows_max = 5000;     // published rows deleted per table per sweep
constexpr size_t mark_chunk_max = 1000;      // event ids per UPDATE
constexpr int64_t sql_backoff_max_ms = 1000;
constexpr int64_t idle_poll_ms = 2;          // waiting for delivery reports or new rows

bool topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

//! Milliseconds, 1 ms buckets (a larger value counts in the last one).
struct histogram {
  std::vector<uint64_t> buckets = std::vector<uint64_t>(latency_buckets, 0);
  uint64_t total = 0;
  int64_t max = 0;
  void add(int64_t ms) {
    ++buckets[std::min<size_t>(static_cast<size_t>(ms), latency_buckets - 1)];
    ++total;
    max = std::max(max, ms);
  }
  int64_t percentile(double q) const {
    if (total == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen >= rank) return static_cast<int64_t>(i);
    }
    return static_cast<int64_t>(buckets.size() - 1);
  }
};

}  // namespace

rd_kafka_conf_s* make_producer_conf(const publication_config& kafka) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka property " + name + "=" + value + ": " + error);
    }
  };
  set("bootstrap.servers", kafka.bootstrap_servers);
  set("client.id", "txengine-publisher");
  set("enable.idempotence", "true");  // no duplicates or reordering from the producer's own retries
  set("acks", "all");
  set("linger.ms", std::to_string(kafka.linger_ms));
  set("message.timeout.ms", std::to_string(kafka.message_timeout_ms));
  // The Java client's partitioner: a key lands in the same partition whichever client produces it.
  set("partitioner", "murmur2_random");
  set("queue.buffering.max.messages", std::to_string(std::max<uint32_t>(kafka.in_flight_max + 1000, 100'000)));
  // [kafka.properties] / --kafka-property last: security.protocol, ssl.ca.location, sasl.*, ...
  for (const auto& [name, value] : kafka.properties) set(name, value);
  return conf;
}

bool validate(const publication_config& c, std::string* error) {
  auto fail = [error](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (!c.enabled()) return fail("kafka.bootstrap_servers is empty");
  // 128: the outbox's topic column; Kafka itself allows 249.
  if (c.topic.empty() || c.topic.size() > 128 || !std::all_of(c.topic.begin(), c.topic.end(), topic_char) ||
      c.topic == "." || c.topic == "..")
    return fail("kafka.topic must be 1..128 characters of [a-zA-Z0-9._-]: '" + c.topic + "'");
  if (c.outbox_unpublished_max < 1) return fail("kafka.outbox_unpublished_max must be >= 1");
  if (c.page_rows < 1 || c.page_rows > 100'000) return fail("kafka.page_rows must be 1..100000");
  if (c.in_flight_max < 1 || c.in_flight_max > 1'000'000) return fail("kafka.in_flight_max must be 1..1000000");
  if (c.message_timeout_ms < 1000 || c.message_timeout_ms > 3'600'000)
    return fail("kafka.message_timeout_ms must be 1000..3600000");
  if (c.linger_ms < 0 || c.linger_ms > 10'000) return fail("kafka.linger_ms must be 0..10000");
  if (c.stop_flush_ms < 0 || c.stop_flush_ms > 600'000) return fail("kafka.stop_flush_ms must be 0..600000");
  if (c.published_retention_ms < 0) return fail("kafka.published_retention_ms must be >= 0");
  return true;
}

//! One connection to the outbox with reconnection and backoff; used by one thread.
struct outbox_session {
  const outbox_connector* connector = nullptr;
  const char* who = "";
  std::unique_ptr<outbox_store> store;
  int64_t retry_at_ms = 0;
  int64_t backoff_ms = 0;
  uint64_t failures = 0;

  //! True when a connection is there (connecting if needed) and no backoff is running.
  bool ready(int64_t now) {
    if (now < retry_at_ms) return false;
    if (!store) {
      try {
        store = connector->connect();
      } catch (const outbox_error& e) {
        failed(e, now);
        return false;
      }
    }
    return true;
  }
  void failed(const outbox_error& e, int64_t now) {
    store.reset();
    backoff_ms = std::min<int64_t>(backoff_ms == 0 ? 5 : backoff_ms * 2, sql_backoff_max_ms);
    retry_at_ms = now + backoff_ms;
    if (failures++ % 100 == 0)
      spdlog::error("kafka publisher ({}): {} ({}); retrying", who, e.what(), e.code());
  }
  void succeeded() { backoff_ms = 0; }
};

struct outbox_publisher::impl {
  storage_config config;
  const publication_config& kafka;
  storage_link& link;
  std::shared_ptr<const outbox_connector> outbox;
  uint32_t tables = 0;  //!< outbox tables, numbered 0..tables-1

  // -- owned by the producing thread (librdkafka's callbacks run inside rd_kafka_poll on it)
  rd_kafka_t* producer = nullptr;
  rd_kafka_topic_t* topic_handle = nullptr;  //!< the configured topic, held so its metadata is kept
  outbox_session reader;
  struct entry {
    uint32_t table = 0;
    int64_t created_ms = 0;
    bool delivered = false;  //!< handed to the marking thread
  };
  //! Rows read and not yet marked published: in flight, or delivered and waiting for the UPDATE.
  //! Reads skip them, so one row is never in flight twice.
  std::unordered_map<uint64_t, entry> known;
  std::vector<size_t> known_per_table;
  size_t in_flight = 0;
  bool read_now = true;
  bool fatal = false;
  uint64_t written_seen = 0;
  int64_t last_read_ms = 0;
  int64_t last_age_ms = 0;

  // -- the marking thread: its own connection, so the producing thread never waits for the
  // UPDATEs' commits (a log flush each). Delivered ids go to it, marked ids come back.
  outbox_session marker_sql;
  std::mutex mark_mutex;
  std::condition_variable mark_cv;
  std::vector<std::pair<uint32_t, uint64_t>> mark_pending;  //!< (table, event id), delivered
  std::vector<std::pair<uint32_t, uint64_t>> mark_done;     //!< marked (or found marked already)
  bool marker_stop = false;
  std::thread marker;

  // -- shared with stats()
  std::atomic<bool> stopping{false};
  std::atomic<bool> inject_fatal{false};
  mutable std::mutex mutex;
  publication_stats shared;
  histogram latency;
  histogram commit_latency;
  std::thread thread;

  impl(const storage_config& c, storage_link& l, std::shared_ptr<const outbox_connector> o)
      : config(c), kafka(config.kafka), link(l), outbox(std::move(o)) {
    std::string why;
    if (!validate(kafka, &why)) throw std::runtime_error(why);
    if (!outbox) throw std::invalid_argument("no outbox store");
    tables = outbox->tables();
    known_per_table.assign(tables, 0);
    reader.connector = marker_sql.connector = outbox.get();
    reader.who = "reader";
    marker_sql.who = "marker";
    count_unpublished();
    shared.enabled = true;
    create_producer();
    marker = std::thread([this] { run_marker(); });
    thread = std::thread([this] { run(); });
  }

  ~impl() { stop(); }

  void stop() {
    stopping.store(true);
    if (thread.joinable()) thread.join();  // it stops the marker last
  }

  //! Blocking, at start: the unpublished rows become the gauge the hosts compare to the limit.
  void count_unpublished() {
    try {
      auto scope = outbox->enter_thread();
      int64_t total = outbox->connect()->count_unpublished();
      link.outbox_unpublished.store(total);
      if (total > 0) spdlog::info("kafka publisher: {} unpublished outbox rows from before, publishing them", total);
    } catch (const outbox_error& e) {
      throw std::runtime_error(std::string("outbox not readable: ") + e.what());
    }
  }

  void note_error(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex);
    shared.last_error = text;
  }

  // -- producer ----------------------------------------------------------------------

  void create_producer() {
    rd_kafka_conf_t* conf = make_producer_conf(kafka);
    char error[512];
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &impl::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &impl::on_error);
    rd_kafka_conf_set_log_cb(conf, &impl::on_log);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (producer == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka producer: ") + error);
    }
    // Known topic from the start: librdkafka fetches its metadata now, not on the first
    // event (measured: ~1 s of lag for the first events of a fresh producer otherwise).
    topic_handle = rd_kafka_topic_new(producer, kafka.topic.c_str(), nullptr);
  }

  //! Drops the producer and what it holds (those rows are read again later).
  void destroy_producer() {
    if (producer == nullptr) return;
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer, 0);  // the purged messages' reports: they leave `known`
    for (auto it = known.begin(); it != known.end();) {
      if (it->second.delivered) {  // stays until marked
        ++it;
      } else {
        --known_per_table[it->second.table];
        it = known.erase(it);
      }
    }
    in_flight = 0;
    if (topic_handle != nullptr) rd_kafka_topic_destroy(topic_handle);
    topic_handle = nullptr;
    rd_kafka_destroy(producer);
    producer = nullptr;
  }

  //! After a fatal error (an idempotent producer that lost its guarantees) a new producer
  //! with a new producer id takes over; the rows that were in flight are read again.
  void replace_producer() {
    spdlog::error("kafka publisher: fatal producer error, replacing the producer (rows in flight are read again)");
    destroy_producer();
    fatal = false;
    read_now = true;
    while (!stopping.load()) {
      try {
        create_producer();
        break;
      } catch (const std::exception& e) {
        spdlog::error("kafka publisher: {}; trying again in 1 s", e.what());
        for (int i = 0; i < 100 && !stopping.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    ++shared.producer_restarts;
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<impl*>(opaque)->delivered(m);
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    std::string text = reason;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal_reason[512];
      rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
      text = std::string("fatal: ") + fatal_reason;
      self->fatal = true;
    }
    {
      std::lock_guard<std::mutex> lock(self->mutex);
      if (self->shared.last_error == text) return;  // repeated (brokers down): logged once
      self->shared.last_error = text;
    }
    spdlog::warn("kafka publisher: {}", text);
  }

  static void on_log(const rd_kafka_t*, int level, const char* facility, const char* message) {
    // librdkafka's own log, from its threads; its errors also arrive through on_error.
    if (level <= 3) spdlog::debug("librdkafka {}: {}", facility, message);
  }

  void delivered(const rd_kafka_message_t* m) {
    auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
    auto it = known.find(id);
    if (it == known.end() || it->second.delivered) return;
    TX_CHECK(in_flight > 0);
    --in_flight;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Not delivered (timed out, purged): forget it; the next read produces it again.
      --known_per_table[it->second.table];
      known.erase(it);
      read_now = true;
      std::lock_guard<std::mutex> lock(mutex);
      ++shared.delivery_failures;
      shared.last_error = std::string("delivery: ") + rd_kafka_err2str(m->err);
      return;
    }
    it->second.delivered = true;
    {
      std::lock_guard<std::mutex> lock(mark_mutex);
      mark_pending.emplace_back(it->second.table, id);
    }
    mark_cv.notify_one();
    int64_t now = wall_clock_ms();
    int64_t committed_ms = link.outbox_commit_of(it->second.created_ms);
    std::lock_guard<std::mutex> lock(mutex);
    ++shared.delivered;
    latency.add(std::max<int64_t>(0, now - it->second.created_ms));
    if (committed_ms > 0) commit_latency.add(std::max<int64_t>(0, now - committed_ms));
  }

  //! Rows the marking thread marked leave `known`.
  void collect_marked() {
    std::vector<std::pair<uint32_t, uint64_t>> done;
    {
      std::lock_guard<std::mutex> lock(mark_mutex);
      done.swap(mark_done);
    }
    for (const auto& [table, id] : done)
      if (known.erase(id) > 0) --known_per_table[table];
  }

  // -- reading and producing ------------------------------------------------------

  //! Reads unpublished rows in event-id order per table, skipping the known ones, and
  //! produces them. True when it produced something.
  bool read_and_produce(int64_t now) {
    uint64_t written = link.outbox_rows_written.load();
    bool due = read_now || written != written_seen || now - last_read_ms >= rescan_ms;
    // known = in flight + delivered and not yet marked: bounded together, so a slow marker
    // (MySQL) holds up reading instead of growing this process's memory.
    if (!due || known.size() >= kafka.in_flight_max || !reader.ready(now)) return false;
    written_seen = written;
    read_now = false;
    last_read_ms = now;
    bool produced_any = false;
    try {
      for (uint32_t t = 0; t < tables && known.size() < kafka.in_flight_max; ++t) {
        size_t room = std::min<size_t>(kafka.page_rows, kafka.in_flight_max - known.size());
        auto events = reader.store->read_unpublished(t, known_per_table[t], room,
                                                     [this](uint64_t id) { return known.count(id) > 0; });
        for (const outbox_event& e : events) {
          if (!produce(e.id, e.topic, e.key, e.payload)) {
            read_now = true;
            break;
          }
          known.emplace(e.id, entry{t, e.created_ms, false});
          ++known_per_table[t];
          ++in_flight;
          produced_any = true;
        }
        if (events.size() == room) read_now = true;  // a full page: there may be more
      }
      reader.succeeded();
    } catch (const outbox_error& e) {
      reader.failed(e, now);
      note_error(e.what());
      read_now = true;
    }
    return produced_any;
  }

  bool produce(uint64_t id, const std::string& topic, const std::string& key, const std::string& payload) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(id))), RD_KAFKA_V_END);
    std::lock_guard<std::mutex> lock(mutex);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++shared.produced;
      return true;
    }
    // Queue full or the producer unusable: stop this round, the row stays unpublished.
    std::string text = std::string("produce: ") + rd_kafka_err2str(err);
    if (shared.last_error != text) spdlog::warn("kafka publisher: event {}: {}", id, text);
    shared.last_error = text;
    return false;
  }

  //! Age of the oldest unpublished row: the oldest among the rows known here and the first
  //! age_scan_rows unpublished rows of each table by event id (ids are time-ordered by order
  //! creation, so the oldest commit is among the first ones unless an order ran very long).
  void refresh_age(int64_t now) {
    if (now - last_age_ms < age_refresh_ms) return;
    last_age_ms = now;
    int64_t oldest = 0;
    if (link.outbox_unpublished.load() > 0 || !known.empty()) {
      for (const auto& [id, e] : known)
        if (oldest == 0 || e.created_ms < oldest) oldest = e.created_ms;
      if (reader.ready(now)) {
        try {
          int64_t first = reader.store->oldest_unpublished_created_ms(age_scan_rows);
          if (first > 0 && (oldest == 0 || first < oldest)) oldest = first;
          reader.succeeded();
        } catch (const outbox_error& e) {
          reader.failed(e, now);
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    shared.oldest_unpublished_age_ms = oldest == 0 ? 0 : std::max<int64_t>(0, now - oldest);
  }

  void run() {
    auto scope = outbox->enter_thread();
    bool idle = false;
    while (!stopping.load()) {
      if (inject_fatal.exchange(false))
        rd_kafka_test_fatal_error(producer, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected by a test");
      rd_kafka_poll(producer, idle ? idle_poll_ms : 0);
      if (fatal) replace_producer();
      if (producer == nullptr) break;  // stopping while it could not be replaced
      collect_marked();
      int64_t now = wall_clock_ms();
      bool produced = read_and_produce(now);
      refresh_age(now);
      idle = !produced;
      std::lock_guard<std::mutex> lock(mutex);
      shared.in_flight = static_cast<int64_t>(in_flight);
    }
    // Stopping (the writer has committed its last batch by now): keep publishing for at most
    // stop_flush_ms until the outbox is empty, let the marker mark what was delivered, drop
    // the rest (read again by the next start).
    int64_t deadline = wall_clock_ms() + kafka.stop_flush_ms;
    while (producer != nullptr && wall_clock_ms() < deadline &&
           (in_flight > 0 || link.outbox_unpublished.load() > 0)) {
      rd_kafka_poll(producer, idle_poll_ms);
      collect_marked();
      read_and_produce(wall_clock_ms());
    }
    destroy_producer();
    {
      std::lock_guard<std::mutex> lock(mark_mutex);
      marker_stop = true;
    }
    mark_cv.notify_one();
    marker.join();
    reader.store.reset();
    std::lock_guard<std::mutex> lock(mutex);
    shared.in_flight = 0;
  }

  // -- marking (its own thread) ----------------------------------------------------

  //! Marks a set of delivered rows: one UPDATE per table and chunk. False on a MySQL error
  //! (the caller keeps the set and tries again).
  bool mark(const std::vector<std::pair<uint32_t, uint64_t>>& ids, int64_t now) {
    if (!marker_sql.ready(now)) return false;
    try {
      std::vector<std::vector<uint64_t>> by_table(tables);
      for (const auto& [table, id] : ids) by_table[table].push_back(id);
      for (uint32_t t = 0; t < tables; ++t) {
        const auto& list = by_table[t];
        for (size_t from = 0; from < list.size(); from += mark_chunk_max) {
          size_t to = std::min(list.size(), from + mark_chunk_max);
          // A chunk marked stays marked even if a later one fails (marking again is harmless).
          int64_t updated = marker_sql.store->mark_published(
              t, std::vector<uint64_t>(list.begin() + static_cast<std::ptrdiff_t>(from),
                                       list.begin() + static_cast<std::ptrdiff_t>(to)),
              now);
          link.outbox_unpublished.fetch_sub(updated);
          std::lock_guard<std::mutex> lock(mutex);
          shared.marked += static_cast<uint64_t>(updated);
        }
      }
      marker_sql.succeeded();
      return true;
    } catch (const outbox_error& e) {
      marker_sql.failed(e, now);
      note_error(e.what());
      return false;
    }
  }

  void run_marker() {
    auto scope = outbox->enter_thread();
    std::vector<std::pair<uint32_t, uint64_t>> batch;
    int final_attempts = 3;  // once stopping: bounded, what is left is published again later
    for (;;) {
      bool stop_now = false;
      {
        std::unique_lock<std::mutex> lock(mark_mutex);
        mark_cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return marker_stop || !mark_pending.empty(); });
        batch.insert(batch.end(), mark_pending.begin(), mark_pending.end());
        mark_pending.clear();
        stop_now = marker_stop;
      }
      if (!batch.empty()) {
        int64_t now = wall_clock_ms();
        if (stop_now) marker_sql.retry_at_ms = 0;
        if (mark(batch, now)) {
          sweep(now);
          std::lock_guard<std::mutex> lock(mark_mutex);
          mark_done.insert(mark_done.end(), batch.begin(), batch.end());
          batch.clear();
        } else if (!stop_now) {
          std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(1, marker_sql.backoff_ms)));
        }
      } else {
        sweep(wall_clock_ms());
      }
      if (stop_now && (batch.empty() || --final_attempts == 0)) break;
    }
    marker_sql.store.reset();
  }

  //! Deletes published rows past their retention, a bounded page per table (marker thread).
  int64_t last_sweep_ms = 0;
  void sweep(int64_t now) {
    int64_t interval = std::min(sweep_interval_ms, std::max<int64_t>(100, kafka.published_retention_ms));
    if (kafka.published_retention_ms == 0 || now - last_sweep_ms < interval) return;
    last_sweep_ms = now;
    if (!marker_sql.ready(now)) return;
    try {
      marker_sql.store->delete_published_before(now - kafka.published_retention_ms, sweep_rows_max);
      marker_sql.succeeded();
    } catch (const outbox_error& e) {
      marker_sql.failed(e, now);
    }
  }

  publication_stats snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    publication_stats s = shared;
    s.unpublished = link.outbox_unpublished.load();
    s.latency_samples = latency.total;
    s.latency_p50_ms = latency.percentile(0.50);
    s.latency_p99_ms = latency.percentile(0.99);
    s.latency_max_ms = latency.max;
    s.commit_latency_samples = commit_latency.total;
    s.commit_latency_p50_ms = commit_latency.percentile(0.50);
    s.commit_latency_p99_ms = commit_latency.percentile(0.99);
    s.commit_latency_max_ms = commit_latency.max;
    return s;
  }

  void reset_latency() {
    std::lock_guard<std::mutex> lock(mutex);
    latency = histogram();
    commit_latency = histogram();
  }
};

outbox_publisher::outbox_publisher(const storage_config& config, storage_link& link,
                                   std::shared_ptr<const outbox_connector> outbox)
    : impl_(std::make_unique<impl>(config, link, std::move(outbox))) {}

outbox_publisher::~outbox_publisher() = default;

void outbox_publisher::stop() { impl_->stop(); }

publication_stats outbox_publisher::stats() const { return impl_->snapshot(); }

void outbox_publisher::reset_latency() { impl_->reset_latency(); }

void outbox_publisher::inject_fatal_error_for_test() { impl_->inject_fatal.store(true); }

std::string outbox_publisher::description() const {
  return "Kafka " + impl_->kafka.bootstrap_servers + ", topic " + impl_->kafka.topic + " (idempotent producer, acks=all)";
}

}  // namespace txengine::publication
