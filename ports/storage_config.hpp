#pragma once
// Durable storage's settings (docs/durability-design.md): where MySQL is, the shard layout,
// when clients hear of a commit, the writer's batching and checkpoint bounds, and the
// publication's settings. Plain data, no MySQL include.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ports/publication.hpp"

namespace txengine {

//! When a client hears an order's final state.
enum class ack_mode : uint8_t {
  durable = 0,  //!< after the batch holding the order's final row is committed (default)
  memory = 1,   //!< as soon as it is applied: may lose the last moments on a crash
};

struct storage_config {
  //! mysql://user:password@host:port[?socket=/path]; the private server of scripts/mariadb.sh by default.
  std::string uri = "mysql://txengine:txengine@127.0.0.1:3407";
  //! When set, the password used instead of the URI's (read from a file or the environment by
  //! the program, so it need not sit in a command line or a config file). Never printed.
  std::string password;
  uint32_t databases = 1;  //!< D: database = wallet id mod D
  uint32_t tables = 1;     //!< T: table = wallet id mod T
  std::string prefix = "txengine";
  ack_mode ack = ack_mode::durable;
  //! A batch is committed when it holds this many rows (as handed to the writer); else once the
  //! writer's mailbox is empty and every order among wallets with an effect in the batch has its
  //! final row there too (so an order writes one order row and no TCC rows), or at the latest
  //! when the batch is `batch_latency_max_ms` old and the mailbox is empty.
  size_t batch_rows_max = 50000;
  int64_t batch_latency_max_ms = 50;
  //! Wallet rows are checkpoints (docs/durability-design.md): a wallet's newest fund movement
  //! holds its balances and version, so a wallet changed only by movements has its row written
  //! at most this long after its first change since its last checkpoint (and at a clean stop).
  //! Creation, status and limit changes are written with the batch that carries them.
  int64_t wallet_checkpoint_interval_ms = 30'000;
  //! Checkpoint rows added to one batch at most (the rest wait for the next batches), and
  //! wallets waiting for a checkpoint at most (past it the oldest are written right away).
  size_t checkpoint_rows_per_batch_max = 5000;
  size_t checkpoint_pending_max = size_t{1} << 21;
  //! Two connections, one decision (persistence/split_commit.hpp): a batch's order rows run as
  //! an XA branch on a second connection in parallel with its wallet rows, so MariaDB works on
  //! two cores; atomic through a decision row. False: one connection, one transaction.
  bool split_commit = true;
  //! A cluster node's id (0: not in a cluster): its XA branch ids are its own, so a node settles
  //! only its own branches at start, and a dead node's are settled by the node that takes its
  //! partitions over (docs/cluster.md). Set by the engine from engine_config::node_id.
  uint32_t xa_node = 0;
  //! Rows handed to the writer and not yet committed past which hosts refuse new commands
  //! with `unavailable` (running orders keep going, so every started order can finish).
  int64_t queue_rows_high_water = 400'000;
  //! Wallets being loaded per shard, and steps waiting for one wallet's load, at most; past
  //! them a step gets no answer (its order resends it after its backoff).
  size_t loads_pending_max = 4096;
  size_t stash_per_wallet_max = 1024;
  //! Kafka publication through the outbox; disabled by default.
  publication_config kafka;
};

}  // namespace txengine
