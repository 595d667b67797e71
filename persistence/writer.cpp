#include "persistence/writer.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <cstdlib>
#include <map>
#include <thread>

#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "ports/clock.hpp"
#include "ports/storage_messages.hpp"
#include "core/check.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/outbox.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/split_commit.hpp"
#include "persistence/storage_target.hpp"
#include "persistence/wallet_state.hpp"

namespace txengine::persistence {

namespace {

wallet_id home_of(const order_command& c) { return order_home(c); }
uint64_t content_hash(const order_command& c) { return command_content_hash(c); }

std::string hex_literal(const std::string& bytes) {
  static const char* digits = "0123456789ABCDEF";
  std::string s = "X'";
  for (unsigned char c : bytes) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  s += '\'';
  return s;
}

constexpr column_kind I = column_kind::int64;
constexpr column_kind U = column_kind::uint64;
constexpr column_kind B = column_kind::bytes;

using writer_tick_atom = caf::atom_constant<caf::atom("wtick")>;
using writer_checkpoint_atom = caf::atom_constant<caf::atom("wckpt")>;
using writer_committed_atom = caf::atom_constant<caf::atom("wdone")>;

struct tcc_key_hash {
  size_t operator()(const std::pair<wallet_id, order_id>& k) const { return k.first * 0x9E3779B97F4A7C15ull ^ k.second; }
};

//! One fund-movement row as stored: a journal entry, or a wallet's try and confirm of one order
//! committed in the same batch as one row (phase movement_phase_try_confirm, the confirm's
//! sequence and resulting balances, the two deltas summed; it stands for two sequence numbers).
//! Nothing can see the state between a try and a confirm committed together, and the row
//! fewer is a sixth of a transfer's cost in MySQL.
struct stored_movement {
  wallet_id wallet = no_wallet;
  const journal_entry* entry = nullptr;
  unsigned phase = 0;
  balances delta;
};

std::vector<stored_movement> coalesce(const std::vector<movement_row>& movements) {
  std::vector<stored_movement> out;
  out.reserve(movements.size());
  std::unordered_map<std::pair<wallet_id, order_id>, size_t, tcc_key_hash> tries;  // index in out
  for (const auto& m : movements) {
    const journal_entry& e = m.entry;
    if (e.phase == tcc_phase::confirm) {
      auto found = tries.find({m.wallet, e.txn});
      if (found != tries.end()) {
        stored_movement& tried = out[found->second];
        tries.erase(found);
        if (tried.entry->sequence + 1 == e.sequence) {
          balances sum;
          TX_CHECK(!__builtin_add_overflow(tried.delta.available, e.delta.available, &sum.available));
          TX_CHECK(!__builtin_add_overflow(tried.delta.frozen, e.delta.frozen, &sum.frozen));
          TX_CHECK(!__builtin_add_overflow(tried.delta.incoming, e.delta.incoming, &sum.incoming));
          tried = stored_movement{m.wallet, &e, movement_phase_try_confirm, sum};
          continue;
        }
      }
    }
    if (e.phase == tcc_phase::try_) tries[{m.wallet, e.txn}] = out.size();
    out.push_back(stored_movement{m.wallet, &e, static_cast<unsigned>(e.phase), e.delta});
  }
  return out;
}

//! What a batch's statements write, beyond the SQL: for the writer's bookkeeping after the commit.
struct built_rows {
  size_t rows = 0;                                       //!< rows written or deleted
  std::vector<std::pair<order_id, wallet_id>> tcc_kept;  //!< TCC rows written for orders not final
  std::vector<order_id> tcc_deleted;                     //!< final orders whose stored TCC rows are deleted
};

//! The batch being gathered: rows deduplicated (a wallet's newest row, a record's newest
//! state, an order's newest row), plus who waits for it.
struct pending_batch {
  std::unordered_map<wallet_id, wallet_row> wallets;
  std::vector<movement_row> movements;
  std::unordered_map<std::pair<wallet_id, order_id>, tcc_row, tcc_key_hash> tcc;
  std::unordered_map<order_id, order_row> orders;
  std::vector<std::pair<caf::actor, uint64_t>> acks;
  std::vector<caf::response_promise> syncs;
  int64_t rows_received = 0;  //!< as counted into storage_link::rows_queued by the senders
  std::chrono::steady_clock::time_point first_at;  //!< when the first message of this batch came

  //! Intents carried over from an earlier batch do not make a batch worth committing by themselves.
  bool empty() const { return rows_received == 0 && acks.empty() && syncs.empty(); }

  void add(write_batch& b, const caf::actor& sender) {
    if (empty()) first_at = std::chrono::steady_clock::now();
    rows_received += static_cast<int64_t>(b.rows());
    for (auto& w : b.wallets) {
      auto [it, inserted] = wallets.emplace(w.info.id, w);
      if (!inserted && w.version >= it->second.version) {
        // A later row of a wallet created in this batch keeps its creation's request id.
        if (w.request_id.empty() && !it->second.request_id.empty()) {
          w.request_id = std::move(it->second.request_id);
          w.request_hash = it->second.request_hash;
        }
        it->second = std::move(w);
      }
    }
    movements.insert(movements.end(), std::make_move_iterator(b.movements.begin()),
                     std::make_move_iterator(b.movements.end()));
    for (auto& t : b.tcc) tcc[{t.wallet, t.order}] = t;
    for (auto& o : b.orders) {
      order_id id = o.id;
      auto [it, inserted] = orders.try_emplace(id, std::move(o));
      if (!inserted) {
        bool intent = it->second.intent || o.intent;
        it->second = std::move(o);
        it->second.intent = intent;
      }
    }
    if (b.ack_seq != 0) acks.emplace_back(sender, b.ack_seq);
  }

  //! Takes out the intent rows of orders that have no effect in this batch and need not be
  //! committed yet: an intent must be committed no later than the order's first effect, which
  //! is in a later batch then, so it goes there (most orders then write one order row, intent
  //! and final state at once, and no TCC rows). Orders with a channel are not carried: their
  //! host waits for the intent's commit before it acts outside MySQL.
  std::vector<order_row> take_carried_intents() {
    std::vector<order_row> carried;
    // The candidates are few (the orders that came last): they are looked up by every effect,
    // rather than every effect's order put in a set.
    std::unordered_set<order_id> candidates;
    for (const auto& [id, o] : orders) {
      order_kind kind = o.command.kind;
      if (o.intent && !is_final(o.state) && kind != order_kind::top_up && kind != order_kind::withdraw)
        candidates.insert(id);
    }
    if (candidates.empty()) return carried;
    for (const auto& m : movements) candidates.erase(m.entry.txn);
    for (const auto& [key, t] : tcc) candidates.erase(t.order);
    for (auto it = orders.begin(); it != orders.end();) {
      if (candidates.count(it->first) != 0) {
        carried.push_back(std::move(it->second));
        it = orders.erase(it);
      } else {
        ++it;
      }
    }
    return carried;
  }

