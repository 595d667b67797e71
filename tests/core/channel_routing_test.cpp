// The routing rules (core/channel_routing.hpp) and what an order does when re-routed
// (core/order_core.hpp): issue 15, item 5.
#include "core/channel_routing.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/order_core.hpp"
#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;
using ak = order_action_kind;
using os = order_state;

const currency eur = *currency::parse("EUR");

route_rule rule(std::vector<route_target> providers) {
  route_rule r;
  r.providers = std::move(providers);
  return r;
}

auto none_open = [](channel_id) { return false; };

route_facts payout(int64_t amount = 1000, tenant_id t = 1, currency cur = usd) {
  return {order_kind::withdraw, t, cur, amount};
}

TEST(channel_routing_test, the_first_matching_rule_decides_by_kind_currency_amount_and_tenant) {
  route_rule big = rule({{3, 1}});
  big.min_amount = 1'000'000;
  route_rule tenant7 = rule({{4, 1}});
  tenant7.tenants = {7};
  route_rule euros = rule({{5, 1}});
  euros.cur = eur;
  route_rule payouts = rule({{6, 1}});
  payouts.top_up = false;
  route_rule rest = rule({{1, 1}});
  channel_router router({big, tenant7, euros, payouts, rest});
  EXPECT_EQ(router.first(payout(2'000'000), 0, none_open), 3u);
  EXPECT_EQ(router.first(payout(1000, 7), 0, none_open), 4u);
  EXPECT_EQ(router.first(payout(1000, 1, eur), 0, none_open), 5u);
  EXPECT_EQ(router.first(payout(1000), 0, none_open), 6u);
  EXPECT_EQ(router.first({order_kind::top_up, 1, usd, 1000}, 0, none_open), 1u);
  // No rule for it: no provider.
  channel_router narrow({payouts});
  EXPECT_EQ(narrow.match({order_kind::top_up, 1, usd, 1000}), nullptr);
  EXPECT_EQ(narrow.first({order_kind::top_up, 1, usd, 1000}, 0, none_open), 0u);
  // An amount range is inclusive at both ends.
  route_rule band = rule({{2, 1}});
  band.min_amount = 100;
  band.max_amount = 200;
  channel_router banded({band});
  EXPECT_EQ(banded.match(payout(99)), nullptr);
  EXPECT_NE(banded.match(payout(100)), nullptr);
  EXPECT_NE(banded.match(payout(200)), nullptr);
  EXPECT_EQ(banded.match(payout(201)), nullptr);
}

