#include "actors/order_host.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "ports/actor_handles.hpp"
#include "ports/clock.hpp"
#include "core/check.hpp"
#include "core/limits.hpp"
#include "core/order_id_generator.hpp"
#include "core/order_registry.hpp"
#include "core/routing.hpp"
#include "core/test_hooks.hpp"
#include "core/timer_queue.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

//! The host's interface (ports/actor_interfaces.hpp) and the messages it sends itself.
using host_impl = order_host_actor::extend<caf::reacts_to<tick_atom>, caf::reacts_to<flush_atom>>;

constexpr int64_t never = timer_queue<order_id>::never;

struct waiter {
  caf::actor client;
  uint64_t client_tag;
};

//! The host's orders (core/order_registry.hpp): running ones with their waiters, final ones,
//! request ids, retention, and the decisions about them (repeat, conflict, room, visibility).
using registry = order_registry<waiter>;
using live_order = registry::live_order;
using live_iterator = registry::live_iterator;
static_assert(registry::timer_never == never);

//! Storage, durable ack: what waits for the writer to commit a batch of this host.
struct durable_wait {
  uint64_t seq = 0;
  order_id start = 0;  //!< an order whose intent row is in the batch: it starts then
  caf::actor client;   //!< otherwise a reply to send then
  order_reply reply;
  order_id steps_of = 0;  //!< or an order whose steps to other nodes wait for its decision row
};

class host_state {
 public:
  static inline const char* name = "order_host";

  void init(host_impl::pointer self, order_host_config config, wallet_directory* directory) {
    self_ = self;
    config_ = config;
    clock_ = &clock_or_wall(config.clock);
    directory_ = directory;
    ids_.emplace(config.node_id, config.lane);
    storage_ = config.storage;
    orders_.emplace(config.orders_in_flight_max, config.orders_retained_max, config.order.final_retention_ms);
    // Recovery runs only on a database that held orders at start; until it has handed every
    // non-final order over, a request id found in MySQL for one of them waits for it here.
    recovery_done_ = storage_ == nullptr || storage_->orders_at_start == 0;
    step_outbox_.resize(directory->route_slots());
    fence_outbox_.resize(directory->route_slots() - directory->shards().size());
    routes_version_ = directory->routes_version();
  }

  void set_peers(host_peers& peers) {
    hosts_ = std::move(peers.hosts);
    for (auto& [id, channel] : peers.channels) channels_[id] = std::move(channel);
  }

  //! `forwarded`: another node's host sent them on (they are never forwarded again).
  void submit(const caf::actor& client, std::vector<submit_item>& items, bool forwarded = false) {
    int64_t now = clock_->now_ms();
    if (forwarded) stats_.forwarded_in += items.size();
    for (auto& item : items) submit_one(client, item, now, forwarded);
    after_input(now);
  }

  //! Answers of other nodes' hosts to the submits this host forwarded: each goes to its client.
  void on_forwarded_replies(std::vector<order_reply>& replies) {
    for (auto& reply : replies) {
      auto found = relays_.find(reply.client_tag);
      if (found == relays_.end()) {  // answered already (it was sent again after a route change)
        ++stats_.forward_replies_stale;
        continue;
      }
      ++stats_.forward_replies;
      reply.client_tag = found->second.item.client_tag;
      reply_outbox_[found->second.client].push_back(std::move(reply));
      relays_.erase(found);
    }
    after_input(clock_->now_ms());
  }

  void on_step_acks(const std::vector<leg_result>& results) {
    int64_t now = clock_->now_ms();
    for (const auto& r : results) {
      auto found = orders_->find_live(r.txn);
      if (found == orders_->live_end()) continue;  // a repeat answer for an order already final
      actions_.clear();
      found->second.core.on_step_reply(r.leg, r.phase, r.code, r.tenant, r.after, now, actions_, r.sequence);
      run(found, now);
    }
    after_input(now);
  }

  void on_channel_acks(const std::vector<channel_response>& responses) {
    int64_t now = clock_->now_ms();
    for (const auto& r : responses) {
      auto found = orders_->find_live(r.order);
      if (found == orders_->live_end()) continue;
      order_core& core = found->second.core;
      actions_.clear();
      if (r.channel != 0 && r.channel != core.channel()) {
        // A provider the order left after its refusal (a late answer, a query in flight).
        core.on_earlier_channel(r.outcome, actions_);
        run(found, now);
        continue;
      }
      channel_id next = 0;
      if (r.outcome == channel_outcome::declined && (r.nothing_moved || r.busy)) next = next_provider(core);
      core.on_channel(r.outcome, r.settled_amount, now, actions_,
                      r.busy ? result_code::channel_busy : result_code::channel_declined, next);
      run(found, now);
    }
    after_input(now);
  }

  void on_allowance_ack(const allowance_result& r) {
    int64_t now = clock_->now_ms();
    auto found = orders_->find_live(r.refund);
    if (found != orders_->live_end()) {
      actions_.clear();
      if (r.phase == tcc_phase::try_ && r.code == result_code::ok)
        found->second.core.on_refund_origin({r.payer, r.merchant}, now, actions_);
      else
        found->second.core.on_step_reply(0, r.phase, r.code, 0, {}, now, actions_);
      run(found, now);
    }
    after_input(now);
  }

  //! This host owns the original payment of a refund: its refundable amount is the participant.
  //! Storage: an original not in memory (final before a restart) is loaded from MySQL with its
  //! refunds first; the step is answered then (std::nullopt now).
  std::optional<allowance_result> on_allowance_step(const caf::actor& sender, const allowance_step& step) {
    const final_order* found = orders_->find_final(step.original);
    if (may_be_stored() && (found != nullptr ? found->refunds_unknown : !orders_->knows(step.original))) {
      allowance_result busy{step.refund, step.phase, result_code::unavailable, no_wallet, no_wallet};
      auto pending = loading_originals_.find(step.original);
      if (pending == loading_originals_.end()) {
        if (loading_originals_.size() >= originals_pending_max) return busy;  // retryable: the refund resends
        if (querying_.count(step.original) == 0) origin_outbox_.push_back(step.original);
        pending = loading_originals_.emplace(step.original, std::vector<std::pair<caf::actor, allowance_step>>{}).first;
        after_input(clock_->now_ms());
      }
      if (pending->second.size() >= steps_per_original_max) return busy;
      pending->second.emplace_back(sender, step);
      return std::nullopt;
    }
    return apply_allowance_step(step);
  }

  //! MySQL's answers about originals this host did not know: each becomes a final order with
  //! its refund allowance rebuilt from the stored refunds, then the waiting steps are answered.
  void on_originals(std::vector<loaded_original>& loaded) {
    for (auto& original : loaded) {
      answer_queries(original);
      auto node = loading_originals_.extract(original.id);
      if (node.empty()) continue;
      if (!original.failed && original.found && is_final(original.state) && allowance_is_here(original.command))
        adopt_original(original);
      for (auto& [sender, step] : node.mapped()) {
        allowance_result result{step.refund, step.phase, result_code::ok, no_wallet, no_wallet};
        // Another tenant's order is answered as one that does not exist (apply_allowance_step).
        bool visible = original.found && original.command.tenant == step.tenant;
        if (original.failed) result.code = result_code::unavailable;
        else if (visible && !is_final(original.state) && orders_->find_final(original.id) == nullptr)
          result.code = step.phase == tcc_phase::cancel ? result_code::ok : result_code::original_not_refundable;
        else result = apply_allowance_step(step);
        self_->send(caf::actor_cast<order_host_actor>(sender), allow_ack_atom::value, result);  // a host asked
      }
    }
  }

