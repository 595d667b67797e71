#pragma once
// The outbox publisher (issue 5, docs/protocol.md "Events"): produces the outbox rows the
// writer commits with every final order to Kafka with librdkafka's idempotent producer
// (enable.idempotence=true, acks=all) and marks them published on their delivery reports.
//
// It runs on two threads of its own (blocking MySQL and librdkafka calls, never on CAF's
// workers): the producing thread reads and produces, the marking thread runs the UPDATEs (each
// waits for a log flush) so that delivery reports are never held up behind them.
//   - reads unpublished rows (published_ms = 0) per outbox table in event-id order, bounded
//     pages, skipping those already in flight; so after a crash or a restart whatever is left
//     is simply read again and produced again (at least once: consumers de-duplicate by event id);
//   - keeps at most `in_flight_max` messages produced and not yet reported;
//   - marks delivered rows with one UPDATE per table per round (published_ms = now), and deletes
//     published rows past published_retention_ms;
//   - a failed delivery (Kafka down past message.timeout.ms) leaves the row unpublished: it is
//     read and produced again;
//   - a fatal idempotent-producer error replaces the producer (what was in flight is read again).
// Kafka down never stops the engine: the outbox grows; past `outbox_unpublished_max` the hosts
// refuse new commands with `unavailable` (storage_link::over_high_water) until it drains.
// It reads and marks the outbox through the port ports/outbox.hpp (the engine hands it the
// MySQL store). No librdkafka or MySQL include here, so the engine can hold one.
#include <memory>
#include <string>

#include "ports/outbox.hpp"
#include "ports/publication.hpp"
#include "ports/storage_config.hpp"
#include "ports/storage_link.hpp"

struct rd_kafka_conf_s;

namespace txengine::publication {

//! The producer's librdkafka configuration (the caller owns it): the fixed settings, then the
//! `properties` of the config file's [kafka.properties] and --kafka-property (TLS:
//! security.protocol=ssl, ssl.ca.location, ...). Throws std::runtime_error naming a property
//! librdkafka refuses.
rd_kafka_conf_s* make_producer_conf(const publication_config& kafka);

//! Checks a publication_config (topic name, limits); false and the reason when unusable.
bool validate(const publication_config& config, std::string* error = nullptr);

class outbox_publisher {
 public:
  //! Counts the unpublished outbox rows into link.outbox_unpublished (blocking: construct it
  //! before commands flow), creates the producer and starts the threads, each with its own
  //! store from `outbox` (the engine's is persistence::mysql_outbox). Throws
  //! std::runtime_error when the configuration is invalid or the outbox cannot be read.
  outbox_publisher(const storage_config& config, storage_link& link, std::shared_ptr<const outbox_connector> outbox);
  ~outbox_publisher();
  outbox_publisher(const outbox_publisher&) = delete;
  outbox_publisher& operator=(const outbox_publisher&) = delete;

  //! Stops the threads: keeps publishing for at most stop_flush_ms until the outbox is empty,
  //! marks what was delivered, drops the rest (read again by the next start). Idempotent.
  void stop();
  //! Lag and counters; safe from any thread.
  publication_stats stats() const;
  //! Forgets the latency samples so far (benchmarks measure a phase).
  void reset_latency();
  //! Tests only: makes librdkafka raise a fatal producer error (as a broker fencing the
  //! producer would), so the replacement of the producer can be tested.
  void inject_fatal_error_for_test();
  //! "Kafka <bootstrap servers>, topic <topic>" for logs.
  std::string description() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace txengine::publication