  //! The statements of this batch. TCC records of an order that is final in this batch are
  //! not written, and the rows earlier batches wrote for it (`stored`) are deleted: once the
  //! final row is committed no step of the order can come after a restart (final orders are
  //! not resumed), and until then the shard's memory answers late repeats. `written` gets the
  //! TCC rows this batch keeps, and the row count.
  //! `fresh`: orders whose intent this writer committed and whose TCC rows it tracks in
  //! `stored`; a final order not among them (resumed after a restart, or past the tracking
  //! bounds) may have rows an earlier process wrote: they are deleted in every table.
  //! The side tables of the order rows (open_orders, refunds) go with them (the order side).
  std::vector<table_statement> statements(const shard_layout& layout,
                                          const std::unordered_map<order_id, std::vector<wallet_id>>& stored,
                                          const std::unordered_set<order_id>& fresh, built_rows& written) const {
    std::vector<table_statement> out;
    std::unordered_set<order_id> finals;
    for (const auto& [id, o] : orders)
      if (is_final(o.state)) finals.insert(id);
    table_statements wallet_set(
        "wallets",
        "INSERT INTO {table} (id,tenant,currency,kind,status,overdraft_limit,available,frozen,incoming,version,"
        "created_ms,updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON DUPLICATE KEY UPDATE status=VALUES(status),overdraft_limit=VALUES(overdraft_limit),"
        "available=IF(VALUES(version)>=version,VALUES(available),available),"
        "frozen=IF(VALUES(version)>=version,VALUES(frozen),frozen),"
        "incoming=IF(VALUES(version)>=version,VALUES(incoming),incoming),"
        "updated_ms=VALUES(updated_ms),version=GREATEST(version,VALUES(version))",
        {U, U, B, U, U, I, I, I, I, U, I, I});
    for (const auto& [id, w] : wallets) {
      const auto& i = w.info;
      wallet_set.rows_for(layout, "wallets", id)
          .u(id)
          .u(i.tenant)
          .b(i.cur.code())
          .u(static_cast<unsigned>(i.kind))
          .u(static_cast<unsigned>(i.status))
          .i(i.overdraft_limit)
          .i(w.current.available)
          .i(w.current.frozen)
          .i(w.current.incoming)
          .u(w.version)
          .i(w.updated_ms)
          .i(w.updated_ms)
          .end_row();
    }
    written.rows += wallets.size();
    wallet_set.emit(out);
    // Idempotent wallet creation (migration 0007): the request id's row commits with the
    // wallet's first row, on the wallet side.
    table_statements wallet_request_set(
        "wallet_requests",
        "INSERT IGNORE INTO {table} (tenant,request_id,wallet_id,content_hash,created_ms) VALUES (?,?,?,?,?)",
        {U, B, U, U, I});
    for (const auto& [id, w] : wallets) {
      if (w.request_id.empty()) continue;
      wallet_request_set.rows_for(layout, "wallet_requests", shard_layout::request_key(w.info.tenant, w.request_id))
          .u(w.info.tenant)
          .b(w.request_id)
          .u(id)
          .u(w.request_hash)
          .i(w.updated_ms)
          .end_row();
      ++written.rows;
    }
    wallet_request_set.emit(out);
    table_statements movement_set(
        "fund_movements",
        "INSERT IGNORE INTO {table} (wallet_id,seq,order_id,phase,d_available,d_frozen,d_incoming,available_after,"
        "frozen_after,incoming_after,at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        {U, U, U, U, I, I, I, I, I, I, I});
    std::vector<stored_movement> journal = coalesce(movements);
    for (const auto& m : journal) {
      const auto& e = *m.entry;
      movement_set.rows_for(layout, "fund_movements", m.wallet)
          .u(m.wallet)
          .u(e.sequence)
          .u(e.txn)
          .u(m.phase)
          .i(m.delta.available)
          .i(m.delta.frozen)
          .i(m.delta.incoming)
          .i(e.after.available)
          .i(e.after.frozen)
          .i(e.after.incoming)
          .i(e.at_ms)
          .end_row();
    }
    written.rows += journal.size();
    movement_set.emit(out);
    table_statements tcc_set(
        "tcc_records",
        "INSERT INTO {table} (wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,"
        "try_deadline_ms,updated_ms) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON DUPLICATE KEY UPDATE state=VALUES(state),try_result=VALUES(try_result),"
        "confirmed_amount=VALUES(confirmed_amount),updated_ms=VALUES(updated_ms)",
        {U, U, U, U, U, I, I, I, I});
    for (const auto& [key, t] : tcc) {
      if (finals.count(t.order)) continue;
      written.tcc_kept.emplace_back(t.order, t.wallet);
      ++written.rows;
      const auto& r = t.record;
      tcc_set.rows_for(layout, "tcc_records", t.wallet)
          .u(t.wallet)
          .u(t.order)
          .u(static_cast<unsigned>(r.type))
          .u(static_cast<unsigned>(r.state))
          .u(static_cast<unsigned>(r.try_result))
          .i(r.tried_amount)
          .i(r.confirmed_amount)
          .i(0)
          .i(t.updated_ms)
          .end_row();
    }
    tcc_set.emit(out);
    // By order id (index by_order): every record of a final order goes.
    table_statements tcc_delete("tcc_records delete", "DELETE FROM {table} WHERE order_id=?", {U});
    std::vector<order_id> unknown;
    for (order_id id : finals) {
      auto found = stored.find(id);
      if (fresh.count(id) == 0) {
        // Rows of wallets this writer never wrote may exist (an earlier process wrote them):
        // every table, even when this writer also stored some of the order's rows.
        unknown.push_back(id);
        if (found != stored.end()) written.tcc_deleted.push_back(id);
        continue;
      }
      if (found == stored.end()) continue;
      written.tcc_deleted.push_back(id);
      std::vector<std::string> tables;
      for (wallet_id w : found->second) {
        std::string table = layout.table_for("tcc_records", w);
        if (std::find(tables.begin(), tables.end(), table) == tables.end()) tables.push_back(std::move(table));
        ++written.rows;
      }
      for (const auto& table : tables) tcc_delete.rows_for(table).u(id).end_row();
    }
    if (!unknown.empty())
      for (uint32_t d = 0; d < layout.databases; ++d)
        for (uint32_t t : layout.tables_in(d)) {
          bulk_rows& rows = tcc_delete.rows_for(layout.table_at("tcc_records", d, t));
          for (order_id id : unknown) rows.u(id).end_row();
        }
    tcc_delete.emit(out);
    table_statements order_set(
        "orders",
        "INSERT INTO {table} (id,tenant,request_id,kind,state,is_final,result_code,currency,amount,confirmed_amount,"
        "source,destination,fee_wallet,fee_amount,original_order,channel,legs,attempts,try_deadline_ms,created_ms,"
        "updated_ms,final_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON DUPLICATE KEY UPDATE state=IF(is_final=1,state,VALUES(state)),"
        "result_code=IF(is_final=1,result_code,VALUES(result_code)),"
        "confirmed_amount=IF(is_final=1,confirmed_amount,VALUES(confirmed_amount)),"
        "legs=IF(is_final=1,legs,VALUES(legs)),attempts=IF(is_final=1,attempts,VALUES(attempts)),"
        "final_ms=IF(is_final=1,final_ms,VALUES(final_ms)),updated_ms=VALUES(updated_ms),"
        "is_final=GREATEST(is_final,VALUES(is_final))",
        {U, U, B, U, U, U, U, B, I, I, U, U, U, I, U, U, B, U, I, I, I, I}, commit_side::order);
    table_statements request_set(
        "request_ids",
        "INSERT IGNORE INTO {table} (tenant,request_id,order_id,content_hash,created_ms) VALUES (?,?,?,?,?)",
        {U, B, U, U, I}, commit_side::order);
    // The side tables of migration 0006, in the order's own table index (order side: they
    // commit with the order rows). open_orders: an order whose intent commits before its final
    // row is in it until that row (a resumed order's first row came before this process);
    // an order whose first row is final, most of them, never is, and costs nothing here.
    table_statements open_set("open_orders", "INSERT IGNORE INTO {table} (id) VALUES (?)", {U}, commit_side::order);
    table_statements open_delete("open_orders delete", "DELETE FROM {table} WHERE id=?", {U}, commit_side::order);
    table_statements refund_set("refunds", "INSERT IGNORE INTO {table} (original_order,refund_id) VALUES (?,?)",
                                {U, U}, commit_side::order);
    for (const auto& [id, o] : orders) {
      const auto& c = o.command;
      const bool final_row = is_final(o.state);
      if (o.intent && !final_row) {
        open_set.rows_for(layout, "open_orders", home_of(c)).u(id).end_row();
        ++written.rows;
      } else if (!o.intent && final_row) {
        open_delete.rows_for(layout, "open_orders", home_of(c)).u(id).end_row();
        ++written.rows;
      }
      if (o.intent && c.kind == order_kind::refund) {
        refund_set.rows_for(layout, "refunds", home_of(c)).u(c.original_order).u(id).end_row();
        ++written.rows;
      }
      order_set.rows_for(layout, "orders", home_of(c))
          .u(id)
          .u(c.tenant)
          .b(c.request_id)
          .u(static_cast<unsigned>(c.kind))
          .u(static_cast<unsigned>(o.state))
          .u(is_final(o.state) ? 1 : 0)
          .u(static_cast<unsigned>(o.reason))
          .b(c.cur.code())
          .i(c.amount)
          .i(o.posted_amount)
          .u(c.source)
          .u(c.destination)
          .u(c.fee_wallet)
          .i(c.fee_amount)
          .u(c.original_order)
          .u(c.channel)
          .b(o.legs_json)
          .u(o.attempts)
          .i(o.try_deadline_ms)
          .i(o.created_ms)
          .i(o.updated_ms)
          .i(o.final_ms)
          .end_row();
      ++written.rows;
      if (o.intent) {
        ++written.rows;
        request_set.rows_for(layout, "request_ids", shard_layout::request_key(c.tenant, c.request_id))
            .u(c.tenant)
            .b(c.request_id)
            .u(id)
            .u(content_hash(c))
            .i(o.created_ms)
            .end_row();
      }
    }
    order_set.emit(out);
    request_set.emit(out);
    open_set.emit(out);
    open_delete.emit(out);
    refund_set.emit(out);
    return out;
  }
};

struct writer_state {
  static inline const char* name = "storage_writer";
  storage_link* link = nullptr;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
  std::unique_ptr<bulk_connection> conn;
  pending_batch batch;
  std::chrono::steady_clock::time_point ready_at;  //!< when the last commit ended
  uint64_t batches = 0;
  //! TCC rows committed for orders not final yet, by order: deleted with the order's final row.
  //! Bounded: past the bound new ones are not tracked and their rows stay (harmless: a record
  //! of a final order is never asked for after a restart).
  std::unordered_map<order_id, std::vector<wallet_id>> tcc_stored;
  static constexpr size_t tcc_stored_max = size_t{1} << 20;
  //! Orders whose intent went through this writer and are not final yet: their TCC rows, if any,
  //! are in `tcc_stored` (unless it was full). Bounded; past the bound an order counts as
  //! unknown, which only costs a DELETE in every table when it is final.
  std::unordered_set<order_id> fresh;
  static constexpr size_t fresh_max = size_t{1} << 22;
  //! Wallet checkpoints (storage_config::wallet_checkpoint_interval_ms): the newest state of
  //! each wallet whose row is older than its journal, and the order in which they became so.
  //! Both bounded by checkpoint_pending_max (queue entries of wallets written since are skipped).
  struct pending_checkpoint {
    uint64_t version = 0;  //!< the sequence of the wallet's newest movement
    balances current;      //!< its resulting balances
    int64_t updated_ms = 0;
    std::chrono::steady_clock::time_point since;  //!< when the row first fell behind
  };
  std::unordered_map<wallet_id, pending_checkpoint> checkpoints;
  std::deque<std::pair<std::chrono::steady_clock::time_point, wallet_id>> checkpoint_queue;
  bool checkpoint_timer_armed = false;
  //! The checkpoints this batch writes (UPDATE of balances and version, by id and older version).
  std::vector<std::pair<wallet_id, pending_checkpoint>> checkpoints_chosen;

