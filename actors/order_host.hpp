#pragma once
// The order host: the actor in which orders live. Each order is an order_core (its own
// state machine, legs and timers); a host carries many of them, one lane of the node.
//
// Why hosts instead of one CAF actor per order: on 2 cores CAF 0.17 moves ~2M messages/s
// and a spawn costs about as much as several messages, so a spawn, a directory lookup and
// a per-order delayed_send for every order would cost more than the order's own steps.
// A host keeps each order as isolated as an actor would (its own core, its own tagged
// timers, messages in, actions out) while batching what crosses actor boundaries: all
// steps for one wallet in one message, all replies to one client in one message.
#include <cstdint>
#include <vector>

#include <caf/all.hpp>

#include "core/channel_routing.hpp"
#include "core/order_core.hpp"
#include "ports/channel_health.hpp"
#include "actors/directory.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_messages.hpp"

namespace txengine {

struct order_host_config {
  uint32_t node_id = 0;
  uint32_t lane = 0;
  order_config order;
  //! Orders not yet final on this host, at most; past it new commands get `overloaded`.
  size_t orders_in_flight_max = 1 << 18;
  //! Orders kept in memory (final ones included, for idempotency and queries), at most.
  size_t orders_retained_max = 1 << 23;
  //! nullptr: memory only. Otherwise order rows go to the writer (write-ahead intent, final
  //! rows) and, in durable ack mode, an order starts once its intent is committed and its
  //! client hears the final state once that is committed.
  storage_link* storage = nullptr;
  //! Time and timers; nullptr = the wall clock.
  clock_port* clock = nullptr;
  //! Where a channel order that names no channel goes, and after a refusal that moved nothing
  //! (core/channel_routing.hpp); nullptr or empty: only orders naming a channel are taken.
  std::shared_ptr<const channel_router> router;
  //! The channels' circuit states the router avoids (nullptr: none is ever open).
  std::shared_ptr<const channel_health> health;
};

//! Messages: order_host_actor (ports/actor_interfaces.hpp).
order_host_actor spawn_order_host(caf::actor_system& system, order_host_config config, wallet_directory* directory);

//! Sends the routing table (host_peers, ports/actor_interfaces.hpp); must be the first message a host gets.
void set_host_peers(const order_host_actor& host, const host_peers& peers);

}  // namespace txengine
