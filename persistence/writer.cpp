#include "persistence/writer.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "ports/clock.hpp"
#include "ports/storage_messages.hpp"
#include "core/check.hpp"
#include "persistence/batch_builder.hpp"
#include "persistence/checkpoint_scheduler.hpp"
#include "persistence/commit_executor.hpp"
#include "persistence/mysql_actor.hpp"
#include "persistence/outbox.hpp"

namespace txengine::persistence {

namespace {

using writer_tick_atom = caf::atom_constant<caf::atom("wtick")>;
using writer_checkpoint_atom = caf::atom_constant<caf::atom("wckpt")>;
using writer_committed_atom = caf::atom_constant<caf::atom("wdone")>;

//! The writer's interface (ports/actor_interfaces.hpp) and the messages it sends itself.
using writer_impl = writer_actor::extend<caf::reacts_to<writer_tick_atom>, caf::reacts_to<writer_checkpoint_atom>,
                                         caf::reacts_to<writer_committed_atom>>;
using writer_pointer = writer_impl::pointer;

//! The batch being gathered: its rows (batch_builder.hpp), plus who waits for it.
struct pending_batch {
  batch_rows rows;
  std::vector<std::pair<committed_sink, uint64_t>> acks;
  std::vector<caf::typed_response_promise<bool>> syncs;
  int64_t rows_received = 0;  //!< as counted into storage_link::rows_queued by the senders
  std::chrono::steady_clock::time_point first_at;  //!< when the first message of this batch came

  //! Intents carried over from an earlier batch do not make a batch worth committing by themselves.
  bool empty() const { return rows_received == 0 && acks.empty() && syncs.empty(); }

  void add(write_batch& b, const committed_sink& sender) {
    if (empty()) first_at = std::chrono::steady_clock::now();
    rows_received += static_cast<int64_t>(b.rows());
    rows.add(b);
    if (b.ack_seq != 0) acks.emplace_back(sender, b.ack_seq);
  }
};

struct writer_state : mysql_actor_state {
  static inline const char* name = "storage_writer";
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
  //! Wallet checkpoints (storage_config::wallet_checkpoint_interval_ms).
  std::unique_ptr<checkpoint_scheduler> checkpoints;
  bool checkpoint_timer_armed = false;

  //! A batch handed to the executor: its statements, and what the writer does once they are
  //! committed. While it runs, the writer gathers the next batch (the senders' messages are
  //! taken in, not left to pile up in the mailbox) and builds it as soon as this one ends.
  struct flight {
    pending_batch batch;
    built_rows written;
    size_t outbox_rows = 0;
    int64_t outbox_created_ms = 0;
    std::chrono::steady_clock::time_point started;
    commit_job job;
  };
  std::unique_ptr<flight> in_flight;  //!< at most one batch runs at a time (order per wallet)
  writer_impl self_handle;            //!< the executor's notice goes here; reset at exit
  std::unique_ptr<commit_executor> executor;

