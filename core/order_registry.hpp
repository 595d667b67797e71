#pragma once
// The orders a host knows, and the decisions about them that need no actor (issue 11): running
// orders (their cores and who waits for their answer), final orders kept for idempotency and
// queries (with a payment's refund allowance), the request ids of both, and which final orders
// leave memory and when (final_retention).
//
// Decisions: is a submit new, a repeat (the same order: wait for it or answer it now), a
// conflicting repeat (duplicate_conflict), or refused for room (overloaded); what a query of an
// order by a tenant sees (another tenant's order looks unknown); what a refund's step on its
// original payment gets. The host routes and batches: it asks storage about what is not here,
// sends steps and replies, and arms timers.
//
// Plain C++, deterministic: time and the writer's commit progress are passed in. Generic over
// `Waiter`, what the host needs to answer a client (an actor handle there, a number in tests).
// Running orders are an std::unordered_map the host iterates by iterator: a step's answer finds
// its order with one lookup, and finishing it erases by that iterator.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/final_retention.hpp"
#include "core/order_command.hpp"
#include "core/order_core.hpp"
#include "core/refund_allowance.hpp"
#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {

//! What stays of an order once final: enough to answer repeats and queries, and the
//! refundable amount of a payment.
struct final_order {
  order_command command;
  order_state state = order_state::failed;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::vector<wallet_balance> wallets;
  std::unique_ptr<refund_allowance> allowance;
  //! Storage: the host's writer batch holding the final row (0: nothing to wait for). A durable
  //! ack waits for it; eviction waits for it (a lookup in storage must find what left memory).
  uint64_t commit_seq = 0;
  //! Read back from storage (a request id repeated after a restart): refunds made before the
  //! restart are not known here, so its allowance is loaded before any refund step.
  bool refunds_unknown = false;
};

//! The idempotency key: a tenant's request id (the same string of two tenants is two keys).
std::string request_key(tenant_id tenant, const std::string& request_id);

//! The balances an order's reply may show: only of wallets of the order's tenant that accepted
//! a step (never of an unknown wallet or another tenant's: DESIGN.md, "Tenants").
std::vector<wallet_balance> wallets_of(const order_core& core);

//! The final record of a final order's core.
final_order final_record_of(const order_core& core, uint64_t commit_seq);

//! Rebuilds a succeeded payment's refund allowance from its stored refunds into `record`
//! (nothing for any other order) and marks its refunds known. Returns the stored refunds that
//! do not fit (corrupt data, for the caller to report).
std::vector<stored_refund_state> restore_allowance(final_order& record, const std::vector<stored_refund_state>& refunds);

//! What the registry says about a submit or a repeated request id.
enum class admission : uint8_t {
  fresh,     //!< the request id is unknown here: a new order (storage may know it: the host asks)
  running,   //!< a repeat of a running order with the same content: it answers when final
  final,     //!< a repeat of a final order with the same content: its answer now
  conflict,  //!< the request id is the tenant's for an order with other content: duplicate_conflict
  refused,   //!< the command is invalid: `code` says why
};

//! What a tenant sees of an order id.
enum class visibility : uint8_t {
  absent,  //!< not in memory (storage may hold it)
  hidden,  //!< another tenant's order: answered exactly as an unknown one, without asking storage
  running,
  final,
};

template <class Waiter>
class order_registry {
 public:
  struct live_order {
    order_core core;
    std::vector<Waiter> waiters;           //!< who hears the final answer
    int64_t armed_ms = timer_never;        //!< the host's timer armed for it (stale ones skipped)
    //! Storage: the writer batch that holds the order's latest decision row (0: only its intent).
    uint64_t decided_seq = 0;
    //! Legs whose steps to another cluster node wait for decided_seq's commit (bit per leg).
    uint32_t held_legs = 0;
    //! Its first submit to a provider it was re-routed to waits for decided_seq's commit.
    bool held_submit = false;
  };
  static constexpr int64_t timer_never = INT64_MAX;
  using live_map = std::unordered_map<order_id, live_order>;
  using live_iterator = typename live_map::iterator;

  struct verdict {
    admission is = admission::fresh;
    result_code code = result_code::ok;  //!< refused: why
    order_id id = 0;                     //!< running, final, conflict: the order of the request id
    live_order* live = nullptr;          //!< running
    final_order* record = nullptr;       //!< final
  };

  struct lookup {
    visibility is = visibility::absent;
    live_iterator live;             //!< running
    final_order* record = nullptr;  //!< final
  };

  struct refund_answer {
    result_code code = result_code::ok;
    //! The original payment when final and refundable by this step's tenant (its allowance
    //! exists): its payer and merchant are the refund's wallets.
    const final_order* original = nullptr;
  };

