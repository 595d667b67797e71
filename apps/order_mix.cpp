#include "apps/order_mix.hpp"

#include <algorithm>

namespace txengine {

void pick_mixed_order(std::mt19937_64& rng, const order_mix& mix, std::vector<refundable_payment>& paid,
                      order_command& c) {
  const auto& users = mix.users;
  const auto& merchants = mix.merchants;
  unsigned dice = static_cast<unsigned>(rng() % 100);
  if (dice < 30) {
    c.kind = order_kind::transfer;
    size_t a = rng() % users.size();
    size_t b = rng() % (users.size() - 1);
    if (b >= a) ++b;
    c.source = users[a];
    c.destination = users[b];
  } else if (dice < 60) {
    c.kind = order_kind::pay;
    c.source = users[rng() % users.size()];
    c.destination = merchants[rng() % merchants.size()];
    if (rng() % 2 == 0) {
      c.fee_wallet = mix.fee_wallet;
      c.fee_amount = c.amount / 50 + 1;
    }
  } else if (dice < 70) {
    c.kind = order_kind::top_up;
    c.destination = users[rng() % users.size()];
    c.channel = mix.channel;
  } else if (dice < 80) {
    c.kind = order_kind::withdraw;
    c.source = users[rng() % users.size()];
    c.channel = mix.channel;
  } else if (dice < 95 && !paid.empty()) {
    c.kind = order_kind::refund;
    refundable_payment& original = paid[rng() % paid.size()];
    c.original_order = original.id;
    // Mostly within what is left; now and then more than the payment, to be refused.
    int64_t left = original.amount - original.refund_requested;
    c.amount = (left > 1 && rng() % 10 != 0) ? 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(left))
                                             : original.amount + 1;
    original.refund_requested += std::min(c.amount, std::max<int64_t>(left, 0));
  } else {
    c.kind = order_kind::commission;
    c.source = mix.fee_wallet;
    c.destination = merchants[rng() % merchants.size()];
    c.amount = 1 + static_cast<int64_t>(rng() % 500);
  }
}

}  // namespace txengine
