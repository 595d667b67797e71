#include "actors/wallet_actor.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <unordered_map>

#include "ports/clock.hpp"
#include "core/check.hpp"
#include "core/limits.hpp"
#include "core/movement_history.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

//! The shard's interface (ports/actor_interfaces.hpp) and its timer.
using shard_impl = wallet_shard_actor::extend<caf::reacts_to<idle_atom>>;
using shard_pointer = shard_impl::pointer;

struct wallet_slot {
  wallet_core core;
  int64_t last_activity_ms;
};

//! The shard's wallets by id. Open addressing with linear probing over {id, slot} pairs: a
//! lookup costs one cache miss for its entry (the id sits next to the pointer) and one for the
//! wallet, where std::unordered_map costs three (bucket, the node before, the node) and a
//! division. Looking up every step's wallet dominated a shard's time with 50k wallets or more;
//! prefetch() lets the step loop start those misses a few steps ahead. Wallets live in their
//! own allocations, so a wallet_slot* stays valid until its wallet is erased.
class wallet_index {
 public:
  explicit wallet_index(size_t expected) { rebuild(expected); }

  wallet_slot* find(wallet_id id) const {
    if (id == no_wallet) return nullptr;
    for (size_t at = home(id);; at = (at + 1) & mask_) {
      const entry& e = entries_[at];
      if (e.id == id) return e.slot.get();
      if (e.id == no_wallet) return nullptr;
    }
  }

  //! The wallet with this id, inserted from `slot` if absent.
  wallet_slot* insert(wallet_id id, wallet_slot&& slot) {
    TX_CHECK(id != no_wallet);
    if (wallet_slot* found = find(id)) return found;
    if ((size_ + 1) * 2 > entries_.size()) rebuild((size_ + 1) * 2);
    size_t at = home(id);
    while (entries_[at].id != no_wallet) at = (at + 1) & mask_;
    entries_[at].id = id;
    entries_[at].slot = std::make_unique<wallet_slot>(std::move(slot));
    ++size_;
    return entries_[at].slot.get();
  }

  //! Starts loading the entry of `id` into the cache (no effect on the contents).
  void prefetch_entry(wallet_id id) const { __builtin_prefetch(&entries_[home(id)]); }
  //! Starts loading the wallet of `id` itself, when its entry is found (best after prefetch_entry).
  void prefetch_wallet(wallet_id id) const {
    if (const wallet_slot* slot = find(id)) {
      // Every cache line the slot touches: a slot need not start on a line boundary.
      auto first = reinterpret_cast<uintptr_t>(slot) & ~uintptr_t{63};
      auto last = reinterpret_cast<uintptr_t>(slot) + sizeof(wallet_slot) - 1;
      for (uintptr_t line = first; line <= last; line += 64) __builtin_prefetch(reinterpret_cast<const void*>(line));
    }
  }

  size_t size() const { return size_; }

  template <class F>
  void for_each(F&& f) const {
    for (const entry& e : entries_)
      if (e.id != no_wallet) f(e.id, *e.slot);
  }

  //! Erases every wallet for which `take(id, slot)` returns true (it may move the slot's content out).
  template <class F>
  void erase_if(F&& take) {
    size_t erased = 0;
    for (entry& e : entries_)
      if (e.id != no_wallet && take(e.id, *e.slot)) {
        e.slot.reset();
        ++erased;
      }
    if (erased == 0) return;
    // Rebuilt without them: linear probing cannot simply clear an entry in a probe chain.
    size_ -= erased;
    rebuild(std::max(size_ * 2, initial_entries_));
  }

 private:
  struct entry {
    wallet_id id = no_wallet;
    std::unique_ptr<wallet_slot> slot;
  };

  size_t home(wallet_id id) const { return static_cast<size_t>((id * 0x9E3779B97F4A7C15ull) >> shift_); }

  //! Room for at least `wanted` entries at most half full; keeps the live ones.
  void rebuild(size_t wanted) {
    size_t capacity = 8;
    unsigned bits = 3;
    while (capacity < wanted * 2) {
      capacity *= 2;
      ++bits;
    }
    if (initial_entries_ == 0) initial_entries_ = capacity / 2;
    std::vector<entry> old(capacity);
    old.swap(entries_);
    mask_ = capacity - 1;
    shift_ = 64 - bits;
    for (entry& e : old) {
      if (e.id == no_wallet || !e.slot) continue;
      size_t at = home(e.id);
      while (entries_[at].id != no_wallet) at = (at + 1) & mask_;
      entries_[at] = std::move(e);
    }
  }

