// Channel behaviour seen through the engine: lost replies, lost submits, partial settlement,
// declines, and back-pressure (overloaded) with a slow provider. On virtual time: every
// timeout, latency and window below is of the engine's manual clock, which only the test moves.
#include <gtest/gtest.h>

#include "core/order_id_generator.hpp"
#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

engine_config with_bad_channel(const channel_config& bad) {
  engine_config config = fast_config();
  config.channels.emplace_back(bad_channel, bad);
  return config;
}

//! Finds an order that is still running without its reply: the first order of a lane in a
//! time window has sequence 0, so its id is (ms since epoch, node 0, lane, 0).
order_reply find_running_order(engine& eng, uint32_t lane, int64_t from_ms, int64_t to_ms) {
  for (int64_t ms = from_ms; ms <= to_ms; ++ms) {
    order_id id = (static_cast<uint64_t>(ms - order_id_generator::epoch_ms) << 22) | (uint64_t{lane} << 12);
    order_reply r = eng.get_order(tenant, id);
    if (r.id == id) return r;
  }
  return {};
}

uint32_t lane_of_host(engine& eng, const order_command& c) {
  const order_host_actor& host = eng.host_for(c.tenant, c.request_id);
  for (uint32_t i = 0; i < eng.hosts().size(); ++i)
    if (eng.hosts()[i] == host) return i;
  ADD_FAILURE() << "no host";
  return 0;
}

