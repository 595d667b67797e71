#include "cluster/wallet_gateway.hpp"

#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

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

struct gateway_state {
  static inline const char* name = "wallet_gateway";
  wallet_gateway_config config;
  std::unordered_map<step_key, order_host_actor, step_key_hash> waiting;
  std::vector<answer> answered;    //!< waiting for the next barrier
  std::vector<answer> in_barrier;  //!< waiting for the barrier in flight
  bool barrier_running = false;
};

using gateway_pointer = wallet_gateway_actor::stateful_pointer<gateway_state>;

//! Sends each host its answers, one message per host.
void deliver(gateway_pointer self, std::vector<answer>& list) {
  std::map<caf::actor_addr, std::pair<order_host_actor, std::vector<leg_result>>> by_host;
  for (auto& [host, result] : list) {
    auto& entry = by_host[host.address()];
    entry.first = host;
    entry.second.push_back(result);
  }
  for (auto& [addr, entry] : by_host) {
    self->state.config.counters->answered.fetch_add(entry.second.size(), std::memory_order_relaxed);
    self->send(entry.first, step_ack_atom::value, std::move(entry.second));
  }
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

wallet_gateway_actor::behavior_type gateway(gateway_pointer self, wallet_gateway_config config) {
  self->state.config = std::move(config);
  return {
      [self](steps_atom, std::vector<leg_step>& steps) {
        auto& st = self->state;
        auto host = caf::actor_cast<order_host_actor>(self->current_sender());
        if (!host) return;
        st.config.counters->steps.fetch_add(steps.size(), std::memory_order_relaxed);
        std::map<caf::actor_addr, std::pair<wallet_shard_actor, std::vector<leg_step>>> by_shard;
        for (auto& step : steps) {
          wallet_shard_actor shard = st.config.shard_of(step.wallet);
          if (!shard) {
            st.config.counters->not_local.fetch_add(1, std::memory_order_relaxed);
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
  };
}

}  // namespace

wallet_gateway_actor spawn_wallet_gateway(caf::actor_system& system, wallet_gateway_config config) {
  return system.spawn(gateway, std::move(config));
}

void add_cluster_message_types(caf::actor_system_config& config) {
  config.add_message_type<leg_step>("leg_step");
  config.add_message_type<std::vector<leg_step>>("std::vector<leg_step>");
  config.add_message_type<leg_result>("leg_result");
  config.add_message_type<std::vector<leg_result>>("std::vector<leg_result>");
}

}  // namespace txengine::cluster