  std::vector<entry> entries_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t initial_entries_ = 0;  //!< what the shard expected: never shrunk below it
};

//! Storage mode: what waits for a wallet being loaded from MySQL.
struct pending_load {
  std::vector<std::pair<order_host_actor, leg_step>> steps;
  //! Queries: called with the wallet (nullptr when unknown) and whether MySQL failed.
  std::vector<std::function<void(wallet_slot*, bool)>> waiters;
};

struct shard_state {
  wallet_directory* directory = nullptr;
  wallet_actor_config config;
  clock_port* clock = nullptr;
  wallet_index wallets{0};
  storage_link* storage = nullptr;
  std::unordered_map<wallet_id, pending_load> loading;
  write_batch effects;  //!< storage mode: the effects of the message being handled
  size_t history_reads = 0;  //!< ListMovements pages being read from MySQL
  static inline const char* name = "wallet_shard";

  //! The wallet, activated if dormant; nullptr for an unknown wallet.
  wallet_slot* find(wallet_id id, int64_t now) {
    wallet_slot* found = wallets.find(id);
    if (found == nullptr) {
      auto core = directory->activate(id);
      if (!core) return nullptr;
      found = wallets.insert(id, wallet_slot{std::move(*core), now});
    }
    found->last_activity_ms = now;
    return found;
  }

  //! Storage mode: a wallet not in memory is loaded from MySQL. Returns the entry its
  //! waiters go to, or nullptr when too many loads are pending (the caller drops the request).
  pending_load* start_load(shard_pointer self, wallet_id id) {
    auto found = loading.find(id);
    if (found != loading.end()) return &found->second;
    if (loading.size() >= storage->config.loads_pending_max) return nullptr;
    self->send(storage->loader, load_atom::value, id);
    return &loading[id];
  }

  //! Applies one step and records its effects (storage mode); `wallet` nullptr = unknown wallet.
  void apply_step(const leg_step& step, wallet_slot* wallet, int64_t now, std::vector<leg_result>& results) {
    if (wallet == nullptr) {
      // Nothing was ever tried on a wallet that does not exist: its cancel succeeds, so
      // the order's compensation completes.
      result_code code = step.command.phase == tcc_phase::cancel ? result_code::ok : result_code::unknown_wallet;
      results.push_back({step.command.txn, step.leg, step.command.phase, code, 0, {}});
      return;
    }
    uint64_t sequence_before = wallet->core.journal_sequence();
    leg_outcome outcome = wallet->core.apply(step.command, now);
    if (storage != nullptr) record_effects(*wallet, step.command.txn, sequence_before, outcome, now);
    uint64_t made = wallet->core.journal_sequence() != sequence_before ? wallet->core.journal_sequence() : 0;
    results.push_back(
        {step.command.txn, step.leg, step.command.phase, outcome.code, wallet->core.info().tenant, outcome.after, made});
  }

  void record_effects(const wallet_slot& wallet, order_id txn, uint64_t sequence_before, const leg_outcome& outcome,
                      int64_t now) {
    const wallet_core& core = wallet.core;
    if (core.journal_sequence() != sequence_before) {
      TX_CHECK(core.journal_sequence() == sequence_before + 1 && !core.journal().empty());
      // The movement carries the wallet's resulting balances and version: the writer derives
      // the wallet row's checkpoint from it (no wallet row per movement).
      effects.movements.push_back({core.info().id, core.journal().back()});
    }
    if (!outcome.repeated)
      if (const tcc_record* record = core.find_record(txn)) effects.tcc.push_back({core.info().id, txn, *record, now});
  }

  //! Storage mode: hands the effects to the writer, before the order host hears the results
  //! (so whatever the host sends the writer next comes after them).
  void send_effects(shard_pointer self) {
    if (storage == nullptr || effects.empty()) return;
    storage->rows_queued.fetch_add(static_cast<int64_t>(effects.rows()));
    self->send(storage->writer, persist_atom::value, std::move(effects));
    effects = write_batch();
  }