 private:
  static constexpr size_t originals_pending_max = limits::refund_originals_loading_max;
  static constexpr size_t homes_resolving_max = limits::refund_homes_resolving_max;
  static constexpr size_t queries_pending_max = limits::order_queries_loading_max;
  static constexpr size_t queries_per_order_max = limits::order_queries_per_order_max;

  struct order_query {
    tenant_id tenant;
    caf::typed_response_promise<order_reply> promise;
    bool with_movements = false;
  };

  static order_reply unknown_order_reply() {
    order_reply reply;
    reply.code = result_code::unknown_order;  // another tenant's order is not visible either
    return reply;
  }

  //! The queries waiting for an order read from MySQL get what it holds: its stored state,
  //! amounts and times, and its wallets' balances after its steps from its movements, as memory
  //! would have answered (one more read of MySQL, by the journal entries its legs name).
  void answer_queries(const loaded_original& original) {
    auto node = querying_.extract(original.id);
    if (node.empty()) return;
    for (auto& query : node.mapped()) {
      order_reply reply;
      bool stored = false;
      if (original.failed) {
        reply.code = result_code::unavailable;
      } else if (const final_order* found = orders_->find_final(original.id)) {
        // Adopted meanwhile (a refund loaded it too): memory is as good and has the balances.
        reply = found->command.tenant == query.tenant ? reply_of(original.id, *found) : unknown_order_reply();
      } else if (!original.found || original.command.tenant != query.tenant) {
        reply = unknown_order_reply();
      } else {
        reply = reply_of(original.id, stored_final(original.command, original));
        if (!is_final(original.state)) reply.finished_ms = 0;
        stored = true;
      }
      if ((query.with_movements || stored) && reply.id != 0) {
        // Its movements by the journal entries its stored legs name.
        start_history(std::move(reply), query.promise, {original.id, query.tenant, no_wallet, true, original.legs}, {},
                      query.with_movements, stored ? wallets_in(original.legs) : std::vector<wallet_id>{});
        continue;
      }
      query.promise.deliver(std::move(reply));
    }
  }
  static constexpr size_t steps_per_original_max = limits::refund_steps_per_original_max;

  void adopt_original(const loaded_original& original) {
    std::vector<stored_refund_state> refunds;
    refunds.reserve(original.refunds.size());
    for (const auto& r : original.refunds) refunds.push_back({r.id, r.state, r.amount, r.granted});
    auto misfits = orders_->adopt(original.id, stored_final(original.command, original), refunds, clock_->now_ms());
    for (const auto& refund : misfits)
      spdlog::error("refund allowance of order {}: stored refund {} ({} of {}) does not fit what is left ({})",
                    original.id, refund.id, to_string(refund.state), refund.amount,
                    orders_->find_final(original.id)->allowance->refundable());
  }

  //! Whether a payment's refund allowance may live on this node: outside a cluster always; in
  //! one only while this node holds the payment's home partition (one allowance per payment in
  //! the cluster: docs/cluster.md, "Refunds in a cluster").
  bool allowance_is_here(const order_command& original) const {
    return original.kind != order_kind::pay || directory_->holds(order_home(original));
  }

  //! The final record of an order read from storage (`command`: its own, or the repeat's,
  //! which has the same content).
  template <class Stored>
  static final_order stored_final(const order_command& command, const Stored& stored) {
    final_order record;
    record.command = command;
    record.state = stored.state;
    record.reason = stored.reason;
    record.posted_amount = stored.posted_amount;
    record.created_ms = stored.created_ms;
    record.finished_ms = stored.final_ms;
    return record;
  }

 public:
  allowance_result apply_allowance_step(const allowance_step& step) {
    allowance_result result{step.refund, step.phase, result_code::ok, no_wallet, no_wallet};
    if (const final_order* original = orders_->find_final(step.original);
        original != nullptr && original->command.tenant == step.tenant && !allowance_is_here(original->command)) {
      // A cluster node that does not hold the payment's partition never touches its allowance
      // (its owner does): this refund's home was not the payment's (docs/cluster.md).
      result.code = step.phase == tcc_phase::try_ ? result_code::unknown_order
                    : step.phase == tcc_phase::cancel ? result_code::ok
                                                      : result_code::unavailable;
      return result;
    }
    // Another tenant's order is answered exactly as one that does not exist.
    auto answer = orders_->apply_refund(step.tenant, step.original, step.refund, step.phase, step.cur, step.amount);
    result.code = answer.code;
    if (answer.original != nullptr) {
      result.payer = answer.original->command.source;
      result.merchant = answer.original->command.destination;
    }
    return result;
  }

  void on_tick() {
    tick_pending_ = false;
    int64_t now = clock_->now_ms();
    timers_.expire(now, [&](order_id id, uint64_t armed_ms) {
      auto found = orders_->find_live(id);
      if (found == orders_->live_end() || found->second.armed_ms != static_cast<int64_t>(armed_ms)) return;  // stale
      found->second.armed_ms = never;
      actions_.clear();
      found->second.core.on_timer(now, actions_);
      run(found, now);
    });
    after_input(now);
  }

  void flush() {
    flush_pending_ = false;
    if (storage_ != nullptr && !writer_outbox_.empty()) {
      // Before the steps: an order's row precedes its effects in the writer's mailbox.
      writer_outbox_.ack_seq = ++writer_seq_;
      storage_->rows_queued.fetch_add(static_cast<int64_t>(writer_outbox_.rows()));
      size_t orders = writer_outbox_.orders.size();
      self_->send(storage_->writer, persist_atom::value, std::move(writer_outbox_));
      writer_outbox_ = write_batch();
      // The next burst brings about as many rows: one allocation instead of a growth series
      // (each step of which moves every order row).
      writer_outbox_.orders.reserve(std::min<size_t>(orders, 4096));
    }
    if (storage_ != nullptr && !lookup_outbox_.empty()) {
      self_->send(storage_->loader, lookup_atom::value, std::move(lookup_outbox_));
      lookup_outbox_ = std::vector<request_lookup>();
    }
    if (storage_ != nullptr && !origin_outbox_.empty()) {
      self_->send(storage_->order_loader, origin_atom::value, std::move(origin_outbox_));
      origin_outbox_ = std::vector<order_id>();
    }
    const auto& shards = directory_->shards();
    // Only the shards this burst touched: with one shard per wallet there are 100k of them.
    for (uint32_t i : touched_shards_) {
      auto& steps = step_outbox_[i];
      size_t reserve = std::min<size_t>(steps.size(), 256);
      if (i >= shards.size()) {
        // Another cluster node's wallets: one message to its wallet gateway. Not connected (yet,
        // or any more): the steps are dropped and their orders resend them after their backoff.
        auto& fences = fence_outbox_[i - shards.size()];
        if (auto gateway = directory_->gateway_of_slot(i))
          self_->send(gateway, steps_atom::value, std::move(steps), std::move(fences));
        steps = std::vector<leg_step>();
        fences = std::vector<step_fence>();
        continue;
      }
      self_->send(shards[i], steps_atom::value, std::move(steps));
      steps = std::vector<leg_step>();
      if (shards.size() <= 64) steps.reserve(reserve);  // few shards: each is reused every flush
    }
    touched_shards_.clear();
    steps_pending_ = false;
    reply_outbox_.drain([&](const caf::actor& client, std::vector<order_reply> replies) {
      if (on_another_node(client, self_->system())) stats_.remote_replies += replies.size();
      self_->send(caf::actor_cast<order_client_actor>(client), replies_atom::value, std::move(replies));
    });
    channel_outbox_.drain([&](const channel_actor& channel, std::vector<channel_request> requests) {
      self_->send(channel, channel_atom::value, std::move(requests));
    });
    forward_outbox_.drain([&](const wallet_gateway_actor& gateway, std::vector<submit_item> items) {
      self_->send(gateway, forward_atom::value, std::move(items));
    });
  }

