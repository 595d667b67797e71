#pragma once
// Durable storage as the actors see it (docs/durability-design.md): the configuration, the
// rows the order hosts and the wallet shards hand to the writer, and the link every actor
// shares with the writer and the loader. No MySQL include here: the writer and the loader
// (persistence/writer.cpp, persistence/wallet_loader.cpp) do the blocking I/O on their own
// threads (detached actors), never on CAF's workers.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/core/order_command.hpp"
#include "actors/core/types.hpp"
#include "actors/core/wallet_core.hpp"

namespace txengine {

//! When a client hears an order's final state.
enum class ack_mode : uint8_t {
  durable = 0,  //!< after the batch holding the order's final row is committed (default)
  memory = 1,   //!< as soon as it is applied: may lose the last moments on a crash
};

struct storage_config {
  //! mysql://user:password@host:port[?socket=/path]; the private server of scripts/mariadb.sh by default.
  std::string uri = "mysql://txengine:txengine@127.0.0.1:3407";
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
  //! Rows handed to the writer and not yet committed past which hosts refuse new commands
  //! with `unavailable` (running orders keep going, so every started order can finish).
  int64_t queue_rows_high_water = 400'000;
  //! Wallets being loaded per shard, and steps waiting for one wallet's load, at most; past
  //! them a step gets no answer (its order resends it after its backoff).
  size_t loads_pending_max = 4096;
  size_t stash_per_wallet_max = 1024;
};

//! A wallet's row: identity, limits, status, balances and version (= its last journal sequence).
struct wallet_row {
  wallet_info info;
  balances current;
  uint64_t version = 0;
  int64_t updated_ms = 0;
};

//! One journal entry of one wallet: a fund movement.
struct movement_row {
  wallet_id wallet = no_wallet;
  journal_entry entry;
};

//! A TCC participant record of one wallet for one order.
struct tcc_row {
  wallet_id wallet = no_wallet;
  order_id order = 0;
  tcc_record record;
  int64_t updated_ms = 0;
};

//! An order's row: its intent (state trying, legs, request id) or its final state.
struct order_row {
  order_id id = 0;
  order_command command;
  order_state state = order_state::trying;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  std::string legs_json;
  uint32_t attempts = 0;
  int64_t try_deadline_ms = 0;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t final_ms = 0;
  bool intent = false;  //!< also writes the request id row
};

//! What one sender hands the writer at once. `ack_seq` != 0 asks for (committed_atom, ack_seq)
//! once every row of this and the sender's earlier batches is committed.
struct write_batch {
  std::vector<wallet_row> wallets;
  std::vector<movement_row> movements;
  std::vector<tcc_row> tcc;
  std::vector<order_row> orders;
  uint64_t ack_seq = 0;
  size_t rows() const { return wallets.size() + movements.size() + tcc.size() + orders.size(); }
  bool empty() const { return rows() == 0; }
};

//! A wallet as the loader found it in MySQL.
struct loaded_wallet {
  bool found = false;
  bool failed = false;  //!< MySQL could not answer: the steps waiting for it are dropped (resent later)
  wallet_row row;
  std::vector<tcc_row> records;
};

//! A request id the host does not know, looked up in MySQL (after a restart).
struct request_lookup {
  tenant_id tenant = 0;
  std::string request_id;
  wallet_id home = no_wallet;  //!< the order's home wallet (orders table shard)
};

//! What MySQL knows about a request id: its order, if any.
struct request_found {
  tenant_id tenant = 0;
  std::string request_id;
  bool found = false;
  bool failed = false;  //!< MySQL did not answer
  order_id id = 0;
  uint64_t content_hash = 0;
  order_state state = order_state::trying;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  int64_t created_ms = 0;
  int64_t final_ms = 0;
};

//! The hash of a command's content (request id aside) kept with its request id row.
inline uint64_t command_content_hash(const order_command& c) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  };
  mix(c.tenant);
  mix(static_cast<uint64_t>(c.kind));
  mix(c.source);
  mix(c.destination);
  mix(static_cast<uint64_t>(c.amount));
  mix(c.cur.packed());
  mix(c.fee_wallet);
  mix(static_cast<uint64_t>(c.fee_amount));
  mix(c.original_order);
  mix(c.channel);
  return h & 0x7FFFFFFFFFFFFFFFull;
}

//! The wallet an order's rows follow (orders table): its source, else its destination.
inline wallet_id order_home(const order_command& c) { return c.source != no_wallet ? c.source : c.destination; }

//! Shared by the engine, the hosts, the shards and the directory (the engine owns it).
struct storage_link {
  storage_config config;
  caf::actor writer;
  caf::actor loader;
  //! Rows handed to the writer and not yet committed (senders add, the writer subtracts).
  std::atomic<int64_t> rows_queued{0};
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> rows_committed{0};  //!< rows handed to the writer and committed
  std::atomic<uint64_t> rows_written{0};    //!< rows its statements wrote or deleted (after dedup)
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> commit_us_total{0};  //!< time spent committing (building and running statements)
  //! Set when the engine goes away: the writer stops retrying (what is not committed is lost,
  //! as in a crash).
  std::atomic<bool> stopping{false};
  //! Orders stored when the engine started: request ids unknown in memory are looked up in
  //! MySQL only then (a fresh database has nothing to find).
  uint64_t orders_at_start = 0;
  bool durable_ack() const { return config.ack == ack_mode::durable; }
  bool over_high_water() const { return rows_queued.load(std::memory_order_relaxed) > config.queue_rows_high_water; }
};

using persist_atom = caf::atom_constant<caf::atom("persist")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using found_atom = caf::atom_constant<caf::atom("found")>;

//! The legs of an order as the orders table keeps them (JSON, see persistence/migrations/0001).
std::string legs_json(const class order_core& core);

}  // namespace txengine

// Local messages only (they never cross the network).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::loaded_wallet)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_lookup>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_found>)
