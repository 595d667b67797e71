#include "core/simulated_channel.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace txengine {
namespace {

//! A provider that behaves perfectly unless a test says otherwise.
channel_config clean_config() {
  channel_config c;
  c.latency_ms = 2;
  c.settle_ms = 0;
  c.decline_ppm = 0;
  c.reply_lost_ppm = 0;
  c.reply_unknown_ppm = 0;
  c.submit_lost_ppm = 0;
  c.partial_ppm = 0;
  c.rate_per_s = 0;
  return c;
}

channel_request submit(order_id order, int64_t amount) { return {channel_request::kind::submit, order, amount, currency{}, false}; }
channel_request query(order_id order) { return {channel_request::kind::query, order, 0, currency{}, false}; }
channel_request close(order_id order) { return {channel_request::kind::close, order, 0, currency{}, false}; }

//! Runs the channel until `until_ms`, collecting every response.
std::vector<channel_response> drain(simulated_channel& ch, int64_t from_ms, int64_t until_ms) {
  std::vector<channel_response> out;
  for (int64_t t = from_ms; t <= until_ms; ++t) ch.poll(t, out);
  return out;
}

TEST(simulated_channel_test, clean_provider_succeeds_after_latency) {
  simulated_channel ch(clean_config());
  std::vector<channel_response> out;
  ch.receive(submit(1, 500), 100, out);
  EXPECT_TRUE(out.empty());  // the answer takes latency_ms
  EXPECT_EQ(ch.next_wakeup_ms(), 102);
  ch.poll(101, out);
  EXPECT_TRUE(out.empty());
  ch.poll(102, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].order, 1u);
  EXPECT_EQ(out[0].outcome, channel_outcome::succeeded);
  EXPECT_EQ(out[0].settled_amount, 500);
  EXPECT_FALSE(out[0].busy);
  EXPECT_EQ(ch.known_orders(), 1u);
  EXPECT_EQ(ch.next_wakeup_ms(), timer_queue<uint64_t>::never);
  // A repeated submit does not decide again: same truth.
  out.clear();
  ch.receive(submit(1, 500), 200, out);
  ch.poll(202, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome, channel_outcome::succeeded);
  EXPECT_EQ(ch.known_orders(), 1u);
}

TEST(simulated_channel_test, deterministic_per_seed) {
  auto run = [](uint64_t seed) {
    channel_config c;  // default misbehaviour rates
    c.decline_ppm = 200'000;
    c.reply_lost_ppm = 100'000;
    c.reply_unknown_ppm = 100'000;
    c.submit_lost_ppm = 100'000;
    c.partial_ppm = 100'000;
    c.seed = seed;
    simulated_channel ch(c);
    std::vector<channel_response> out;
    for (order_id o = 1; o <= 2000; ++o) {
      ch.receive(submit(o, int64_t(o) * 10), int64_t(o), out);
      if (o % 3 == 0) ch.receive(query(o - 1), int64_t(o), out);
    }
    ch.poll(1'000'000, out);
    std::vector<std::tuple<order_id, int, int64_t>> flat;
    for (auto& r : out) flat.emplace_back(r.order, int(r.outcome), r.settled_amount);
    return flat;
  };
  auto a = run(42);
  auto b = run(42);
  auto c = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Every kind of answer shows up with these rates.
  int counts[4] = {};
  for (auto& [order, outcome, settled] : a) ++counts[outcome];
  for (int k = 0; k < 4; ++k) EXPECT_GT(counts[k], 0) << k;
}

TEST(simulated_channel_test, rate_cap) {
  auto c = clean_config();
  c.rate_per_s = 100;
  c.latency_ms = 0;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  const int64_t start = 1'000'000;
  for (order_id o = 1; o <= 2000; ++o) ch.receive(submit(o, 1), start, out);
  // The bucket holds one second's worth at most: a burst, then 100 per second.
  EXPECT_LE(out.size(), 101u);
  EXPECT_GE(out.size(), 1u);
  size_t burst = out.size();
  for (int64_t seconds = 1; seconds <= 10; ++seconds) {
    for (int64_t t = start + (seconds - 1) * 1000 + 1; t <= start + seconds * 1000; ++t) ch.poll(t, out);
    EXPECT_LE(out.size(), burst + size_t(seconds) * 100) << seconds;
    EXPECT_GE(out.size(), burst + size_t(seconds) * 100 - 1) << seconds;
  }
  EXPECT_EQ(ch.queued(), 2000 - out.size());
  // Within the steady state, answers are at least 10 ms apart.
  // (Each request is answered the moment it is admitted, latency 0.)
  EXPECT_GT(ch.next_wakeup_ms(), start + 10'000);
  EXPECT_LE(ch.next_wakeup_ms(), start + 10'011);
}

TEST(simulated_channel_test, queue_full_refuses_submit_as_busy_decline) {
  auto c = clean_config();
  c.rate_per_s = 1;  // admits almost nothing, so the queue fills
  c.queue_max = 4;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  order_id o = 1;
  while (ch.queued() < c.queue_max) {
    ch.receive(submit(o++, 1), 1000, out);
    ASSERT_LT(o, 100u);
  }
  for (auto& r : out) EXPECT_FALSE(r.busy);
  out.clear();
  order_id refused = o;
  ch.receive(submit(refused, 1), 1000, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].order, refused);
  EXPECT_TRUE(out[0].busy);
  EXPECT_EQ(out[0].outcome, channel_outcome::declined);  // never seen: safe to cancel
  EXPECT_EQ(ch.queued(), c.queue_max);
  EXPECT_EQ(ch.known_orders() + ch.queued(), size_t(o - 1));
  // A refused query is not a decline: it says nothing.
  out.clear();
  ch.receive(query(1), 1000, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].busy);
  EXPECT_EQ(out[0].outcome, channel_outcome::unknown);
  // A refused repeat submit of an order the provider already knows is not a decline either.
  out.clear();
  ch.receive(submit(1, 1), 1000, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].busy);
  EXPECT_EQ(out[0].outcome, channel_outcome::unknown);
}