  //! An order of this host: from memory, else (storage: it may have left memory, or finished
  //! before a restart) from MySQL, answered once the order loader read it.
  caf::result<order_reply> get_order(tenant_id tenant, order_id id, bool with_movements = false) {
    auto found = orders_->find(tenant, id);
    if (found.is == visibility::hidden) return unknown_order_reply();
    if (found.is == visibility::running) {
      const order_core& core = found.live->second.core;
      if (!with_movements) return reply_of(core);
      auto promise = self_->make_response_promise<order_reply>();
      auto legs = core.stored(clock_->now_ms()).legs;
      start_history(reply_of(core), promise, {id, tenant, no_wallet, true, legs}, wallets_in(legs));
      return promise;
    }
    if (found.is == visibility::final) {
      const final_order& record = *found.record;
      if (!with_movements) return reply_of(id, record);
      // Its legs are not kept once final: with storage they are read from its row, without it
      // the wallets' journals in memory are searched for its entries.
      auto promise = self_->make_response_promise<order_reply>();
      std::vector<wallet_id> wallets;
      for (const auto& w : record.wallets) wallets.push_back(w.wallet);
      start_history(reply_of(id, record), promise, {id, tenant, order_home(record.command), false, {}}, wallets);
      return promise;
    }
    // Another cluster node's order (asked here while that node is gone) is in MySQL if anywhere.
    if (!may_be_stored() && (storage_ == nullptr || order_id_generator::node_of(id) == config_.node_id))
      return unknown_order_reply();
    auto pending = querying_.find(id);
    if (pending == querying_.end()) {
      if (querying_.size() >= queries_pending_max) {
        order_reply busy;
        busy.code = result_code::unavailable;  // retryable: too many orders being read at once
        return busy;
      }
      if (loading_originals_.count(id) == 0) origin_outbox_.push_back(id);
      pending = querying_.emplace(id, std::vector<order_query>{}).first;
      after_input(clock_->now_ms());
    }
    if (pending->second.size() >= queries_per_order_max) {
      order_reply busy;
      busy.code = result_code::unavailable;
      return busy;
    }
    auto promise = self_->make_response_promise<order_reply>();
    pending->second.push_back({tenant, promise, with_movements});
    return promise;
  }

  static std::vector<wallet_id> wallets_in(const std::vector<stored_leg>& legs) {
    std::vector<wallet_id> wallets;
    for (const auto& leg : legs)
      if (leg.participant == participant_kind::wallet) wallets.push_back(leg.target);
    return wallets;
  }

  //! GetOrder with movements: `reply` goes out through `promise` once the order's movements are
  //! gathered: with storage from MySQL by the order loader (what is committed), without it from
  //! the journals in memory of `wallets` (their shards). At most order_history_pending_max at
  //! once per host; past it `unavailable` (retryable).
  //! `balances_of`: the order's wallet legs, whose balances after it the reply takes from the
  //! movements (an order read from MySQL); `keep_movements` false: the movements are only for that.
  void start_history(order_reply reply, caf::typed_response_promise<order_reply> promise,
                     order_history_request request, std::vector<wallet_id> wallets, bool keep_movements = true,
                     std::vector<wallet_id> balances_of = {}) {
    auto refuse = [](caf::typed_response_promise<order_reply>& p) {
      order_reply busy;
      busy.code = result_code::unavailable;
      p.deliver(std::move(busy));
    };
    if (history_pending_ >= limits::order_history_pending_max) return refuse(promise);
    ++history_pending_;
    if (storage_ != nullptr) {
      self_->request(storage_->order_loader, caf::infinite, history_atom::value, std::move(request))
          .then(
              [this, reply, promise, refuse, keep_movements, balances_of](order_history& found) mutable {
                --history_pending_;
                if (found.failed) return refuse(promise);
                reply.movements = std::move(found.movements);
                if (!balances_of.empty()) reply.wallets = balances_after(balances_of, reply.movements);
                if (!keep_movements) reply.movements.clear();
                promise.deliver(std::move(reply));
              },
              [this, promise, refuse](caf::error&) mutable {
                --history_pending_;
                refuse(promise);
              });
      return;
    }
    std::sort(wallets.begin(), wallets.end());
    wallets.erase(std::unique(wallets.begin(), wallets.end()), wallets.end());
    struct gather {
      order_reply reply;
      caf::typed_response_promise<order_reply> promise;
      size_t waiting = 0;
      bool failed = false;
    };
    auto g = std::make_shared<gather>(gather{std::move(reply), promise, wallets.size(), false});
    auto done = [this, g, refuse] {
      if (--g->waiting != 0) return;
      --history_pending_;
      if (g->failed) return refuse(g->promise);
      g->promise.deliver(std::move(g->reply));
    };
    if (wallets.empty()) {
      ++g->waiting;
      return done();
    }
    for (wallet_id w : wallets) {
      const wallet_shard_actor& shard = directory_->shards()[directory_->shard_index(w)];
      self_->request(shard, caf::infinite, history_atom::value, w, request.tenant, request.order)
          .then(
              [g, w, done](std::vector<journal_entry>& entries) {
                for (auto& e : entries) g->reply.movements.push_back({w, e});
                done();
              },
              [g, done](caf::error&) {
                g->failed = true;
                done();
              });
    }
  }

  host_stats stats() const {
    host_stats s = stats_;
    s.in_flight = orders_->running();
    s.retained = orders_->running() + orders_->finals();
    s.final_retained = orders_->finals();
    s.evicted = orders_->evicted();
    s.relays = relays_.size();
    return s;
  }

  //! One tenant's counts (its wallets are the directory's: 0 here).
  tenant_stats stats_of(tenant_id tenant) const {
    auto found = tenant_stats_.find(tenant);
    return found == tenant_stats_.end() ? tenant_stats{} : found->second;
  }

 private:
  void submit_one(const caf::actor& client, submit_item& item, int64_t now, bool forwarded = false) {
    // A refund names no wallet: a cluster node first learns its original's home (a node that
    // forwards one has learnt it already).
    // (A refund that is refused anyway, e.g. one without an original, is not looked up.)
    if (!forwarded && item.command.kind == order_kind::refund && item.command.home == no_wallet &&
        directory_->clustered() && validate(item.command) == result_code::ok)
      return resolve_home(client, item, now);
    place(client, item, now, forwarded);
  }

