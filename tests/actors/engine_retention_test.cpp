// Final orders leave memory (issue 12): past `orders_retained_max` the oldest final orders are
// evicted and nothing is refused; within the window a repeat gets its order; in memory mode the
// window is the retention, so a repeat of an evicted request id starts a new order
// (docs/engine.md, "Final orders leave memory"). Only the count bound is exercised here: the
// time bound is tested deterministically in tests/core/final_retention_test.cpp.
#include <gtest/gtest.h>

#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

engine_config retention_config(size_t retained_max) {
  engine_config config = fast_config();
  config.orders_retained_max = retained_max;
  return config;
}

TEST(EngineRetention, TwentyTimesPastTheRetainedMaximumNothingIsRefused) {
  constexpr size_t retained_max = 100;
  virtual_harness h(retention_config(retained_max));
  wallet_id a = h.wallet(wallet_kind::user), b = h.wallet(wallet_kind::user);
  h.fund(a, 1'000'000);
  std::vector<order_command> commands;
  for (size_t i = 0; i < 20 * retained_max; ++i) commands.push_back(h.transfer(i % 2 ? a : b, i % 2 ? b : a, 1));
  auto replies = h.run_all(commands, 200);
  size_t overloaded = 0, succeeded = 0;
  for (const auto& r : replies) {
    if (r.code == result_code::overloaded) ++overloaded;
    if (r.state == order_state::succeeded && r.id != 0) ++succeeded;
  }
  EXPECT_EQ(overloaded, 0u);
  EXPECT_GT(succeeded, 0u);
  h.expect_conserved();
  auto s = h.eng.stats().orders;
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_LE(s.final_retained, retained_max);
  EXPECT_EQ(s.retained, s.final_retained + s.in_flight);
  EXPECT_GE(s.evicted, 20 * retained_max + 1 - retained_max);  // + 1: the top-up
  EXPECT_EQ(s.evicted + s.final_retained, 20 * retained_max + 1);
}

TEST(EngineRetention, WithinTheWindowARepeatGetsItsOrderPastItMemoryModeStartsANewOne) {
  virtual_harness h(retention_config(10));  // 5 per host
  wallet_id a = h.wallet(wallet_kind::user), b = h.wallet(wallet_kind::user);
  h.fund(a, 100'000);
  order_command first = h.transfer(a, b, 7);
  order_reply original = h.must_succeed(first);
  // The order is still retained: the same request id gets the same order.
  order_reply again = h.run(first);
  EXPECT_EQ(again.id, original.id);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(h.eng.get_order(tenant, original.id).state, order_state::succeeded);
  order_command conflicting = first;
  conflicting.amount = 8;
  EXPECT_EQ(h.run(conflicting).code, result_code::duplicate_conflict);
  for (int i = 0; i < 40; ++i) h.must_succeed(h.transfer(a, b, 1));
  // Evicted, and no storage: it is forgotten (serve says so at start).
  EXPECT_EQ(h.eng.get_order(tenant, original.id).code, result_code::unknown_order);
  order_reply late = h.run(first);
  EXPECT_NE(late.id, original.id);
  EXPECT_FALSE(late.duplicate);
  EXPECT_EQ(late.state, order_state::succeeded);
  h.expect_conserved();
  EXPECT_EQ(h.balance(b).available, 7 + 40 + 7);
}

TEST(EngineRetention, ARefundOfARetainedPaymentStaysWithinIt) {
  virtual_harness h(retention_config(10));
  wallet_id a = h.wallet(wallet_kind::user), m = h.wallet(wallet_kind::merchant);
  h.fund(a, 10'000);
  order_id paid = h.must_succeed(h.pay(a, m, 1'000)).id;
  h.must_succeed(h.refund(paid, 600));
  EXPECT_EQ(h.run(h.refund(paid, 401)).code, result_code::refund_exceeds_original);
  h.must_succeed(h.refund(paid, 400));
  h.expect_conserved();
  EXPECT_EQ(h.balance(a).available, 10'000);
}

}  // namespace
}  // namespace txengine::actor_test

namespace txengine::actor_test {
namespace {

TEST(EngineRetentionWalletRequests, CreateWalletWithARequestIdIsIdempotent) {
  virtual_harness h;
  auto first = h.eng.create_wallet(tenant, usd, wallet_kind::user, 100, "w-1");
  ASSERT_EQ(first.code, result_code::ok);
  EXPECT_FALSE(first.duplicate);
  auto again = h.eng.create_wallet(tenant, usd, wallet_kind::user, 100, "w-1");
  EXPECT_EQ(again.code, result_code::ok);
  EXPECT_EQ(again.id, first.id);
  EXPECT_TRUE(again.duplicate);
  // Other content under the same request id: a conflict, and no wallet is made.
  size_t wallets = h.eng.directory().wallets();
  EXPECT_EQ(h.eng.create_wallet(tenant, eur, wallet_kind::user, 100, "w-1").code, result_code::duplicate_conflict);
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::merchant, 100, "w-1").code, result_code::duplicate_conflict);
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::user, 101, "w-1").code, result_code::duplicate_conflict);
  EXPECT_EQ(h.eng.directory().wallets(), wallets);
  // Per tenant: another tenant's same request id is its own wallet.
  auto theirs = h.eng.create_wallet(tenant + 1, usd, wallet_kind::user, 100, "w-1");
  EXPECT_EQ(theirs.code, result_code::ok);
  EXPECT_NE(theirs.id, first.id);
  EXPECT_FALSE(theirs.duplicate);
  // Without a request id each call creates one.
  EXPECT_NE(h.eng.create_wallet(tenant, usd, wallet_kind::user, 100).id,
            h.eng.create_wallet(tenant, usd, wallet_kind::user, 100).id);
}

TEST(EngineRetentionWalletRequests, BadInputIsRefusedAndRemembersNothing) {
  virtual_harness h;
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::user, 0, std::string(65, 'x')).code,
            result_code::invalid_request_id);
  EXPECT_EQ(h.eng.create_wallet(tenant, currency{}, wallet_kind::user, 0, "w-bad").code, result_code::invalid_currency);
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::user, -1, "w-bad").code, result_code::invalid_limit);
  EXPECT_EQ(h.eng.create_wallet(0, usd, wallet_kind::user, 0, "w-bad").code, result_code::invalid_argument);
  // The refused request id is still free for a good request.
  auto good = h.eng.create_wallet(tenant, usd, wallet_kind::user, 0, "w-bad");
  EXPECT_EQ(good.code, result_code::ok);
  EXPECT_FALSE(good.duplicate);
  EXPECT_EQ(h.eng.create_wallet(tenant, usd, wallet_kind::user, 0, std::string(64, 'x')).code, result_code::ok);
}

}  // namespace
}  // namespace txengine::actor_test