TEST(simulated_channel_test, query_before_settle_is_unknown) {
  auto c = clean_config();
  c.settle_ms = 100;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  ch.receive(submit(1, 700), 1000, out);
  auto replies = drain(ch, 1000, 1010);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::unknown);  // the provider does not know yet
  ch.receive(query(1), 1050, out);
  replies = drain(ch, 1050, 1060);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::unknown);
  ch.receive(query(1), 1100, out);
  replies = drain(ch, 1100, 1110);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::succeeded);
  EXPECT_EQ(replies[0].settled_amount, 700);
  // A query of an order it never received.
  ch.receive(query(2), 1200, out);
  replies = drain(ch, 1200, 1210);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::not_found);
}

TEST(simulated_channel_test, lost_submit_is_not_found) {
  auto c = clean_config();
  c.submit_lost_ppm = 1'000'000;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  ch.receive(submit(1, 700), 1000, out);
  EXPECT_TRUE(drain(ch, 1000, 1100).empty());  // no answer: the submit never arrived
  EXPECT_EQ(ch.known_orders(), 0u);
  ch.receive(query(1), 1100, out);
  auto replies = drain(ch, 1100, 1110);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::not_found);
}

//! Sends `request` at `at_ms` and returns the answers within the next 10 ms.
std::vector<channel_response> ask(simulated_channel& ch, const channel_request& request, int64_t at_ms) {
  std::vector<channel_response> out;
  ch.receive(request, at_ms, out);
  for (const auto& r : drain(ch, at_ms, at_ms + 10)) out.push_back(r);
  return out;
}

TEST(simulated_channel_test, close_of_an_order_never_received_closes_it_for_good) {
  simulated_channel ch(clean_config());
  auto replies = ask(ch, close(1), 1000);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::closed);
  // A submit that arrives after the close is not paid: answered closed, and so is a query.
  for (const auto& request : {submit(1, 700), query(1)}) {
    replies = ask(ch, request, 1020);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].outcome, channel_outcome::closed);
    EXPECT_EQ(replies[0].settled_amount, 0);
  }
}

TEST(simulated_channel_test, close_of_an_order_it_has_answers_its_outcome) {
  auto c = clean_config();
  c.settle_ms = 100;
  simulated_channel ch(c);
  ask(ch, submit(1, 700), 1000);
  auto replies = ask(ch, close(1), 1050);  // being paid: it cannot be closed, and says so
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::unknown);
  replies = ask(ch, close(1), 1200);  // paid: the close answers that, nothing is closed
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::succeeded);
  EXPECT_EQ(replies[0].settled_amount, 700);
}

TEST(simulated_channel_test, a_second_submit_of_an_order_is_answered_not_paid_again) {
  simulated_channel ch(clean_config());
  auto first = ask(ch, submit(1, 700), 1000);
  auto second = ask(ch, submit(1, 700), 1100);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0].outcome, second[0].outcome);
  EXPECT_EQ(first[0].settled_amount, second[0].settled_amount);
  EXPECT_EQ(ch.known_orders(), 1u);
}

TEST(simulated_channel_test, lost_reply_and_unknown_reply_then_query_tells_truth) {
  for (bool lost : {true, false}) {
    auto c = clean_config();
    (lost ? c.reply_lost_ppm : c.reply_unknown_ppm) = 1'000'000;
    simulated_channel ch(c);
    std::vector<channel_response> out;
    ch.receive(submit(1, 700), 1000, out);
    auto replies = drain(ch, 1000, 1100);
    if (lost) {
      EXPECT_TRUE(replies.empty());
    } else {
      ASSERT_EQ(replies.size(), 1u);
      EXPECT_EQ(replies[0].outcome, channel_outcome::unknown);
    }
    ch.receive(query(1), 1100, out);
    replies = drain(ch, 1100, 1110);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].outcome, channel_outcome::succeeded);
    EXPECT_EQ(replies[0].settled_amount, 700);
  }
}