  //! Notes the batch's movements as pending checkpoints of their wallets and chooses the ones
  //! that are due (all of them with `flush_all`, at a clean stop) for this batch. A wallet row
  //! in the batch (creation, status, limit) is written whole and is checkpoint enough.
  void choose_checkpoints(bool flush_all) {
    const storage_config& config = link->config;
    auto now = std::chrono::steady_clock::now();
    checkpoints_chosen.clear();
    for (const auto& m : batch.movements) {
      const journal_entry& e = m.entry;
      auto [pending, inserted] = checkpoints.try_emplace(m.wallet);
      if (inserted) {
        pending->second.since = now;
        checkpoint_queue.emplace_back(now, m.wallet);
      }
      if (e.sequence > pending->second.version)
        pending->second = pending_checkpoint{e.sequence, e.after, e.at_ms, pending->second.since};
    }
    for (const auto& [id, row] : batch.wallets) {
      auto pending = checkpoints.find(id);
      if (pending != checkpoints.end() && pending->second.version <= row.version) checkpoints.erase(pending);
    }
    auto interval = std::chrono::milliseconds(config.wallet_checkpoint_interval_ms);
    while (!checkpoint_queue.empty() && (flush_all || checkpoints_chosen.size() < config.checkpoint_rows_per_batch_max)) {
      auto [since, id] = checkpoint_queue.front();
      bool over_bound = checkpoints.size() > config.checkpoint_pending_max ||
                        checkpoint_queue.size() > 2 * config.checkpoint_pending_max;
      if (!flush_all && !over_bound && now - since < interval) break;
      checkpoint_queue.pop_front();
      auto found = checkpoints.find(id);
      if (found == checkpoints.end() || found->second.since != since) continue;  // written since
      checkpoints_chosen.emplace_back(id, found->second);
      checkpoints.erase(found);
    }
  }