TEST(channel_routing_test, weights_share_first_attempts_and_weight_zero_is_fallback_only) {
  channel_router router({rule({{1, 3}, {2, 1}, {9, 0}})});
  std::map<channel_id, int> seen;
  for (order_id id = 1; id <= 40'000; ++id) ++seen[router.first(payout(), route_draw(id), none_open)];
  EXPECT_EQ(seen.count(9), 0u);
  EXPECT_NEAR(seen[1], 30'000, 600);
  EXPECT_NEAR(seen[2], 10'000, 600);
  // The same order always draws the same provider.
  EXPECT_EQ(router.first(payout(), route_draw(77), none_open), router.first(payout(), route_draw(77), none_open));
}

TEST(channel_routing_test, an_open_circuit_is_avoided_for_first_attempts_and_re_routes) {
  channel_router router({rule({{1, 1}, {2, 1}, {3, 0}})});
  auto one_open = [](channel_id c) { return c == 1; };
  for (order_id id = 1; id < 200; ++id) EXPECT_EQ(router.first(payout(), route_draw(id), one_open), 2u);
  // Every weighted provider open: the first of the list that is not (a fallback).
  auto weighted_open = [](channel_id c) { return c != 3; };
  EXPECT_EQ(router.first(payout(), 5, weighted_open), 3u);
  // All open: none (the host refuses the order, retryably).
  EXPECT_EQ(router.first(payout(), 5, [](channel_id) { return true; }), 0u);
  // Next: in list order, not tried, not open.
  route_trail tried;
  tried.push_back(2);
  EXPECT_EQ(router.next(payout(), tried, none_open), 1u);
  EXPECT_EQ(router.next(payout(), tried, one_open), 3u);
  tried.push_back(1);
  tried.push_back(3);
  EXPECT_EQ(router.next(payout(), tried, none_open), 0u);
}

TEST(channel_routing_test, bad_rules_are_refused_with_the_reason) {
  const std::vector<channel_id> channels = {1, 2, 3};
  EXPECT_EQ(channel_router::problem({rule({{1, 1}, {2, 0}})}, channels), "");
  EXPECT_NE(channel_router::problem({rule({})}, channels).find("providers must name"), std::string::npos);
  EXPECT_NE(channel_router::problem({rule({{4, 1}})}, channels).find("not a configured channel"), std::string::npos);
  EXPECT_NE(channel_router::problem({rule({{1, 1}, {1, 1}})}, channels).find("named twice"), std::string::npos);
  EXPECT_NE(channel_router::problem({rule({{1, 0}, {2, 0}})}, channels).find("weight above 0"), std::string::npos);
  route_rule inverted = rule({{1, 1}});
  inverted.min_amount = 10;
  inverted.max_amount = 9;
  EXPECT_NE(channel_router::problem({inverted}, channels).find("amount range"), std::string::npos);
  route_rule no_kind = rule({{1, 1}});
  no_kind.top_up = no_kind.withdraw = false;
  EXPECT_NE(channel_router::problem({no_kind}, channels).find("kinds"), std::string::npos);
  std::vector<route_target> nine;
  for (channel_id c = 1; c <= 9; ++c) nine.push_back({c, 1});
  std::vector<channel_id> many = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_NE(channel_router::problem({rule(nine)}, many).find("providers must name"), std::string::npos);
  // The error names the rule.
  EXPECT_EQ(channel_router::problem({rule({{1, 1}}), rule({{7, 1}})}, channels).rfind("route 2: ", 0), 0u);
}

TEST(channel_routing_test, a_route_reads_as_one_line) {
  route_rule r = rule({{7, 3}, {8, 0}});
  r.top_up = false;
  r.cur = usd;
  r.max_amount = 5000;
  r.tenants = {1, 2};
  EXPECT_EQ(describe_route(r), "withdraw USD 1..5000 tenants 1,2 -> 7 (weight 3), 8 (fallback)");
  EXPECT_EQ(describe_route(rule({{1, 1}})), "top_up+withdraw any currency 1..any any tenant -> 1 (weight 1)");
}

TEST(channel_routing_test, only_declared_codes_say_nothing_moved) {
  std::vector<std::string> declared = {"invalid_account", "limit_exceeded"};
  EXPECT_TRUE(declared_no_money_moved("invalid_account", declared));
  EXPECT_FALSE(declared_no_money_moved("insufficient_funds", declared));
  EXPECT_FALSE(declared_no_money_moved("", declared));
  EXPECT_FALSE(declared_no_money_moved("invalid_account", {}));
}

TEST(channel_routing_test, the_stored_trail_reads_back_and_refuses_garbage) {
  route_trail trail;
  trail.push_back(7);
  trail.push_back(4294967295u);
  EXPECT_EQ(format_route_trail(trail), "7,4294967295");
  route_trail back;
  ASSERT_TRUE(parse_route_trail("7,4294967295", back));
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1], 4294967295u);
  for (const char* bad : {"", ",", "7,", ",7", "0", "7,0", "x", "7;9", "4294967296", "+7", "-7", " 7",
                          "1,2,3,4,5,6,7,8,9"}) {
    route_trail untouched;
    untouched.push_back(1);
    EXPECT_FALSE(parse_route_trail(bad, untouched)) << bad;
    EXPECT_EQ(untouched.size(), 1u) << bad;
  }
}

// --- the order's side ---------------------------------------------------------------------

struct routed_order : order_stepper {
  explicit routed_order(order_kind kind = order_kind::withdraw)
      : order_stepper(order_core(the_order, unnamed(kind), system_w, {}, t_start), t_start) {
    order.route_to(3);
    order.start(now, out);
    take();
    auto actions = reply_all(tcc_phase::try_);
    EXPECT_EQ(order.state(), os::processing);
    EXPECT_EQ(count_of(actions, ak::channel_submit), 1u);
  }
  static order_command unnamed(order_kind kind) {
    order_command c = command_of(kind);
    c.channel = 0;
    return c;
  }
  std::vector<order_action> channel(channel_outcome outcome, channel_id reroute_to = 0,
                                    result_code reason = result_code::channel_declined) {
    order.on_channel(outcome, outcome == channel_outcome::succeeded ? 1000 : 0, now, out, reason, reroute_to);
    return take();
  }
};

TEST(channel_routing_test, a_declared_decline_sends_the_order_to_the_next_provider_after_its_row) {
  routed_order o;
  EXPECT_EQ(o.order.channel(), 3u);
  o.now += 50;
  auto out = o.channel(channel_outcome::declined, 5);
  // The row naming provider 5 first, then the submit there (held by the host until committed).
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, ak::persist);
  EXPECT_EQ(out[1].kind, ak::channel_reroute);
  EXPECT_EQ(o.order.state(), os::processing);
  EXPECT_EQ(o.order.channel(), 5u);
  EXPECT_EQ(format_route_trail(o.order.stored(o.now).route), "3,5");
  // The new provider is asked like after a first submit: not before the submit timeout.
  EXPECT_GE(o.order.next_wakeup_ms(), o.now + order_config{}.channel_query_min_delay_ms);
  // A busy refusal at the new provider is its first submit's: re-routed again.
  out = o.channel(channel_outcome::declined, 8, result_code::channel_busy);
  EXPECT_EQ(o.order.channel(), 8u);
  // Its success settles the order.
  o.channel(channel_outcome::succeeded);
  EXPECT_EQ(o.order.state(), os::confirming);
  o.reply_all(tcc_phase::confirm);
  EXPECT_EQ(o.order.state(), os::succeeded);
  EXPECT_EQ(o.order.route().size(), 3u);
}

