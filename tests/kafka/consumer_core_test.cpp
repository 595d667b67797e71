// The consumers' rules (apps/consumer_core.hpp): eligibility, commission arithmetic, request
// ids, retryable codes, backoff, de-duplication within a batch.
#include "apps/consumer_core.hpp"

#include <gtest/gtest.h>

#include <cstdint>

using namespace txengine::consumers;

namespace {

finalized_event payment(uint64_t id, int64_t amount) {
  finalized_event e;
  e.event_id = id;
  e.order_id = id;
  e.kind = order_kind_pay;
  e.state = order_state_succeeded;
  e.currency = "USD";
  e.amount = amount;
  e.confirmed_amount = amount;
  e.payer = 1;
  e.merchant = 2;
  return e;
}

}  // namespace

TEST(consumer_core, only_succeeded_payments_are_acted_on) {
  auto e = payment(1, 100);
  EXPECT_TRUE(is_succeeded_payment(e));
  e.state = order_state_succeeded + 1;  // failed
  EXPECT_FALSE(is_succeeded_payment(e));
  e = payment(1, 100);
  e.kind = 5;  // commission: its own events must not pay a commission again
  EXPECT_FALSE(is_succeeded_payment(e));
}

TEST(consumer_core, malformed_events_are_recognised) {
  EXPECT_TRUE(is_well_formed(payment(1, 100)));
  auto e = payment(0, 100);
  EXPECT_FALSE(is_well_formed(e));
  e = payment(1, 0);
  EXPECT_FALSE(is_well_formed(e));
  e = payment(1, 100);
  e.confirmed_amount = 101;
  EXPECT_FALSE(is_well_formed(e));
  e = payment(1, 100);
  e.currency = "US";
  EXPECT_FALSE(is_well_formed(e));
}

TEST(consumer_core, settled_amount_prefers_the_confirmed_amount) {
  auto e = payment(1, 1000);
  e.confirmed_amount = 600;
  EXPECT_EQ(settled_amount(e), 600);
  e.confirmed_amount = 0;
  EXPECT_EQ(settled_amount(e), 1000);
}

