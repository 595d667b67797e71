#include "core/result_code.hpp"

namespace txengine {

std::string_view to_string(result_code code) {
  switch (code) {
    case result_code::ok: return "ok";
    case result_code::invalid_amount: return "invalid_amount";
    case result_code::amount_overflow: return "amount_overflow";
    case result_code::invalid_currency: return "invalid_currency";
    case result_code::invalid_request_id: return "invalid_request_id";
    case result_code::invalid_argument: return "invalid_argument";
    case result_code::request_too_large: return "request_too_large";
    case result_code::same_wallet: return "same_wallet";
    case result_code::invalid_limit: return "invalid_limit";
    case result_code::unknown_wallet: return "unknown_wallet";
    case result_code::wallet_frozen: return "wallet_frozen";
    case result_code::wallet_closed: return "wallet_closed";
    case result_code::currency_mismatch: return "currency_mismatch";
    case result_code::tenant_mismatch: return "tenant_mismatch";
    case result_code::insufficient_funds: return "insufficient_funds";
    case result_code::wallet_not_empty: return "wallet_not_empty";
    case result_code::wallet_kind_not_allowed: return "wallet_kind_not_allowed";
    case result_code::tcc_cancelled: return "tcc_cancelled";
    case result_code::tcc_confirmed: return "tcc_confirmed";
    case result_code::tcc_not_tried: return "tcc_not_tried";
    case result_code::confirm_exceeds_tried: return "confirm_exceeds_tried";
    case result_code::tcc_deadline_passed: return "tcc_deadline_passed";
    case result_code::tcc_conflict: return "tcc_conflict";
    case result_code::duplicate_conflict: return "duplicate_conflict";
    case result_code::unknown_order: return "unknown_order";
    case result_code::refund_exceeds_original: return "refund_exceeds_original";
    case result_code::original_not_refundable: return "original_not_refundable";
    case result_code::invalid_transition: return "invalid_transition";
    case result_code::channel_declined: return "channel_declined";
    case result_code::try_deadline_exceeded: return "try_deadline_exceeded";
    case result_code::unknown_channel: return "unknown_channel";
    case result_code::no_route: return "no_route";
    case result_code::overloaded: return "overloaded";
    case result_code::wallet_busy: return "wallet_busy";
    case result_code::unavailable: return "unavailable";
    case result_code::channel_busy: return "channel_busy";
    case result_code::unauthenticated: return "unauthenticated";
    case result_code::stale_request: return "stale_request";
    case result_code::malformed_request: return "malformed_request";
    case result_code::frame_too_large: return "frame_too_large";
    case result_code::replayed_request: return "replayed_request";
    case result_code::rate_limited: return "rate_limited";
    case result_code::forbidden: return "forbidden";
  }
  return "unknown_result_code";
}

}  // namespace txengine
