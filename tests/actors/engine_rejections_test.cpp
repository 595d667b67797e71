// Every rejection code reachable through the engine, with the bad input that reaches it;
// each time nothing may change (balances, audit).
#include <string>

#include <gtest/gtest.h>

#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

//! A funded world: users a and b, a merchant, a fee wallet, and a succeeded payment.
class EngineRejections : public ::testing::Test {
 protected:
  void SetUp() override {
    a = h.wallet(wallet_kind::user);
    b = h.wallet(wallet_kind::user);
    merchant = h.wallet(wallet_kind::merchant);
    fee = h.wallet(wallet_kind::fee);
    h.fund(a, 10'000);
    h.fund(b, 10'000);
    paid = h.must_succeed(h.pay(a, merchant, 2'000, fee, 100)).id;
    h.expect_conserved();
  }

  virtual_harness h;
  wallet_id a = no_wallet, b = no_wallet, merchant = no_wallet, fee = no_wallet;
  order_id paid = 0;
};

TEST_F(EngineRejections, InvalidAmount) {
  h.expect_refused(h.transfer(a, b, 0), result_code::invalid_amount);
  h.expect_refused(h.transfer(a, b, -5), result_code::invalid_amount);
  h.expect_refused(h.top_up(a, 0), result_code::invalid_amount);
  h.expect_refused(h.withdraw(a, -1), result_code::invalid_amount);
  h.expect_refused(h.refund(paid, 0), result_code::invalid_amount);
  h.expect_refused(h.commission(fee, merchant, -100), result_code::invalid_amount);
  h.expect_refused(h.pay(a, merchant, 0), result_code::invalid_amount);
  h.expect_refused(h.pay(a, merchant, 100, fee, 100), result_code::invalid_amount);  // merchant gets nothing
  h.expect_refused(h.pay(a, merchant, 100, fee, -1), result_code::invalid_amount);
}

TEST_F(EngineRejections, InvalidCurrency) {
  h.expect_refused(h.transfer(a, b, 100, tenant, currency{}), result_code::invalid_currency);
  h.expect_refused(h.top_up(a, 100, good_channel, tenant, currency{0x757364}), result_code::invalid_currency);  // "usd"
  EXPECT_FALSE(currency::parse("US").has_value());
}

TEST_F(EngineRejections, InvalidRequestId) {
  order_command c = h.transfer(a, b, 100);
  c.request_id = "";
  h.expect_refused(c, result_code::invalid_request_id);
  c.request_id = std::string(65, 'x');
  h.expect_refused(c, result_code::invalid_request_id);
  c.request_id = std::string(64, 'x');  // the longest accepted
  h.must_succeed(c);
  h.expect_conserved();
}

TEST_F(EngineRejections, InvalidArgumentMissingOrExtraFields) {
  order_command c = h.top_up(a, 100);
  c.destination = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.pay(a, merchant, 100);
  c.channel = 1;  // only a top-up or payout names a provider (one that names none is routed)
  h.expect_refused(c, result_code::invalid_argument);
  c = h.top_up(a, 100);
  c.source = b;
  h.expect_refused(c, result_code::invalid_argument);

  c = h.pay(a, merchant, 100);
  c.source = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.pay(a, merchant, 100);
  c.destination = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.pay(a, merchant, 100, fee, 0);  // a fee wallet without a fee
  h.expect_refused(c, result_code::invalid_argument);
  c = h.pay(a, merchant, 100, no_wallet, 10);  // a fee without a fee wallet
  h.expect_refused(c, result_code::invalid_argument);

  c = h.withdraw(a, 100);
  c.source = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.withdraw(a, 100);
  c.destination = b;
  h.expect_refused(c, result_code::invalid_argument);

  c = h.transfer(a, b, 100);
  c.source = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.transfer(a, b, 100);
  c.destination = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.transfer(a, b, 100);
  c.channel = good_channel;
  h.expect_refused(c, result_code::invalid_argument);

  c = h.refund(paid, 100);
  c.original_order = 0;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.refund(paid, 100);
  c.source = a;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.transfer(a, b, 100);
  c.original_order = paid;
  h.expect_refused(c, result_code::invalid_argument);

  c = h.commission(fee, merchant, 100);
  c.source = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.commission(fee, merchant, 100);
  c.destination = no_wallet;
  h.expect_refused(c, result_code::invalid_argument);

  c = h.transfer(a, b, 100);
  c.tenant = 0;
  h.expect_refused(c, result_code::invalid_argument);
  c = h.transfer(a, b, 100);
  c.kind = static_cast<order_kind>(17);
  h.expect_refused(c, result_code::invalid_argument);
}

TEST_F(EngineRejections, SameWallet) {
  h.expect_refused(h.transfer(a, a, 100), result_code::same_wallet);
  h.expect_refused(h.pay(merchant, merchant, 100), result_code::same_wallet);
  h.expect_refused(h.pay(a, merchant, 100, a, 10), result_code::same_wallet);
  h.expect_refused(h.pay(a, merchant, 100, merchant, 10), result_code::same_wallet);
  h.expect_refused(h.commission(fee, fee, 10), result_code::same_wallet);
}

// When one wallet refuses a try because it is unknown, of another currency or of another
// tenant, the order compensates with cancels on every leg; the cancel sent to that same
// wallet has nothing to undo and must succeed, so the order fails with the wallet's reason
// (it once retried that cancel forever).

TEST_F(EngineRejections, UnknownWalletFailsTheOrderAndMovesNothing) {
  // Queries and admin of an unknown wallet answer at once.
  const wallet_id ghost = 987'654;
  EXPECT_EQ(h.eng.get_wallet(tenant, ghost).code, result_code::unknown_wallet);
  EXPECT_EQ(h.eng.admin(tenant, ghost, admin_op::freeze).code, result_code::unknown_wallet);
  EXPECT_EQ(h.eng.movements(tenant, ghost, 0, 10).first, result_code::unknown_wallet);
  h.patience = 3s;
  h.expect_failed(h.transfer(a, ghost, 100), result_code::unknown_wallet);
  h.expect_failed(h.transfer(ghost, a, 100), result_code::unknown_wallet);
  h.expect_failed(h.top_up(ghost, 100), result_code::unknown_wallet);
  h.expect_failed(h.withdraw(ghost, 100), result_code::unknown_wallet);
  h.expect_failed(h.pay(a, ghost, 100), result_code::unknown_wallet);
  h.expect_failed(h.pay(a, merchant, 100, ghost, 10), result_code::unknown_wallet);
  h.expect_failed(h.commission(ghost, merchant, 10), result_code::unknown_wallet);
}

TEST_F(EngineRejections, CurrencyMismatchOfARefund) {
  h.expect_failed(h.refund(paid, 100, tenant, eur), result_code::currency_mismatch);
  h.expect_conserved();
}

TEST_F(EngineRejections, CurrencyMismatch) {
  h.patience = 3s;
  wallet_id euro = h.wallet(wallet_kind::user, tenant, eur);
  h.fund(euro, 5'000, tenant, eur);
  h.expect_failed(h.transfer(a, euro, 100), result_code::currency_mismatch);
  h.expect_failed(h.transfer(euro, a, 100), result_code::currency_mismatch);
  h.expect_failed(h.top_up(euro, 100), result_code::currency_mismatch);
  h.expect_failed(h.pay(euro, merchant, 100), result_code::currency_mismatch);
  h.expect_conserved();
  EXPECT_EQ(h.balance(euro), avail(5'000));
  EXPECT_EQ(h.balance(h.system(tenant, eur)), avail(-5'000));
}

TEST_F(EngineRejections, OtherTenantQueriesAdminAndRefundsAnswerAsUnknown) {
  // Tenant 2 cannot refund tenant 1's payment: for tenant 2 it does not exist.
  h.expect_failed(h.refund(paid, 100, other_tenant), result_code::unknown_order);
  // Queries and admin of another tenant's wallet: answered as for a wallet that does not exist.
  EXPECT_EQ(h.eng.get_wallet(other_tenant, a).code, result_code::unknown_wallet);
  EXPECT_EQ(h.eng.get_wallet(other_tenant, a).current, balances{});  // nothing leaks
  EXPECT_EQ(h.eng.admin(other_tenant, a, admin_op::freeze).code, result_code::unknown_wallet);
  EXPECT_EQ(h.eng.admin(other_tenant, a, admin_op::close).code, result_code::unknown_wallet);
  EXPECT_EQ(h.eng.admin(other_tenant, a, admin_op::set_overdraft_limit, 1'000'000).code,
            result_code::unknown_wallet);
  EXPECT_EQ(h.eng.movements(other_tenant, a, 0, 10).first, result_code::unknown_wallet);
  EXPECT_TRUE(h.eng.movements(other_tenant, a, 0, 10).second.empty());
  // Nothing of that changed wallet a: still active, no overdraft.
  wallet_view v = h.eng.get_wallet(tenant, a);
  EXPECT_EQ(v.info.status, wallet_status::active);
  EXPECT_EQ(v.info.overdraft_limit, 0);
  EXPECT_EQ(v.current, avail(8'000));
  h.expect_conserved();
}

TEST_F(EngineRejections, OtherTenantWalletInAnOrderAnswersAsUnknown) {
  h.patience = 3s;
  wallet_id foreign = h.wallet(wallet_kind::user, other_tenant);
  wallet_id foreign_merchant = h.wallet(wallet_kind::merchant, other_tenant);
  h.fund(foreign, 5'000, other_tenant);
  // A wallet of tenant 2 in an order of tenant 1, either side: as if it did not exist.
  h.expect_failed(h.transfer(a, foreign, 100), result_code::unknown_wallet);
  h.expect_failed(h.transfer(foreign, a, 100), result_code::unknown_wallet);
  h.expect_failed(h.top_up(foreign, 100), result_code::unknown_wallet);
  h.expect_failed(h.withdraw(foreign, 100), result_code::unknown_wallet);
  h.expect_failed(h.pay(a, foreign_merchant, 100), result_code::unknown_wallet);
  h.expect_conserved();
}

TEST_F(EngineRejections, InsufficientFunds) {
  h.expect_failed(h.transfer(a, b, 8'001), result_code::insufficient_funds);
  h.expect_failed(h.withdraw(a, 8'001), result_code::insufficient_funds);
  h.expect_failed(h.pay(a, merchant, 8'001), result_code::insufficient_funds);
  h.expect_failed(h.commission(fee, merchant, 101), result_code::insufficient_funds);
  h.expect_failed(h.refund(paid, 1'901), result_code::insufficient_funds);  // merchant holds 1'900
  h.must_succeed(h.transfer(a, b, 8'000));  // exactly everything is fine
  EXPECT_EQ(h.balance(a), avail(0));
  h.expect_conserved();
}

TEST_F(EngineRejections, FrozenWalletRefusesDebitsAcceptsCredits) {
  wallet_view v = h.eng.admin(tenant, a, admin_op::freeze);
  EXPECT_EQ(v.code, result_code::ok);
  EXPECT_EQ(v.info.status, wallet_status::frozen);
  h.expect_failed(h.transfer(a, b, 100), result_code::wallet_frozen);
  h.expect_failed(h.withdraw(a, 100), result_code::wallet_frozen);
  h.expect_failed(h.pay(a, merchant, 100), result_code::wallet_frozen);
  // Credits into a frozen wallet are allowed.
  h.must_succeed(h.transfer(b, a, 500));
  h.must_succeed(h.top_up(a, 500));
  h.must_succeed(h.refund(paid, 500));
  EXPECT_EQ(h.balance(a), avail(8'000 + 1'500));
  // A frozen merchant cannot be debited by a refund.
  EXPECT_EQ(h.eng.admin(tenant, merchant, admin_op::freeze).code, result_code::ok);
  h.expect_failed(h.refund(paid, 100), result_code::wallet_frozen);
  EXPECT_EQ(h.eng.admin(tenant, merchant, admin_op::unfreeze).code, result_code::ok);
  // Unfrozen, debits work again.
  EXPECT_EQ(h.eng.admin(tenant, a, admin_op::unfreeze).code, result_code::ok);
  h.must_succeed(h.transfer(a, b, 100));
  // The system wallet cannot be frozen.
  EXPECT_EQ(h.eng.admin(tenant, h.system(), admin_op::freeze).code, result_code::wallet_kind_not_allowed);
  h.expect_conserved();
}

TEST_F(EngineRejections, ClosedWallet) {
  // Closing needs an empty wallet.
  EXPECT_EQ(h.eng.admin(tenant, a, admin_op::close).code, result_code::wallet_not_empty);
  wallet_id gone = h.wallet(wallet_kind::user);
  wallet_view v = h.eng.admin(tenant, gone, admin_op::close);
  EXPECT_EQ(v.code, result_code::ok);
  EXPECT_EQ(v.info.status, wallet_status::closed);
  h.expect_failed(h.transfer(a, gone, 100), result_code::wallet_closed);
  h.expect_failed(h.transfer(gone, a, 100), result_code::wallet_closed);
  h.expect_failed(h.top_up(gone, 100), result_code::wallet_closed);
  // Admin of a closed wallet is refused.
  EXPECT_EQ(h.eng.admin(tenant, gone, admin_op::unfreeze).code, result_code::wallet_closed);
  EXPECT_EQ(h.eng.admin(tenant, gone, admin_op::set_overdraft_limit, 100).code, result_code::wallet_closed);
  wallet_id closed_merchant = h.wallet(wallet_kind::merchant);
  EXPECT_EQ(h.eng.admin(tenant, closed_merchant, admin_op::close).code, result_code::ok);
  h.expect_failed(h.pay(a, closed_merchant, 100), result_code::wallet_closed);
}

TEST_F(EngineRejections, WalletKindNotAllowed) {
  wallet_id c = h.wallet(wallet_kind::user);
  h.expect_failed(h.pay(a, b, 100), result_code::wallet_kind_not_allowed);               // pay into a user
  h.expect_failed(h.pay(a, merchant, 100, c, 10), result_code::wallet_kind_not_allowed);  // fee into a user
  h.expect_failed(h.pay(fee, merchant, 50), result_code::wallet_kind_not_allowed);        // fee wallet pays
  h.expect_failed(h.commission(a, merchant, 10), result_code::wallet_kind_not_allowed);   // from a non-fee
  h.expect_failed(h.commission(fee, b, 10), result_code::wallet_kind_not_allowed);        // to a user
  h.expect_failed(h.transfer(h.system(), a, 10), result_code::wallet_kind_not_allowed);
  h.expect_failed(h.transfer(a, h.system(), 10), result_code::wallet_kind_not_allowed);
  h.expect_failed(h.transfer(a, fee, 10), result_code::wallet_kind_not_allowed);
  h.expect_failed(h.top_up(fee, 10), result_code::wallet_kind_not_allowed);
  h.expect_failed(h.withdraw(h.system(), 10), result_code::wallet_kind_not_allowed);
  h.expect_failed(h.withdraw(fee, 10), result_code::wallet_kind_not_allowed);
}

// Bug: a top-up into the system wallet puts both legs (system debit, user credit) on the same
// wallet with the same transaction id; the second try meets the first one's record and is
// answered tcc_conflict, which becomes the order's failure reason. Nothing moves, but an
// internal TCC code leaks to the client instead of wallet_kind_not_allowed (or same_wallet,
// which validate() could decide up front for destination == system wallet).
TEST_F(EngineRejections, TopUpIntoSystemWalletIsKindNotAllowed) {
  h.expect_failed(h.top_up(h.system(), 10), result_code::wallet_kind_not_allowed);
}

TEST_F(EngineRejections, RefundRules) {
  h.expect_failed(h.refund(paid, 2'001), result_code::refund_exceeds_original);
  // Refund of a transfer, of a failed payment, of a top-up.
  order_id transfer = h.must_succeed(h.transfer(a, b, 100)).id;
  h.expect_failed(h.refund(transfer, 50), result_code::original_not_refundable);
  order_id failed_pay = h.expect_failed(h.pay(a, merchant, 1'000'000), result_code::insufficient_funds).id;
  h.expect_failed(h.refund(failed_pay, 50), result_code::original_not_refundable);
  order_id top = h.must_succeed(h.top_up(a, 100)).id;
  h.expect_failed(h.refund(top, 50), result_code::original_not_refundable);
  // Refund of a refund.
  order_id refunded = h.must_succeed(h.refund(paid, 10)).id;
  h.expect_failed(h.refund(refunded, 5), result_code::original_not_refundable);
  h.expect_conserved();
}

TEST_F(EngineRejections, UnknownOrder) {
  // A made-up id on this node and lane, one of another lane, one of another node.
  const order_id made_up_lane0 = (order_id{12345} << 22) | 77;
  const order_id made_up_lane1 = (order_id{12345} << 22) | (order_id{1} << 12) | 77;
  for (order_id id : {made_up_lane0, made_up_lane1}) {
    h.expect_failed(h.refund(id, 50), result_code::unknown_order);
    order_reply q = h.eng.get_order(tenant, id);
    EXPECT_EQ(q.code, result_code::unknown_order);
    EXPECT_EQ(q.id, 0u);
  }
  // Another tenant's order is not visible.
  order_reply q = h.eng.get_order(other_tenant, paid);
  EXPECT_EQ(q.code, result_code::unknown_order);
  EXPECT_EQ(q.id, 0u);
  EXPECT_EQ(q.amount, 0);
  EXPECT_EQ(h.eng.get_order(tenant, paid).state, order_state::succeeded);
}

// Same stuck-cancel bug for a refund of an id of another node or of a lane this node does
// not have: the host answers the allowance try with unknown_order, then answers the cancel
// with unknown_order too, and the refund retries that cancel forever (state cancelling).
TEST_F(EngineRejections, UnknownOrderOfAnotherNodeOrLane) {
  const order_id other_node = (order_id{12345} << 22) | (order_id{5} << 16) | 77;
  const order_id other_lane = (order_id{12345} << 22) | (order_id{9} << 12) | 77;
  for (order_id id : {other_node, other_lane}) EXPECT_EQ(h.eng.get_order(tenant, id).code, result_code::unknown_order);
  h.patience = 3s;
  for (order_id id : {other_node, other_lane}) h.expect_failed(h.refund(id, 50), result_code::unknown_order);
}

TEST_F(EngineRejections, UnknownChannel) {
  h.expect_refused(h.top_up(a, 100, 9), result_code::unknown_channel);
  h.expect_refused(h.withdraw(a, 100, 9), result_code::unknown_channel);
}

TEST_F(EngineRejections, DuplicateConflict) {
  order_command c = h.transfer(a, b, 100);
  h.must_succeed(c);
  order_command other = h.transfer(b, a, 100);
  other.request_id = c.request_id;
  h.expect_refused(other, result_code::duplicate_conflict);
  order_command failed = h.transfer(a, b, 1'000'000);
  h.expect_failed(failed, result_code::insufficient_funds);
  failed.amount = 1;
  h.expect_refused(failed, result_code::duplicate_conflict);
}

TEST_F(EngineRejections, RequestTooLargeAndInvalidLimit) {
  auto moved = h.eng.movements(tenant, a, 0, 10'001);
  EXPECT_EQ(moved.first, result_code::request_too_large);
  EXPECT_TRUE(moved.second.empty());
  wallet_view v = h.eng.admin(tenant, a, admin_op::set_overdraft_limit, -1);
  EXPECT_EQ(v.code, result_code::invalid_limit);
  EXPECT_EQ(h.eng.get_wallet(tenant, a).info.overdraft_limit, 0);
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::user, -1).code, result_code::invalid_limit);
  EXPECT_EQ(h.eng.create_wallet(0, usd, wallet_kind::user).code, result_code::invalid_argument);
  EXPECT_EQ(h.eng.create_wallet(tenant, currency{}, wallet_kind::user).code, result_code::invalid_currency);
  h.expect_failed(h.transfer(a, b, 8'001), result_code::insufficient_funds);  // the limit stayed 0
}

}  // namespace
}  // namespace txengine::actor_test
