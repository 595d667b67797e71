#pragma once
// A payment provider reached over HTTP (issue 15, item 2; the adapter is channels/http_channel.hpp,
// the provider's API the one txprovider-sim serves, docs/channels.md). Plain data: the config
// file's [[providers]] tables (apps/config_file.cpp) become these, node/engine.cpp spawns one
// channel per provider.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/circuit_breaker.hpp"

namespace txengine {

struct http_provider_settings {
  //! http://HOST:PORT (no path): the provider's API is under /v1.
  std::string base_url;
  //! The merchant's key and the secret its requests are signed with (HMAC-SHA256). The secret
  //! comes from a file named in the config (secret_file), never printed.
  std::string api_key;
  std::string secret;
  int64_t connect_timeout_ms = 1'000;
  //! A submit or close not answered in this time is unknown (never failed: the order asks again).
  int64_t submit_timeout_ms = 5'000;
  int64_t query_timeout_ms = 2'000;
  //! Requests in flight at once, per queue: submits (and closes) and queries are separate, so a
  //! storm of queries never starves submits. Little's law: in flight = rate x latency
  //! (10k/s at 5 ms is 50).
  size_t submit_inflight_max = 64;
  size_t query_inflight_max = 32;
  //! Requests waiting for a slot, per queue, at most; past it a submit is refused unseen (busy)
  //! and a query answered unknown (the order asks again later).
  size_t queue_max = 20'000;
  //! The provider's request rate cap (0: none) and burst: at most rate + burst in any second.
  uint32_t qps = 0;
  uint32_t burst = 10;
  //! A request refused unseen (429, no connection) is tried again this many times at most.
  uint32_t unseen_retries = 3;
  breaker_config breaker;
  //! The provider's decline codes that guarantee nothing moved and nothing will (its documented
  //! final refusals): only an order declined with one of them is sent on to its route's next
  //! provider (core/channel_routing.hpp). Empty: no decline is ever re-routed.
  std::vector<std::string> reroute_codes;
};

//! Why the settings cannot work (empty when they can): each value in range, the URL a scheme and
//! an authority without a path.
inline std::string http_provider_problem(const http_provider_settings& s) {
  const std::string& u = s.base_url;
  size_t scheme = u.rfind("http://", 0) == 0 ? 7 : u.rfind("https://", 0) == 0 ? 8 : 0;
  if (scheme == 0 || u.size() == scheme || u.find('/', scheme) != std::string::npos)
    return "base_url must be http://HOST[:PORT] or https://HOST[:PORT] without a path, got '" + u + "'";
  if (s.api_key.empty() || s.secret.empty()) return "api_key and secret must not be empty";
  for (int64_t t : {s.connect_timeout_ms, s.submit_timeout_ms, s.query_timeout_ms})
    if (t < 1 || t > 600'000) return "timeouts are 1 .. 600000 ms";
  if (s.submit_inflight_max < 1 || s.query_inflight_max < 1 || s.submit_inflight_max > 10'000 ||
      s.query_inflight_max > 10'000)
    return "in-flight caps are 1 .. 10000";
  if (s.queue_max < 1 || s.queue_max > 10'000'000) return "queue_max is 1 .. 10000000";
  if (s.reroute_codes.size() > 64) return "at most 64 reroute_codes";
  for (const auto& code : s.reroute_codes)
    if (code.empty() || code.size() > 64) return "a reroute code is 1 .. 64 characters";
  if (s.burst < 1) return "burst is at least 1";
  if (s.breaker.window_s < 1 || s.breaker.window_s > circuit_breaker::window_max_s)
    return "breaker window_s is 1 .. " + std::to_string(circuit_breaker::window_max_s);
  if (s.breaker.probes < 1 || s.breaker.failure_ppm > 1'000'000 || s.breaker.open_ms < 1)
    return "breaker probes >= 1, failure_ppm <= 1000000, open_ms >= 1";
  return {};
}

}  // namespace txengine
