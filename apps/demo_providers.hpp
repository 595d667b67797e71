#pragma once
// The demo's payment providers: two txprovider-sim processes (docs/channels.md) the engine reaches
// over HTTP, with routing between them and their signed callbacks, and the reconciliation of every
// channel order the demo ran against the providers' own daily statements.
//   provider 7: misbehaves (declines, partial payouts, 5xx before and after processing, requests
//               that never arrive or are never answered, lost, late, duplicated and stale
//               callbacks); it declares "invalid_account" as a decline that moves nothing.
//   provider 8: pays everything; it takes what provider 7 refused with that code.
// Route: every top-up and payout that names no channel goes to 7 first, then 8.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/order_state.hpp"
#include "core/types.hpp"
#include "node/engine.hpp"

namespace txengine {

class provider_sim_process;

//! A channel order as the demo's client saw it end.
struct demo_channel_order {
  order_id id = 0;
  order_state state = order_state::trying;
  int64_t posted_amount = 0;
};

class demo_providers {
 public:
  static constexpr channel_id flaky = 7;
  static constexpr channel_id steady = 8;

  //! Starts both providers (`binary`: the txprovider-sim program) and points `config` at them:
  //! their channels replace the simulated ones, the route, the callback endpoint. nullptr and
  //! `error` when they cannot start.
  static std::unique_ptr<demo_providers> start(const std::string& binary, engine_config& config, std::string& error);
  ~demo_providers();

  //! One line per provider: where it listens, what it does.
  std::string describe() const;

  struct reconciliation {
    size_t orders = 0;       //!< channel orders the demo saw end
    size_t matched = 0;      //!< the engine and the providers agree
    size_t rerouted = 0;     //!< succeeded at provider 8 after provider 7 refused it
    std::vector<std::string> mismatches;  //!< the first few disagreements
    std::string provider_counts;          //!< what the providers counted (requests, faults injected)
    bool ok() const { return mismatches.empty() && matched == orders; }
  };
  //! Every channel order against both providers' statements (the days since start): a succeeded
  //! order is paid at exactly one provider with the engine's amount; a failed one at none.
  reconciliation reconcile(const std::vector<demo_channel_order>& orders) const;

 private:
  demo_providers() = default;
  std::string dir_;
  int64_t started_ms_ = 0;
  std::unique_ptr<provider_sim_process> flaky_, steady_;
};

//! The txprovider-sim program next to the running executable ("" when there is none).
std::string provider_sim_next_to_self();

}  // namespace txengine
