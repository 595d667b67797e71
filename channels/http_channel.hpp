#pragma once
// A payment provider over HTTP (issue 15, item 2): the channel actor the order hosts talk to
// (ports/actor_interfaces.hpp, as for the simulated provider) in front of a libcurl multi loop on
// its own thread, so no CAF worker ever waits for a provider and one slow or dead provider never
// delays another's orders (each has its own thread, queues, caps and breaker).
//
// Per provider (ports/channel_settings.hpp): separate submit and query queues, each bounded and
// with its own in-flight cap; a rate gate (core/rate_gate.hpp); a circuit breaker
// (core/circuit_breaker.hpp); timeouts for connect, submit and query; requests signed with
// HMAC-SHA256. Every answer is read by the core's table (core/provider_answer.hpp): a timeout,
// 5xx or unreadable body is unknown, never a failure; a request the provider surely never saw (no
// connection, 429) is tried again a few times, then a first submit is refused as busy (declined,
// nothing moved) and anything else answered unknown. docs/channels.md has the rest.
#include <cstdint>
#include <memory>

#include <caf/all.hpp>

#include "core/types.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/channel_health.hpp"
#include "ports/channel_settings.hpp"

namespace txengine {

//! What an HTTP channel counted so far (read from any thread).
struct http_channel_counters {
  uint64_t requests = 0, answered = 0, unknown = 0, timeouts = 0, connect_failures = 0, rate_limited = 0,
           refused_full = 0, refused_open = 0, retried_unseen = 0, anomalies = 0, breaker_opened = 0;
  //! Queries not sent because the same order's query was still queued or in flight.
  uint64_t queries_coalesced = 0;
  uint64_t in_flight = 0, queued = 0;
};

class http_channel_link;

//! Spawns the channel of provider `id`. `counters`, when given, receives a handle through which
//! its counters can be read (tests, metrics).
//! `health`, when given, shows the router whether this provider's circuit breaker is open.
channel_actor spawn_http_channel(caf::actor_system& system, channel_id id, http_provider_settings settings,
                                 std::shared_ptr<http_channel_link>* link = nullptr,
                                 std::shared_ptr<channel_health> health = nullptr);

//! The counters of a channel's link (thread-safe).
http_channel_counters counters_of(const http_channel_link& link);

}  // namespace txengine
