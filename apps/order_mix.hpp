#pragma once
// The mixed workload of the demo and of bench_soak: 30% transfers, 30% payments (half with a fee
// split), 10% top-ups, 10% withdrawals, 15% refunds of earlier payments (now and then more than
// is left, to be refused), 5% commissions from the fee wallet.
#include <cstdint>
#include <random>
#include <vector>

#include "core/order_command.hpp"

namespace txengine {

//! A succeeded payment the mix may refund, and how much it already asked back.
struct refundable_payment {
  order_id id = 0;
  int64_t amount = 0;
  int64_t refund_requested = 0;
};

struct order_mix {
  std::vector<wallet_id> users;  //!< at least two
  std::vector<wallet_id> merchants;
  wallet_id fee_wallet = no_wallet;
  channel_id channel = 1;  //!< of top-ups and withdrawals
};

//! Picks the next order of the mix into `c` (its tenant, request id, currency and amount set
//! before): kind, wallets, channel, fee split, and the amount of refunds and commissions.
void pick_mixed_order(std::mt19937_64& rng, const order_mix& mix, std::vector<refundable_payment>& paid,
                      order_command& c);

}  // namespace txengine