  //! The chosen checkpoints as statements (after the batch's movements: the same transaction).
  size_t checkpoint_statements(std::vector<table_statement>& out) {
    table_statements update("wallets checkpoint",
                            "UPDATE {table} SET available=?,frozen=?,incoming=?,version=?,updated_ms=? "
                            "WHERE id=? AND version<?",
                            {I, I, I, U, I, U, U});
    for (const auto& [id, c] : checkpoints_chosen)
      update.rows_for(layout, "wallets", id)
          .i(c.current.available)
          .i(c.current.frozen)
          .i(c.current.incoming)
          .u(c.version)
          .i(c.updated_ms)
          .u(id)
          .u(c.version)
          .end_row();
    return update.emit(out);
  }

  //! True when a checkpoint is due now (an idle writer commits them on its own).
  bool checkpoint_due() const {
    return !checkpoint_queue.empty() && std::chrono::steady_clock::now() - checkpoint_queue.front().first >=
                                            std::chrono::milliseconds(link->config.wallet_checkpoint_interval_ms);
  }

  //! TXENGINE_WRITER_PROFILE=1: time per table family, printed when the writer stops.
  bool profile_ = std::getenv("TXENGINE_WRITER_PROFILE") != nullptr;
  std::mutex profile_mutex_;  //!< the order side's thread adds to the profile too
  std::map<std::string, int64_t> profile_us_;
  std::map<std::string, int64_t> profile_rows_;

  // -- the executor: a batch's statements run on their own thread ---------------------
  //! A batch handed to the executor: its statements, and what the writer does once they are
  //! committed. While it runs, the writer gathers the next batch (the senders' messages are
  //! taken in, not left to pile up in the mailbox) and builds it as soon as this one ends.
  struct flight {
    pending_batch batch;
    built_rows written;
    size_t outbox_rows = 0;
    int64_t outbox_created_ms = 0;
    std::chrono::steady_clock::time_point started;
    std::vector<table_statement> wallet_side;
    std::vector<table_statement> order_side;
    bool done = false;       //!< guarded by executor_mutex
    bool committed = false;  //!< guarded by executor_mutex; false: the engine stopped first
  };
  std::unique_ptr<flight> in_flight;  //!< at most one batch runs at a time (order per wallet)
  caf::actor self_handle;             //!< the executor's notice goes here; reset at exit
  std::thread executor;
  std::mutex executor_mutex;
  std::condition_variable executor_cv;
  flight* executor_job = nullptr;  //!< guarded by executor_mutex
  bool executor_quit = false;      //!< guarded by executor_mutex

  void executor_main() {
    mysql_thread_scope scope;
    std::unique_lock<std::mutex> lock(executor_mutex);
    for (;;) {
      executor_cv.wait(lock, [this] { return executor_quit || executor_job != nullptr; });
      if (executor_job == nullptr) break;
      flight* job = executor_job;
      lock.unlock();
      bool committed = execute(*job);
      lock.lock();
      job->committed = committed;
      job->done = true;
      executor_job = nullptr;
      executor_cv.notify_all();
      caf::anon_send(self_handle, writer_committed_atom::value);
    }
    conn.reset();
    conn_b.reset();
  }

  void stop_executor() {
    if (!executor.joinable()) return;
    {
      std::lock_guard<std::mutex> guard(executor_mutex);
      executor_quit = true;
    }
    executor_cv.notify_all();
    executor.join();
  }

  ~writer_state() { stop_executor(); }

  //! Runs a batch's statements; retries (reconnecting) until they commit (true) or the engine
  //! stops (false). On the executor's thread: touches only the connections and their XA state.
  bool execute(flight& f) {
    int64_t backoff_ms = 5;
    for (uint32_t attempt = 1;; ++attempt) {
      if (link->stopping.load()) return false;  // the engine is going away: as if it had crashed now
      try {
        if (!conn) conn = std::make_unique<bulk_connection>(endpoint);
        if (!unsettled_xid.empty()) {
          // A branch from a failed attempt (or this batch's, its decision's commit unanswered).
          conn_b.reset();  // a branch prepared by a live session cannot be settled by another
          bool committed = settle_branch(*conn, layout, unsettled_xid);
          bool this_batch = unsettled_is_current;
          unsettled_xid.clear();
          if (committed && this_batch) break;  // the decision was committed: so is the batch
        }
        if (!f.order_side.empty()) {
          run_split(f.wallet_side, f.order_side, attempt);
        } else if (!f.wallet_side.empty() || !decisions_done.empty()) {
          run_statements(*conn, f.wallet_side, attempt);
          delete_done_decisions();
          auto t0 = std::chrono::steady_clock::now();
          conn->commit();
          decisions_done.clear();
          add_profile("(commit)", t0);
        }
        break;
      } catch (const sql::SQLException& e) {
        link->commit_failures.fetch_add(1);
        if (!is_transient(e)) link->storage_down.store(true);  // a deadlock is not an outage
        if (conn) conn->rollback();
        if (!is_transient(e)) conn.reset();  // reconnect: the same batch is idempotent
        if (attempt == 1 || attempt % 20 == 0)
          spdlog::error("storage writer: batch of {} rows not committed (attempt {}): {} ({})", f.batch.rows_received,
                        attempt, e.what(), e.getErrorCode());
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));  // own thread
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 1000);
      }
    }
    link->storage_down.store(false);
    return true;
  }

