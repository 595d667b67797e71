#include "cluster/wallet_gateway.hpp"

#include <chrono>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "ports/actor_handles.hpp"

namespace txengine::cluster {

namespace {

//! A step in flight: its order, leg and phase (a host has at most one step per leg at a time;
//! a resend of it replaces the entry).
struct step_key {
  order_id txn = 0;
  uint16_t leg = 0;
  uint8_t phase = 0;
  bool operator==(const step_key& o) const { return txn == o.txn && leg == o.leg && phase == o.phase; }
};

struct step_key_hash {
  size_t operator()(const step_key& k) const {
    return std::hash<uint64_t>()(k.txn * 0x9E3779B97F4A7C15ull ^ (uint64_t{k.leg} << 8) ^ k.phase);
  }
};

using answer = std::pair<order_host_actor, leg_result>;

//! A message without a sender: counted, and logged at the 1st, 2nd, 4th, 8th ... time.
void no_sender(const std::shared_ptr<gateway_counters>& counters, const char* what) {
  uint64_t n = counters->no_sender.fetch_add(1, std::memory_order_relaxed) + 1;
  if ((n & (n - 1)) == 0)
    spdlog::warn("cluster: {} from another node arrived without a sender to answer; dropped ({} so far)", what, n);
}

struct gateway_state {
  static inline const char* name = "wallet_gateway";
  wallet_gateway_config config;
  std::unordered_map<step_key, order_host_actor, step_key_hash> waiting;
  std::vector<answer> answered;    //!< waiting for the next barrier
  std::vector<answer> in_barrier;  //!< waiting for the barrier in flight
  bool barrier_running = false;
};

using gateway_pointer = wallet_gateway_actor::stateful_pointer<gateway_state>;

//! Sends each host its answers, one message per host (by identity: a step resent after its link
//! was made again names the host's new proxy; an answer to the dead one would be lost).
void deliver(gateway_pointer self, std::vector<answer>& list) {
  per_actor<order_host_actor, leg_result> by_host;
  for (auto& [host, result] : list) by_host[host].push_back(result);
  by_host.drain([&](const order_host_actor& host, std::vector<leg_result> results) {
    self->state.config.counters->answered.fetch_add(results.size(), std::memory_order_relaxed);
    self->state.config.counters->messages_out.fetch_add(1, std::memory_order_relaxed);
    self->send(host, step_ack_atom::value, std::move(results));
  });
  list.clear();
}

//! Starts a commit barrier for what was answered, unless one runs (the next one takes the rest).
void barrier(gateway_pointer self) {
  auto& st = self->state;
  if (st.answered.empty() || st.barrier_running) return;
  if (!st.config.writer) {
    deliver(self, st.answered);
    return;
  }
  st.in_barrier.swap(st.answered);
  st.barrier_running = true;
  st.config.counters->barriers.fetch_add(1, std::memory_order_relaxed);
  auto done = [self](bool committed) {
    auto& s = self->state;
    if (committed) {
      deliver(self, s.in_barrier);
    } else {
      // Not committed (the node is stopping or fenced): no answer; the hosts resend.
      s.config.counters->dropped.fetch_add(s.in_barrier.size(), std::memory_order_relaxed);
      s.in_barrier.clear();
    }
    s.barrier_running = false;
    barrier(self);
  };
  self->request(st.config.writer, caf::infinite, sync_atom::value)
      .then([done](bool committed) { done(committed); }, [done](caf::error&) { done(false); });
}

wallet_view unavailable_view() {
  wallet_view view;
  view.code = result_code::unavailable;
  return view;
}

//! Forwarded submits go to the local host of each one's lane, sent as the forwarding host (so
//! the local host answers it); without hosts yet they are refused `unavailable` (retryable).
void forward(gateway_pointer self, std::vector<submit_item>& items) {
  auto& st = self->state;
  auto sender = caf::actor_cast<caf::actor>(self->current_sender());
  if (!sender) return no_sender(st.config.counters, "forwarded submits");
  st.config.counters->forwarded.fetch_add(items.size(), std::memory_order_relaxed);
  st.config.counters->messages_in.fetch_add(1, std::memory_order_relaxed);
  per_actor<order_host_actor, submit_item> by_host;  // the local hosts: a few
  std::vector<order_reply> refused;
  for (auto& item : items) {
    order_host_actor host;
    if (st.config.host_of_request) host = st.config.host_of_request(item.command.tenant, item.command.request_id);
    if (!host) {
      order_reply reply;
      reply.client_tag = item.client_tag;
      reply.tenant = item.command.tenant;
      reply.request_id = item.command.request_id;
      reply.kind = item.command.kind;
      reply.code = result_code::unavailable;
      refused.push_back(std::move(reply));
      continue;
    }
    by_host[host].push_back(std::move(item));
  }
  by_host.drain([&](const order_host_actor& host, std::vector<submit_item> batch) {
    caf::send_as(sender, host, forward_atom::value, std::move(batch));
  });
  if (!refused.empty())
    self->send(caf::actor_cast<order_client_actor>(sender), replies_atom::value, std::move(refused));
}

wallet_gateway_actor::behavior_type gateway(gateway_pointer self, wallet_gateway_config config) {
  self->state.config = std::move(config);
  auto counted = [self] {
    self->state.config.counters->queries.fetch_add(1, std::memory_order_relaxed);
    self->state.config.counters->messages_in.fetch_add(1, std::memory_order_relaxed);
  };
  return {
      [self](steps_atom, std::vector<leg_step>& steps, const std::vector<step_fence>& fences) {
        auto& st = self->state;
        auto host = caf::actor_cast<order_host_actor>(self->current_sender());
        if (!host) return no_sender(st.config.counters, "steps");
        st.config.counters->steps.fetch_add(steps.size(), std::memory_order_relaxed);
        st.config.counters->messages_in.fetch_add(1, std::memory_order_relaxed);
        if (fences.size() != steps.size()) {
          // Not what a node of this cluster sends (one fence per step): nothing of it is applied.
          uint64_t n = st.config.counters->malformed.fetch_add(1, std::memory_order_relaxed) + 1;
          if ((n & (n - 1)) == 0)
            spdlog::warn("cluster: a steps message with {} steps and {} fences was refused ({} so far)", steps.size(),
                         fences.size(), n);
          return;
        }
        // By address in a map: a host's steps may touch hundreds of shards (per_actor searches).
        std::map<caf::actor_addr, std::pair<wallet_shard_actor, std::vector<leg_step>>> by_shard;
        for (size_t i = 0; i < steps.size(); ++i) {
          leg_step& step = steps[i];
          wallet_shard_actor shard = st.config.shard_of(step.wallet);
          if (!shard) {
            st.config.counters->not_local.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          const step_fence& fence = fences[i];
          if (fence.epoch != 0 && st.config.note_epoch && !st.config.note_epoch(fence.partition, fence.epoch)) {
            st.config.counters->stale.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          step_key key{step.command.txn, step.leg, static_cast<uint8_t>(step.command.phase)};
          if (st.waiting.size() >= st.config.steps_pending_max && st.waiting.count(key) == 0) {
            st.config.counters->dropped.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          st.waiting[key] = host;
          auto& entry = by_shard[shard.address()];
          entry.first = shard;
          entry.second.push_back(std::move(step));
        }
        for (auto& [addr, entry] : by_shard) self->send(entry.first, steps_atom::value, std::move(entry.second));
      },
      [self](step_ack_atom, std::vector<leg_result>& results) {
        auto& st = self->state;
        for (auto& r : results) {
          auto found = st.waiting.find(step_key{r.txn, r.leg, static_cast<uint8_t>(r.phase)});
          if (found == st.waiting.end()) continue;  // answered already (a resend's second answer)
          st.answered.emplace_back(std::move(found->second), r);
          st.waiting.erase(found);
        }
        barrier(self);
      },
      [self](forward_atom, std::vector<submit_item>& items) { forward(self, items); },
      [self](ping_atom) {
        self->state.config.counters->pings.fetch_add(1, std::memory_order_relaxed);
        return ping_atom::value;
      },
      [self](hello_atom, uint32_t node, caf::actor gateway) {
        if (self->state.config.on_hello && gateway) self->state.config.on_hello(node, std::move(gateway));
      },
      [self, counted](get_wallet_atom, wallet_id w, tenant_id tenant) -> caf::result<wallet_view> {
        counted();
        wallet_shard_actor shard = self->state.config.shard_of(w);
        if (!shard) return unavailable_view();
        return self->delegate(shard, get_wallet_atom::value, w, tenant);
      },
      [self, counted](admin_atom, wallet_id w, admin_op op, tenant_id tenant, int64_t argument)
          -> caf::result<wallet_view> {
        counted();
        wallet_shard_actor shard = self->state.config.shard_of(w);
        if (!shard) return unavailable_view();
        return self->delegate(shard, admin_atom::value, w, op, tenant, argument);
      },
      [self, counted](movements_atom, wallet_id w, tenant_id tenant, uint64_t from, uint32_t limit)
          -> caf::result<result_code, std::vector<journal_entry>> {
        counted();
        wallet_shard_actor shard = self->state.config.shard_of(w);
        if (!shard) return {result_code::unavailable, std::vector<journal_entry>{}};
        return self->delegate(shard, movements_atom::value, w, tenant, from, limit);
      },
      [self, counted](history_atom, wallet_id w, tenant_id tenant, order_id id)
          -> caf::result<std::vector<journal_entry>> {
        counted();
        wallet_shard_actor shard = self->state.config.shard_of(w);
        // Not held here: an error, so the asking host marks the order's movements incomplete.
        if (!shard) return caf::make_error(caf::sec::request_receiver_down);
        return self->delegate(shard, history_atom::value, w, tenant, id);
      },
      [self, counted](get_order_atom, tenant_id tenant, order_id id, bool with_movements) -> caf::result<order_reply> {
        counted();
        order_host_actor host;
        if (self->state.config.host_of_order) host = self->state.config.host_of_order(id);
        if (!host) {
          order_reply busy;
          busy.code = result_code::unavailable;
          return busy;
        }
        return self->delegate(host, get_order_atom::value, tenant, id, with_movements);
      },
  };
}

}  // namespace

wallet_gateway_actor spawn_wallet_gateway(caf::actor_system& system, wallet_gateway_config config) {
  return system.spawn(gateway, std::move(config));
}

void add_cluster_message_types(caf::actor_system_config& config) {
  config.add_message_type<leg_step>("leg_step");
  config.add_message_type<std::vector<leg_step>>("std::vector<leg_step>");
  config.add_message_type<step_fence>("step_fence");
  config.add_message_type<std::vector<step_fence>>("std::vector<step_fence>");
  config.add_message_type<leg_result>("leg_result");
  config.add_message_type<std::vector<leg_result>>("std::vector<leg_result>");
  // Clients reaching any node: forwarded submits, their answers, and the queries.
  config.add_message_type<submit_item>("submit_item");
  config.add_message_type<std::vector<submit_item>>("std::vector<submit_item>");
  config.add_message_type<order_reply>("order_reply");
  config.add_message_type<std::vector<order_reply>>("std::vector<order_reply>");
  config.add_message_type<wallet_view>("wallet_view");
  config.add_message_type<journal_entry>("journal_entry");
  config.add_message_type<std::vector<journal_entry>>("std::vector<journal_entry>");
  config.add_message_type<admin_op>("admin_op");
  config.add_message_type<result_code>("result_code");
}

}  // namespace txengine::cluster
