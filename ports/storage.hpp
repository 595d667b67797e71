#pragma once
// Durable storage as the actors see it (docs/durability-design.md): the configuration, the
// rows the order hosts and the wallet shards hand to the writer, and the link every actor
// shares with the writer and the loader. No MySQL include here: the writer and the loader
// (persistence/writer.cpp, persistence/wallet_loader.cpp) do the blocking I/O on their own
// threads (detached actors), never on CAF's workers.
#include <array>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "core/order_command.hpp"
#include "core/movement_history.hpp"
#include "core/order_core.hpp"
#include "core/types.hpp"
#include "core/wallet_core.hpp"

namespace txengine {

//! When a client hears an order's final state.
enum class ack_mode : uint8_t {
  durable = 0,  //!< after the batch holding the order's final row is committed (default)
  memory = 1,   //!< as soon as it is applied: may lose the last moments on a crash
};

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

//! A wallet's row: identity, limits, status, balances and version (= its last journal sequence).
//! Handed to the writer when a wallet is created or its status or limit changes; balance
//! changes travel as movement rows only (the writer checkpoints the row from them).
struct wallet_row {
  wallet_info info;
  balances current;
  uint64_t version = 0;
  int64_t updated_ms = 0;
  //! Creation with a request id (idempotent create_wallet): its wallet_requests row goes with
  //! this one. Empty otherwise.
  std::string request_id;
  uint64_t request_hash = 0;
};

//! What MySQL knows about a create_wallet request id: its wallet, if any.
struct wallet_request_found {
  bool found = false;
  bool failed = false;  //!< MySQL did not answer
  wallet_id id = no_wallet;
  uint64_t content_hash = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wallet_request_found& x) {
  return f(caf::meta::type_name("wallet_request_found"), x.found, x.failed, x.id, x.content_hash);
}

//! fund_movements.phase values: tcc_phase (0 try, 1 confirm, 2 cancel), 3 a one-step change
//! (the baseline's and seeding's), and 4 a try and its confirm committed together as one row,
//! which stands for two sequence numbers (the row's seq is the confirm's).
constexpr unsigned movement_phase_direct = 3;
constexpr unsigned movement_phase_try_confirm = 4;

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

//! A non-final order read from MySQL at start, for its host to resume (recovery).
struct recovered_order {
  order_id id = 0;
  order_command command;
  stored_order row;
};

//! A refund of a payment, as the orders table holds it (the payment's refund allowance after a restart).
struct stored_refund {
  order_id id = 0;
  order_state state = order_state::trying;
  int64_t amount = 0;
  bool granted = false;  //!< its row holds the wallet legs: the allowance reserved its amount
};

//! A refund's original order read from MySQL (it was final before a restart), with its refunds.
struct loaded_original {
  order_id id = 0;
  bool found = false;
  bool failed = false;  //!< MySQL did not answer: the waiting allowance steps get `unavailable`
  order_command command;
  order_state state = order_state::failed;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  int64_t created_ms = 0;
  int64_t final_ms = 0;
  std::vector<stored_refund> refunds;
  std::vector<stored_leg> legs;  //!< its stored legs (history: the journal entries they name)
};

//! History (issue 12): a page of a wallet's journal older than its entries in memory, read
//! by the order loader (ListMovements): entries with `from_sequence <= seq <= last_sequence`
//! (the first entry in memory included, so a stored try-and-confirm row at the boundary gives
//! both halves), at most `limit` stored rows, oldest first.
struct history_page_request {
  wallet_id wallet = no_wallet;
  uint64_t from_sequence = 0;
  uint64_t last_sequence = 0;
  uint32_t limit = 0;
};

struct history_page {
  bool failed = false;  //!< MySQL did not answer: the query gets `unavailable`
  std::vector<journal_entry> entries;
};

//! History: an order's fund movements, read by the order loader (GetOrder include_movements).
//! With `legs_known` its legs are these (an order in memory); otherwise they are read from its
//! row in the orders table of `home`.
struct order_history_request {
  order_id order = 0;
  tenant_id tenant = 0;
  wallet_id home = no_wallet;
  bool legs_known = false;
  std::vector<stored_leg> legs;
};

struct order_history {
  bool failed = false;  //!< MySQL did not answer: the query gets `unavailable`
  std::vector<order_movement> movements;  //!< by wallet leg, each wallet's oldest first
};

//! What recovery found and resumed at start (engine::recovery()).
struct recovery_report {
  bool done = false;        //!< every non-final order was read and handed to its host
  std::string error;        //!< why recovery stopped early (MySQL kept failing), if it did
  uint64_t orders = 0;      //!< non-final orders read
  uint64_t resumed = 0;     //!< resumed by their hosts
  uint64_t unreadable = 0;  //!< rows that are not a resumable order: left as they are, logged
  std::array<uint64_t, 6> by_kind{};   //!< read, by order_kind
  std::array<uint64_t, 7> by_state{};  //!< read, by stored order_state
  int64_t elapsed_ms = 0;
  //! One line: "resumed N of M non-final orders (trying a, processing b, ...; transfer x, ...) in T ms".
  std::string summary() const;
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
  //! Reads the non-final orders at start (recovery) and refunds' originals (persistence/order_loader.cpp).
  caf::actor order_loader;
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
  bool accepting_new() const { return !storage_down.load(std::memory_order_relaxed) && !over_high_water(); }
};

using persist_atom = caf::atom_constant<caf::atom("persist")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
//! (sync_atom, checkpoint_all_atom): a sync that also writes every wallet's deferred checkpoint.
using checkpoint_all_atom = caf::atom_constant<caf::atom("ckptall")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using found_atom = caf::atom_constant<caf::atom("found")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using recovered_atom = caf::atom_constant<caf::atom("recovered")>;
using origin_atom = caf::atom_constant<caf::atom("origin")>;
using origin_found_atom = caf::atom_constant<caf::atom("originfnd")>;
//! (wallet_lookup_atom, tenant, request_id) -> wallet_request_found, answered by the loader.
using wallet_lookup_atom = caf::atom_constant<caf::atom("wlookup")>;
//! (history_atom, history_page_request) -> history_page; (history_atom, order_history_request) -> order_history
using history_atom = caf::atom_constant<caf::atom("history")>;

}  // namespace txengine

// Local messages only (they never cross the network).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::loaded_wallet)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_lookup>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_found>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::recovered_order>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::loaded_original>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::history_page_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::history_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::order_history_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::order_history)