  //! A wallet stored in MySQL arrived: activate it, then run what waited for it.
  void on_loaded(shard_pointer self, wallet_id id, loaded_wallet& loaded) {
    auto node = loading.extract(id);
    if (node.empty()) return;
    pending_load& pending = node.mapped();
    int64_t now = clock->now_ms();
    wallet_slot* wallet = nullptr;
    if (loaded.found) {
      std::vector<std::pair<order_id, tcc_record>> records;
      records.reserve(loaded.records.size());
      for (const auto& t : loaded.records) records.emplace_back(t.order, t.record);
      const wallet_row& row = loaded.row;
      directory->adopt(id, row.info.tenant);
      wallet = wallets.insert(
          id, wallet_slot{wallet_core::restore(row.info, config.core, row.current, row.version, records, now), now});
    }
    std::vector<std::pair<order_host_actor, std::vector<leg_result>>> replies;
    if (!loaded.failed) {
      for (const auto& [sender, step] : pending.steps) {
        auto slot = std::find_if(replies.begin(), replies.end(), [&](const auto& r) { return r.first == sender; });
        if (slot == replies.end()) slot = replies.emplace(replies.end(), sender, std::vector<leg_result>{});
        apply_step(step, wallet, now, slot->second);
      }
    }
    send_effects(self);
    for (auto& [sender, results] : replies) self->send(sender, step_ack_atom::value, std::move(results));
    for (auto& waiter : pending.waiters) waiter(wallet, loaded.failed);
  }

  void passivate_idle(int64_t now) {
    wallets.erase_if([&](wallet_id id, wallet_slot& slot) {
      if (slot.core.open_transactions() != 0 || now - slot.last_activity_ms < config.idle_ms) return false;
      directory->passivate(id, std::move(slot.core));
      return true;
    });
  }
};

using shard_actor = shard_impl::stateful_base<shard_state>;

wallet_view unknown_wallet_view() {
  wallet_view view;
  view.code = result_code::unknown_wallet;
  return view;
}

wallet_view unavailable_view() {
  wallet_view view;
  view.code = result_code::unavailable;
  return view;
}

//! Answers a query about one wallet now, or (storage mode) once the wallet is loaded.
template <class T, class F>
caf::result<T> with_wallet(shard_actor* self, wallet_id id, T unknown, T unavailable, F answer) {
  auto& st = self->state;
  wallet_slot* wallet = st.find(id, self->state.clock->now_ms());
  if (wallet != nullptr) return answer(*wallet);
  if (st.storage == nullptr || id == no_wallet) return unknown;
  pending_load* pending = st.start_load(self, id);
  if (pending == nullptr) return unavailable;
  auto promise = self->make_response_promise<T>();
  pending->waiters.push_back([promise, unknown, unavailable, answer](wallet_slot* w, bool failed) mutable {
    if (failed) promise.deliver(unavailable);
    else if (w == nullptr) promise.deliver(unknown);
    else promise.deliver(answer(*w));
  });
  return promise;
}

using movements_promise = caf::typed_response_promise<result_code, std::vector<journal_entry>>;

//! ListMovements of a wallet in memory: from its journal in memory, or (storage) from MySQL
//! for the entries older than it (folded into the base, or made before the wallet was loaded),
//! joined with those in memory. Reads pending per shard are bounded (past: `unavailable`).
void answer_movements(shard_actor* self, wallet_slot& wallet, tenant_id tenant, uint64_t from_sequence,
                      uint32_t limit, movements_promise promise) {
  auto& st = self->state;
  const wallet_core& core = wallet.core;
  if (tenant != core.info().tenant) {
    // Another tenant's wallet is answered as if it did not exist (DESIGN.md, "Tenants").
    promise.deliver(result_code::unknown_wallet, std::vector<journal_entry>{});
    return;
  }
  uint64_t first = first_in_memory(core.journal(), core.journal_sequence());
  if (st.storage == nullptr || from_sequence >= first || first <= 1 || limit == 0) {
    promise.deliver(result_code::ok, join_page({}, core.journal(), from_sequence, limit));
    return;
  }
  if (st.history_reads >= limits::wallet_history_reads_pending_max) {
    promise.deliver(result_code::unavailable, std::vector<journal_entry>{});
    return;
  }
  ++st.history_reads;
  wallet_id id = core.info().id;
  history_page_request request{id, from_sequence, first, limit};
  self->request(st.storage->order_loader, caf::infinite, history_atom::value, request)
      .then(
          [self, id, from_sequence, limit, promise](history_page& page) mutable {
            auto& st = self->state;
            --st.history_reads;
            if (page.failed) {
              promise.deliver(result_code::unavailable, std::vector<journal_entry>{});
              return;
            }
            // The wallet may have been passivated meanwhile: then the stored page alone.
            const wallet_slot* now = st.wallets.find(id);
            static const fifo_vector<journal_entry> none;
            promise.deliver(result_code::ok,
                            join_page(std::move(page.entries), now ? now->core.journal() : none, from_sequence, limit));
          },
          [self, promise](caf::error&) mutable {
            --self->state.history_reads;
            promise.deliver(result_code::unavailable, std::vector<journal_entry>{});
          });
}