  //! A refund's home (docs/cluster.md, "Refunds in a cluster") is its original's: the refund then
  //! runs, is stored and fenced in the partition where the original's refund allowance lives, and
  //! a repeat of its request id goes where the first went. Known here when this host has the
  //! original in memory; else asked of the host of the original's lane on the node that created
  //! it (which has it in memory or reads MySQL), or on this node while that node is not
  //! connected. An original no node knows, another tenant's, or one that is not a payment gets
  //! no home: the refund is refused by the allowance where its rows go (partition 0's owner). An
  //! original so recent that it may not be committed yet (memory acks) is refused retryably.
  void resolve_home(const caf::actor& client, submit_item& item, int64_t now) {
    const order_command& command = item.command;
    auto known = orders_->find(command.tenant, command.original_order);
    if (known.is != visibility::absent) {  // another tenant's (hidden) gets no home
      if (known.is != visibility::hidden)
        item.command.home = refund_home_of(known.is == visibility::running ? known.live->second.core.command()
                                                                           : known.record->command);
      return place(client, item, now, false);
    }
    order_id original = command.original_order;
    tenant_id tenant = command.tenant;
    auto pending = resolving_homes_.find(original);
    if (pending != resolving_homes_.end()) {
      if (pending->second.size() >= steps_per_original_max) return refuse_submit(client, item, result_code::unavailable);
      pending->second.emplace_back(client, std::move(item));
      return;
    }
    if (resolving_homes_.size() >= homes_resolving_max) return refuse_submit(client, item, result_code::unavailable);
    resolving_homes_[original].emplace_back(client, std::move(item));
    ask_home(tenant, original);  // last: it may answer at once (and take the entry)
  }

  //! A refund of `original` gets this home: its home wallet (no_wallet unless it is a payment).
  static wallet_id refund_home_of(const order_command& original) {
    return original.kind == order_kind::pay ? order_home(original) : no_wallet;
  }

  void ask_home(tenant_id tenant, order_id original) {
    auto answered = [this, original](const order_reply& reply, bool failed) {
      auto node = resolving_homes_.extract(original);
      if (node.empty()) return;
      int64_t now = clock_->now_ms();
      bool unseen = !failed && reply.code == result_code::unknown_order;
      // Not committed yet, perhaps (memory acks): retryable while the id is young; a made-up
      // id from the future is as unknown as an old one.
      int64_t age_ms = now - order_id_generator::unix_ms_of(original);
      bool young = unseen && age_ms >= -limits::refund_original_unseen_ms && age_ms < limits::refund_original_unseen_ms;
      bool retry = failed || (reply.code != result_code::ok && !unseen) || young;
      for (auto& [client, item] : node.mapped()) {
        if (retry) {
          refuse_submit(client, item, result_code::unavailable);
          continue;
        }
        if (reply.code == result_code::ok && reply.kind == order_kind::pay)
          item.command.home = reply.source;  // a payment's home: its payer (order_home)
        place(client, item, now, false);
      }
      after_input(now);
    };
    const auto deadline = std::chrono::milliseconds(limits::query_deadline_ms);
    cluster_node node = order_id_generator::node_of(original);
    uint32_t lane = order_id_generator::lane_of(original);
    wallet_gateway_actor creator;
    if (node != config_.node_id) creator = directory_->gateway_of_node(node);
    auto on_error = [answered](caf::error&) { answered(order_reply(), true); };
    auto on_reply = [answered](order_reply& reply) { answered(reply, false); };
    if (creator) {
      self_->request(creator, deadline, get_order_atom::value, tenant, original, false).then(on_reply, on_error);
    } else if (lane < hosts_.size()) {
      self_->request(hosts_[lane], deadline, get_order_atom::value, tenant, original, false).then(on_reply, on_error);
    } else {
      order_reply none;
      none.code = result_code::unknown_order;  // no such lane: not an order of this cluster
      answered(none, false);
    }
  }

  //! A submit refused before it was placed (counted as submitted, as place() counts).
  void refuse_submit(const caf::actor& client, const submit_item& item, result_code code) {
    ++stats_.submitted;
    ++counts_of(item.command.tenant).submitted;
    refuse(client, item, code);
  }

  void place(const caf::actor& client, submit_item& item, int64_t now, bool forwarded) {
    order_command& command = item.command;
    // A cluster node runs the orders whose home wallet it holds, and sends the others on to the
    // node that does (docs/cluster.md, "Clients reach any node"). One forwarded to this node by
    // a node whose routes were stale is refused, retryably: the forwarding node sends it again
    // once its routes change.
    if (!directory_->holds(order_home(command))) {
      if (!forwarded) return forward(client, item);
      return refuse_submit(client, item, result_code::unavailable);
    }
    ++stats_.submitted;
    ++counts_of(item.command.tenant).submitted;
    std::string key = request_key(command.tenant, command.request_id);
    auto verdict = orders_->admit(key, command);
    if (verdict.is == admission::refused) return refuse(client, item, verdict.code);
    if (verdict.is != admission::fresh) return answer_repeat(client, item, verdict);
    if (may_be_stored()) {
      // After a restart, or once final orders left memory, a request id unknown here may be
      // in MySQL: look it up first.
      auto pending = looking_up_.find(key);
      if (pending == looking_up_.end()) {
        if (looking_up_.size() >= lookups_pending_max) return refuse(client, item, result_code::unavailable);
        lookup_outbox_.push_back({command.tenant, command.request_id, order_home(command)});
        pending = looking_up_.emplace(key, std::vector<std::pair<caf::actor, submit_item>>{}).first;
      }
      pending->second.emplace_back(client, std::move(item));
      return;
    }
    submit_new(client, item, std::move(key), now);
  }

 public:
  //! Answers of MySQL about request ids this host did not know.
  void on_found(std::vector<request_found>& answers) {
    int64_t now = clock_->now_ms();
    for (auto& f : answers) {
      std::string key = request_key(f.tenant, f.request_id);
      auto node = looking_up_.extract(key);
      if (node.empty()) continue;
      for (auto& [client, item] : node.mapped()) {
        if (f.failed) {
          refuse(client, item, result_code::unavailable);
        } else if (order_id known = orders_->order_of(key); known != 0) {
          repeat(client, item, known);  // the first of these created it
        } else if (!f.found) {
          submit_new(client, item, key, now);
        } else if (command_content_hash(item.command) != f.content_hash) {
          refuse(client, item, result_code::duplicate_conflict);
        } else if (!is_final(f.state)) {
          // In flight when the engine stopped: recovery hands it to this host (then the repeat
          // attaches to it); until then it waits, bounded.
          if (recovery_done_ || awaiting_recovery_count_ >= lookups_pending_max) {
            refuse(client, item, result_code::unavailable);
          } else {
            awaiting_recovery_[key].emplace_back(client, std::move(item));
            ++awaiting_recovery_count_;
          }
        } else {
          orders_->read_back(key, f.id, stored_final(item.command, f), now);
          repeat(client, item, f.id);
        }
      }
    }
    after_input(now);
  }

  //! Recovery: non-final orders read from MySQL at start, resumed here. Returns how many were.
  uint64_t recover(std::vector<recovered_order>& orders) {
    int64_t now = clock_->now_ms();
    uint64_t resumed = 0;
    for (auto& r : orders) {
      if (orders_->knows(r.id)) continue;  // handed over twice
      std::string key = request_key(r.command.tenant, r.command.request_id);
      if (order_id known = orders_->order_of(key); known != 0 && known != r.id) {
        spdlog::error("recovery: order {} not resumed: its request id belongs to order {}", r.id, known);
        continue;
      }
      std::string error;
      auto core = order_core::restore(r.id, std::move(r.command), r.row, config_.order, &error);
      if (!core) {
        spdlog::error("recovery: {} (left as it is)", error);
        continue;
      }
      auto it = orders_->add_live(key, std::move(*core));
      ++resumed;
      ++stats_.resumed;
      ++counts_of(it->second.core.command().tenant).in_flight;
      if (auto waiting = awaiting_recovery_.extract(key); !waiting.empty()) {
        awaiting_recovery_count_ -= waiting.mapped().size();
        for (auto& [client, item] : waiting.mapped()) repeat(client, item, r.id);
      }
      actions_.clear();
      it->second.core.resume(now, actions_);
      run(it, now);
    }
    after_input(now);
    return resumed;
  }

