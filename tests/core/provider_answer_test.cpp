// The HTTP provider's answer table (core/provider_answer.hpp), row by row, and the two gates an
// adapter puts in front of a provider: the rate cap (core/rate_gate.hpp) and the circuit
// breaker (core/circuit_breaker.hpp).
#include <deque>

#include <gtest/gtest.h>

#include "core/circuit_breaker.hpp"
#include "core/provider_answer.hpp"
#include "core/rate_gate.hpp"

using namespace txengine;

namespace {

using transport = http_exchange::transport;

http_exchange answered(int status, std::string_view order_status = "", bool valid = true) {
  http_exchange x;
  x.status = status;
  x.body_valid = valid;
  x.order_status = order_status;
  return x;
}

http_exchange paid(int64_t settled, int64_t amount, int64_t requested = 0) {
  auto x = answered(200, "succeeded");
  x.settled_amount = settled;
  x.amount = amount;
  x.requested_amount = requested;
  return x;
}

struct row {
  const char* name;
  provider_request request;
  http_exchange exchange;
  channel_outcome outcome;
  bool unseen;
  bool health_failure;
  provider_anomaly anomaly;
};

}  // namespace

TEST(ProviderAnswer, EveryRowOfTheTable) {
  auto failed = [](transport t) {
    http_exchange x;
    x.result = t;
    return x;
  };
  const auto S = provider_request::submit, Q = provider_request::query, C = provider_request::close;
  const auto none = provider_anomaly::none;
  const std::vector<row> rows = {
      // The transport: only a connection never made is surely unseen.
      {"connect failed", S, failed(transport::connect_failed), channel_outcome::unknown, true, true, none},
      {"timed out", S, failed(transport::timed_out), channel_outcome::unknown, false, true, none},
      {"broken", S, failed(transport::broken), channel_outcome::unknown, false, true, none},
      // 200: the order's state.
      {"processing", S, answered(200, "processing"), channel_outcome::unknown, false, false, none},
      {"declined", S, answered(200, "declined"), channel_outcome::declined, false, false, none},
      {"closed", C, answered(200, "closed"), channel_outcome::closed, false, false, none},
      {"paid in full", S, paid(100, 100, 100), channel_outcome::succeeded, false, false, none},
      {"paid partly", Q, paid(40, 100), channel_outcome::succeeded, false, false, none},
      {"paid more than asked", Q, paid(101, 100), channel_outcome::unknown, false, false,
       provider_anomaly::malformed_answer},
      {"paid nothing", Q, paid(0, 100), channel_outcome::unknown, false, false, provider_anomaly::malformed_answer},
      {"another amount than submitted", S, paid(90, 90, 100), channel_outcome::unknown, false, false,
       provider_anomaly::malformed_answer},
      {"unknown status", Q, answered(200, "refunded"), channel_outcome::unknown, false, false,
       provider_anomaly::malformed_answer},
      {"unreadable body", Q, answered(200, "", false), channel_outcome::unknown, false, true,
       provider_anomaly::malformed_answer},
      // 404: not found only for a query or a close with the contract's body.
      {"query not found", Q, answered(404, "not_found"), channel_outcome::not_found, false, false, none},
      {"close not found", C, answered(404, "not_found"), channel_outcome::not_found, false, false, none},
      {"404 to a submit", S, answered(404, "not_found"), channel_outcome::unknown, false, true,
       provider_anomaly::unexpected_status},
      {"404 without the body", Q, answered(404, "", false), channel_outcome::unknown, false, true,
       provider_anomaly::unexpected_status},
      // Refusals before anything was done.
      {"429", S, answered(429), channel_outcome::unknown, true, false, none},
      {"400", S, answered(400), channel_outcome::unknown, true, false, provider_anomaly::bad_request},
      {"401", S, answered(401), channel_outcome::unknown, true, true, provider_anomaly::refused_credentials},
      {"403", Q, answered(403), channel_outcome::unknown, true, true, provider_anomaly::refused_credentials},
      // Everything else says nothing definitive.
      {"409", S, answered(409), channel_outcome::unknown, false, false, provider_anomaly::order_conflict},
      {"500", S, answered(500), channel_outcome::unknown, false, true, none},
      {"503", S, answered(503), channel_outcome::unknown, false, true, none},
      {"504", Q, answered(504), channel_outcome::unknown, false, true, none},
      {"302", Q, answered(302), channel_outcome::unknown, false, false, provider_anomaly::unexpected_status},
  };
  for (const auto& r : rows) {
    auto got = read_provider_answer(r.request, r.exchange);
    EXPECT_EQ(got.outcome, r.outcome) << r.name;
    EXPECT_EQ(got.unseen, r.unseen) << r.name;
    EXPECT_EQ(got.health_failure, r.health_failure) << r.name;
    EXPECT_EQ(got.anomaly, r.anomaly) << r.name << ": " << to_string(got.anomaly);
    EXPECT_EQ(got.rate_limited, std::string_view(r.name) == "429") << r.name;
    if (got.outcome == channel_outcome::succeeded) {
      EXPECT_EQ(got.settled_amount, r.exchange.settled_amount) << r.name;
    }
  }
}