TEST(simulated_channel_test, decline_and_partial_settlement) {
  auto c = clean_config();
  c.decline_ppm = 1'000'000;
  simulated_channel declining(c);
  std::vector<channel_response> out;
  declining.receive(submit(1, 700), 1000, out);
  auto replies = drain(declining, 1000, 1010);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::declined);
  EXPECT_EQ(replies[0].settled_amount, 0);
  EXPECT_FALSE(replies[0].busy);

  c = clean_config();
  c.partial_ppm = 1'000'000;
  simulated_channel partial(c);
  partial.receive(submit(1, 800), 1000, out);
  replies = drain(partial, 1000, 1010);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, channel_outcome::succeeded);
  EXPECT_EQ(replies[0].settled_amount, 600);
  EXPECT_LT(replies[0].settled_amount, 800);
}

// A provider allowing 100 requests/s gets them evenly spaced: no burst after an idle spell
// (a burst of a whole second's worth would break a provider's per-second cap).
TEST(simulated_channel_test, rate_cap_admits_no_burst) {
  channel_config c = clean_config();
  c.rate_per_s = 100;
  c.latency_ms = 0;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  for (order_id id = 1; id <= 50; ++id) ch.receive(submit(id, 10), 10'000, out);
  auto answered = drain(ch, 10'000, 10'095);  // 95 ms at 100/s: 10 requests at most
  EXPECT_LE(out.size() + answered.size(), 10u);
  EXPECT_GE(out.size() + answered.size(), 9u);
}

// The provider's memory of outcomes is bounded: past known_orders_max the oldest go first.
TEST(simulated_channel_test, known_orders_are_bounded) {
  channel_config c = clean_config();
  c.known_orders_max = 8;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  for (order_id id = 1; id <= 20; ++id) ch.receive(submit(id, 10), 1'000, out);
  EXPECT_EQ(ch.known_orders(), 8u);
  out = drain(ch, 1'000, 1'010);
  ch.receive(query(1), 1'020, out);  // forgotten
  ch.receive(query(20), 1'020, out);  // remembered
  out.clear();
  out = drain(ch, 1'020, 1'030);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].outcome, channel_outcome::not_found);
  EXPECT_EQ(out[1].outcome, channel_outcome::succeeded);
}

// The provider forgets an order nobody asked about for known_order_ms; each query (or repeated
// submit) keeps it another known_order_ms, so an order the engine still asks about is answered.
TEST(simulated_channel_test, known_orders_are_forgotten_when_nobody_asks) {
  channel_config c = clean_config();
  c.known_order_ms = 1'000;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  ch.receive(submit(1, 10), 0, out);
  ch.receive(submit(2, 10), 0, out);
  for (int64_t t = 900; t <= 3'600; t += 900) ch.receive(query(2), t, out);  // order 2 is asked about
  EXPECT_EQ(ch.known_orders(), 1u);  // order 1 is forgotten at 1,000 ms
  out = drain(ch, 0, 3'610);
  out.clear();
  ch.receive(query(1), 3'610, out);
  ch.receive(query(2), 3'610, out);
  out = drain(ch, 3'610, 3'620);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].outcome, channel_outcome::not_found);
  EXPECT_EQ(out[1].outcome, channel_outcome::succeeded);
  // Nobody asks any more: order 2 goes known_order_ms after its last query, at the next request.
  ch.receive(submit(3, 10), 4'609, out);
  EXPECT_EQ(ch.known_orders(), 2u);
  ch.receive(submit(4, 10), 4'610, out);
  EXPECT_EQ(ch.known_orders(), 2u);  // 3 and 4
}

// Orders asked about over and over stay bounded: the queue of who was asked about when holds
// at most twice known_orders_max entries.
TEST(simulated_channel_test, repeated_queries_stay_bounded) {
  channel_config c = clean_config();
  c.known_orders_max = 4;
  simulated_channel ch(c);
  std::vector<channel_response> out;
  for (order_id id = 1; id <= 4; ++id) ch.receive(submit(id, 10), 0, out);
  for (int64_t t = 1; t <= 1'000; ++t) {
    ch.receive(query(1 + static_cast<order_id>(t % 4)), t, out);
    EXPECT_LE(ch.known_orders(), 4u);
  }
  out = drain(ch, 0, 1'010);
  size_t not_found = 0;
  for (const auto& r : out) not_found += r.outcome == channel_outcome::not_found ? 1 : 0;
  EXPECT_EQ(ch.known_orders(), 4u);
  EXPECT_EQ(not_found, 0u);  // every order was asked about recently enough to stay
}

}  // namespace
}  // namespace txengine
