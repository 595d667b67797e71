#pragma once
// One actor per external payment provider, so a slow provider never blocks another
// (seed 004). This one wraps the simulated provider used by the demo, tests and benchmarks.
#include <vector>

#include <caf/all.hpp>

#include "core/simulated_channel.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"

namespace txengine {

//! Messages (channel_actor, ports/actor_interfaces.hpp): (channel_atom,
//! std::vector<channel_request>) from the hosts, answered by
//! (chan_ack_atom, std::vector<channel_response>) to the host of each order's lane;
//! (stats_atom) -> uint64_t, the messages it handled so far.
//! `hosts`: the node's order hosts by lane; a response goes to the lane its order id names.
//! `clock`: time and timers (nullptr = the wall clock).
//! `id`: the channel's id, stamped on its answers (0: answers count as the order's current channel's).
channel_actor spawn_simulated_channel(caf::actor_system& system, channel_config config, clock_port* clock = nullptr,
                                      channel_id id = 0);

//! Sends the order hosts to answer; must be the first message a channel gets.
void set_channel_hosts(const channel_actor& channel, const std::vector<order_host_actor>& hosts);

}  // namespace txengine
