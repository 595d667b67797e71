#pragma once
// The one whitelist of order state transitions (seed 002). Every state change of every
// order goes through `transition_allowed`; anything else is refused and alerted.
#include "core/types.hpp"

namespace txengine {

//! True when an order may move from `from` to `to`. Final states never move.
bool transition_allowed(order_state from, order_state to);

constexpr int order_state_count = 7;

}  // namespace txengine
