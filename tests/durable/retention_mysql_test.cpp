// Final orders leave memory and still answer the same from MySQL (issue 12): a repeated request
// id (same order, same final state, DUPLICATE_CONFLICT on changed content), GetOrder (state,
// code, amounts, times) and refunds (their allowance rebuilt from the stored refunds), with the
// hosts keeping only a handful of final orders. Against the private MariaDB server.
#include <gtest/gtest.h>

#include "tests/durable/mysql_engine_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 11;
constexpr size_t retained_max = 8;  // 4 per host

db::shard_layout test_layout() { return layout_with_prefix("txtest_retention"); }

engine_config test_config(ack_mode ack) {
  engine_config config = engine_config_for(storage_for(test_layout(), ack), 1);
  config.orders_retained_max = retained_max;
  return config;
}

order_command refund_of(const std::string& request_id, order_id original, int64_t amount) {
  return make_refund(tenant, request_id, original, amount);
}

//! Runs one command and waits until everything is committed (memory acks answer before the
//! commit, and a final order not yet committed cannot leave memory: with the tiny maximum here
//! the next order would get `overloaded`, retryable).
order_reply run(engine& eng, const order_command& c) {
  order_reply reply = eng.execute(c);
  EXPECT_TRUE(eng.sync_storage());
  return reply;
}

class Retention : public mysql_engine_test, public ::testing::WithParamInterface<ack_mode> {
 protected:
  Retention() : mysql_engine_test(test_layout()) {}

  //! Enough new orders that every earlier final order left memory.
  void push_out(engine& eng, wallet_id from, wallet_id to, const std::string& prefix) {
    for (size_t i = 0; i < 6 * retained_max; ++i) {
      order_reply reply = run(eng, make_command(tenant, order_kind::transfer, prefix + std::to_string(i), from, to, 1));
      ASSERT_EQ(reply.state, order_state::succeeded) << to_string(reply.code);
    }
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
    // One more burst after the commit: the final orders committed by now may all leave.
    for (const auto& reply : submit_all(eng, {make_command(tenant, order_kind::transfer, prefix + "x", from, to, 1)}, 1))
      ASSERT_EQ(reply.state, order_state::succeeded) << to_string(reply.code);
  }
};

