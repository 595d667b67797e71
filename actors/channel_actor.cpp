#include "actors/channel_actor.hpp"

#include <unordered_map>

#include "ports/clock.hpp"
#include "core/order_id_generator.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

struct channel_state {
  std::optional<simulated_channel> provider;
  std::vector<caf::actor> hosts;
  std::vector<channel_response> out;
  bool tick_pending = false;
  int64_t tick_due_ms = timer_queue<int>::never;
  static inline const char* name = "channel";
};

using channel_actor = caf::stateful_actor<channel_state>;

void deliver(channel_actor* self, int64_t now) {
  auto& st = self->state;
  st.provider->poll(now, st.out);
  if (!st.out.empty()) {
    std::unordered_map<uint32_t, std::vector<channel_response>> by_lane;
    for (const auto& response : st.out) by_lane[order_id_generator::lane_of(response.order)].push_back(response);
    st.out.clear();
    for (auto& [lane, responses] : by_lane)
      if (lane < st.hosts.size()) self->send(st.hosts[lane], chan_ack_atom::value, std::move(responses));
  }
  int64_t next = st.provider->next_wakeup_ms();
  if (next == timer_queue<int>::never || (st.tick_pending && st.tick_due_ms <= next)) return;
  st.tick_pending = true;
  st.tick_due_ms = next;
  self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(next - now, 1)), tick_atom::value);
}

caf::behavior channel_behavior(channel_actor* self, channel_config config) {
  self->state.provider.emplace(config);
  return {
      [=](peers_atom, std::vector<caf::actor> hosts) { self->state.hosts = std::move(hosts); },
      [=](channel_atom, const std::vector<channel_request>& requests) {
        int64_t now = wall_clock_ms();
        for (const auto& request : requests) self->state.provider->receive(request, now, self->state.out);
        deliver(self, now);
      },
      [=](tick_atom) {
        self->state.tick_pending = false;
        deliver(self, wall_clock_ms());
      },
  };
}

}  // namespace

caf::actor spawn_simulated_channel(caf::actor_system& system, channel_config config) {
  return system.spawn(channel_behavior, config);
}

void set_channel_hosts(const caf::actor& channel, const std::vector<caf::actor>& hosts) {
  caf::anon_send(channel, peers_atom::value, hosts);
}

}  // namespace txengine
