#pragma once
// What an order with a payment provider does with the provider's answer (issue 15, item 4):
// one table, order kind x answer -> next step, tested row by row (tests/core/channel_decision_test.cpp).
//
// The rule it encodes (seed 002's first fund-loss rule): **unknown is never failure.** A timeout,
// "processing", an error or "not found" moves no money and fails nothing. Only a definitive
// answer of the provider does: succeeded (money moved, maybe less: partial), declined, or closed
// (an order the provider closed on request: it will never be paid). "Not found" long after the
// submit means the submit may never have arrived:
// - money going out (a payout, `withdraw`) is **submitted again under the same order id**: a
//   provider takes one order per order id (the provider contract, docs/channels.md), so a payout
//   it already has is answered, not paid again; one it never received is now received. Failing it
//   instead would give the money back to the wallet while the provider may still pay it out.
// - money coming in (`top_up`) is **closed at the provider**: closed -> failed; already paid ->
//   succeeded; no answer -> ask again. Failing it without closing would lose a payment that
//   arrives later. The same once money coming in is still unpaid ("processing") past its
//   payment deadline (a QR code the payer never used): closed at the provider, never failed
//   without that close.
// Plain C++: no CAF, MySQL or HTTP include.
#include <cstdint>
#include <string_view>

#include "core/types.hpp"

namespace txengine {

//! What a provider said about an order (a submit's answer, a query's, a close's, a callback).
enum class channel_outcome : uint8_t {
  succeeded = 0,  //!< definitive; carries the settled amount (may be less: partial)
  declined = 1,   //!< definitive: nothing moved, nothing will
  unknown = 2,    //!< still processing, a timeout or an error: says nothing definitive
  not_found = 3,  //!< the provider has no such order (yet)
  closed = 4,     //!< definitive: closed on request before it was paid; it never will be
};
std::string_view to_string(channel_outcome outcome);

//! The order's next step after an answer.
enum class channel_step : uint8_t {
  wait,      //!< keep the money where it is; ask again later (with backoff)
  resubmit,  //!< submit again under the same order id (a payout the provider may never have received)
  close,     //!< ask the provider to close the order (money coming in, not found past the window)
  succeed,   //!< definitive success: confirm the settled amount
  fail,      //!< definitive: no money moved and none will; cancel the holds
};
std::string_view to_string(channel_step step);

//! The table. `overdue`: a "not found" this long after the (last) submit that the provider
//! should know the order by now (order_config::channel_not_found_final_ms). `payment_expired`:
//! money coming in still unpaid past its payment deadline (order_config::payment_deadline_ms).
channel_step decide_channel(order_kind kind, channel_outcome answer, bool overdue, bool payment_expired = false);

}  // namespace txengine
