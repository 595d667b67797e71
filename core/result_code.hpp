#pragma once
// One result-code enum for every business rejection. Rejections are values, never
// exceptions across actor boundaries. The numeric values are part of the wire protocol:
// append new codes, never renumber.
#include <cstdint>
#include <string_view>

namespace txengine {

enum class result_code : uint16_t {
  ok = 0,
  // Input validation (nothing was changed).
  invalid_amount = 1,           //!< zero or negative amount
  amount_overflow = 2,          //!< the amount would overflow a balance or a sum
  invalid_currency = 3,         //!< not three upper-case letters
  invalid_request_id = 4,       //!< empty or longer than the limit
  invalid_argument = 5,         //!< a field is missing or contradicts another
  request_too_large = 6,        //!< a batch or field exceeds its limit
  same_wallet = 7,              //!< the same wallet appears twice in one order
  invalid_limit = 8,            //!< a negative overdraft limit
  // Wallet rules.
  unknown_wallet = 20,
  wallet_frozen = 21,           //!< frozen wallets accept credits but no debits
  wallet_closed = 22,
  currency_mismatch = 23,
  tenant_mismatch = 24,         //!< reserved, no longer produced: another tenant's wallet or order is
                                //!< answered unknown_wallet / unknown_order, so its existence stays hidden
  insufficient_funds = 25,
  wallet_not_empty = 26,        //!< closing needs zero balances and no open transactions
  wallet_kind_not_allowed = 27, //!< e.g. a system wallet used as a payer
  // TCC participant.
  tcc_cancelled = 40,           //!< try after cancel (no hanging) or confirm after cancel
  tcc_confirmed = 41,           //!< cancel after confirm
  tcc_not_tried = 42,           //!< confirm without a successful try
  confirm_exceeds_tried = 43,   //!< partial confirm may post less, never more
  tcc_deadline_passed = 44,     //!< try arriving after the order's try deadline
  tcc_conflict = 45,            //!< same transaction id, different leg content
  // Orders.
  duplicate_conflict = 60,      //!< same request id, different content
  unknown_order = 61,
  refund_exceeds_original = 62,
  original_not_refundable = 63, //!< the original is not a succeeded payment
  invalid_transition = 64,
  channel_declined = 65,        //!< the provider definitively refused
  try_deadline_exceeded = 66,   //!< the try phase did not complete in time; compensated
  unknown_channel = 67,
  no_route = 68,                //!< the order names no channel and no route of the engine takes it
  // Retryable: nothing changed, try again later.
  overloaded = 80,              //!< an in-flight limit is reached
  wallet_busy = 81,             //!< the wallet has too many open transactions
  unavailable = 82,             //!< storage or a dependency is down
  channel_busy = 83,            //!< the provider's queue is full
  rate_limited = 84,            //!< the key's request rate (rate_per_s, burst) is used up for now
  // Wire protocol (protocol/): the request was not executed, nothing changed.
  unauthenticated = 90,         //!< unknown key id or wrong signature
  stale_request = 91,           //!< timestamp outside the accepted window
  malformed_request = 92,       //!< the frame or envelope could not be decoded, or has no command
  frame_too_large = 93,         //!< a frame longer than the maximum frame size
  replayed_request = 94,        //!< this signed frame was already received (a replay); not executed
  forbidden = 95,               //!< the key may not do this (scope, amount or limit bound); not executed
};

//! Stable snake_case name of a code, as shown to users and in JSON.
std::string_view to_string(result_code code);

//! True for codes where the same request may succeed later without any change by the caller.
constexpr bool is_retryable(result_code code) {
  return code == result_code::overloaded || code == result_code::wallet_busy ||
         code == result_code::unavailable || code == result_code::channel_busy || code == result_code::rate_limited;
}

}  // namespace txengine
