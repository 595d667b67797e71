#include "actors/channel_actor.hpp"

#include <unordered_map>

#include "ports/clock.hpp"
#include "core/order_id_generator.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

//! The channel's interface (ports/actor_interfaces.hpp) and its timer.
using channel_impl = channel_actor::extend<caf::reacts_to<tick_atom>>;

struct channel_state {
  std::optional<simulated_channel> provider;
  std::vector<order_host_actor> hosts;
  std::vector<channel_response> out;
  bool tick_pending = false;
  int64_t tick_due_ms = timer_queue<int>::never;
  clock_port* clock = nullptr;
  channel_id id = 0;  //!< stamped on every answer (a re-routed order ignores its earlier provider's)
  uint64_t handled = 0;  //!< request batches and ticks handled (tests: has it settled?)
  static inline const char* name = "channel";
};

using channel_pointer = channel_impl::stateful_pointer<channel_state>;

void deliver(channel_pointer self, int64_t now) {
  auto& st = self->state;
  st.provider->poll(now, st.out);
  if (!st.out.empty()) {
    std::unordered_map<uint32_t, std::vector<channel_response>> by_lane;
    for (auto& response : st.out) {
      response.channel = st.id;
      by_lane[order_id_generator::lane_of(response.order)].push_back(response);
    }
    st.out.clear();
    for (auto& [lane, responses] : by_lane)
      if (lane < st.hosts.size()) self->send(st.hosts[lane], chan_ack_atom::value, std::move(responses));
  }
  int64_t next = st.provider->next_wakeup_ms();
  if (next == timer_queue<int>::never || (st.tick_pending && st.tick_due_ms <= next)) return;
  st.tick_pending = true;
  st.tick_due_ms = next;
  st.clock->wake(self, std::max<int64_t>(next, now + 1), tick_atom::value);
}

channel_impl::behavior_type channel_behavior(channel_pointer self, channel_config config, clock_port* clock,
                                             channel_id id) {
  self->state.provider.emplace(config);
  self->state.clock = clock;
  self->state.id = id;
  return {
      [=](peers_atom, std::vector<order_host_actor> hosts) { self->state.hosts = std::move(hosts); },
      [=](channel_atom, const std::vector<channel_request>& requests) {
        int64_t now = self->state.clock->now_ms();
        ++self->state.handled;
        for (const auto& request : requests) self->state.provider->receive(request, now, self->state.out);
        deliver(self, now);
      },
      [=](tick_atom) {
        self->state.tick_pending = false;
        ++self->state.handled;
        deliver(self, self->state.clock->now_ms());
      },
      [=](stats_atom) { return self->state.handled; },
  };
}

}  // namespace

channel_actor spawn_simulated_channel(caf::actor_system& system, channel_config config, clock_port* clock,
                                      channel_id id) {
  return system.spawn(channel_behavior, config, &clock_or_wall(clock), id);
}

void set_channel_hosts(const channel_actor& channel, const std::vector<order_host_actor>& hosts) {
  caf::anon_send(channel, peers_atom::value, hosts);
}

}  // namespace txengine