TEST(EngineChannel, LostSubmitRepliesLeaveOrderProcessingUntilAQueryResolvesIt) {
  channel_config silent = well_behaved_channel();
  silent.reply_lost_ppm = 1'000'000;  // every answer to a submit is lost; queries still answer
  engine_config config = with_bad_channel(silent);
  config.order.channel_submit_timeout_ms = 800;  // long enough to look at the order meanwhile
  config.order.channel_query_min_delay_ms = 800;
  virtual_harness h(config);
  wallet_id user = h.wallet(wallet_kind::user);
  order_command c = h.top_up(user, 5'000, bad_channel);
  int64_t before_ms = h.now_ms();
  order_reply early = h.run(c, 100ms);  // no final answer within 100 ms of virtual time
  int64_t after_ms = h.now_ms();
  EXPECT_EQ(early.id, 0u);
  EXPECT_EQ(early.code, result_code::unavailable);
  order_reply running = find_running_order(h.eng, lane_of_host(h.eng, c), before_ms, after_ms);
  ASSERT_NE(running.id, 0u) << "the order was not found while running";
  EXPECT_EQ(running.state, order_state::processing);  // an unknown is never a failure
  EXPECT_EQ(running.code, result_code::ok);
  // Money is held, not lost: the system wallet is debited, the user has it incoming.
  EXPECT_EQ(h.balance(user), (balances{0, 0, 5'000}));
  EXPECT_EQ(h.eng.stats().orders.in_flight, 1u);
  // The query after the submit timeout finds the provider's success.
  order_reply final_reply = h.run(c);
  EXPECT_EQ(final_reply.id, running.id);
  EXPECT_EQ(final_reply.state, order_state::succeeded);
  EXPECT_EQ(final_reply.posted_amount, 5'000);
  EXPECT_EQ(h.eng.get_order(tenant, running.id).state, order_state::succeeded);
  EXPECT_GE(h.eng.stats().orders.channel_queries, 1u);
  EXPECT_EQ(h.balance(user), avail(5'000));
  EXPECT_EQ(h.balance(h.system()), avail(-5'000));
  h.expect_conserved();
}

TEST(EngineChannel, LostReplyOnWithdrawKeepsMoneyFrozenThenSettles) {
  channel_config silent = well_behaved_channel();
  silent.reply_lost_ppm = 1'000'000;
  virtual_harness h(with_bad_channel(silent));
  wallet_id user = h.wallet(wallet_kind::user);
  h.fund(user, 5'000);
  order_reply r = h.must_succeed(h.withdraw(user, 2'000, bad_channel));
  EXPECT_EQ(r.posted_amount, 2'000);
  EXPECT_GE(r.finished_ms - r.created_ms, 150);  // resolved by a query after the submit timeout
  EXPECT_EQ(h.balance(user), avail(3'000));
  h.expect_conserved();
}

TEST(EngineChannel, ALostSubmitNeverFailsAPayoutAndClosesATopUp) {
  channel_config lossy = well_behaved_channel();
  lossy.submit_lost_ppm = 1'000'000;  // the provider never sees a submit: queries say "not found"
  virtual_harness h(with_bad_channel(lossy));
  const int64_t window = h.eng.config().order.channel_not_found_final_ms;
  wallet_id user = h.wallet(wallet_kind::user);
  h.fund(user, 5'000);
  // Money coming in: once "not found" lasted the window, the order is closed at the provider
  // (core/channel_decision.hpp); closed, it fails and nothing moved.
  order_reply t = h.run(h.top_up(user, 1'000, bad_channel));
  EXPECT_NE(t.id, 0u);
  EXPECT_EQ(t.state, order_state::failed);
  EXPECT_EQ(t.code, result_code::channel_declined);
  EXPECT_EQ(t.posted_amount, 0);
  EXPECT_GE(t.finished_ms - t.created_ms, window);
  EXPECT_EQ(h.balance(user), avail(5'000));
  // Money going out: never failed without a definitive answer (the provider may pay it yet).
  // It is submitted again under its id every window and stays processing, its money held.
  order_reply w = h.run(h.withdraw(user, 2'000, bad_channel), std::chrono::milliseconds(20 * window));
  EXPECT_EQ(w.id, 0u) << "a payout the provider never answered must not end: " << to_string(w.state);
  EXPECT_EQ(h.balance(user), (balances{3'000, 2'000, 0}));
  EXPECT_EQ(h.eng.stats().orders.in_flight, 1u);
}

TEST(EngineChannel, PartialSettlementPostsLessAndBalancesFollow) {
  channel_config partial = well_behaved_channel();
  partial.partial_ppm = 1'000'000;  // settles amount - amount / 4
  virtual_harness h(with_bad_channel(partial));
  wallet_id user = h.wallet(wallet_kind::user);
  order_reply t = h.must_succeed(h.top_up(user, 1'000, bad_channel));
  EXPECT_EQ(t.posted_amount, 750);
  EXPECT_LT(t.posted_amount, t.amount);
  EXPECT_EQ(reply_balance(t, user), avail(750));
  EXPECT_EQ(h.balance(user), avail(750));
  EXPECT_EQ(h.balance(h.system()), avail(-750));
  order_reply w = h.must_succeed(h.withdraw(user, 400, bad_channel));
  EXPECT_EQ(w.posted_amount, 300);
  EXPECT_EQ(h.balance(user), avail(450));  // the unsettled 100 went back to the user
  EXPECT_EQ(h.balance(h.system()), avail(-450));
  EXPECT_EQ(h.eng.get_order(tenant, w.id).posted_amount, 300);
  h.expect_conserved();
}

TEST(EngineChannel, DeclineFailsAndMovesNothing) {
  channel_config declining = well_behaved_channel();
  declining.decline_ppm = 1'000'000;
  virtual_harness h(with_bad_channel(declining));
  wallet_id user = h.wallet(wallet_kind::user);
  h.fund(user, 5'000);
  h.expect_failed(h.top_up(user, 1'000, bad_channel), result_code::channel_declined);
  h.expect_failed(h.withdraw(user, 1'000, bad_channel), result_code::channel_declined);
  EXPECT_EQ(h.balance(user), avail(5'000));
  EXPECT_EQ(h.balance(h.system()), avail(-5'000));
}

TEST(EngineChannel, ProcessingAnswersAreQueriedUntilDefinitive) {
  channel_config vague = well_behaved_channel();
  vague.reply_unknown_ppm = 1'000'000;  // every submit answer says "processing"
  vague.settle_ms = 100;                // and the provider itself knows only after 100 ms
  virtual_harness h(with_bad_channel(vague));
  wallet_id user = h.wallet(wallet_kind::user);
  order_reply r = h.must_succeed(h.top_up(user, 3'000, bad_channel));
  EXPECT_EQ(r.posted_amount, 3'000);
  EXPECT_GE(h.eng.stats().orders.channel_queries, 1u);
  EXPECT_EQ(h.balance(user), avail(3'000));
  h.expect_conserved();
}

TEST(EngineChannel, OverloadedWhenInFlightLimitReached) {
  engine_config config = with_bad_channel(well_behaved_channel(/*latency_ms=*/600));
  config.orders_in_flight_max = 2;  // one per host
  virtual_harness h(config);
  wallet_id user = h.wallet(wallet_kind::user);
  wallet_id other = h.wallet(wallet_kind::user);
  h.fund(user, 1'000);
  h.expect_conserved();
  order_command slow = h.top_up(user, 500, bad_channel);
  order_reply pending = h.run(slow, 50ms);  // still in flight on its host
  EXPECT_EQ(pending.id, 0u);
  EXPECT_EQ(h.eng.stats().orders.in_flight, 1u);
  // A command that lands on the same host is refused, retryably, and changes nothing.
  order_command blocked = h.transfer(user, other, 100);
  while (&h.eng.host_for(tenant, blocked.request_id) != &h.eng.host_for(tenant, slow.request_id))
    blocked.request_id = h.next_request_id("blocked-");
  order_reply refused = h.run(blocked);
  EXPECT_EQ(refused.id, 0u);
  EXPECT_EQ(refused.code, result_code::overloaded);
  EXPECT_TRUE(is_retryable(refused.code));
  EXPECT_EQ(h.balance(other), avail(0));
  // Once the slow order is final, the same command goes through as it is.
  ASSERT_TRUE(h.wait_quiet());
  order_reply done = h.run(slow);
  EXPECT_TRUE(done.duplicate);
  EXPECT_EQ(done.state, order_state::succeeded);
  h.must_succeed(blocked);
  EXPECT_EQ(h.balance(user), avail(1'400));
  EXPECT_EQ(h.balance(other), avail(100));
  EXPECT_GE(h.eng.stats().orders.refused, 1u);
  h.expect_conserved();
}

TEST(EngineChannel, RoutesChooseTheProviderAndReRouteOnlyAfterADeclaredDecline) {
  // Channel 1 pays; 5 declines everything with a code it declared "nothing moved"; 6 declines
  // everything with a code it did not declare.
  channel_config declared = well_behaved_channel();
  declared.decline_ppm = 1'000'000;
  declared.declared_decline_ppm = 1'000'000;
  channel_config undeclared = well_behaved_channel();
  undeclared.decline_ppm = 1'000'000;
  engine_config config = fast_config();
  config.channels.emplace_back(5, declared);
  config.channels.emplace_back(6, undeclared);
  route_rule small;  // USD up to 1000: 5 first, 1 after its refusal
  small.cur = usd;
  small.max_amount = 1'000;
  small.providers = {{5, 1}, {1, 0}};
  route_rule large;  // USD above 1000: 6 first, 1 after
  large.cur = usd;
  large.min_amount = 1'001;
  large.providers = {{6, 1}, {1, 0}};
  config.routes = {small, large};
  virtual_harness h(config);
  wallet_id user = h.wallet(wallet_kind::user);
  // Small: refused at 5 with a declared code, paid at 1.
  order_reply t = h.must_succeed(h.top_up(user, 1'000, 0));
  EXPECT_EQ(t.posted_amount, 1'000);
  order_reply w = h.must_succeed(h.withdraw(user, 400, 0));
  EXPECT_EQ(w.posted_amount, 400);
  EXPECT_EQ(h.balance(user), avail(600));
  EXPECT_EQ(h.eng.stats().orders.channel_reroutes, 2u);
  // Large: declined at 6 with a code it did not declare: failed, never sent to 1.
  h.fund(user, 5'000);
  h.expect_failed(h.withdraw(user, 2'000, 0), result_code::channel_declined);
  h.expect_failed(h.top_up(user, 2'000, 0), result_code::channel_declined);
  EXPECT_EQ(h.balance(user), avail(5'600));
  // A client naming its channel gets that channel's answer: never re-routed.
  h.expect_failed(h.withdraw(user, 100, 5), result_code::channel_declined);
  // No route takes it (another currency), and it names no channel: refused, nothing recorded.
  wallet_id euros = h.wallet(wallet_kind::user, tenant, *currency::parse("EUR"));
  order_reply refused = h.run(h.top_up(euros, 100, 0, tenant, *currency::parse("EUR")));
  EXPECT_EQ(refused.id, 0u);
  EXPECT_EQ(refused.code, result_code::no_route);
  EXPECT_EQ(h.balance(euros), avail(0));
  h.expect_conserved();
}

TEST(EngineChannel, WithoutRoutesAnOrderNamingNoChannelGoesToChannelOne) {
  virtual_harness h(fast_config());
  wallet_id user = h.wallet(wallet_kind::user);
  order_reply t = h.must_succeed(h.top_up(user, 700, 0));
  EXPECT_EQ(t.posted_amount, 700);
  EXPECT_EQ(h.balance(user), avail(700));
  h.expect_conserved();
}

}  // namespace
}  // namespace txengine::actor_test