TEST(RateGate, NeverMoreThanRatePlusBurstInAnySecond) {
  rate_gate gate(100, 10);
  std::deque<int64_t> passed;
  size_t most = 0, total = 0;
  // Offered far above the cap (every 100 µs) for 5 s, with a quiet second in the middle.
  for (int64_t t = 0; t < 6'000'000; t += 100) {
    if (t >= 2'000'000 && t < 3'000'000) continue;
    if (!gate.try_take(t)) continue;
    ++total;
    passed.push_back(t);
    while (passed.front() <= t - 1'000'000) passed.pop_front();
    most = std::max(most, passed.size());
  }
  EXPECT_LE(most, 110u);
  EXPECT_GE(most, 100u);
  EXPECT_NEAR(static_cast<double>(total), 5 * 100 + 2 * 10, 12);
}

TEST(RateGate, SaysWhenTheNextRequestMayGo) {
  rate_gate gate(1000, 1);  // one per millisecond
  EXPECT_TRUE(gate.try_take(0));
  EXPECT_FALSE(gate.try_take(500));
  EXPECT_EQ(gate.next_us(500), 1000);
  EXPECT_TRUE(gate.try_take(1000));
  rate_gate open(0, 1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(open.try_take(0));
  EXPECT_EQ(open.next_us(7), 7);
}

TEST(CircuitBreaker, OpensOnTheFailureShareThenProbesThenCloses) {
  breaker_config c;
  c.min_requests = 10;
  c.failure_ppm = 500'000;
  c.open_ms = 1'000;
  c.probes = 2;
  circuit_breaker b(c);
  for (int i = 0; i < 9; ++i) {  // nine failures: fewer than min_requests
    ASSERT_TRUE(b.allow(i));
    b.record(true, i);
  }
  EXPECT_EQ(b.current(10), circuit_breaker::state::closed);
  ASSERT_TRUE(b.allow(10));
  b.record(true, 10);
  EXPECT_EQ(b.current(11), circuit_breaker::state::open);
  EXPECT_FALSE(b.allow(500));
  EXPECT_EQ(b.current(1'010), circuit_breaker::state::half_open);
  EXPECT_TRUE(b.allow(1'010));
  EXPECT_TRUE(b.allow(1'011));
  EXPECT_FALSE(b.allow(1'012)) << "only the probes go half open";
  b.record(false, 1'020);
  b.record(false, 1'021);
  EXPECT_EQ(b.current(1'022), circuit_breaker::state::closed);
  EXPECT_EQ(b.times_opened(), 1u);
}

TEST(CircuitBreaker, AFailedProbeOpensItAgain) {
  breaker_config c;
  c.min_requests = 2;
  c.open_ms = 100;
  circuit_breaker b(c);
  b.record(true, 0);
  b.record(true, 1);
  ASSERT_EQ(b.current(2), circuit_breaker::state::open);
  ASSERT_TRUE(b.allow(200));
  b.record(true, 201);
  EXPECT_EQ(b.current(202), circuit_breaker::state::open);
  EXPECT_FALSE(b.allow(250));
  EXPECT_TRUE(b.allow(301));
  EXPECT_EQ(b.times_opened(), 2u);
}

TEST(CircuitBreaker, OnlyTheRecentWindowCountsAndSuccessesDilute) {
  breaker_config c;
  c.window_s = 2;
  c.min_requests = 4;
  c.failure_ppm = 500'000;
  circuit_breaker b(c);
  b.record(true, 0);
  b.record(true, 100);
  b.record(true, 200);  // three failures at second 0...
  b.record(true, 5'000);  // ... forgotten by second 5: one failure of one
  EXPECT_EQ(b.current(5'001), circuit_breaker::state::closed);
  for (int i = 0; i < 3; ++i) b.record(false, 5'100 + i);
  b.record(true, 5'200);  // two failures in five
  EXPECT_EQ(b.current(5'201), circuit_breaker::state::closed);
  b.record(true, 5'300);  // three in six: half or more
  EXPECT_EQ(b.current(5'301), circuit_breaker::state::open);
}
