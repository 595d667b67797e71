// GetOrder with movements in memory (no storage): the order's entries from its wallets'
// journals, what ListMovements lists for those wallets; other tenants see nothing.
#include <gtest/gtest.h>

#include "tests/actors/actor_test_support.hpp"

using namespace txengine;
using namespace txengine::actor_test;

namespace {

TEST(EngineHistory, OrderMovementsComeFromTheWalletJournalsInMemory) {
  virtual_harness h;
  wallet_id a = h.wallet(wallet_kind::user);
  wallet_id b = h.wallet(wallet_kind::user);
  h.fund(a, 1'000);
  order_reply done = h.must_succeed(h.transfer(a, b, 300));
  order_reply with = h.eng.get_order(tenant, done.id, true);
  ASSERT_EQ(with.code, result_code::ok);
  ASSERT_EQ(with.id, done.id);
  // The sender held and confirmed, the receiver was credited on confirm.
  ASSERT_EQ(with.movements.size(), 3u);
  for (const auto& m : with.movements) {
    EXPECT_EQ(m.entry.txn, done.id);
    auto [code, page] = h.eng.movements(tenant, m.wallet, m.entry.sequence, 1);
    ASSERT_EQ(code, result_code::ok);
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].sequence, m.entry.sequence);
    EXPECT_EQ(page[0].delta, m.entry.delta);
    EXPECT_EQ(page[0].after, m.entry.after);
  }
  EXPECT_EQ(with.movements.back().entry.after, h.balance(with.movements.back().wallet));
  EXPECT_TRUE(h.eng.get_order(tenant, done.id).movements.empty());  // not asked: none

  order_reply failed = h.run(h.transfer(a, b, 1'000'000));
  ASSERT_EQ(failed.state, order_state::failed);
  order_reply nothing = h.eng.get_order(tenant, failed.id, true);
  EXPECT_EQ(nothing.id, failed.id);
  EXPECT_TRUE(nothing.movements.empty());

  order_reply foreign = h.eng.get_order(other_tenant, done.id, true);
  EXPECT_EQ(foreign.code, result_code::unknown_order);
  EXPECT_TRUE(foreign.movements.empty());
  h.expect_conserved();
}

}  // namespace
