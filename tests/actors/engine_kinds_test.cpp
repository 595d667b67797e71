// Each of the six order kinds end to end through engine.execute, idempotent repeats, and
// overdraft limits.
#include <gtest/gtest.h>

#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

TEST(EngineKinds, TopUpCreditsUserAndDebitsSystem) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  order_reply r = h.must_succeed(h.top_up(user, 10'000));
  EXPECT_EQ(r.kind, order_kind::top_up);
  EXPECT_EQ(r.amount, 10'000);
  EXPECT_EQ(r.posted_amount, 10'000);
  EXPECT_EQ(r.duplicate, false);
  EXPECT_EQ(reply_balance(r, user), avail(10'000));
  EXPECT_EQ(reply_balance(r, h.system()), avail(-10'000));
  EXPECT_EQ(h.balance(user), avail(10'000));
  EXPECT_EQ(h.balance(h.system()), avail(-10'000));
  order_reply stored = h.eng.get_order(tenant, r.id);
  EXPECT_EQ(stored.id, r.id);
  EXPECT_EQ(stored.state, order_state::succeeded);
  EXPECT_EQ(stored.posted_amount, 10'000);
  h.expect_conserved();
}

TEST(EngineKinds, PayWithAndWithoutFeeSplit) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  wallet_id fee = h.wallet(wallet_kind::fee);
  h.fund(user, 10'000);

  order_reply plain = h.must_succeed(h.pay(user, merchant, 1'000));
  EXPECT_EQ(plain.posted_amount, 1'000);
  EXPECT_EQ(reply_balance(plain, user), avail(9'000));
  EXPECT_EQ(reply_balance(plain, merchant), avail(1'000));

  order_reply split = h.must_succeed(h.pay(user, merchant, 3'000, fee, 100));
  EXPECT_EQ(split.wallets.size(), 3u);
  EXPECT_EQ(reply_balance(split, user), avail(6'000));
  EXPECT_EQ(reply_balance(split, merchant), avail(3'900));
  EXPECT_EQ(reply_balance(split, fee), avail(100));

  EXPECT_EQ(h.balance(user), avail(6'000));
  EXPECT_EQ(h.balance(merchant), avail(3'900));
  EXPECT_EQ(h.balance(fee), avail(100));
  h.expect_conserved();
}

TEST(EngineKinds, WithdrawDebitsUserAndCreditsSystem) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  h.fund(user, 10'000);
  order_reply r = h.must_succeed(h.withdraw(user, 2'500));
  EXPECT_EQ(r.posted_amount, 2'500);
  EXPECT_EQ(reply_balance(r, user), avail(7'500));
  EXPECT_EQ(reply_balance(r, h.system()), avail(-7'500));
  EXPECT_EQ(h.balance(user), avail(7'500));
  EXPECT_EQ(h.balance(h.system()), avail(-7'500));
  h.expect_conserved();
}

TEST(EngineKinds, TransferMovesBetweenUsers) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 5'000);
  order_reply r = h.must_succeed(h.transfer(a, b, 1'234));
  EXPECT_EQ(reply_balance(r, a), avail(3'766));
  EXPECT_EQ(reply_balance(r, b), avail(1'234));
  EXPECT_EQ(h.balance(a), avail(3'766));
  EXPECT_EQ(h.balance(b), avail(1'234));
  h.expect_conserved();
}

TEST(EngineKinds, RefundMovesFromMerchantBackToPayer) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  wallet_id fee = h.wallet(wallet_kind::fee);
  h.fund(user, 10'000);
  order_reply paid = h.must_succeed(h.pay(user, merchant, 4'000, fee, 400));
  order_reply r = h.must_succeed(h.refund(paid.id, 1'000));
  EXPECT_EQ(r.kind, order_kind::refund);
  EXPECT_EQ(r.posted_amount, 1'000);
  EXPECT_EQ(reply_balance(r, merchant), avail(2'600));
  EXPECT_EQ(reply_balance(r, user), avail(7'000));
  EXPECT_EQ(h.balance(user), avail(7'000));
  EXPECT_EQ(h.balance(merchant), avail(2'600));
  EXPECT_EQ(h.balance(fee), avail(400));  // a refund takes back from the merchant only
  h.expect_conserved();
}

TEST(EngineKinds, CommissionMovesFromFeeWalletToMerchant) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  wallet_id fee = h.wallet(wallet_kind::fee);
  h.fund(user, 1'000);
  h.must_succeed(h.pay(user, merchant, 1'000, fee, 300));
  order_reply r = h.must_succeed(h.commission(fee, merchant, 120));
  EXPECT_EQ(reply_balance(r, fee), avail(180));
  EXPECT_EQ(reply_balance(r, merchant), avail(820));
  EXPECT_EQ(h.balance(fee), avail(180));
  EXPECT_EQ(h.balance(merchant), avail(820));
  EXPECT_EQ(h.balance(user), avail(0));
  h.expect_conserved();
}

TEST(EngineKinds, MovementsJournalListsEveryChange) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 1'000);
  h.must_succeed(h.transfer(a, b, 300));
  auto [code, entries] = h.eng.movements(tenant, a, 0, 100);
  EXPECT_EQ(code, result_code::ok);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().after, avail(700));
  auto limited = h.eng.movements(tenant, a, 0, 1);
  EXPECT_EQ(limited.first, result_code::ok);
  EXPECT_EQ(limited.second.size(), 1u);
  auto at_limit = h.eng.movements(tenant, a, 0, 10'000);
  EXPECT_EQ(at_limit.first, result_code::ok);
}

// --- Idempotency -------------------------------------------------------------------------

TEST(EngineIdempotency, SameRequestSameContentReturnsOriginalOnce) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 1'000);
  order_command c = h.transfer(a, b, 400);
  order_reply first = h.must_succeed(c);
  EXPECT_FALSE(first.duplicate);
  for (int i = 0; i < 3; ++i) {
    order_reply again = h.run(c);
    EXPECT_EQ(again.id, first.id);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.state, order_state::succeeded);
    EXPECT_EQ(again.code, result_code::ok);
    EXPECT_EQ(again.posted_amount, 400);
  }
  EXPECT_EQ(h.balance(a), avail(600));  // moved once
  EXPECT_EQ(h.balance(b), avail(400));
  // The same request id in another tenant is another request.
  wallet_id x = h.wallet(wallet_kind::user, other_tenant);
  wallet_id y = h.wallet(wallet_kind::user, other_tenant);
  h.fund(x, 1'000, other_tenant);
  order_command other = h.transfer(x, y, 400, other_tenant);
  other.request_id = c.request_id;
  order_reply r = h.must_succeed(other);
  EXPECT_NE(r.id, first.id);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(h.eng.stats().orders.duplicates, 3u);
  h.expect_conserved();
}

TEST(EngineIdempotency, RepeatsOfEveryKindMoveMoneyOnce) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id other = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  wallet_id fee = h.wallet(wallet_kind::fee);
  order_command top = h.top_up(user, 10'000);
  h.must_succeed(top);
  order_command paying = h.pay(user, merchant, 2'000, fee, 200);
  order_reply paid = h.must_succeed(paying);
  std::vector<order_command> commands = {top, paying, h.withdraw(user, 500), h.transfer(user, other, 700),
                                         h.refund(paid.id, 300), h.commission(fee, merchant, 50)};
  for (size_t i = 2; i < commands.size(); ++i) h.must_succeed(commands[i]);
  auto before = h.snapshot();
  for (const auto& c : commands) {
    order_reply again = h.run(c);
    EXPECT_TRUE(again.duplicate) << to_string(c.kind);
    EXPECT_EQ(again.state, order_state::succeeded) << to_string(c.kind);
  }
  EXPECT_EQ(h.snapshot(), before);
  EXPECT_EQ(h.balance(user), avail(10'000 - 2'000 - 500 - 700 + 300));
  EXPECT_EQ(h.balance(merchant), avail(1'800 - 300 + 50));
  h.expect_conserved();
}

TEST(EngineIdempotency, FailedOrderRepeatedStaysFailedAfterCauseIsFixed) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  order_command c = h.transfer(a, b, 500);
  order_reply failed = h.expect_failed(c, result_code::insufficient_funds);
  h.fund(a, 10'000);  // the cause is fixed
  order_reply again = h.run(c);
  EXPECT_EQ(again.id, failed.id);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.state, order_state::failed);
  EXPECT_EQ(again.code, result_code::insufficient_funds);
  EXPECT_EQ(h.balance(a), avail(10'000));
  EXPECT_EQ(h.balance(b), avail(0));
  order_reply stored = h.eng.get_order(tenant, failed.id);
  EXPECT_EQ(stored.state, order_state::failed);
  EXPECT_EQ(stored.code, result_code::insufficient_funds);
  h.expect_conserved();
}

TEST(EngineIdempotency, SameRequestDifferentContentIsConflict) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 1'000);
  order_command c = h.transfer(a, b, 400);
  order_reply first = h.must_succeed(c);
  order_command changed = c;
  changed.amount = 401;
  h.expect_refused(changed, result_code::duplicate_conflict);
  changed = c;
  changed.destination = a;
  changed.source = b;
  h.expect_refused(changed, result_code::duplicate_conflict);
  changed = c;
  changed.kind = order_kind::pay;
  h.expect_refused(changed, result_code::duplicate_conflict);
  // The original is untouched and still answers.
  order_reply again = h.run(c);
  EXPECT_EQ(again.id, first.id);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(h.balance(a), avail(600));
}

// --- Overdraft -----------------------------------------------------------------------------

TEST(EngineOverdraft, LimitAllowsGoingDownToMinusLimitNotBelow) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.expect_failed(h.transfer(a, b, 1), result_code::insufficient_funds);
  wallet_view v = h.eng.admin(tenant, a, admin_op::set_overdraft_limit, 500);
  EXPECT_EQ(v.code, result_code::ok);
  EXPECT_EQ(v.info.overdraft_limit, 500);
  h.must_succeed(h.transfer(a, b, 300));
  EXPECT_EQ(h.balance(a), avail(-300));
  h.expect_failed(h.transfer(a, b, 201), result_code::insufficient_funds);
  h.must_succeed(h.transfer(a, b, 200));
  EXPECT_EQ(h.balance(a), avail(-500));
  h.expect_failed(h.transfer(a, b, 1), result_code::insufficient_funds);
  h.expect_failed(h.withdraw(a, 1), result_code::insufficient_funds);
  EXPECT_EQ(h.balance(b), avail(500));
  h.expect_conserved();
  // A wallet created with a limit starts with it.
  wallet_id c = h.wallet(wallet_kind::user, tenant, usd, 100);
  h.must_succeed(h.transfer(c, b, 100));
  h.expect_failed(h.transfer(c, b, 1), result_code::insufficient_funds);
  h.expect_conserved();
}

}  // namespace
}  // namespace txengine::actor_test
