#pragma once
// The link every actor shares with the writer and the loaders (the engine owns it): their
// handles, the configuration, and the gauges and counters they update from their own threads
// (rows queued and committed, the outbox backlog, storage down). The writer and the loaders
// (persistence/) do the blocking I/O on their own threads (detached actors), never on CAF's
// workers.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include <caf/actor.hpp>

#include "ports/actor_interfaces.hpp"
#include "ports/cluster.hpp"
#include "ports/storage_config.hpp"
#include "ports/storage_rows.hpp"

namespace txengine {

//! Shared by the engine, the hosts, the shards and the directory (the engine owns it).
struct storage_link {
  storage_config config;
  writer_actor writer;
  wallet_loader_actor loader;
  //! Reads the non-final orders at start (recovery) and refunds' originals (persistence/order_loader.cpp).
  order_loader_actor order_loader;
  //! Rows handed to the writer and not yet committed (senders add, the writer subtracts).
  std::atomic<int64_t> rows_queued{0};
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> rows_committed{0};  //!< rows handed to the writer and committed
  std::atomic<uint64_t> rows_written{0};    //!< rows its statements wrote or deleted (after dedup)
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> commit_us_total{0};  //!< time spent committing (building and running statements)
  //! Outbox rows committed and not yet marked published (the writer adds, the publisher
  //! subtracts), and outbox rows committed so far (the publisher reads when it changes).
  std::atomic<int64_t> outbox_unpublished{0};
  std::atomic<uint64_t> outbox_rows_written{0};
  //! When the batches holding outbox rows committed, by the created_ms written into their rows
  //! (the publisher's commit-to-delivery lag); the most recent outbox_commits_max batches.
  static constexpr size_t outbox_commits_max = 4096;
  std::mutex outbox_commits_mutex;
  std::map<int64_t, int64_t> outbox_commits;
  void outbox_committed(int64_t created_ms, int64_t committed_ms) {
    std::lock_guard<std::mutex> lock(outbox_commits_mutex);
    auto& at = outbox_commits[created_ms];
    at = std::max(at, committed_ms);
    while (outbox_commits.size() > outbox_commits_max) outbox_commits.erase(outbox_commits.begin());
  }
  //! The commit time of rows created at created_ms, or 0 when no longer known.
  int64_t outbox_commit_of(int64_t created_ms) {
    std::lock_guard<std::mutex> lock(outbox_commits_mutex);
    auto it = outbox_commits.find(created_ms);
    return it == outbox_commits.end() ? 0 : it->second;
  }
  //! Set when the engine goes away: the writer stops retrying (what is not committed is lost,
  //! as in a crash).
  std::atomic<bool> stopping{false};
  //! Set by the writer while its last commit attempt failed (MySQL down or unreachable), cleared
  //! by the next commit. New commands are refused meanwhile: failing fast with a retryable
  //! error beats holding clients until the outage ends.
  std::atomic<bool> storage_down{false};
  //! A cluster node's partitions (ports/cluster.hpp), nullptr when the node is not in a cluster:
  //! every batch the writer commits checks their epochs in its transaction (the fence), and a
  //! fenced node refuses new commands and commits nothing more.
  std::shared_ptr<partition_ownership> ownership;
  bool fenced() const { return ownership && ownership->fenced(); }
  //! Orders stored when the engine started: request ids unknown in memory are looked up in
  //! MySQL only then (a fresh database has nothing to find).
  uint64_t orders_at_start = 0;
  //! Written by the order loader, read by the engine.
  mutable std::mutex recovery_mutex;
  recovery_report recovery;
  bool durable_ack() const { return config.ack == ack_mode::durable; }
  bool over_high_water() const {
    return rows_queued.load(std::memory_order_relaxed) > config.queue_rows_high_water ||
           outbox_unpublished.load(std::memory_order_relaxed) > config.kafka.outbox_unpublished_max;
  }
  //! False while new commands must be refused with `unavailable` (running orders keep going).
  bool accepting_new() const {
    return !storage_down.load(std::memory_order_relaxed) && !over_high_water() && !fenced();
  }
};

}  // namespace txengine