  //! TXENGINE_WRITER_PROFILE: time (and rows, counted once per batch) per statement family.
  void add_profile(const char* family, std::chrono::steady_clock::time_point since, size_t rows = 0) {
    if (!profile_) return;
    std::lock_guard<std::mutex> guard(profile_mutex_);
    profile_us_[family] +=
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - since).count();
    profile_rows_[family] += static_cast<int64_t>(rows);
  }

  //! Builds the batch's statements and hands them to the executor; the writer goes on gathering
  //! the next batch. `carry`: intents without effects may wait for the next batch (not when
  //! someone waits for a sync). One batch runs at a time: callers wait for the one in flight.
  void commit(caf::event_based_actor* self, bool carry = true, bool flush_checkpoints = false) {
    TX_CHECK(!in_flight);
    if (batch.empty() && !(flush_checkpoints && !checkpoints.empty()) && !checkpoint_due()) return;
    auto f = std::make_unique<flight>();
    f->started = std::chrono::steady_clock::now();
    choose_checkpoints(flush_checkpoints);
    std::vector<order_row> carried;
    if (carry && batch.syncs.empty()) carried = batch.take_carried_intents();
    for (const auto& [id, o] : batch.orders)
      if (o.intent && fresh.size() < fresh_max && tcc_stored.size() < tcc_stored_max) fresh.insert(id);
    std::vector<table_statement> statements = batch.statements(layout, tcc_stored, fresh, f->written);
    // Issue 5: the outbox rows of the batch's final orders, in the same transaction (carried
    // intents are not final: they have none).
    f->outbox_rows = append_outbox(statements);
    f->outbox_created_ms = outbox_created_ms_;
    f->written.rows += checkpoint_statements(statements);
    add_profile("(build)", f->started);
    // Two connections (storage_config::split_commit): the order side runs as a prepared XA
    // branch beside the wallet side (split_commit.hpp).
    for (auto& statement : statements) {
      bool order_side = link->config.split_commit && statement.side == commit_side::order;
      (order_side ? f->order_side : f->wallet_side).push_back(std::move(statement));
    }
    // What the next batch builds on (the TCC rows stored, the orders whose intents are) is
    // known now: the batch commits, or the engine stops and nothing is built any more.
    for (order_id id : f->written.tcc_deleted) tcc_stored.erase(id);
    for (const auto& [id, o] : batch.orders)
      if (is_final(o.state)) fresh.erase(id);
    for (const auto& [id, wallet] : f->written.tcc_kept) {
      auto found = tcc_stored.find(id);
      if (found == tcc_stored.end()) {
        if (tcc_stored.size() >= tcc_stored_max) continue;
        found = tcc_stored.emplace(id, std::vector<wallet_id>{}).first;
      }
      if (std::find(found->second.begin(), found->second.end(), wallet) == found->second.end())
        found->second.push_back(wallet);
    }
    f->batch = std::move(batch);
    batch = pending_batch();
    for (auto& o : carried) batch.orders.emplace(o.id, std::move(o));
    unfinished.clear();
    if (!self_handle) self_handle = caf::actor_cast<caf::actor>(self);
    if (!executor.joinable()) executor = std::thread([this] { executor_main(); });
    {
      std::lock_guard<std::mutex> guard(executor_mutex);
      in_flight = std::move(f);
      executor_job = in_flight.get();
    }
    executor_cv.notify_all();
  }

  //! Waits for the batch in flight (the writer's own thread: it is detached) and finishes it.
  void wait_in_flight(caf::event_based_actor* self) {
    if (!in_flight) return;
    {
      std::unique_lock<std::mutex> lock(executor_mutex);
      executor_cv.wait(lock, [this] { return in_flight->done; });
    }
    finish_in_flight(self);
  }

  //! The batch in flight is committed: its senders hear so. (The engine stopped first: nobody does.)
  void finish_in_flight(caf::event_based_actor* self) {
    if (!in_flight) return;
    bool committed = false;
    {
      std::lock_guard<std::mutex> guard(executor_mutex);
      if (!in_flight->done) return;  // a notice of an earlier batch, waited for already
      committed = in_flight->committed;
    }
    std::unique_ptr<flight> f = std::move(in_flight);
    if (!committed) return;
    ++batches;
    const pending_batch& done = f->batch;
    link->rows_written.fetch_add(f->written.rows);
    link->commit_us_total.fetch_add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - f->started).count()));
    link->rows_queued.fetch_sub(done.rows_received);
    link->rows_committed.fetch_add(static_cast<uint64_t>(done.rows_received));
    link->batches_committed.fetch_add(1);
    if (f->outbox_rows > 0) {
      link->outbox_committed(f->outbox_created_ms, wall_clock_ms());
      link->outbox_unpublished.fetch_add(static_cast<int64_t>(f->outbox_rows));
      link->outbox_rows_written.fetch_add(f->outbox_rows);
    }
    for (const auto& [sender, seq] : done.acks) self->send(sender, committed_atom::value, seq);
    for (auto& promise : f->batch.syncs) promise.deliver(true);
    ready_at = std::chrono::steady_clock::now();
    arm_checkpoint_timer(self);
  }

  //! Commits everything gathered and waits until it is committed (a sync, a clean stop).
  void commit_and_wait(caf::event_based_actor* self, bool flush_checkpoints) {
    wait_in_flight(self);
    commit(self, false, flush_checkpoints);
    wait_in_flight(self);
  }

  // -- two connections, one decision (split_commit.hpp) --------------------------------
  std::unique_ptr<bulk_connection> conn_b;  //!< the order side's XA branches
  std::string branch_prefix;
  uint64_t branch_nonce = 0;
  uint64_t branch_seq = 0;
  //! A branch whose fate a failed attempt left open: settled (by its decision row) before the
  //! next attempt. `unsettled_is_current`: it is this batch's, and its decision may be committed.
  std::string unsettled_xid;
  bool unsettled_is_current = false;
  //! Decisions whose branches are committed: deleted in the next batch's transaction.
  std::vector<std::string> decisions_done;
  static constexpr size_t decisions_done_max = 4096;

  void run_statements(bulk_connection& c, const std::vector<table_statement>& list, uint32_t attempt) {
    for (const table_statement& statement : list) {
      auto t0 = std::chrono::steady_clock::now();
      c.execute_bulk(statement.sql, statement.rows);
      add_profile(statement.family.c_str(), t0, attempt == 1 ? statement.rows.size() : 0);
    }
  }

  void delete_done_decisions() {
    if (decisions_done.empty()) return;
    std::string list;
    for (const auto& xid : decisions_done) list += (list.empty() ? "'" : ",'") + xid + "'";
    conn->execute("DELETE FROM " + xa_decisions_table(layout) + " WHERE xid IN (" + list + ")");
  }

  //! The order side as a branch on `conn_b` (its own thread) while the wallet side runs here;
  //! then the decision commits with the wallet side, then the branch. Throws on any failure,
  //! leaving `unsettled_xid` for the next attempt to settle.
  void run_split(const std::vector<table_statement>& wallet_side, const std::vector<table_statement>& order_side,
                 uint32_t attempt) {
    if (!conn_b) conn_b = std::make_unique<bulk_connection>(endpoint);
    if (branch_prefix.empty()) {
      branch_prefix = xa_branch_prefix(link->config.prefix);
      branch_nonce = (static_cast<uint64_t>(wall_clock_ms()) << 20) ^ static_cast<uint64_t>(::getpid());
    }
    const std::string xid = xa_branch_id(branch_prefix, branch_nonce, ++branch_seq);
    bulk_connection& branch = *conn_b;
    auto prepared = std::async(std::launch::async, [&] {
      branch.execute("XA START '" + xid + "'");
      run_statements(branch, order_side, attempt);
      branch.execute("XA END '" + xid + "'");
      branch.execute("XA PREPARE '" + xid + "'");
    });
    std::exception_ptr wallet_error;
    try {
      run_statements(*conn, wallet_side, attempt);
      conn->execute("INSERT INTO " + xa_decisions_table(layout) + " (xid, created_ms) VALUES ('" + xid + "'," +
                    std::to_string(wall_clock_ms()) + ")");
      delete_done_decisions();
    } catch (...) {
      wallet_error = std::current_exception();
    }
    try {
      prepared.get();
    } catch (...) {
      unsettled_xid = xid;  // maybe prepared: settled (rolled back, no decision) next attempt
      unsettled_is_current = false;
      conn_b.reset();
      throw;
    }
    if (wallet_error) {
      unsettled_xid = xid;  // prepared, no decision committed: rolled back next attempt
      unsettled_is_current = false;
      std::rethrow_exception(wallet_error);
    }
    unsettled_xid = xid;  // from here the decision may be committed even if the answer is lost
    unsettled_is_current = true;
    auto t0 = std::chrono::steady_clock::now();
    conn->commit();
    decisions_done.clear();
    branch.execute("XA COMMIT '" + xid + "'");
    unsettled_xid.clear();
    if (decisions_done.size() < decisions_done_max) decisions_done.push_back(xid);
    add_profile("(commit)", t0);
  }

  //! Issue 5: the outbox rows of the batch's final orders join the batch's transaction.
  int64_t outbox_created_ms_ = 0;
  size_t append_outbox(std::vector<table_statement>& sql) {
    const publication_config& kafka = link->config.kafka;
    if (!kafka.enabled()) return 0;
    std::vector<const order_row*> rows;
    rows.reserve(batch.orders.size());
    for (const auto& [id, o] : batch.orders) rows.push_back(&o);
    outbox_created_ms_ = wall_clock_ms();
    return append_outbox_statements(layout, kafka.topic, rows, outbox_created_ms_, sql);
  }

  //! Orders among wallets with an effect in the batch and no final row yet: committing now
  //! would split them over two batches (their order row twice, their TCC rows written and
  //! deleted). Orders with a channel wait for the outside world and are not waited for.
  std::unordered_set<order_id> unfinished;
  std::unordered_set<order_id> channel_orders;  //!< not final; bounded by the hosts' in-flight bound

  void track(const write_batch& b) {
    for (const auto& o : b.orders) {
      if (is_final(o.state)) {
        if (!unfinished.empty()) unfinished.erase(o.id);
        if (!channel_orders.empty()) channel_orders.erase(o.id);
      } else if (o.intent && (o.command.kind == order_kind::top_up || o.command.kind == order_kind::withdraw)) {
        channel_orders.insert(o.id);
      }
    }
    auto effect = [this](order_id id) {
      if (!channel_orders.empty() && channel_orders.count(id) != 0) return;
      auto found = batch.orders.find(id);
      if (found == batch.orders.end() || !is_final(found->second.state)) unfinished.insert(id);
    };
    for (const auto& m : b.movements) effect(m.entry.txn);
    for (const auto& t : b.tcc) effect(t.order);
  }

  //! Commits when the batch is full; else once the mailbox is empty and no order is unfinished
  //! in the batch, or the batch is `batch_latency_max_ms` old (counted from the end of the last
  //! commit: the orders the replies of that commit set going are what it waits for).
  //! A batch left waiting (for the mailbox to drain, or for its unfinished orders) is looked at
  //! again after a millisecond; an idle writer (empty batch) sleeps instead of polling.
  //! While checkpoints wait, a timer makes an idle writer write them when they are due.
  void arm_checkpoint_timer(caf::event_based_actor* self) {
    if (checkpoint_timer_armed || checkpoint_queue.empty()) return;
    checkpoint_timer_armed = true;
    auto wait = checkpoint_queue.front().first + std::chrono::milliseconds(link->config.wallet_checkpoint_interval_ms) -
                std::chrono::steady_clock::now();
    auto wait_ms = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1);
    self->delayed_send(self, std::chrono::milliseconds(wait_ms), writer_checkpoint_atom::value);
  }

  bool tick_pending = false;
  void arm_tick(caf::event_based_actor* self) {
    if (tick_pending || batch.empty() || in_flight) return;  // the batch in flight's end looks again
    tick_pending = true;
    self->delayed_send(self, std::chrono::milliseconds(1), writer_tick_atom::value);
  }

  void maybe_commit(caf::event_based_actor* self) {
    if (in_flight) return;  // its end looks again
    if (static_cast<size_t>(batch.rows_received) >= link->config.batch_rows_max) return commit(self);
    if (!self->mailbox().empty() || batch.empty()) return;
    auto age = std::chrono::steady_clock::now() - std::max(batch.first_at, ready_at);
    if (unfinished.empty() || age >= std::chrono::milliseconds(link->config.batch_latency_max_ms)) commit(self);
  }
};

