#pragma once
// One actor per external payment provider, so a slow provider never blocks another
// (seed 004). This one wraps the simulated provider used by the demo, tests and benchmarks.
#include <vector>

#include <caf/all.hpp>

#include "core/simulated_channel.hpp"

namespace txengine {

//! `hosts`: the node's order hosts by lane; a response goes to the lane its order id names.
caf::actor spawn_simulated_channel(caf::actor_system& system, channel_config config);

//! Sends the order hosts to answer; must be the first message a channel gets.
void set_channel_hosts(const caf::actor& channel, const std::vector<caf::actor>& hosts);

}  // namespace txengine