shard_impl::behavior_type shard_behavior(shard_actor* self, wallet_directory* directory, wallet_actor_config config) {
  self->state.directory = directory;
  self->state.config = config;
  self->state.clock = &clock_or_wall(config.clock);
  self->state.storage = directory->storage();
  // Sized for the shard's share of a large wallet population, not more: with one shard per
  // wallet (shards = wallets) a big reservation per shard would cost gigabytes.
  self->state.wallets = wallet_index(std::max<size_t>(4, (size_t{1} << 18) / directory->shards_expected()));
  int64_t idle_check = std::max<int64_t>(config.idle_ms / 2, 1);
  self->state.clock->wake(self, self->state.clock->now_ms() + idle_check, idle_atom::value);
  return {
      [=](steps_atom, const std::vector<leg_step>& steps) {
        auto& st = self->state;
        int64_t now = self->state.clock->now_ms();
        auto sender = caf::actor_cast<order_host_actor>(self->current_sender());  // steps come from hosts
        std::vector<leg_result> results;
        results.reserve(steps.size());
        if (st.storage != nullptr) {
          // At most one movement and one TCC record per step: one allocation each, not a growth series.
          st.effects.movements.reserve(steps.size());
          st.effects.tcc.reserve(steps.size());
        }
        // The wallets' memory is fetched a few steps ahead: their entries first, then (once an
        // entry is likely cached) the wallet itself, so the misses overlap instead of queueing.
        constexpr size_t entry_ahead = 8, wallet_ahead = 4;
        for (size_t i = 0; i < std::min(entry_ahead, steps.size()); ++i) st.wallets.prefetch_entry(steps[i].wallet);
        for (size_t i = 0; i < std::min(wallet_ahead, steps.size()); ++i) st.wallets.prefetch_wallet(steps[i].wallet);
        for (size_t i = 0; i < steps.size(); ++i) {
          const leg_step& step = steps[i];
          if (i + entry_ahead < steps.size()) st.wallets.prefetch_entry(steps[i + entry_ahead].wallet);
          if (i + wallet_ahead < steps.size()) st.wallets.prefetch_wallet(steps[i + wallet_ahead].wallet);
          wallet_slot* wallet = st.find(step.wallet, now);
          if (wallet == nullptr && st.storage != nullptr && step.wallet != no_wallet) {
            // Maybe in MySQL: the step waits for the load (bounded; dropped past the bounds,
            // and its order resends it).
            pending_load* pending = st.start_load(self, step.wallet);
            if (pending != nullptr && pending->steps.size() < st.storage->config.stash_per_wallet_max)
              pending->steps.emplace_back(sender, step);
            continue;
          }
          st.apply_step(step, wallet, now, results);
        }
        st.send_effects(self);
        if (st.storage == nullptr || !results.empty())
          self->send(sender, step_ack_atom::value, std::move(results));
      },
      [=](loaded_atom, wallet_id id, loaded_wallet& loaded) { self->state.on_loaded(self, id, loaded); },
      [=](get_wallet_atom, wallet_id id, tenant_id tenant) -> caf::result<wallet_view> {
        return with_wallet<wallet_view>(self, id, unknown_wallet_view(), unavailable_view(),
                                        [tenant](wallet_slot& w) { return view_of(w.core, tenant); });
      },
      [=](audit_atom) -> std::vector<wallet_view> {
        std::vector<wallet_view> views;
        views.reserve(self->state.wallets.size());
        self->state.wallets.for_each(
            [&views](wallet_id, const wallet_slot& wallet) { views.push_back(view_of(wallet.core, wallet.core.info().tenant)); });
        return views;
      },
      [=](movements_atom, wallet_id id, tenant_id tenant, uint64_t from_sequence,
          uint32_t limit) -> caf::result<result_code, std::vector<journal_entry>> {
        auto& st = self->state;
        auto promise = self->make_response_promise<result_code, std::vector<journal_entry>>();
        wallet_slot* wallet = st.find(id, self->state.clock->now_ms());
        if (wallet != nullptr) {
          answer_movements(self, *wallet, tenant, from_sequence, limit, promise);
        } else if (st.storage == nullptr || id == no_wallet) {
          promise.deliver(result_code::unknown_wallet, std::vector<journal_entry>{});
        } else if (pending_load* pending = st.start_load(self, id); pending == nullptr) {
          promise.deliver(result_code::unavailable, std::vector<journal_entry>{});
        } else {
          pending->waiters.push_back([self, promise, tenant, from_sequence, limit](wallet_slot* w, bool failed) mutable {
            if (failed) promise.deliver(result_code::unavailable, std::vector<journal_entry>{});
            else if (w == nullptr) promise.deliver(result_code::unknown_wallet, std::vector<journal_entry>{});
            else answer_movements(self, *w, tenant, from_sequence, limit, promise);
          });
        }
        return promise;
      },
      [=](history_atom, wallet_id id, tenant_id tenant, order_id order) -> std::vector<journal_entry> {
        // An order's entries still in this wallet's journal in memory (engine without storage).
        std::vector<journal_entry> entries;
        const wallet_slot* wallet = self->state.find(id, self->state.clock->now_ms());
        if (wallet == nullptr || wallet->core.info().tenant != tenant) return entries;
        for (const auto& entry : wallet->core.journal())
          if (entry.txn == order) entries.push_back(entry);
        return entries;
      },
      [=](admin_atom, wallet_id id, admin_op op, tenant_id tenant, int64_t argument) -> caf::result<wallet_view> {
        return with_wallet<wallet_view>(
            self, id, unknown_wallet_view(), unavailable_view(), [self, op, tenant, argument](wallet_slot& w) {
              auto& core = w.core;
              result_code code = result_code::invalid_argument;
              switch (op) {
                case admin_op::freeze: code = core.freeze(tenant); break;
                case admin_op::unfreeze: code = core.unfreeze(tenant); break;
                case admin_op::close: code = core.close(tenant); break;
                case admin_op::set_overdraft_limit: code = core.set_overdraft_limit(tenant, argument); break;
              }
              if (code == result_code::ok && self->state.storage != nullptr) {
                // Status and limit are part of the wallet's row.
                self->state.effects.wallets.push_back({core.info(), core.current(), core.journal_sequence(),
                                                       self->state.clock->now_ms(), {}, 0});
                self->state.send_effects(self);
              }
              wallet_view view = view_of(core, tenant);
              if (view.code == result_code::ok) view.code = code;
              return view;
            });
      },
      [=](idle_atom) {
        int64_t now = self->state.clock->now_ms();
        self->state.passivate_idle(now);
        self->state.clock->wake(self, now + idle_check, idle_atom::value);
      },
  };
}

}  // namespace

wallet_view view_of(const wallet_core& core, tenant_id tenant) {
  wallet_view view;
  if (tenant != core.info().tenant) {
    view.code = result_code::unknown_wallet;  // another tenant's wallet is answered as if it did not exist
    return view;
  }
  view.info = core.info();
  view.current = core.current();
  view.open_transactions = core.open_transactions();
  view.journal_sequence = core.journal_sequence();
  view.journal_ok = core.verify_journal();
  return view;
}

wallet_shard_actor spawn_wallet_shard(caf::actor_system& system, wallet_directory* directory,
                                      const wallet_actor_config& config) {
  return system.spawn(shard_behavior, directory, config);
}

}  // namespace txengine
