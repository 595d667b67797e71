#include "core/types.hpp"

namespace txengine {

std::string_view to_string(wallet_kind k) {
  switch (k) {
    case wallet_kind::user: return "user";
    case wallet_kind::merchant: return "merchant";
    case wallet_kind::system: return "system";
    case wallet_kind::fee: return "fee";
  }
  return "invalid";
}

std::string_view to_string(wallet_status s) {
  switch (s) {
    case wallet_status::active: return "active";
    case wallet_status::frozen: return "frozen";
    case wallet_status::closed: return "closed";
  }
  return "invalid";
}

std::string_view to_string(order_kind k) {
  switch (k) {
    case order_kind::top_up: return "top_up";
    case order_kind::pay: return "pay";
    case order_kind::withdraw: return "withdraw";
    case order_kind::transfer: return "transfer";
    case order_kind::refund: return "refund";
    case order_kind::commission: return "commission";
  }
  return "invalid";
}

std::string_view to_string(order_state s) {
  switch (s) {
    case order_state::received: return "received";
    case order_state::trying: return "trying";
    case order_state::processing: return "processing";
    case order_state::confirming: return "confirming";
    case order_state::cancelling: return "cancelling";
    case order_state::succeeded: return "succeeded";
    case order_state::failed: return "failed";
  }
  return "invalid";
}

std::string_view to_string(leg_type t) {
  switch (t) {
    case leg_type::debit_hold: return "debit_hold";
    case leg_type::debit_direct: return "debit_direct";
    case leg_type::credit_incoming: return "credit_incoming";
    case leg_type::credit_on_confirm: return "credit_on_confirm";
  }
  return "invalid";
}

std::string_view to_string(tcc_phase p) {
  switch (p) {
    case tcc_phase::try_: return "try";
    case tcc_phase::confirm: return "confirm";
    case tcc_phase::cancel: return "cancel";
  }
  return "invalid";
}

bool parse_wallet_kind(std::string_view text, wallet_kind& out) {
  for (auto k : {wallet_kind::user, wallet_kind::merchant, wallet_kind::system, wallet_kind::fee})
    if (to_string(k) == text) {
      out = k;
      return true;
    }
  return false;
}

bool parse_order_kind(std::string_view text, order_kind& out) {
  for (auto k : {order_kind::top_up, order_kind::pay, order_kind::withdraw, order_kind::transfer,
                 order_kind::refund, order_kind::commission})
    if (to_string(k) == text) {
      out = k;
      return true;
    }
  return false;
}

}  // namespace txengine
