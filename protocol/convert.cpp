#include "protocol/convert.hpp"

namespace txengine::wire {

namespace {

currency parse_currency(const std::string& code) {
  auto cur = currency::parse(code);
  return cur ? *cur : currency{};
}

}  // namespace

namespace {

//! The fields every order command carries: kind, request id, amount and currency.
template <class Message>
void common_fields(const Message& r, order_kind kind, order_command& out) {
  out.kind = kind;
  out.request_id = r.request_id();
  out.amount = r.amount();
  out.cur = parse_currency(r.currency());
}

//! Transfer and commission have the same shape: from, to, amount, currency.
template <class Message>
void from_to(const Message& r, order_kind kind, order_command& out) {
  common_fields(r, kind, out);
  out.source = r.from();
  out.destination = r.to();
}

}  // namespace

bool to_command(const Request& request, tenant_id tenant, order_command& out) {
  out = order_command{};
  out.tenant = tenant;
  switch (request.command_case()) {
    case Request::kTopUp: {
      const auto& r = request.top_up();
      common_fields(r, order_kind::top_up, out);
      out.destination = r.wallet();
      out.channel = r.channel();
      return true;
    }
    case Request::kPay: {
      const auto& r = request.pay();
      common_fields(r, order_kind::pay, out);
      out.source = r.payer();
      out.destination = r.merchant();
      out.fee_wallet = r.fee_wallet();
      out.fee_amount = r.fee_amount();
      return true;
    }
    case Request::kWithdraw: {
      const auto& r = request.withdraw();
      common_fields(r, order_kind::withdraw, out);
      out.source = r.wallet();
      out.channel = r.channel();
      return true;
    }
    case Request::kTransfer:
      from_to(request.transfer(), order_kind::transfer, out);
      return true;
    case Request::kCommission:
      from_to(request.commission(), order_kind::commission, out);
      return true;
    case Request::kRefund: {
      const auto& r = request.refund();
      common_fields(r, order_kind::refund, out);
      out.original_order = r.original_order();
      return true;
    }
    default:
      return false;
  }
}

void to_wire(const balances& b, Balances* out) {
  out->set_available(b.available);
  out->set_frozen(b.frozen);
  out->set_incoming(b.incoming);
}

void to_wire(const order_reply& reply, Order* out) {
  out->set_order_id(reply.id);
  out->set_request_id(reply.request_id);
  out->set_kind(static_cast<OrderKind>(reply.kind));
  out->set_state(static_cast<OrderState>(reply.state));
  out->set_amount(reply.amount);
  out->set_posted_amount(reply.posted_amount);
  if (reply.cur.valid())
    out->set_currency(reply.cur.code());
  else
    out->clear_currency();
  out->set_source(reply.source);
  out->set_destination(reply.destination);
  out->clear_wallets();  // sets every field, so a reused message can be filled again
  for (const auto& w : reply.wallets) {
    auto* wb = out->add_wallets();
    wb->set_wallet(w.wallet);
    to_wire(w.after, wb->mutable_balances());
  }
  out->set_created_ms(reply.created_ms);
  out->set_finished_ms(reply.finished_ms);
  out->set_duplicate(reply.duplicate);
  out->clear_movements();
  for (const auto& m : reply.movements) {
    auto* wire = out->add_movements();
    to_wire(m.entry, wire);
    wire->set_wallet(m.wallet);
  }
}

void to_wire(const wallet_view& view, Wallet* out) {
  out->set_wallet(view.info.id);
  out->set_kind(static_cast<WalletKind>(view.info.kind));
  out->set_status(static_cast<WalletStatus>(view.info.status));
  if (view.info.cur.valid()) out->set_currency(view.info.cur.code());
  out->set_overdraft_limit(view.info.overdraft_limit);
  to_wire(view.current, out->mutable_balances());
  out->set_open_transactions(view.open_transactions);
  out->set_journal_sequence(view.journal_sequence);
}

void to_wire(const journal_entry& entry, Movement* out) {
  out->set_sequence(entry.sequence);
  out->set_order_id(entry.txn);
  out->set_phase(static_cast<uint32_t>(entry.phase));
  to_wire(entry.delta, out->mutable_delta());
  to_wire(entry.after, out->mutable_after());
  out->set_at_ms(entry.at_ms);
}

}  // namespace txengine::wire
