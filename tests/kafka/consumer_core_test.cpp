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
  for (int c : {80, 81, 82, 83}) EXPECT_TRUE(is_retryable_code(c)) << c;
  for (int c : {0, 25, 27, 60, 90, 91, 92}) EXPECT_FALSE(is_retryable_code(c)) << c;
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