  //! `in_flight_max`: running orders at most (past it new ones are overloaded);
  //! `retained_max`, `retention_ms`: final orders kept (final_retention).
  order_registry(size_t in_flight_max, size_t retained_max, int64_t retention_ms)
      : in_flight_max_(in_flight_max), retained_max_(retained_max), retention_(retention_ms, retained_max) {
    // Growing these maps rehashes every entry at once (a latency spike of tens of ms at a few
    // hundred thousand orders): start them large enough for a benchmark-sized run.
    live_.reserve(1 << 14);
    final_.reserve(1 << 18);
    requests_.reserve(1 << 18);
  }

  // --- Submits --------------------------------------------------------------------------

  //! A submit: refused if invalid, else what its request id `key` (request_key) is here.
  verdict admit(const std::string& key, const order_command& command) {
    result_code code = validate(command);
    if (code != result_code::ok) return {admission::refused, code, 0, nullptr, nullptr};
    auto found = requests_.find(key);
    if (found == requests_.end()) return {};
    return repeat(found->second, command);
  }

  //! A repeat of the request id of order `id` (known here) with `command`.
  verdict repeat(order_id id, const order_command& command) {
    if (auto running = live_.find(id); running != live_.end()) {
      if (!running->second.core.command().same_content(command)) return {admission::conflict, result_code::duplicate_conflict, id, nullptr, nullptr};
      return {admission::running, result_code::ok, id, &running->second, nullptr};
    }
    auto found = final_.find(id);
    TX_CHECK(found != final_.end());
    if (!found->second.command.same_content(command)) return {admission::conflict, result_code::duplicate_conflict, id, nullptr, nullptr};
    return {admission::final, result_code::ok, id, nullptr, &found->second};
  }

  //! The order of a request id, or 0.
  order_id order_of(const std::string& key) const {
    auto found = requests_.find(key);
    return found == requests_.end() ? 0 : found->second;
  }

  //! Room for one more order: ok, or overloaded past the running bound, or past the retained
  //! bound while the oldest final orders cannot leave yet (their rows not committed: the writer
  //! is behind). Evicts first when past the retained bound.
  result_code room_for_new(int64_t now_ms) {
    if (live_.size() >= in_flight_max_) return result_code::overloaded;
    if (final_.size() > retained_max_) {
      evict(now_ms);
      if (final_.size() > retained_max_) return result_code::overloaded;
    }
    return result_code::ok;
  }

  //! A new order (admitted, with room), built in place, `first` waiting for its answer; its
  //! request id `key` now names it.
  live_iterator add_new(std::string key, order_id id, order_command command, wallet_id system_wallet,
                        const order_config& config, int64_t now_ms, Waiter first) {
    requests_.emplace(std::move(key), id);
    auto [it, inserted] = live_.emplace(
        id, live_order{order_core(id, std::move(command), system_wallet, config, now_ms), {std::move(first)}, timer_never});
    TX_CHECK(inserted);
    return it;
  }

  //! A running order rebuilt elsewhere (recovery), its request id `key` now naming it.
  live_iterator add_live(std::string key, order_core core, std::vector<Waiter> waiters = {}) {
    order_id id = core.id();
    requests_.emplace(std::move(key), id);
    auto [it, inserted] = live_.emplace(id, live_order{std::move(core), std::move(waiters), timer_never});
    TX_CHECK(inserted);
    return it;
  }

  // --- Lookups --------------------------------------------------------------------------

  live_iterator find_live(order_id id) { return live_.find(id); }
  live_iterator live_end() { return live_.end(); }
  //! The running orders' ids (a rare full pass: a cluster node's routes changed).
  std::vector<order_id> live_ids() const {
    std::vector<order_id> ids;
    ids.reserve(live_.size());
    for (const auto& entry : live_) ids.push_back(entry.first);
    return ids;
  }
  final_order* find_final(order_id id) {
    auto found = final_.find(id);
    return found == final_.end() ? nullptr : &found->second;
  }
  //! In memory, running or final.
  bool knows(order_id id) const { return live_.count(id) != 0 || final_.count(id) != 0; }

  //! Order `id` as `tenant` may see it.
  lookup find(tenant_id tenant, order_id id) {
    lookup result;
    if (auto running = live_.find(id); running != live_.end()) {
      result.is = running->second.core.command().tenant == tenant ? visibility::running : visibility::hidden;
      result.live = running;
      return result;
    }
    if (auto found = final_.find(id); found != final_.end()) {
      result.is = found->second.command.tenant == tenant ? visibility::final : visibility::hidden;
      if (result.is == visibility::final) result.record = &found->second;
    }
    return result;
  }