  //! Recovery handed every non-final order over: what still waits for one gets its answer.
  void on_recovery_done() {
    recovery_done_ = true;
    for (auto& [key, waiting] : awaiting_recovery_)
      for (auto& [client, item] : waiting) {
        if (order_id known = orders_->order_of(key); known != 0) repeat(client, item, known);
        else refuse(client, item, result_code::unavailable);  // its row could not be resumed
      }
    awaiting_recovery_.clear();
    awaiting_recovery_count_ = 0;
    after_input(clock_->now_ms());
  }

 private:
  static constexpr size_t lookups_pending_max = limits::request_lookups_pending_max;

  void submit_new(const caf::actor& client, submit_item& item, std::string key, int64_t now) {
    order_command& command = item.command;
    if (storage_ != nullptr && !storage_->accepting_new()) return refuse(client, item, result_code::unavailable);
    // Past the retained bound the oldest final orders leave memory; while they cannot leave yet
    // (their final rows not yet committed: the writer is behind) new orders wait, retryably.
    if (result_code room = orders_->room_for_new(now); room != result_code::ok) return refuse(client, item, room);
    wallet_id system = no_wallet;
    channel_id first = 0;
    if (command.kind == order_kind::top_up || command.kind == order_kind::withdraw) {
      if (command.channel != 0 && channels_.count(command.channel) == 0)
        return refuse(client, item, result_code::unknown_channel);
    }
    const order_id id = ids_->next(now);  // the route's draw comes from it
    if (command.kind == order_kind::top_up || command.kind == order_kind::withdraw) {
      if (command.channel == 0) {
        // The engine's routes choose (core/channel_routing.hpp); without routes, channel 1.
        if (!routed()) first = channels_.count(1) != 0 ? 1 : 0;
        else if (config_.router->match(facts_of(command)) != nullptr)
          first = config_.router->first(facts_of(command), route_draw(id), circuit_open());
        else
          return refuse(client, item, result_code::no_route);
        if (first == 0) return refuse(client, item, routed() ? result_code::channel_busy : result_code::no_route);
      }
      system = directory_->system_wallet(command.tenant, command.cur);
    }
    auto it = orders_->add_new(std::move(key), id, std::move(command), system, config_.order, now,
                               waiter{client, item.client_tag});
    if (first != 0) it->second.core.route_to(first);
    ++counts_of(it->second.core.command().tenant).in_flight;
    defer_local_tries(it->second.core);
    if (storage_ != nullptr) {
      // An order that acts where nothing orders it after its intent (a provider, or wallets of
      // another cluster node, committed by that node's writer) starts, with durable acks, only
      // once its intent is committed: its intent is never carried to a later batch. One with a
      // wallet of another node waits with memory acks too: a crash here must not leave a try
      // committed there for an order no row names (its reservation would never be released).
      const bool awaited = (storage_->durable_ack() && acts_beyond_node(it->second.core.command(), system)) ||
                           acts_on_another_node(it->second.core.command(), system);
      if (test_hooks::broken != 3) persist_order(it->second.core, now, true, awaited);  // 3: txsim --break intent
      // Write-ahead of intent. The intent goes to the writer at the next flush, before any
      // step (flush() sends the writer batch first, and a local send enqueues at once), so
      // every wallet effect of the order reaches the writer's mailbox after it and commits
      // in the same batch or a later one: an order among wallets starts now. An order with
      // a channel (top-up, withdrawal) acts outside MySQL, where nothing orders it after the
      // intent: with durable acks it starts once the intent is committed.
      if (awaited) {
        waits_.push_back({writer_seq_ + 1, id, caf::actor(), order_reply()});
        return;
      }
    }
    actions_.clear();
    it->second.core.start(now, actions_);
    run(it, now);
  }

  //! A submit whose home wallet another node holds: sent on to that node's gateway (at the
  //! next flush), with a tag of this host's; the answer comes back here and goes to the client.
  //! Nothing is recorded here: refused when no node can take it now.
  void forward(const caf::actor& client, const submit_item& item) {
    wallet_gateway_actor gateway = directory_->remote_gateway(order_home(item.command));
    if (!gateway) return refuse(client, item, result_code::unavailable);  // no node holds it, or not connected
    if (relays_.size() >= limits::forwarded_orders_max) return refuse(client, item, result_code::overloaded);
    uint64_t tag = ++relay_tag_;
    const int64_t now = clock_->now_ms();
    relays_.emplace(tag, relay{client, item, now + limits::forward_resend_ms, limits::forward_resend_ms});
    forward_outbox_[gateway].push_back(submit_item{tag, item.command});
    ++stats_.forwarded;
  }

  //! The routes changed (an owner, or a link): steps waiting for an answer go again now (the
  //! new owner answers them; a lost link lost them), and so do forwarded submits.
  void on_routes_changed(int64_t now) {
    for (order_id id : orders_->live_ids()) {
      auto it = orders_->find_live(id);
      if (it == orders_->live_end()) continue;
      actions_.clear();
      it->second.core.resend_waiting_steps(now, actions_);
      if (!actions_.empty()) run(it, now);
    }
    resend_forwarded(now);
  }

  //! Every forwarded submit not answered yet is sent again, to the node that holds its home
  //! wallet now, or run here when that is this node. An order the first node created answers
  //! the second send as a repeat (its request id).
  void resend_forwarded(int64_t now, bool only_due = false) {
    std::vector<uint64_t> local;
    for (auto& [tag, r] : relays_) {
      if (only_due && r.resend_ms > now) continue;
      r.backoff_ms = std::min(r.backoff_ms * 2, limits::forward_resend_max_ms);
      r.resend_ms = now + r.backoff_ms;
      wallet_id home = order_home(r.item.command);
      if (directory_->holds(home)) {
        local.push_back(tag);
      } else if (wallet_gateway_actor gateway = directory_->remote_gateway(home)) {
        forward_outbox_[gateway].push_back(submit_item{tag, r.item.command});
        ++stats_.forward_resends;
      }  // else: no node holds it, or not connected: the next change sends it
    }
    for (uint64_t tag : local) {
      auto node = relays_.extract(tag);
      submit_one(node.mapped().client, node.mapped().item, now);
    }
  }

  //! A cluster node's order with wallets here and on other nodes tries those of the other nodes
  //! first and its own once they answered: its own tries, its decision row and its own confirms
  //! then land in one batch of this node's writer, where a try and its confirm are one movement
  //! row and its TCC record is written once (docs/cluster.md, "Cross-node legs"). No commit is
  //! added in a row: the other node's try commit was already waited for.
  void defer_local_tries(order_core& core) const {
    if (!directory_->clustered() || core.command().kind == order_kind::refund) return;
    uint32_t local = 0;
    bool remote = false;
    const auto& legs = core.legs();
    for (size_t i = 0; i < legs.size() && i < 32; ++i) {
      if (legs[i].participant != participant_kind::wallet) continue;
      if (directory_->holds(legs[i].target)) local |= 1u << i;
      else remote = true;
    }
    if (remote && local != 0) core.defer_tries(local);
  }

  //! An order with a wallet this cluster node does not hold.
  bool acts_on_another_node(const order_command& c, wallet_id system) const {
    if (!directory_->clustered()) return false;
    for (wallet_id w : {c.source, c.destination, c.fee_wallet, system})
      if (w != no_wallet && !directory_->holds(w)) return true;
    return false;
  }