using writer_actor = caf::stateful_actor<writer_state>;

caf::behavior writer_behavior(writer_actor* self, storage_link* link) {
  auto& st = self->state;
  st.link = link;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    // A clean stop: commit what came before, and every wallet's checkpoint.
    if (!link->stopping.load()) self->state.commit_and_wait(self, true);
    self->state.stop_executor();
    self->state.self_handle = caf::actor();
    for (const auto& [family, us] : self->state.profile_us_) {
      int64_t rows = self->state.profile_rows_[family];
      spdlog::info("storage writer: {} statements: {:.1f} ms, {} rows ({:.1f} us/row) in {} batches", family, us / 1e3,
                   rows, rows > 0 ? static_cast<double>(us) / static_cast<double>(rows) : 0.0, self->state.batches);
    }
    self->state.conn.reset();
    self->state.conn_b.reset();
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
  return {
      [=](persist_atom, write_batch& b) {
        self->state.track(b);
        self->state.batch.add(b, caf::actor_cast<caf::actor>(self->current_sender()));
        self->state.maybe_commit(self);
        self->state.arm_tick(self);
      },
      [=](sync_atom) {
        self->state.batch.syncs.push_back(self->make_response_promise());
        self->state.maybe_commit(self);
        self->state.arm_tick(self);
      },
      [=](sync_atom, checkpoint_all_atom) {
        auto& st = self->state;
        st.batch.syncs.push_back(self->make_response_promise());
        st.commit_and_wait(self, true);
      },
      [=](writer_committed_atom) {
        auto& st = self->state;
        st.finish_in_flight(self);
        st.maybe_commit(self);
        st.arm_tick(self);
      },
      [=](writer_tick_atom) {
        self->state.tick_pending = false;
        self->state.maybe_commit(self);
        self->state.arm_tick(self);
      },
      [=](writer_checkpoint_atom) {
        auto& st = self->state;
        st.checkpoint_timer_armed = false;
        if (st.batch.empty() && !st.in_flight && st.checkpoint_due()) st.commit(self);
        st.arm_checkpoint_timer(self);
      },
  };
}

// -- loader ----------------------------------------------------------------------------