TEST_P(Retention, EvictedOrdersAnswerRepeatsQueriesAndRefundsFromMySQL) {
  engine eng(test_config(GetParam()));
  wallet_id user = eng.create_wallet(tenant, usd, wallet_kind::user).id;
  wallet_id other = eng.create_wallet(tenant, usd, wallet_kind::user).id;
  wallet_id merchant = eng.create_wallet(tenant, usd, wallet_kind::merchant).id;
  ASSERT_EQ(run(eng, make_command(tenant, order_kind::top_up, "t1", no_wallet, user, 100'000)).state,
            order_state::succeeded);
  std::vector<order_command> commands = {
      make_command(tenant, order_kind::pay, "p1", user, merchant, 1'000),
      make_command(tenant, order_kind::transfer, "x1", user, other, 2'500),
      make_command(tenant, order_kind::transfer, "x2", user, other, 50'000'000),  // fails: not enough money
      make_command(tenant, order_kind::withdraw, "w1", user, no_wallet, 300),
  };
  std::vector<order_reply> first;
  for (const auto& c : commands) {
    first.push_back(run(eng, c));
  }
  ASSERT_EQ(first[0].state, order_state::succeeded);
  ASSERT_EQ(first[2].state, order_state::failed);
  order_id paid = first[0].id;
  ASSERT_EQ(run(eng, refund_of("r1", paid, 300)).state, order_state::succeeded);
  std::vector<order_reply> queried;
  for (const auto& r : first) queried.push_back(eng.get_order(tenant, r.id));

  push_out(eng, other, user, "fill-a-");
  auto s = eng.stats().orders;
  EXPECT_LE(s.final_retained, retained_max);
  EXPECT_GE(s.evicted, commands.size() + 2);

  // Repeats: the same order and final state, marked duplicate; changed content: a conflict.
  for (size_t i = 0; i < commands.size(); ++i) {
    order_reply again = run(eng, commands[i]);
    EXPECT_EQ(again.id, first[i].id) << i;
    EXPECT_EQ(again.state, first[i].state) << i;
    EXPECT_EQ(again.code, first[i].code) << i;
    EXPECT_EQ(again.posted_amount, first[i].posted_amount) << i;
    EXPECT_TRUE(again.duplicate) << i;
  }
  order_command changed = commands[1];
  changed.amount += 1;
  order_reply conflict = run(eng, changed);
  EXPECT_EQ(conflict.id, 0u);
  EXPECT_EQ(conflict.code, result_code::duplicate_conflict);

  push_out(eng, other, user, "fill-b-");
  // GetOrder of orders that left memory: what it said while they were there.
  for (size_t i = 0; i < first.size(); ++i) {
    order_reply stored = eng.get_order(tenant, first[i].id);
    EXPECT_EQ(stored.id, queried[i].id) << i;
    EXPECT_EQ(stored.request_id, queried[i].request_id) << i;
    EXPECT_EQ(stored.kind, queried[i].kind) << i;
    EXPECT_EQ(stored.state, queried[i].state) << i;
    EXPECT_EQ(stored.code, queried[i].code) << i;
    EXPECT_EQ(stored.amount, queried[i].amount) << i;
    EXPECT_EQ(stored.posted_amount, queried[i].posted_amount) << i;
    EXPECT_EQ(stored.cur, queried[i].cur) << i;
    EXPECT_EQ(stored.source, queried[i].source) << i;
    EXPECT_EQ(stored.destination, queried[i].destination) << i;
    EXPECT_EQ(stored.created_ms, queried[i].created_ms) << i;
    EXPECT_EQ(stored.finished_ms, queried[i].finished_ms) << i;
  }
  // Another tenant's view of them, and an id that never was: the same "no such order".
  EXPECT_EQ(eng.get_order(tenant + 1, paid).code, result_code::unknown_order);
  EXPECT_EQ(eng.get_order(tenant + 1, paid).id, 0u);
  EXPECT_EQ(eng.get_order(tenant, paid + (uint64_t{1} << 40)).code, result_code::unknown_order);

  // A refund of the evicted payment: its allowance comes from the stored refunds.
  push_out(eng, other, user, "fill-c-");
  order_reply over = run(eng, refund_of("r2", paid, 701));
  EXPECT_EQ(over.state, order_state::failed);
  EXPECT_EQ(over.code, result_code::refund_exceeds_original);
  push_out(eng, other, user, "fill-d-");
  EXPECT_EQ(run(eng, refund_of("r3", paid, 700)).state, order_state::succeeded);
  push_out(eng, other, user, "fill-e-");
  EXPECT_EQ(run(eng, refund_of("r4", paid, 1)).code, result_code::refund_exceeds_original);
  // The first refund repeated after it left memory: the same order.
  order_reply r1 = run(eng, refund_of("r1", paid, 300));
  EXPECT_TRUE(r1.duplicate);
  EXPECT_EQ(r1.state, order_state::succeeded);

  ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(eng.sync_storage());
  expect_audit_ok();
  EXPECT_EQ(eng.get_wallet(tenant, merchant).current.available, 0);
  EXPECT_EQ(count("orders", "is_final=0"), 0);
}

TEST_P(Retention, OrdersFinalBeforeARestartAnswerGetOrder) {
  order_reply paid;
  order_command payment;
  {
    engine first(test_config(GetParam()));
    wallet_id user = first.create_wallet(tenant, usd, wallet_kind::user).id;
    wallet_id merchant = first.create_wallet(tenant, usd, wallet_kind::merchant).id;
    ASSERT_EQ(first.execute(make_command(tenant, order_kind::top_up, "t1", no_wallet, user, 5'000)).state,
              order_state::succeeded);
    payment = make_command(tenant, order_kind::pay, "p1", user, merchant, 1'000);
    paid = first.execute(payment);
    ASSERT_EQ(paid.state, order_state::succeeded);
    ASSERT_TRUE(first.sync_storage());
  }
  engine second(test_config(GetParam()));
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
  order_reply stored = second.get_order(tenant, paid.id);
  EXPECT_EQ(stored.id, paid.id);
  EXPECT_EQ(stored.state, order_state::succeeded);
  EXPECT_EQ(stored.kind, order_kind::pay);
  EXPECT_EQ(stored.amount, 1'000);
  EXPECT_EQ(stored.posted_amount, paid.posted_amount);
  EXPECT_EQ(stored.created_ms, paid.created_ms);
  EXPECT_EQ(stored.finished_ms, paid.finished_ms);
  EXPECT_EQ(stored.request_id, "p1");
  // The balances after its steps, as memory answered them (from its movements in MySQL).
  ASSERT_EQ(stored.wallets.size(), paid.wallets.size());
  ASSERT_FALSE(paid.wallets.empty());
  for (size_t i = 0; i < paid.wallets.size(); ++i) {
    EXPECT_EQ(stored.wallets[i].wallet, paid.wallets[i].wallet) << i;
    EXPECT_EQ(stored.wallets[i].after, paid.wallets[i].after) << i;
  }
  EXPECT_TRUE(stored.movements.empty());  // asked without them
  EXPECT_EQ(second.get_order(tenant + 1, paid.id).code, result_code::unknown_order);
  EXPECT_EQ(second.execute(payment).id, paid.id);
}

INSTANTIATE_TEST_SUITE_P(Ack, Retention, ::testing::Values(ack_mode::durable, ack_mode::memory),
                         [](const ::testing::TestParamInfo<ack_mode>& info) {
                           return info.param == ack_mode::durable ? std::string("Durable") : std::string("Memory");
                         });

}  // namespace

namespace {

class RetentionWalletRequests : public mysql_engine_test {
 protected:
  RetentionWalletRequests() : mysql_engine_test(test_layout()) {}
};

TEST_F(RetentionWalletRequests, CreateWalletIsIdempotentAcrossARestart) {
  wallet_id created = no_wallet, other = no_wallet;
  {
    engine eng(test_config(ack_mode::durable));
    auto first = eng.create_wallet(tenant, usd, wallet_kind::merchant, 500, "w-1");
    ASSERT_EQ(first.code, result_code::ok);
    EXPECT_FALSE(first.duplicate);
    created = first.id;
    // Committed before it was answered: its request id row is there.
    EXPECT_EQ(count("wallet_requests", "request_id='w-1'"), 1);
    auto again = eng.create_wallet(tenant, usd, wallet_kind::merchant, 500, "w-1");
    EXPECT_EQ(again.code, result_code::ok);
    EXPECT_EQ(again.id, created);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(eng.create_wallet(tenant, usd, wallet_kind::merchant, 501, "w-1").code, result_code::duplicate_conflict);
    // Request ids are per tenant.
    auto theirs = eng.create_wallet(tenant + 1, usd, wallet_kind::merchant, 500, "w-1");
    ASSERT_EQ(theirs.code, result_code::ok);
    EXPECT_NE(theirs.id, created);
    EXPECT_FALSE(theirs.duplicate);
    other = theirs.id;
    // A later limit change does not change what the request id stands for.
    ASSERT_EQ(eng.admin(tenant, created, admin_op::set_overdraft_limit, 900).code, result_code::ok);
    EXPECT_EQ(eng.create_wallet(tenant, usd, wallet_kind::merchant, 500, "w-1").id, created);
  }
  engine eng(test_config(ack_mode::durable));
  auto after = eng.create_wallet(tenant, usd, wallet_kind::merchant, 500, "w-1");
  EXPECT_EQ(after.code, result_code::ok);
  EXPECT_EQ(after.id, created);
  EXPECT_TRUE(after.duplicate);
  EXPECT_EQ(eng.create_wallet(tenant, usd, wallet_kind::user, 500, "w-1").code, result_code::duplicate_conflict);
  EXPECT_EQ(eng.create_wallet(tenant + 1, usd, wallet_kind::merchant, 500, "w-1").id, other);
  EXPECT_EQ(eng.get_wallet(tenant, created).info.overdraft_limit, 900);
  // A new request id after the restart makes a new wallet with a new id.
  auto fresh = eng.create_wallet(tenant, usd, wallet_kind::user, 0, "w-2");
  EXPECT_EQ(fresh.code, result_code::ok);
  EXPECT_GT(fresh.id, std::max(created, other));
  EXPECT_EQ(count("wallet_requests"), 3);
}

}  // namespace