TEST(consumer_core, commission_is_floor_of_basis_points_without_overflow) {
  EXPECT_EQ(commission_amount(10'000, 100), 100);
  EXPECT_EQ(commission_amount(99, 100), 0);
  EXPECT_EQ(commission_amount(12'345, 250), 308);  // 308.625
  EXPECT_EQ(commission_amount(0, 100), 0);
  EXPECT_EQ(commission_amount(5, 10'000), 5);
  EXPECT_EQ(commission_amount(INT64_MAX, 10'000), INT64_MAX);
  EXPECT_EQ(commission_amount(INT64_MAX, 5'000), INT64_MAX / 2);
  EXPECT_FALSE(commission_amount(-1, 100).has_value());
  EXPECT_FALSE(commission_amount(100, 10'001).has_value());
}

TEST(consumer_core, request_id_is_derived_from_the_event_id) {
  EXPECT_EQ(commission_request_id(42), "commission-42");
  EXPECT_EQ(commission_request_id(UINT64_MAX), "commission-18446744073709551615");
  EXPECT_LE(commission_request_id(UINT64_MAX).size(), 64u);  // the engine's request id limit
}

TEST(consumer_core, only_busy_and_unavailable_codes_are_retried) {
  for (int c : {80, 81, 82, 83, 84}) EXPECT_TRUE(is_retryable_code(c)) << c;
  for (int c : {0, 25, 27, 60, 61, 85, 90, 91, 92, 95}) EXPECT_FALSE(is_retryable_code(c)) << c;
}

TEST(consumer_core, backoff_doubles_up_to_the_cap) {
  EXPECT_EQ(backoff_ms(0, 50, 2000), 50);
  EXPECT_EQ(backoff_ms(1, 50, 2000), 100);
  EXPECT_EQ(backoff_ms(5, 50, 2000), 1600);
  EXPECT_EQ(backoff_ms(6, 50, 2000), 2000);
  EXPECT_EQ(backoff_ms(1000, 50, 2000), 2000);
}

TEST(consumer_core, new_events_skips_known_and_repeated_ids) {
  std::vector<uint64_t> ids{5, 6, 5, 7, 8, 6};
  auto out = new_events(ids, {7});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[1], 1u);
  EXPECT_EQ(out[2], 4u);
  EXPECT_TRUE(new_events({}, {}).empty());
}

namespace {

engine_order as_engine_has_it(const finalized_event& e) {
  engine_order o;
  o.kind = e.kind;
  o.state = e.state;
  o.amount = e.amount;
  o.posted_amount = e.confirmed_amount;
  o.currency = e.currency;
  o.destination = e.merchant;
  return o;
}

}  // namespace

TEST(consumer_core, an_event_the_engine_agrees_with_is_paid) {
  auto e = payment(7, 10'000);
  auto o = as_engine_has_it(e);
  auto v = verify_event(e, code_ok, &o);
  EXPECT_EQ(v.decision, verdict::pay);
  EXPECT_EQ(v.reason, "");
}

TEST(consumer_core, an_event_of_an_order_the_engine_does_not_know_is_set_aside) {
  auto v = verify_event(payment(7, 10'000), code_unknown_order, nullptr);
  EXPECT_EQ(v.decision, verdict::set_aside);
  EXPECT_EQ(v.reason, "unknown_order");
}

TEST(consumer_core, every_field_that_disagrees_sets_the_event_aside_and_names_it) {
  const auto real = payment(7, 10'000);
  const auto engine = as_engine_has_it(real);
  struct change {
    const char* reason;
    void (*apply)(finalized_event&);
  };
  const change changes[] = {
      {"amount: event 10001, engine 10000", [](finalized_event& e) { e.amount = 10'001; }},
      {"confirmed_amount: event 9000, engine 10000", [](finalized_event& e) { e.confirmed_amount = 9'000; }},
      {"currency: event EUR, engine USD", [](finalized_event& e) { e.currency = "EUR"; }},
      {"merchant: event 99, engine 2", [](finalized_event& e) { e.merchant = 99; }},
      {"kind: event 3, engine 1", [](finalized_event& e) { e.kind = 3; }},
      {"state: event 6, engine 5", [](finalized_event& e) { e.state = 6; }},
  };
  for (const auto& c : changes) {
    auto forged = real;
    c.apply(forged);
    auto v = verify_event(forged, code_ok, &engine);
    EXPECT_EQ(v.decision, verdict::set_aside) << c.reason;
    EXPECT_EQ(v.reason, c.reason);
  }
  // The engine's order in another state than the event claims (a payment still trying).
  auto trying = engine;
  trying.state = 1;
  EXPECT_EQ(verify_event(real, code_ok, &trying).reason, "state: event 5, engine 1");
}

TEST(consumer_core, no_usable_answer_is_retried_never_paid_nor_set_aside) {
  const auto e = payment(7, 10'000);
  auto o = as_engine_has_it(e);
  auto lost = verify_event(e, -1, nullptr);
  EXPECT_EQ(lost.decision, verdict::retry);
  EXPECT_EQ(lost.reason, "no answer");
  for (int code : {80, 81, 82, 84, 95}) {  // overloaded, busy, unavailable, rate limited, forbidden
    auto v = verify_event(e, code, &o);
    EXPECT_EQ(v.decision, verdict::retry) << code;
    EXPECT_EQ(v.reason, "engine code " + std::to_string(code));
  }
  EXPECT_EQ(verify_event(e, code_ok, nullptr).decision, verdict::retry);  // ok without an order
  EXPECT_EQ(verify_event(e, 95, nullptr).decision, verdict::retry);       // forbidden: the key lacks queries
}

TEST(consumer_core, an_event_that_claims_success_for_a_failed_order_is_set_aside_not_retried) {
  // GetOrder answers a failed order with its own result code (insufficient_funds, 25).
  const auto e = payment(7, 10'000);
  auto failed = as_engine_has_it(e);
  failed.state = 6;
  failed.posted_amount = 0;
  auto v = verify_event(e, 25, &failed);
  EXPECT_EQ(v.decision, verdict::set_aside);
  EXPECT_EQ(v.reason, "state: event 5, engine 6");
}