  //! Builds the batch's statements and hands them to the executor; the writer goes on gathering
  //! the next batch. `carry`: intents without effects may wait for the next batch (not when
  //! someone waits for a sync). One batch runs at a time: callers wait for the one in flight.
  void commit(writer_pointer self, bool carry = true, bool flush_checkpoints = false) {
    TX_CHECK(!in_flight);
    auto now = std::chrono::steady_clock::now();
    if (batch.empty() && !(flush_checkpoints && checkpoints->pending()) && !checkpoints->due(now)) return;
    auto f = std::make_unique<flight>();
    f->started = now;
    std::vector<wallet_checkpoint> chosen =
        checkpoints->choose(batch.rows.movements, batch.rows.wallets, flush_checkpoints, now);
    std::vector<order_row> carried;
    if (carry && batch.syncs.empty()) carried = batch.rows.take_carried_intents();
    for (const auto& [id, o] : batch.rows.orders)
      if (o.intent && fresh.size() < fresh_max && tcc_stored.size() < tcc_stored_max) fresh.insert(id);
    std::vector<table_statement> statements =
        batch_statements(layout, batch.rows, tcc_history{tcc_stored, fresh, link->ownership != nullptr}, f->written);
    // Issue 5: the outbox rows of the batch's final orders, in the same transaction (carried
    // intents are not final: they have none).
    f->outbox_rows = append_outbox(statements, f->outbox_created_ms);
    f->written.rows += checkpoint_statements(layout, chosen, statements);
    executor->add_profile("(build)", f->started);
    // Two connections (storage_config::split_commit): the order side runs as a prepared XA
    // branch beside the wallet side (split_commit.hpp).
    for (auto& statement : statements) {
      bool order_side = link->config.split_commit && statement.side == commit_side::order;
      (order_side ? f->job.order_side : f->job.wallet_side).push_back(std::move(statement));
    }
    // What the next batch builds on (the TCC rows stored, the orders whose intents are) is
    // known now: the batch commits, or the engine stops and nothing is built any more.
    for (order_id id : f->written.tcc_deleted) tcc_stored.erase(id);
    for (const auto& [id, o] : batch.rows.orders)
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
    f->job.rows_received = batch.rows_received;
    if (link->ownership) f->job.partitions = partitions_of(batch.rows, chosen, link->ownership->partitions());
    f->batch = std::move(batch);
    batch = pending_batch();
    for (auto& o : carried) batch.rows.orders.emplace(o.id, std::move(o));
    unfinished.clear();
    awaited = false;
    if (!self_handle) self_handle = caf::actor_cast<writer_impl>(self);
    in_flight = std::move(f);
    executor->start(in_flight->job);
  }

  //! Waits for the batch in flight (the writer's own thread: it is detached) and finishes it.
  void wait_in_flight(writer_pointer self) {
    if (!in_flight) return;
    executor->wait();
    finish_in_flight(self);
  }

  //! The batch in flight is committed: its senders hear so. (The engine stopped first: nobody does.)
  void finish_in_flight(writer_pointer self) {
    if (!in_flight) return;
    bool committed = false;
    if (!executor->finished(committed)) return;  // a notice of an earlier batch, waited for already
    std::unique_ptr<flight> f = std::move(in_flight);
    if (!committed) {
      for (auto& promise : f->batch.syncs) promise.deliver(false);
      return;
    }
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
  void commit_and_wait(writer_pointer self, bool flush_checkpoints) {
    wait_in_flight(self);
    commit(self, false, flush_checkpoints);
    wait_in_flight(self);
  }

  //! Issue 5: the outbox rows of the batch's final orders join the batch's transaction.
  size_t append_outbox(std::vector<table_statement>& sql, int64_t& created_ms) {
    const publication_config& kafka = link->config.kafka;
    if (!kafka.enabled()) return 0;
    std::vector<const order_row*> rows;
    rows.reserve(batch.rows.orders.size());
    for (const auto& [id, o] : batch.rows.orders) rows.push_back(&o);
    created_ms = wall_clock_ms();
    return append_outbox_statements(layout, kafka.topic, rows, created_ms, sql);
  }

  //! Orders among wallets with an effect in the batch and no final row yet: committing now
  //! would split them over two batches (their order row twice, their TCC rows written and
  //! deleted). Only this node's orders among wallets are waited for: those whose intent came
  //! here. Orders with a channel wait for the outside world; another cluster node's orders
  //! (effects on this node's wallets through its gateway) have their rows on their own node, and
  //! their steps wait for this commit (the gateway's barrier): neither is waited for.
  std::unordered_set<order_id> unfinished;
  //! Intents received, no final row yet, among wallets only; bounded by the hosts' in-flight bound.
  std::unordered_set<order_id> open_orders;

  //! A cluster node's batch holds an intent its host waits for before the order starts (an
  //! order with another node's wallet, or a provider): committed without waiting for unfinished
  //! orders, as for a commit barrier (sync_atom) someone waits for. Waiting would chain: each
  //! node's commits would wait for orders whose steps wait for the other nodes' commits.
  bool awaited = false;

  void track(const write_batch& b) {
    for (const auto& o : b.orders) {
      if (o.awaited && link->ownership) awaited = true;  // one node: a provider's order waits for the outside anyway
      if (is_final(o.state)) {
        if (!unfinished.empty()) unfinished.erase(o.id);
        if (!open_orders.empty()) open_orders.erase(o.id);
      } else if (o.intent && o.command.kind != order_kind::top_up && o.command.kind != order_kind::withdraw) {
        open_orders.insert(o.id);
      }
    }
    auto effect = [this](order_id id) {
      if (open_orders.count(id) != 0) unfinished.insert(id);
    };
    for (const auto& m : b.movements) effect(m.entry.txn);
    for (const auto& t : b.tcc) effect(t.order);
  }

  //! Commits when the batch is full; else once the mailbox is empty and no order is unfinished
  //! in the batch (or someone waits for this commit: a barrier, an awaited intent), or the
  //! batch is `batch_latency_max_ms` old (counted from the end of the last
  //! commit: the orders the replies of that commit set going are what it waits for).
  //! A batch left waiting (for the mailbox to drain, or for its unfinished orders) is looked at
  //! again after a millisecond; an idle writer (empty batch) sleeps instead of polling.
  //! While checkpoints wait, a timer makes an idle writer write them when they are due.
  void arm_checkpoint_timer(writer_pointer self) {
    if (checkpoint_timer_armed || !checkpoints->waiting()) return;
    checkpoint_timer_armed = true;
    auto wait = checkpoints->next_due() - std::chrono::steady_clock::now();
    auto wait_ms = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1);
    self->delayed_send(self, std::chrono::milliseconds(wait_ms), writer_checkpoint_atom::value);
  }