struct loader_state {
  static inline const char* name = "wallet_loader";
  storage_link* link = nullptr;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
  std::unique_ptr<mysql_connection> conn;

  //! Wallets asked for and not yet read, with who asked: read together (one query per table
  //! and family for up to `load_batch_max` wallets) when the mailbox is empty or the batch is full.
  std::vector<std::pair<caf::actor, wallet_id>> load_queue;
  static constexpr size_t load_batch_max = 1000;
  //! Request-id lookups asked for and not yet answered, by who asked: looked up together when
  //! the mailbox is empty or `lookup_batch_max` keys wait.
  std::vector<std::pair<caf::actor, std::vector<request_lookup>>> lookup_queue;
  size_t lookup_queued_keys = 0;
  static constexpr size_t lookup_batch_max = 4000;

  void lookup_queued(caf::event_based_actor* self) {
    if (lookup_queue.empty()) return;
    std::vector<request_lookup> keys;
    keys.reserve(lookup_queued_keys);
    for (const auto& [sender, list] : lookup_queue) keys.insert(keys.end(), list.begin(), list.end());
    std::vector<request_found> found = lookup(keys);
    size_t next = 0;
    for (auto& [sender, list] : lookup_queue) {
      std::vector<request_found> answers(std::make_move_iterator(found.begin() + static_cast<std::ptrdiff_t>(next)),
                                         std::make_move_iterator(found.begin() + static_cast<std::ptrdiff_t>(next + list.size())));
      next += list.size();
      self->send(sender, found_atom::value, std::move(answers));
    }
    lookup_queue.clear();
    lookup_queued_keys = 0;
  }

  void load_queued(caf::event_based_actor* self) {
    if (load_queue.empty()) return;
    std::vector<wallet_id> ids;
    ids.reserve(load_queue.size());
    for (const auto& [sender, id] : load_queue) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::unordered_map<wallet_id, loaded_wallet> found;
    bool failed = true;
    for (int attempt = 0; attempt < 2 && failed; ++attempt) {
      try {
        if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
        found = read(ids);
        failed = false;
      } catch (const sql::SQLException& e) {
        conn.reset();
        spdlog::error("wallet loader: {} wallets not loaded: {} ({})", ids.size(), e.what(), e.getErrorCode());
      }
    }
    for (const auto& [sender, id] : load_queue) {
      loaded_wallet result;
      if (failed) {
        result.failed = true;
      } else if (auto it = found.find(id); it != found.end()) {
        result = it->second;
      }
      self->send(sender, loaded_atom::value, id, std::move(result));
    }
    load_queue.clear();
  }

  //! The wallet a create_wallet request id made, if MySQL holds one.
  wallet_request_found lookup_wallet_request(tenant_id tenant, const std::string& request_id) {
    wallet_request_found f;
    try {
      if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
      auto rs = conn->query("SELECT wallet_id, content_hash FROM " +
                            layout.table_for("wallet_requests", shard_layout::request_key(tenant, request_id)) +
                            " WHERE tenant=" + std::to_string(tenant) + " AND request_id=" + hex_literal(request_id));
      if (rs->next()) {
        f.found = true;
        f.id = rs->getUInt64(1);
        f.content_hash = rs->getUInt64(2);
      }
    } catch (const sql::SQLException& e) {
      conn.reset();
      f.failed = true;
      spdlog::error("wallet request lookup: {} ({})", e.what(), e.getErrorCode());
    }
    return f;
  }

  //! Request ids per statement, at most.
  static constexpr size_t lookup_statement_keys_max = 500;

  //! Looks request ids up in batches: one statement per request-id table for up to 500 keys,
  //! then one per orders table for the orders found (instead of a round trip per key).
  std::vector<request_found> lookup(const std::vector<request_lookup>& keys) {
    std::vector<request_found> out(keys.size());
    std::map<std::pair<tenant_id, std::string>, std::vector<size_t>> by_key;
    std::map<std::string, std::vector<size_t>> by_table;
    for (size_t i = 0; i < keys.size(); ++i) {
      out[i].tenant = keys[i].tenant;
      out[i].request_id = keys[i].request_id;
      auto& same = by_key[{keys[i].tenant, keys[i].request_id}];
      if (same.empty())
        by_table[layout.table_for("request_ids", shard_layout::request_key(keys[i].tenant, keys[i].request_id))]
            .push_back(i);
      same.push_back(i);
    }
    try {
      if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
      std::map<std::string, std::vector<size_t>> orders_by_table;
      for (const auto& [table, indices] : by_table)
        for (size_t from = 0; from < indices.size(); from += lookup_statement_keys_max) {
          std::string list;
          for (size_t j = from; j < std::min(indices.size(), from + lookup_statement_keys_max); ++j) {
            const auto& key = keys[indices[j]];
            list += (list.empty() ? "(" : ",(") + std::to_string(key.tenant) + "," + hex_literal(key.request_id) + ")";
          }
          auto rs = conn->query("SELECT tenant, request_id, order_id, content_hash FROM " + table +
                                " WHERE (tenant, request_id) IN (" + list + ")");
          while (rs->next()) {
            auto same = by_key.find({static_cast<tenant_id>(rs->getUInt(1)), std::string(rs->getString(2))});
            if (same == by_key.end()) continue;
            for (size_t i : same->second) {
              out[i].found = true;
              out[i].id = rs->getUInt64(3);
              out[i].content_hash = rs->getUInt64(4);
            }
            orders_by_table[layout.table_for("orders", keys[same->second.front()].home)].push_back(same->second.front());
          }
        }
      for (const auto& [table, indices] : orders_by_table)
        for (size_t from = 0; from < indices.size(); from += lookup_statement_keys_max) {
          std::unordered_map<order_id, std::vector<size_t>> by_id;
          std::string list;
          for (size_t j = from; j < std::min(indices.size(), from + lookup_statement_keys_max); ++j) {
            const request_found& f = out[indices[j]];
            auto& same = by_id[f.id];
            if (same.empty()) list += (list.empty() ? "" : ",") + std::to_string(f.id);
            for (size_t i : by_key[{f.tenant, f.request_id}]) same.push_back(i);
          }
          auto rs = conn->query("SELECT id, state, result_code, confirmed_amount, created_ms, final_ms FROM " + table +
                                " WHERE id IN (" + list + ")");
          while (rs->next()) {
            auto same = by_id.find(rs->getUInt64(1));
            if (same == by_id.end()) continue;
            for (size_t i : same->second) {
              out[i].state = static_cast<order_state>(rs->getUInt(2));
              out[i].reason = static_cast<result_code>(rs->getUInt(3));
              out[i].posted_amount = rs->getInt64(4);
              out[i].created_ms = rs->getInt64(5);
              out[i].final_ms = rs->getInt64(6);
            }
          }
        }
    } catch (const sql::SQLException& e) {
      conn.reset();
      for (auto& f : out) f = request_found{f.tenant, f.request_id, false, true};
      spdlog::error("request lookup: {} ({})", e.what(), e.getErrorCode());
    }
    return out;
  }

