// Refunds (partial, exceeding, concurrent) and wallet passivation.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

TEST(EngineRefunds, PartialRefundsUpToTheAmountThenRefused) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  h.fund(user, 10'000);
  h.fund(merchant, 50'000);  // merchants may top up too: refunds never lack funds here
  order_id paid = h.must_succeed(h.pay(user, merchant, 1'000)).id;
  h.must_succeed(h.refund(paid, 300));
  h.must_succeed(h.refund(paid, 300));
  h.must_succeed(h.refund(paid, 300));
  h.expect_failed(h.refund(paid, 101), result_code::refund_exceeds_original);
  h.must_succeed(h.refund(paid, 100));  // exactly what is left
  h.expect_failed(h.refund(paid, 1), result_code::refund_exceeds_original);
  EXPECT_EQ(h.balance(user), avail(10'000));
  EXPECT_EQ(h.balance(merchant), avail(50'000));
  h.expect_conserved();
}

TEST(EngineRefunds, FailedRefundReleasesItsReservation) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  wallet_id other = h.wallet(wallet_kind::user);
  h.fund(user, 1'000);
  order_id paid = h.must_succeed(h.pay(user, merchant, 1'000)).id;
  // The merchant spends most of it (a merchant may pay too), so a full refund lacks funds.
  wallet_id shop = h.wallet(wallet_kind::merchant);
  h.must_succeed(h.pay(merchant, shop, 800));
  h.expect_failed(h.refund(paid, 1'000), result_code::insufficient_funds);
  h.must_succeed(h.pay(shop, merchant, 800));
  // The failed refund's reservation was released: the whole amount is refundable.
  h.must_succeed(h.refund(paid, 1'000));
  EXPECT_EQ(h.balance(user), avail(1'000));
  EXPECT_EQ(h.balance(merchant), avail(0));
  EXPECT_EQ(h.balance(other), avail(0));
  h.expect_conserved();
}

//! Many refunds of one payment, all at once: the total refunded never exceeds the original.
//! Virtual time: all 500 are in flight together (their allowance tries race on the payment's
//! host and their wallet steps on the wallets' shards); time moves only once the engine has
//! settled, so no retry or deadline timer decides anything, however loaded the machine is.
TEST(EngineRefunds, ConcurrentRefundsNeverExceedTheOriginal) {
  virtual_harness h;
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  h.fund(user, 100'000);
  h.fund(merchant, 1'000'000);
  order_id paid = h.must_succeed(h.pay(user, merchant, 10'000)).id;
  constexpr int64_t amount = 70;  // 142 of them fit, 500 are sent
  std::vector<order_command> storm;
  for (int i = 0; i < 500; ++i) {
    storm.push_back(h.refund(paid, amount));
    storm.back().request_id = "storm-" + std::to_string(i);
  }
  int64_t refunded = 0;
  int succeeded = 0, refused = 0;
  std::map<result_code, int> failed_by_code;
  for (const order_reply& reply : h.run_all(storm)) {
    if (reply.id == 0) {
      ++refused;
      ADD_FAILURE() << "refused: " << to_string(reply.code);
    } else if (reply.state == order_state::succeeded) {
      refunded += amount;
      ++succeeded;
    } else {
      ASSERT_TRUE(is_final(reply.state)) << to_string(reply.state);
      ++failed_by_code[reply.code];
    }
  }
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(succeeded, 10'000 / amount);  // every refund that fits succeeds
  EXPECT_LE(refunded, 10'000);
  for (const auto& [code, count] : failed_by_code)
    EXPECT_EQ(code, result_code::refund_exceeds_original) << count << " failed with " << to_string(code);
  h.expect_conserved();
  EXPECT_EQ(h.balance(user), avail(100'000 - 10'000 + refunded));
  EXPECT_EQ(h.balance(merchant), avail(1'000'000 + 10'000 - refunded));
  h.expect_failed(h.refund(paid, 10'000 - refunded + 1), result_code::refund_exceeds_original);
}

// --- Passivation ---------------------------------------------------------------------------

TEST(EnginePassivation, IdleWalletsPassivateAndKeepTheirBalances) {
  engine_config config = fast_config();
  config.wallet.idle_ms = 50;
  virtual_harness h(config);
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  wallet_id merchant = h.wallet(wallet_kind::merchant);
  EXPECT_EQ(h.eng.stats().active_wallets, 0u);  // created dormant
  h.fund(a, 5'000);
  h.must_succeed(h.transfer(a, b, 1'000));
  h.must_succeed(h.pay(b, merchant, 400));
  EXPECT_GE(h.eng.stats().active_wallets, 3u);
  ASSERT_TRUE(h.wait_for([&] { return h.eng.stats().active_wallets == 0; }, 5s))
      << h.eng.stats().active_wallets << " wallets still active";
  // The audit reads dormant wallets without waking them.
  h.expect_conserved();
  EXPECT_EQ(h.eng.stats().active_wallets, 0u);
  // New orders wake them with their balances kept.
  h.must_succeed(h.transfer(a, b, 500));
  EXPECT_EQ(h.balance(a), avail(3'500));
  EXPECT_EQ(h.balance(b), avail(1'100));
  EXPECT_EQ(h.balance(merchant), avail(400));
  ASSERT_TRUE(h.wait_for([&] { return h.eng.stats().active_wallets == 0; }, 5s));
  // Idempotent repeats and refunds still work after passivation.
  order_id paid = h.must_succeed(h.pay(a, merchant, 1'000)).id;
  ASSERT_TRUE(h.wait_for([&] { return h.eng.stats().active_wallets == 0; }, 5s));
  h.must_succeed(h.refund(paid, 600));
  EXPECT_EQ(h.balance(a), avail(3'100));
  EXPECT_EQ(h.balance(merchant), avail(800));
  auto [code, entries] = h.eng.movements(tenant, a, 0, 1'000);
  EXPECT_EQ(code, result_code::ok);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().after, avail(3'100));
  h.expect_conserved();
}

//! Orders keep flowing while wallets passivate and wake between them.
TEST(EnginePassivation, LoadAcrossPassivationsConservesMoney) {
  engine_config config = fast_config();
  config.wallet.idle_ms = 10;
  virtual_harness h(config);
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 100'000);
  int64_t moved = 0;
  for (int i = 0; i < 40; ++i) {
    order_reply r = h.must_succeed(i % 2 ? h.transfer(b, a, 10) : h.transfer(a, b, 30));
    moved += i % 2 ? -10 : 30;
    if (i % 10 == 0) {
      EXPECT_TRUE(h.wait_for([&] { return h.eng.stats().active_wallets == 0; }, 2s));
    }
  }
  EXPECT_EQ(h.balance(a), avail(100'000 - moved));
  EXPECT_EQ(h.balance(b), avail(moved));
  h.expect_conserved();
}

}  // namespace
}  // namespace txengine::actor_test
