#pragma once
// Conversions between the wire messages and the engine's types.
#include <vector>

#include "ports/messages.hpp"
#include "txengine.pb.h"

namespace txengine::wire {

//! True if `request` is one of the six order commands (top-up, pay, withdraw, transfer,
//! refund, commission); then `out` is the engine command for `tenant`. Field checks are left
//! to the engine's validation ladder so the wire gets the same codes as every other client.
bool to_command(const Request& request, tenant_id tenant, order_command& out);

void to_wire(const order_reply& reply, Order* out);
void to_wire(const wallet_view& view, Wallet* out);
void to_wire(const journal_entry& entry, Movement* out);
void to_wire(const balances& b, Balances* out);

}  // namespace txengine::wire