  //! The wallets among `ids` that MySQL holds, in their effective state (the wallet row is a
  //! checkpoint, the newest fund movement may be newer: persistence/wallet_state.hpp), with their
  //! TCC records.
  std::unordered_map<wallet_id, loaded_wallet> read(const std::vector<wallet_id>& ids) {
    std::unordered_map<wallet_id, loaded_wallet> result;
    // "id,id,..." by shard (database, table index), for the wallets and the TCC records alike.
    std::map<std::pair<uint32_t, uint32_t>, std::string> lists;
    for (wallet_id id : ids) {
      std::string& list = lists[{layout.database_of(id), layout.table_of(id)}];
      if (!list.empty()) list += ',';
      list += std::to_string(id);
    }
    for (const auto& [shard, list] : lists) {
      auto rs = conn->query(effective_wallets_sql(layout, shard.first, shard.second, list));
      namespace c = effective_column;
      while (rs->next()) {
        wallet_id id = rs->getUInt64(c::id);
        loaded_wallet& loaded = result[id];
        loaded.found = true;
        wallet_row& w = loaded.row;
        w.info.id = id;
        w.info.tenant = static_cast<tenant_id>(rs->getUInt(c::tenant));
        w.info.cur = currency::parse(std::string(rs->getString(c::currency))).value_or(currency{});
        w.info.kind = static_cast<wallet_kind>(rs->getUInt(c::kind));
        w.info.status = static_cast<wallet_status>(rs->getUInt(c::status));
        w.info.overdraft_limit = rs->getInt64(c::overdraft_limit);
        w.current = {rs->getInt64(c::available), rs->getInt64(c::frozen), rs->getInt64(c::incoming)};
        w.version = rs->getUInt64(c::version);
        w.updated_ms = rs->getInt64(c::updated_ms);
      }
    }
    for (const auto& [shard, list] : lists) {
      auto records = conn->query(
          "SELECT wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,updated_ms FROM " +
          layout.table_at("tcc_records", shard.first, shard.second) + " WHERE wallet_id IN (" + list + ")");
      while (records->next()) {
        tcc_row t;
        t.wallet = records->getUInt64(1);
        t.order = records->getUInt64(2);
        t.record.type = static_cast<leg_type>(records->getUInt(3));
        t.record.state = static_cast<tcc_record_state>(records->getUInt(4));
        t.record.try_result = static_cast<result_code>(records->getUInt(5));
        t.record.tried_amount = records->getInt64(6);
        t.record.confirmed_amount = records->getInt64(7);
        t.updated_ms = records->getInt64(8);
        auto owner = result.find(t.wallet);
        if (owner != result.end()) owner->second.records.push_back(t);  // a record without its wallet: ignored
      }
    }
    return result;
  }
};

using loader_actor = caf::stateful_actor<loader_state>;

caf::behavior loader_behavior(loader_actor* self, storage_link* link) {
  auto& st = self->state;
  st.link = link;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    self->state.conn.reset();
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
  return {
      [=](lookup_atom, const std::vector<request_lookup>& keys) {
        auto& st = self->state;
        st.lookup_queue.emplace_back(caf::actor_cast<caf::actor>(self->current_sender()), keys);
        st.lookup_queued_keys += keys.size();
        if (st.lookup_queued_keys >= loader_state::lookup_batch_max || self->mailbox().empty()) st.lookup_queued(self);
        if (self->mailbox().empty()) st.load_queued(self);  // loads queued before this message
      },
      [=](wallet_lookup_atom, tenant_id tenant, const std::string& request_id) {
        auto found = self->state.lookup_wallet_request(tenant, request_id);
        if (self->mailbox().empty()) {  // what was queued before this message
          self->state.lookup_queued(self);
          self->state.load_queued(self);
        }
        return found;
      },
      [=](load_atom, wallet_id id) {
        auto& st = self->state;
        st.load_queue.emplace_back(caf::actor_cast<caf::actor>(self->current_sender()), id);
        if (st.load_queue.size() >= loader_state::load_batch_max || self->mailbox().empty()) st.load_queued(self);
        if (self->mailbox().empty()) st.lookup_queued(self);  // lookups queued before this message
      },
  };
}

}  // namespace

storage_start prepare_storage(const storage_config& config) {
  storage_start start;
  shard_layout layout = layout_of(config);
  std::string why;
  if (!layout.valid(&why)) {
    start.error = why;
    return start;
  }
  try {
    mysql_endpoint endpoint = endpoint_of(config);
    start.description = endpoint.describe() + " (" + std::to_string(config.databases) + " databases x " +
                        std::to_string(config.tables) + " tables, prefix " + config.prefix + ")";
    mysql_thread_scope scope;
    mysql_connection conn(endpoint);
    // Branches of two-connection commits a crash left prepared: committed when their decision
    // was, else rolled back, before anything reads (they hold their rows' locks until then).
    // Before the migrations too when the decisions exist already (migration 0004): a migration
    // must not wait for a branch's locks, nor backfill without its rows (0006 does).
    auto settle = [&] {
      bulk_connection settler(endpoint);
      settle_report settled = settle_prepared_branches(settler, layout, xa_branch_prefix(config.prefix));
      start.branches_committed += settled.committed;
      start.branches_rolled_back += settled.rolled_back;
    };
    if (conn.query_int("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='" +
                       layout.database_name(0) + "' AND TABLE_NAME='xa_decisions'") > 0)
      settle();
    schema_report report = apply_schema(conn, layout);
    start.migrations_applied = report.migrations_applied;
    settle();
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) {
        std::string table = layout.table_at("wallets", d, t);
        start.orders += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + layout.table_at("orders", d, t)));
        auto rs = conn.query("SELECT COUNT(*), COALESCE(MAX(id),0) FROM " + table);
        if (rs->next()) {
          start.wallets += rs->getUInt64(1);
          start.max_wallet_id = std::max<wallet_id>(start.max_wallet_id, rs->getUInt64(2));
        }
        auto systems = conn.query("SELECT tenant, currency, id FROM " + table + " WHERE kind=" +
                                  std::to_string(static_cast<unsigned>(wallet_kind::system)));
        while (systems->next()) {
          auto cur = currency::parse(std::string(systems->getString(2)));
          if (cur) start.system_wallets.emplace_back(systems->getUInt(1), cur->packed(), systems->getUInt64(3));
        }
      }
    start.ok = true;
  } catch (const sql::SQLException& e) {
    start.error = std::string("MySQL: ") + e.what() + " (" + std::to_string(e.getErrorCode()) + ")";
  } catch (const std::exception& e) {
    start.error = e.what();
  }
  return start;
}

caf::actor spawn_writer(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(writer_behavior, link);
}

caf::actor spawn_wallet_loader(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(loader_behavior, link);
}

}  // namespace txengine::persistence