TEST(channel_routing_test, no_re_route_on_unknown_not_found_closed_or_without_a_next_provider) {
  {
    routed_order o;
    for (auto outcome : {channel_outcome::unknown, channel_outcome::not_found}) {
      o.channel(outcome, 5);
      EXPECT_EQ(o.order.channel(), 3u);
      EXPECT_EQ(o.order.state(), os::processing);
    }
    // A later submit's (not the first) busy refusal says nothing: not re-routed, not failed.
    o.now += order_config{}.channel_not_found_final_ms;
    auto out = o.channel(channel_outcome::not_found);
    EXPECT_EQ(count_of(out, ak::channel_resubmit), 1u);
    o.channel(channel_outcome::declined, 5, result_code::channel_busy);
    EXPECT_EQ(o.order.channel(), 3u);
    EXPECT_EQ(o.order.state(), os::processing);
  }
  {
    routed_order o(order_kind::top_up);
    o.channel(channel_outcome::closed, 5);  // a money-in order closed: final
    EXPECT_EQ(o.order.state(), os::cancelling);
    EXPECT_EQ(o.order.channel(), 3u);
  }
  {
    routed_order o;
    o.channel(channel_outcome::declined, 0);  // no provider left: the decline stands
    EXPECT_EQ(o.order.state(), os::cancelling);
    EXPECT_EQ(o.order.reason(), result_code::channel_declined);
  }
}

TEST(channel_routing_test, an_earlier_providers_late_answer_changes_nothing_and_a_success_there_alerts) {
  routed_order o;
  o.channel(channel_outcome::declined, 5);
  std::vector<order_action> out;
  o.order.on_earlier_channel(channel_outcome::declined, out);
  EXPECT_TRUE(out.empty());
  o.order.on_earlier_channel(channel_outcome::succeeded, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert, alert_kind::conflicting_outcome);
  EXPECT_EQ(o.order.state(), os::processing);
  EXPECT_EQ(o.order.channel(), 5u);
}

TEST(channel_routing_test, a_restart_resumes_at_the_provider_its_row_names) {
  routed_order o;
  o.channel(channel_outcome::declined, 5);
  stored_order row = o.order.stored(o.now);
  std::string error;
  auto restored = order_core::restore(the_order, routed_order::unnamed(order_kind::withdraw), row, {}, &error);
  ASSERT_TRUE(restored) << error;
  EXPECT_EQ(restored->channel(), 5u);
  EXPECT_EQ(restored->route().size(), 2u);
  std::vector<order_action> out;
  restored->resume(o.now, out);
  EXPECT_EQ(count_of(out, ak::channel_query), 1u);  // asked, never submitted again
  // "Not found" there (the submit may not have gone out before the stop) is no refusal: it waits.
  out.clear();
  restored->on_channel(channel_outcome::not_found, 0, o.now, out, result_code::channel_declined, 8);
  EXPECT_EQ(restored->channel(), 5u);
  EXPECT_EQ(restored->state(), os::processing);
  // Its declared refusal goes on along the trail.
  restored->on_channel(channel_outcome::declined, 0, o.now, out, result_code::channel_declined, 8);
  EXPECT_EQ(format_route_trail(restored->route()), "3,5,8");
  // A row of an order naming no channel and no route, or a route not starting at the named
  // channel, is not resumed (refused as unreadable, nothing moves).
  stored_order bare = row;
  bare.route = {};
  EXPECT_FALSE(order_core::restore(the_order, routed_order::unnamed(order_kind::withdraw), bare, {}, &error));
  EXPECT_NE(error.find("no provider"), std::string::npos);
  EXPECT_FALSE(order_core::restore(the_order, command_of(order_kind::withdraw), row, {}, &error));  // names 1
  // An old row (no route) of an order naming its channel resumes at that channel.
  auto old = order_core::restore(the_order, command_of(order_kind::withdraw), bare, {}, &error);
  ASSERT_TRUE(old) << error;
  EXPECT_EQ(old->channel(), 1u);
}

}  // namespace
}  // namespace txengine
