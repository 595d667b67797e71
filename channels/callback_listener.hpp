#pragma once
// The providers' callbacks (issue 15, item 3): an HTTP endpoint of the engine (cpp-httplib,
// Debian's libcpp-httplib-dev, on its own bounded threads: never a CAF worker) where each
// provider POSTs an order's final state to /callbacks/CHANNEL_ID, signed as txprovider-sim signs
// (docs/channels.md). A callback is believed only when its signature, key and timestamp check;
// then it is read by the core's table (core/provider_answer.hpp) like a query's answer and handed
// to the order's host, where the first definitive answer wins and a different later one raises
// `conflicting_outcome` (core/order_core.cpp). Here: duplicates (same event id) are dropped; a
// definitive callback contradicting an earlier one for the same order is alerted even after the
// order left memory; a callback for an order this node does not hold is kept (the last
// `unknown_kept_max`) and alerted. Bounded everywhere: body size, threads, remembered events.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/types.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/channel_settings.hpp"

namespace txengine {

struct callback_listener_config {
  std::string host = "127.0.0.1";
  int port = 0;  //!< 0: any free port (port() says which)
  size_t threads = 8;
  //! Events remembered for de-duplication and contradiction checks (the oldest are forgotten).
  size_t events_remembered_max = 1 << 18;
  size_t unknown_kept_max = 1024;
  int64_t max_clock_skew_ms = 300'000;
};

struct callback_counters {
  uint64_t received = 0, unauthorized = 0, malformed = 0, duplicates = 0, stale = 0, delivered = 0, contradictions = 0,
           unknown_orders = 0;
};

//! A callback for an order this node does not hold, kept for the operator.
struct kept_callback {
  channel_id channel = 0;
  std::string body;
};

class callback_listener {
 public:
  //! `route`: the host of an order id, or nullptr when this node does not hold it.
  using router = std::function<const order_host_actor*(order_id)>;
  //! Binds; nullptr and `error` when it cannot.
  static std::unique_ptr<callback_listener> start(const callback_listener_config& config,
                                                  const std::vector<std::pair<channel_id, http_provider_settings>>& providers,
                                                  router route, std::string& error);
  ~callback_listener();
  //! Until ready (the hosts exist), callbacks are answered 503 and the provider sends them again.
  void set_ready(bool ready);
  int port() const;
  callback_counters counters() const;
  std::vector<kept_callback> kept() const;

  struct impl;

 private:
  explicit callback_listener(std::unique_ptr<impl> self);
  std::unique_ptr<impl> self_;
};

}  // namespace txengine
