#include "core/order_command.hpp"

#include "core/limits.hpp"

namespace txengine {

namespace {

bool needs_source(order_kind k) { return k != order_kind::top_up && k != order_kind::refund; }
bool needs_destination(order_kind k) {
  return k != order_kind::withdraw && k != order_kind::refund;
}
bool uses_channel(order_kind k) { return k == order_kind::top_up || k == order_kind::withdraw; }

}  // namespace

result_code validate(const order_command& c) {
  if (c.request_id.empty() || c.request_id.size() > limits::request_id_length_max)
    return result_code::invalid_request_id;
  if (c.tenant == 0) return result_code::invalid_argument;
  if (static_cast<uint8_t>(c.kind) > static_cast<uint8_t>(order_kind::commission))
    return result_code::invalid_argument;
  if (c.amount <= 0) return result_code::invalid_amount;
  if (!c.cur.valid()) return result_code::invalid_currency;
  if (needs_source(c.kind) != (c.source != no_wallet)) return result_code::invalid_argument;
  if (needs_destination(c.kind) != (c.destination != no_wallet)) return result_code::invalid_argument;
  if (c.kind == order_kind::refund) {
    if (c.original_order == 0) return result_code::invalid_argument;
  } else if (c.original_order != 0 || c.home != no_wallet) {
    return result_code::invalid_argument;
  }
  // A channel order may name its provider (channel) or leave it to the engine's routes (0).
  if (!uses_channel(c.kind) && c.channel != 0) return result_code::invalid_argument;
  if (c.kind == order_kind::pay) {
    if (c.fee_amount < 0) return result_code::invalid_amount;
    if (c.fee_amount >= c.amount) return result_code::invalid_amount;  // the merchant gets something
    if ((c.fee_amount > 0) != (c.fee_wallet != no_wallet)) return result_code::invalid_argument;
    if (c.fee_wallet != no_wallet && (c.fee_wallet == c.source || c.fee_wallet == c.destination))
      return result_code::same_wallet;
  } else if (c.fee_amount != 0 || c.fee_wallet != no_wallet) {
    return result_code::invalid_argument;
  }
  if (c.source != no_wallet && c.source == c.destination) return result_code::same_wallet;
  return result_code::ok;
}

}  // namespace txengine