  // --- Final orders ---------------------------------------------------------------------

  //! A running order became final (its core says so): it moves to the final orders and starts
  //! its idempotency window at `now_ms`. `commit_seq`: the writer batch holding its final row
  //! (0: none). Its waiters are the caller's to take first.
  final_order& finish(live_iterator it, int64_t now_ms, uint64_t commit_seq) {
    TX_CHECK(is_final(it->second.core.state()));
    order_id id = it->first;
    auto [record, inserted] = final_.emplace(id, final_record_of(it->second.core, commit_seq));
    TX_CHECK(inserted);
    retention_.add(id, now_ms);
    live_.erase(it);
    return record->second;
  }

  //! A final order read back from storage by its request id `key` (repeated after it left
  //! memory, or after a restart): kept like one that finished here, its refunds unknown until
  //! its allowance is loaded. An order already here stays as it is.
  final_order& read_back(std::string key, order_id id, final_order record, int64_t now_ms) {
    auto [found, inserted] = final_.emplace(id, std::move(record));
    if (inserted) {
      found->second.refunds_unknown = true;
      retention_.add(id, now_ms);
    }
    requests_.emplace(std::move(key), id);
    return found->second;
  }

  //! A final order read from storage by its id (the original payment of a refund), with its
  //! stored refunds: its allowance rebuilt (restore_allowance), whether it was here or not.
  //! Returns the refunds that do not fit.
  std::vector<stored_refund_state> adopt(order_id id, final_order record, const std::vector<stored_refund_state>& refunds,
                                         int64_t now_ms) {
    auto [found, inserted] = final_.emplace(id, std::move(record));
    if (inserted) retention_.add(id, now_ms);
    return restore_allowance(found->second, refunds);
  }

  //! A refund's step on its original payment `original` (apply_refund_step), as `tenant` sees it.
  refund_answer apply_refund(tenant_id tenant, order_id original, order_id refund, tcc_phase phase, currency cur,
                             int64_t amount) {
    refund_original view;
    final_order* record = nullptr;
    if (auto found = final_.find(original); found != final_.end() && found->second.command.tenant == tenant) {
      record = &found->second;
      view = {refund_original::presence::final, record->command.kind, record->state, record->command.cur,
              record->posted_amount};
    } else if (auto running = live_.find(original);
               running != live_.end() && running->second.core.command().tenant == tenant) {
      view.is = refund_original::presence::running;
    }
    std::unique_ptr<refund_allowance> none;
    auto& allowance = record != nullptr ? record->allowance : none;
    refund_answer answer;
    answer.code = apply_refund_step(view, allowance, refund, phase, cur, amount);
    if (record != nullptr && allowance) answer.original = record;
    return answer;
  }

  // --- Retention ------------------------------------------------------------------------

  //! The writer committed the host's batches up to `seq`: final orders up to it may leave.
  void committed(uint64_t seq) { committed_seq_ = std::max(committed_seq_, seq); }
  uint64_t committed_seq() const { return committed_seq_; }

  //! Final orders past the idempotency window or the retained maximum leave memory, oldest
  //! first (final_retention), with their request ids. One stays while its final row is not
  //! committed (a lookup in storage must find it) or while a refund holds part of it reserved.
  //! Returns how many left.
  size_t evict(int64_t now_ms) {
    size_t evicted = retention_.expire(now_ms, final_.size(), [&](order_id id) {
      auto found = final_.find(id);
      if (found == final_.end()) return eviction::gone;
      final_order& record = found->second;
      if (record.commit_seq > committed_seq_) return eviction::not_yet;
      if (record.allowance && record.allowance->reserved() > 0) return eviction::pinned;
      if (auto request = requests_.find(request_key(record.command.tenant, record.command.request_id));
          request != requests_.end() && request->second == id)
        requests_.erase(request);
      final_.erase(found);
      return eviction::evict;
    });
    evicted_ += evicted;
    return evicted;
  }

  // --- Counts ---------------------------------------------------------------------------

  size_t running() const { return live_.size(); }
  size_t finals() const { return final_.size(); }
  size_t request_ids() const { return requests_.size(); }
  //! Final orders that left memory so far.
  uint64_t evicted() const { return evicted_; }

 private:
  size_t in_flight_max_;
  size_t retained_max_;
  live_map live_;
  std::unordered_map<order_id, final_order> final_;
  std::unordered_map<std::string, order_id> requests_;
  final_retention retention_;
  uint64_t committed_seq_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace txengine