  //! A provider's order, or one with a wallet this cluster node does not hold.
  bool acts_beyond_node(const order_command& c, wallet_id system) const {
    return c.kind == order_kind::top_up || c.kind == order_kind::withdraw || acts_on_another_node(c, system);
  }

  //! Appends the order's row to the writer's next batch (built in place: an order row is large).
  void persist_order(const order_core& core, int64_t now, bool intent, bool awaited = false) {
    order_row& row = writer_outbox_.orders.emplace_back();
    row.awaited = awaited;
    row.id = core.id();
    row.command = core.command();
    row.state = intent ? order_state::trying : core.state();
    row.reason = core.reason();
    row.posted_amount = core.posted_amount();
    row.legs_json = core.legs_json();
    if (!core.route().empty()) row.route = format_route_trail(core.route());
    for (const auto& leg : core.legs()) row.attempts += leg.attempts;
    row.try_deadline_ms = core.try_deadline_ms();
    row.created_ms = core.created_ms();
    row.updated_ms = now;
    row.final_ms = core.finished_ms();
    row.intent = intent;
  }

 public:
  //! The writer committed this host's batches up to `seq`.
  void on_committed(uint64_t seq) {
    orders_->committed(seq);
    int64_t now = clock_->now_ms();
    while (!waits_.empty() && waits_.front().seq <= orders_->committed_seq()) {
      durable_wait wait = std::move(waits_.front());
      waits_.pop_front();
      if (wait.start != 0) {
        auto it = orders_->find_live(wait.start);
        if (it == orders_->live_end()) continue;
        actions_.clear();
        it->second.core.start(now, actions_);
        run(it, now);
      } else if (wait.steps_of != 0) {
        auto it = orders_->find_live(wait.steps_of);
        if (it == orders_->live_end()) continue;
        live_order& order = it->second;
        uint32_t held = order.held_legs;
        order.held_legs = 0;
        for (uint16_t leg = 0; leg < order.core.legs().size(); ++leg)
          if ((held & (1u << leg)) != 0 && order.core.legs()[leg].awaiting) send_step(order, leg, now);
        if (order.held_submit) {
          order.held_submit = false;
          if (order.core.state() == order_state::processing)
            send_channel(order, order_action_kind::channel_submit, now);
        }
      } else {
        reply_outbox_[wait.client].push_back(std::move(wait.reply));
      }
    }
    after_input(now);
  }

 private:

  void refuse(const caf::actor& client, const submit_item& item, result_code code) {
    ++stats_.refused;
    ++counts_of(item.command.tenant).refused;
    order_reply reply;
    reply.client_tag = item.client_tag;
    reply.tenant = item.command.tenant;
    reply.request_id = item.command.request_id;
    reply.kind = item.command.kind;
    reply.amount = item.command.amount;
    reply.cur = item.command.cur;
    reply.code = code;
    reply_outbox_[client].push_back(std::move(reply));
  }

  //! Same request id again as order `id`'s (known here): same content gets the original order,
  //! other content a conflict.
  void repeat(const caf::actor& client, const submit_item& item, order_id id) {
    answer_repeat(client, item, orders_->repeat(id, item.command));
  }

  void answer_repeat(const caf::actor& client, const submit_item& item, const registry::verdict& verdict) {
    ++stats_.duplicates;
    ++counts_of(item.command.tenant).duplicates;
    if (verdict.is == admission::conflict) return refuse(client, item, result_code::duplicate_conflict);
    if (verdict.is == admission::running) {
      verdict.live->waiters.push_back({client, item.client_tag});  // answered when final
      return;
    }
    const final_order& record = *verdict.record;
    order_reply reply = reply_of(verdict.id, record);
    reply.client_tag = item.client_tag;
    reply.duplicate = true;
    if (storage_ != nullptr && storage_->durable_ack() && record.commit_seq > orders_->committed_seq()) {
      waits_.push_back({record.commit_seq, 0, client, std::move(reply)});  // final, not yet committed
      return;
    }
    reply_outbox_[client].push_back(std::move(reply));
  }

  //! Carries out the actions an order's core asked for.
  void run(live_iterator it, int64_t now) {
    live_order& order = it->second;
    bool finished = false;
    // Index loop: a step to an unknown wallet is answered at once, which may append actions.
    for (size_t i = 0; i < actions_.size(); ++i) {
      order_action action = actions_[i];
      switch (action.kind) {
        case order_action_kind::send_step: send_step(order, action.leg, now); break;
        case order_action_kind::channel_submit:
        case order_action_kind::channel_resubmit:
        case order_action_kind::channel_close:
        case order_action_kind::channel_reroute:
        case order_action_kind::channel_query: send_channel(order, action.kind, now); break;
        case order_action_kind::finished: finished = true; break;
        case order_action_kind::alert: alert(order, action); break;
        case order_action_kind::persist:
          // Before the steps that follow: the writer gets this host's rows first at the flush.
          if (storage_ != nullptr) {
            persist_order(order.core, now, false);
            order.decided_seq = writer_seq_ + 1;
          }
          break;
      }
    }
    if (finished) return finalize(it, now);
    int64_t wakeup = order.core.next_wakeup_ms();
    if (wakeup < order.armed_ms) {
      order.armed_ms = wakeup;
      timers_.arm(wakeup, it->first, static_cast<uint64_t>(wakeup));
    }
  }

  void send_step(live_order& order, uint16_t leg_index, int64_t now) {
    const order_core& core = order.core;
    const order_leg& leg = core.legs()[leg_index];
    if (leg.participant == participant_kind::original_order) {
      allowance_step step{core.id(), leg.target, leg.phase, leg.amount, core.command().tenant, core.command().cur};
      // The host of the original's lane on this node: it has the original in memory, or reads
      // it and its refunds from MySQL (created before a restart, or by another node whose
      // partition this node holds now: docs/cluster.md, "Refunds in a cluster").
      uint32_t lane = order_id_generator::lane_of(leg.target);
      if (lane >= hosts_.size()) {
        // No such original here: nothing was reserved, so its cancel trivially succeeds.
        result_code code = leg.phase == tcc_phase::cancel ? result_code::ok : result_code::unknown_order;
        order.core.on_step_reply(leg_index, leg.phase, code, 0, {}, now, actions_);
        return;
      }
      self_->send(hosts_[lane], allowance_atom::value, step);
      return;
    }
    if (leg.attempts > 1) ++stats_.step_resends;
    (void)now;
    // Routed by id: the owning shard answers unknown_wallet for an id it cannot activate.
    leg_step step;
    step.wallet = leg.target;
    step.leg = leg_index;
    step.command.txn = core.id();
    step.command.phase = leg.phase;
    step.command.type = leg.type;
    step.command.amount = core.step_amount(leg_index);
    step.command.tenant = core.command().tenant;
    step.command.cur = core.command().cur;
    step.command.try_deadline_ms = core.try_deadline_ms();
    step.command.wallet_kinds_allowed = leg.wallet_kinds_allowed;
    size_t shard = directory_->route(leg.target);
    if (shard == wallet_directory::unroutable) return;  // no node holds it now: resent after the backoff
    if (shard >= directory_->shards().size() && storage_ != nullptr && order.decided_seq > orders_->committed_seq()) {
      // Another node's wallet: its effect is committed by that node's writer, which nothing
      // orders after this node's rows. The decision it acts on (`confirming`, a refund's legs)
      // is committed first, or a crash here could resume the order from an older row (as
      // `trying`, with a leg confirmed there: its cancel refused for ever, money created).
      hold_until_decided(order);
      order.held_legs |= 1u << leg_index;
      return;
    }
    if (shard >= directory_->shards().size()) {
      // Fenced by the epoch of its order's home: a node that took the order over refuses this
      // node's steps once it knows (docs/cluster.md, "Steps of a node that lost its order").
      auto fence = directory_->home_fence(order_home(core.command()));
      if (fence.second == 0) return;  // this node no longer holds the order's home: it stops soon
      fence_outbox_[shard - directory_->shards().size()].push_back(step_fence{fence.first, fence.second});
    }
    if (step_outbox_[shard].empty()) touched_shards_.push_back(static_cast<uint32_t>(shard));
    step_outbox_[shard].push_back(step);
    steps_pending_ = true;
  }