  bool tick_pending = false;
  void arm_tick(writer_pointer self) {
    if (tick_pending || batch.empty() || in_flight) return;  // the batch in flight's end looks again
    tick_pending = true;
    self->delayed_send(self, std::chrono::milliseconds(1), writer_tick_atom::value);
  }

  void maybe_commit(writer_pointer self) {
    if (in_flight) return;  // its end looks again
    if (static_cast<size_t>(batch.rows_received) >= link->config.batch_rows_max) return commit(self);
    if (!self->mailbox().empty() || batch.empty()) return;
    auto age = std::chrono::steady_clock::now() - std::max(batch.first_at, ready_at);
    if (unfinished.empty() || awaited || !batch.syncs.empty() ||
        age >= std::chrono::milliseconds(link->config.batch_latency_max_ms))
      commit(self);
  }
};

using writer_stateful = writer_impl::stateful_pointer<writer_state>;

writer_impl::behavior_type writer_behavior(writer_stateful self, storage_link* link) {
  start_mysql_actor(self, link, [](writer_stateful self) {
    auto& st = self->state;
    // A clean stop: commit what came before, and every wallet's checkpoint.
    if (!st.link->stopping.load()) st.commit_and_wait(self, true);
    st.executor->stop();  // closes its connections
    st.self_handle = writer_impl();
    st.executor->log_profile(st.batches);
  });
  auto& st = self->state;
  const storage_config& config = link->config;
  st.checkpoints = std::make_unique<checkpoint_scheduler>(
      std::chrono::milliseconds(config.wallet_checkpoint_interval_ms), config.checkpoint_rows_per_batch_max,
      config.checkpoint_pending_max);
  st.executor = std::make_unique<commit_executor>(link, st.layout, st.endpoint, [state = &st] {
    caf::anon_send(state->self_handle, writer_committed_atom::value);
  });
  return {
      [=](persist_atom, write_batch& b) {
        self->state.track(b);
        self->state.batch.add(b, caf::actor_cast<committed_sink>(self->current_sender()));
        self->state.maybe_commit(self);
        self->state.arm_tick(self);
      },
      [=](sync_atom) {
        auto promise = self->make_response_promise<bool>();
        self->state.batch.syncs.push_back(promise);
        self->state.maybe_commit(self);
        self->state.arm_tick(self);
        return promise;
      },
      [=](sync_atom, checkpoint_all_atom) {
        auto& st = self->state;
        auto promise = self->make_response_promise<bool>();
        st.batch.syncs.push_back(promise);
        st.commit_and_wait(self, true);
        return promise;
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
        if (st.batch.empty() && !st.in_flight && st.checkpoints->due(std::chrono::steady_clock::now())) st.commit(self);
        st.arm_checkpoint_timer(self);
      },
  };
}

}  // namespace

writer_actor spawn_writer(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(writer_behavior, link);
}

}  // namespace txengine::persistence
