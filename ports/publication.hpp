#pragma once
// Kafka publication as the engine sees it (issue 5, docs/kafka.md): the settings of the
// outbox publisher and the lag and counters it reports. Plain data, no Kafka include.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace txengine {

//! Kafka publication of final states (issue 5, docs/protocol.md "Events"): the outbox rows
//! the writer adds to a final order's transaction and the publisher that produces them.
struct publication_config {
  //! librdkafka `bootstrap.servers` ("host:port,..."). Empty: no publication and no outbox
  //! rows (the engine says so at start). A real cluster is this one line.
  std::string bootstrap_servers;
  std::string topic = "txengine.orders.finalized";
  //! Outbox rows not yet published past which hosts refuse new commands with `unavailable`
  //! (Kafka down for long); running orders finish, the outbox drains when Kafka returns.
  int64_t outbox_unpublished_max = 1'000'000;
  //! Rows read per outbox table per query, and messages produced but not yet marked published
  //! (in flight or waiting for their UPDATE), at most.
  uint32_t page_rows = 2000;
  uint32_t in_flight_max = 20000;
  //! librdkafka `message.timeout.ms`: a message not delivered by then is read again from the
  //! outbox and produced again (at least once; consumers de-duplicate by event id).
  int64_t message_timeout_ms = 30000;
  //! librdkafka `linger.ms`: how long the producer gathers a batch (lag versus requests).
  int64_t linger_ms = 2;
  //! How long stopping keeps publishing (until the outbox is empty) before it drops what is
  //! in flight (published again by the next start).
  int64_t stop_flush_ms = 2000;
  //! Published rows older than this are deleted from the outbox (bounded pages every 10 s);
  //! 0 keeps them.
  int64_t published_retention_ms = 24 * 3600 * 1000;
  //! Further librdkafka properties (security, compression, ...), applied last.
  std::vector<std::pair<std::string, std::string>> properties;
  bool enabled() const { return !bootstrap_servers.empty(); }
};

//! The publisher's lag and counters (publication/publisher.hpp); all zero when disabled.
struct publication_stats {
  bool enabled = false;
  int64_t unpublished = 0;                //!< outbox rows not yet marked published
  int64_t oldest_unpublished_age_ms = 0;  //!< age of the oldest of them (0 when none)
  int64_t in_flight = 0;                  //!< produced, delivery report not yet seen
  uint64_t produced = 0;
  uint64_t delivered = 0;                 //!< delivery reports without error
  uint64_t delivery_failures = 0;         //!< delivery reports with an error (produced again)
  uint64_t marked = 0;                    //!< outbox rows marked published
  uint64_t producer_restarts = 0;         //!< after a fatal idempotent-producer error
  //! From the outbox row's created_ms (the writer building the final order's transaction,
  //! so MySQL's commit time included) to its delivery report (acks=all).
  uint64_t latency_samples = 0;
  int64_t latency_p50_ms = 0;
  int64_t latency_p99_ms = 0;
  int64_t latency_max_ms = 0;
  //! From the commit of that transaction to the delivery report: the publication's own part.
  uint64_t commit_latency_samples = 0;
  int64_t commit_latency_p50_ms = 0;
  int64_t commit_latency_p99_ms = 0;
  int64_t commit_latency_max_ms = 0;
  std::string last_error;
};

}  // namespace txengine