  //! Holds what the order does next until its decision row (decided_seq) is committed: one
  //! wait per order, whatever it holds (held_legs, held_submit); on_committed sends them.
  void hold_until_decided(live_order& order) {
    if (order.held_legs == 0 && !order.held_submit)
      waits_.push_back({order.decided_seq, 0, caf::actor(), order_reply(), order.core.id()});
    // Waited for: the writer commits that row at once, not at its batch's end.
    if (order.decided_seq == writer_seq_ + 1)
      for (auto row = writer_outbox_.orders.rbegin(); row != writer_outbox_.orders.rend(); ++row)
        if (row->id == order.core.id()) {
          row->awaited = true;
          break;
        }
  }

  bool routed() const { return config_.router != nullptr && !config_.router->empty(); }

  static route_facts facts_of(const order_command& c) { return {c.kind, c.tenant, c.cur, c.amount}; }

  //! Whether a channel's circuit is open now, for the router.
  struct circuit_view {
    const channel_health* health;
    bool operator()(channel_id c) const { return health != nullptr && health->open(c); }
  };
  circuit_view circuit_open() const { return {config_.health.get()}; }

  //! Where an order its provider refused with nothing moved goes next: 0 for an order that
  //! names its channel (the client chose it) or has no provider left.
  channel_id next_provider(const order_core& core) const {
    if (core.command().channel != 0 || !routed()) return 0;
    return config_.router->next(facts_of(core.command()), core.route(), circuit_open());
  }

  void send_channel(live_order& order, order_action_kind kind, int64_t now) {
    const auto& command = order.core.command();
    if (kind == order_action_kind::channel_reroute) {
      ++stats_.channel_reroutes;
      // The row naming the next provider goes first and is committed before the submit: a
      // restart from the older row would take the earlier provider's "no" as the answer.
      if (storage_ != nullptr && order.decided_seq > orders_->committed_seq()) {
        hold_until_decided(order);
        order.held_submit = true;
        return;
      }
      kind = order_action_kind::channel_submit;
    } else if (order.held_submit && kind != order_action_kind::channel_query) {
      // Its first submit to that provider is still held (the row naming it not yet committed):
      // a resubmit or close there now would act before that row too. The held submit goes first.
      return;
    }
    auto channel = channels_.find(order.core.channel());
    if (channel == channels_.end()) {
      // Only a resumed order can name a channel this engine lacks (new ones are refused). Its
      // first submit never reached a provider: declined. An order submitted before (a query,
      // a resubmit, a close) may have moved money at that provider: nothing is known here, so
      // it waits (and alerts, processing too long) until the channel is configured again.
      bool submit = kind == order_action_kind::channel_submit;
      order.core.on_channel(submit ? channel_outcome::declined : channel_outcome::unknown, 0, now, actions_,
                            result_code::unknown_channel);
      return;
    }
    channel_request request;
    request.what = kind == order_action_kind::channel_query   ? channel_request::kind::query
                   : kind == order_action_kind::channel_close ? channel_request::kind::close
                                                              : channel_request::kind::submit;
    if (request.what == channel_request::kind::query) ++stats_.channel_queries;
    request.order = order.core.id();
    request.amount = command.amount;
    request.cur = command.cur;
    request.money_in = command.kind == order_kind::top_up;
    channel_outbox_[channel->second].push_back(request);
  }

  void alert(const live_order& order, const order_action& action) {
    ++stats_.alerts;
    ++stats_.alerts_by_kind[static_cast<size_t>(action.alert)];
    const auto& core = order.core;
    spdlog::warn("alert {} order={} kind={} state={} leg={} attempts={}", to_string(action.alert), core.id(),
                 to_string(core.command().kind), to_string(core.state()), action.leg,
                 action.leg < core.legs().size() ? core.legs()[action.leg].attempts : 0);
  }

  void finalize(live_iterator it, int64_t now) {
    const order_core& core = it->second.core;
    TX_CHECK(is_final(core.state()));
    tenant_stats& counts = counts_of(core.command().tenant);
    TX_CHECK(counts.in_flight > 0);
    --counts.in_flight;
    ++(core.state() == order_state::succeeded ? counts.succeeded : counts.failed);
    if (core.state() == order_state::succeeded) {
      ++stats_.succeeded;
    } else {
      ++stats_.failed;
      ++stats_.failed_by_code[std::min<size_t>(static_cast<size_t>(core.reason()), stats_.failed_by_code.size() - 1)];
    }
    uint64_t commit_seq = 0;
    bool wait_for_commit = false;
    if (storage_ != nullptr) {
      persist_order(core, now, false);
      commit_seq = writer_seq_ + 1;
      wait_for_commit = storage_->durable_ack();
    }
    bool restored = core.restored();
    order_id id = it->first;
    std::vector<waiter> waiters = std::move(it->second.waiters);
    const final_order& record = orders_->finish(it, now, commit_seq);
    order_reply reply = reply_of(id, record);
    for (size_t i = 0; i < waiters.size(); ++i) {
      const waiter& w = waiters[i];
      reply.client_tag = w.client_tag;
      // Later waiters repeated the request id while it ran; a resumed order's waiters all did.
      reply.duplicate = i > 0 || restored;
      // The last waiter (usually the only one) takes the reply itself, not a copy.
      order_reply answer = i + 1 == waiters.size() ? std::move(reply) : reply;
      if (wait_for_commit) waits_.push_back({commit_seq, 0, w.client, std::move(answer)});
      else reply_outbox_[w.client].push_back(std::move(answer));
    }
  }

  static order_reply reply_of(const order_core& core) {
    order_reply reply;
    fill(reply, core.id(), core.command());
    reply.state = core.state();
    reply.code = core.reason();
    reply.posted_amount = core.posted_amount();
    reply.wallets = wallets_of(core);
    reply.created_ms = core.created_ms();
    return reply;
  }

  static order_reply reply_of(order_id id, const final_order& record) {
    order_reply reply;
    fill(reply, id, record.command);
    reply.state = record.state;
    reply.code = record.reason;
    reply.posted_amount = record.posted_amount;
    reply.wallets = record.wallets;
    reply.created_ms = record.created_ms;
    reply.finished_ms = record.finished_ms;
    return reply;
  }

  static void fill(order_reply& reply, order_id id, const order_command& command) {
    reply.id = id;
    reply.tenant = command.tenant;
    reply.request_id = command.request_id;
    reply.kind = command.kind;
    reply.amount = command.amount;
    reply.cur = command.cur;
    reply.source = command.source;
    reply.destination = command.destination;
  }

  //! Storage may hold orders this host does not know: it held orders at start, final orders
  //! left this host's memory since, or (a cluster node) it took partitions over from another node.
  bool may_be_stored() const {
    return storage_ != nullptr && (storage_->orders_at_start > 0 || orders_->evicted() > 0 || directory_->took_over());
  }

