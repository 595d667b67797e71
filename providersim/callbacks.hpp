#pragma once
// When txprovider-sim notifies the engine of an order's final state, and how it misbehaves
// doing so (lost, late, duplicated, a stale "processing" sent after the final one), drawn from
// the run's seed and the order id; and when it tries again after a delivery that was not
// answered 2xx. Pure: time is passed in.
#include <cstdint>
#include <string>
#include <vector>

#include "providersim/profile.hpp"
#include "providersim/provider_book.hpp"

namespace txprovider {

struct callback_delivery {
  int64_t due_ms = 0;
  order_view view;        //!< what it says (a stale one says processing)
  std::string event_id;   //!< the same for the copies of one notification
  uint32_t attempt = 0;   //!< deliveries of this copy so far
};

//! The notifications of `view` (just final at `now_ms`): none when lost; one, later by the
//! drawn delay; a duplicate of it; a stale processing one after it.
std::vector<callback_delivery> plan_callbacks(const profile& settings, const order_view& view, int64_t now_ms);

//! The next try of a delivery that failed at `now_ms`, or false when its retries are spent.
bool retry_callback(const profile& settings, callback_delivery& delivery, int64_t now_ms);

}  // namespace txprovider
