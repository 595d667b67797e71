#pragma once
// A client's command that creates an order, and its validation ladder.
#include <string>

#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {

struct order_command {
  tenant_id tenant = 0;
  //! Client request id, unique per tenant: the idempotency key.
  std::string request_id;
  order_kind kind = order_kind::transfer;
  //! pay: payer; transfer: sender; withdraw: user; commission: the platform fee wallet.
  wallet_id source = no_wallet;
  //! pay: merchant; transfer: receiver; top_up: user; commission: merchant.
  wallet_id destination = no_wallet;
  int64_t amount = 0;
  currency cur;
  //! pay only: part of the amount that goes to a fee wallet instead of the merchant.
  wallet_id fee_wallet = no_wallet;
  int64_t fee_amount = 0;
  //! refund only: the succeeded payment being refunded (its payer and merchant are used).
  order_id original_order = 0;
  //! top_up and withdraw: the external payment provider.
  channel_id channel = 0;
  //! refund only, set by a cluster node before it routes the refund (never by a client): the
  //! home wallet of the original payment, so that the refund runs, is stored and is fenced where
  //! the original's refund allowance lives (docs/cluster.md, "Refunds in a cluster"). no_wallet
  //! outside a cluster and for an original that is not a payment of the refund's tenant. Not
  //! content: a repeat is the same order whatever its home.
  wallet_id home = no_wallet;

  //! Same content, request id aside: decides "same order" versus "conflict" on a repeat.
  bool same_content(const order_command& other) const {
    return tenant == other.tenant && kind == other.kind && source == other.source &&
           destination == other.destination && amount == other.amount && cur == other.cur &&
           fee_wallet == other.fee_wallet && fee_amount == other.fee_amount &&
           original_order == other.original_order && channel == other.channel;
  }
};

//! The validation ladder, in precedence order: the same bad input always gets the same code.
//! Checks what can be known without touching a wallet; wallets check the rest.
result_code validate(const order_command& command);

}  // namespace txengine