  void after_input(int64_t now) {
    orders_->evict(now);  // final orders past the idempotency window or the retained maximum
    int64_t next = timers_.next_ms();
    if (directory_->clustered() && (!relays_.empty() || orders_->running() > 0)) {
      if (uint64_t version = directory_->routes_version(); version != routes_version_) {
        routes_version_ = version;
        on_routes_changed(now);
      } else if (!relays_.empty()) {
        resend_forwarded(now, true);  // those unanswered past their resend time
      }
      next = std::min(next, now + limits::routes_check_ms);  // looked at again then, while anything waits
    }
    if (!flush_pending_ && (steps_pending_ || !reply_outbox_.empty() || !channel_outbox_.empty() ||
                            !forward_outbox_.empty() ||
                            (storage_ != nullptr &&
                             (!writer_outbox_.empty() || !lookup_outbox_.empty() || !origin_outbox_.empty())))) {
      flush_pending_ = true;
      self_->send(self_, flush_atom::value);
    }
    if (next == never || (tick_pending_ && tick_due_ms_ <= next)) return;
    tick_pending_ = true;
    tick_due_ms_ = next;
    clock_->wake(self_, std::max<int64_t>(next, now + 1), tick_atom::value);
  }

  host_impl::pointer self_ = nullptr;
  clock_port* clock_ = nullptr;
  order_host_config config_;
  wallet_directory* directory_ = nullptr;
  std::optional<order_id_generator> ids_;
  std::vector<order_host_actor> hosts_;
  std::unordered_map<channel_id, channel_actor> channels_;
  std::optional<registry> orders_;  //!< running and final orders, request ids, retention
  timer_queue<order_id> timers_;
  std::vector<order_action> actions_;
  std::vector<std::vector<leg_step>> step_outbox_;  //!< by wallet shard index
  //! Another node's slot (index - shards): the fence of each step in its step_outbox_ entry.
  std::vector<std::vector<step_fence>> fence_outbox_;
  bool steps_pending_ = false;
  std::vector<uint32_t> touched_shards_;  //!< indices of step_outbox_ that are not empty
  per_actor<caf::actor, order_reply> reply_outbox_;  //!< by client: whoever submitted (an order_client_actor)
  per_actor<channel_actor, channel_request> channel_outbox_;
  // A cluster node: submits forwarded to the node that holds their home wallet.
  struct relay {
    caf::actor client;
    submit_item item;  //!< as the client sent it (its tag)
    int64_t resend_ms = 0;   //!< sent again then, if still not answered
    int64_t backoff_ms = 0;  //!< the wait before that resend
  };
  std::unordered_map<uint64_t, relay> relays_;  //!< by this host's tag, until answered
  uint64_t relay_tag_ = 0;
  uint64_t routes_version_ = 0;  //!< directory_->routes_version() last seen
  per_actor<wallet_gateway_actor, submit_item> forward_outbox_;  //!< by gateway, sent at the next flush
  bool flush_pending_ = false;
  bool tick_pending_ = false;
  int64_t tick_due_ms_ = never;
  host_stats stats_;
  //! The same counts per tenant, for GetStats (one small entry per tenant that sent a command).
  std::unordered_map<tenant_id, tenant_stats> tenant_stats_;
  //! The entry used last: most bursts come from one tenant (references into the map stay valid).
  tenant_stats* last_counts_ = nullptr;
  tenant_id last_counts_tenant_ = 0;
  tenant_stats& counts_of(tenant_id tenant) {
    if (last_counts_ == nullptr || last_counts_tenant_ != tenant) {
      last_counts_ = &tenant_stats_[tenant];
      last_counts_tenant_ = tenant;
    }
    return *last_counts_;
  }
  // Storage.
  storage_link* storage_ = nullptr;
  write_batch writer_outbox_;   //!< rows for the writer, sent at the next flush
  uint64_t writer_seq_ = 0;     //!< ack_seq of the last batch sent to the writer
  std::deque<durable_wait> waits_;
  std::vector<request_lookup> lookup_outbox_;  //!< request ids to look up in MySQL, sent at the next flush
  std::unordered_map<std::string, std::vector<std::pair<caf::actor, submit_item>>> looking_up_;
  // Recovery.
  bool recovery_done_ = true;
  //! Repeats of request ids whose orders were not final at the stop, until recovery hands them over.
  std::unordered_map<std::string, std::vector<std::pair<caf::actor, submit_item>>> awaiting_recovery_;
  size_t awaiting_recovery_count_ = 0;
  std::vector<order_id> origin_outbox_;  //!< originals to load from MySQL, sent at the next flush
  std::unordered_map<order_id, std::vector<std::pair<caf::actor, allowance_step>>> loading_originals_;
  std::unordered_map<order_id, std::vector<order_query>> querying_;  //!< GetOrder of orders read from MySQL
  //! A cluster node: refunds waiting to learn their original's home, by original.
  std::unordered_map<order_id, std::vector<std::pair<caf::actor, submit_item>>> resolving_homes_;
  size_t history_pending_ = 0;  //!< GetOrder with movements being gathered (start_history)
};

using host_actor = host_impl::stateful_base<host_state>;

host_impl::behavior_type host_behavior(host_actor* self, order_host_config config, wallet_directory* directory) {
  self->state.init(self, config, directory);
  return {
      [=](peers_atom, host_peers& peers) { self->state.set_peers(peers); },
      [=](submit_atom, std::vector<submit_item>& items) {
        self->state.submit(caf::actor_cast<caf::actor>(self->current_sender()), items);
      },
      [=](forward_atom, std::vector<submit_item>& items) {
        self->state.submit(caf::actor_cast<caf::actor>(self->current_sender()), items, true);
      },
      [=](replies_atom, std::vector<order_reply>& replies) { self->state.on_forwarded_replies(replies); },
      [=](step_ack_atom, const std::vector<leg_result>& results) { self->state.on_step_acks(results); },
      [=](chan_ack_atom, const std::vector<channel_response>& responses) {
        self->state.on_channel_acks(responses);
      },
      [=](allowance_atom, const allowance_step& step) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (auto result = self->state.on_allowance_step(sender, step))
          self->send(caf::actor_cast<order_host_actor>(sender), allow_ack_atom::value, *result);  // a host asked
      },
      [=](origin_found_atom, std::vector<loaded_original>& loaded) { self->state.on_originals(loaded); },
      [=](recover_atom, std::vector<recovered_order>& orders) { return self->state.recover(orders); },
      [=](recovered_atom) { self->state.on_recovery_done(); },
      [=](allow_ack_atom, const allowance_result& result) { self->state.on_allowance_ack(result); },
      [=](tick_atom) { self->state.on_tick(); },
      [=](flush_atom) { self->state.flush(); },
      [=](committed_atom, uint64_t seq) { self->state.on_committed(seq); },
      [=](found_atom, std::vector<request_found>& answers) { self->state.on_found(answers); },
      [=](get_order_atom, tenant_id tenant, order_id id, bool with_movements) -> caf::result<order_reply> {
        return self->state.get_order(tenant, id, with_movements);
      },
      [=](stats_atom) { return self->state.stats(); },
      [=](stats_atom, tenant_id tenant) { return self->state.stats_of(tenant); },
  };
}

}  // namespace

order_host_actor spawn_order_host(caf::actor_system& system, order_host_config config, wallet_directory* directory) {
  return system.spawn(host_behavior, config, directory);
}

void set_host_peers(const order_host_actor& host, const host_peers& peers) {
  caf::anon_send(host, peers_atom::value, peers);
}

}  // namespace txengine
