// The decision table of channel orders (core/channel_decision.hpp), row by row: every order kind
// with a provider x every answer x before and after the not-found window.
#include <gtest/gtest.h>

#include "core/channel_decision.hpp"

namespace txengine {
namespace {

struct row {
  order_kind kind;
  channel_outcome answer;
  bool overdue;
  channel_step expected;
};

TEST(channel_decision_test, every_row_of_the_table) {
  using k = order_kind;
  using a = channel_outcome;
  using s = channel_step;
  const row table[] = {
      // Money coming in (top-up).
      {k::top_up, a::succeeded, false, s::succeed},
      {k::top_up, a::succeeded, true, s::succeed},
      {k::top_up, a::declined, false, s::fail},
      {k::top_up, a::declined, true, s::fail},
      {k::top_up, a::closed, false, s::fail},
      {k::top_up, a::closed, true, s::fail},
      {k::top_up, a::unknown, false, s::wait},
      {k::top_up, a::unknown, true, s::wait},
      {k::top_up, a::not_found, false, s::wait},
      {k::top_up, a::not_found, true, s::close},
      // Money going out (payout): never failed without a definitive answer.
      {k::withdraw, a::succeeded, false, s::succeed},
      {k::withdraw, a::succeeded, true, s::succeed},
      {k::withdraw, a::declined, false, s::fail},
      {k::withdraw, a::declined, true, s::fail},
      {k::withdraw, a::closed, false, s::fail},
      {k::withdraw, a::closed, true, s::fail},
      {k::withdraw, a::unknown, false, s::wait},
      {k::withdraw, a::unknown, true, s::wait},
      {k::withdraw, a::not_found, false, s::wait},
      {k::withdraw, a::not_found, true, s::resubmit},
  };
  for (const auto& r : table) {
    SCOPED_TRACE(std::string(to_string(r.kind)) + " " + std::string(to_string(r.answer)) +
                 (r.overdue ? " overdue" : " early"));
    EXPECT_EQ(decide_channel(r.kind, r.answer, r.overdue), r.expected)
        << "got " << to_string(decide_channel(r.kind, r.answer, r.overdue));
  }
}

TEST(channel_decision_test, money_coming_in_unpaid_past_its_deadline_is_closed_once_a_window) {
  using k = order_kind;
  using a = channel_outcome;
  using s = channel_step;
  // (kind, answer, overdue, payment expired) -> step
  EXPECT_EQ(decide_channel(k::top_up, a::unknown, true, true), s::close);
  EXPECT_EQ(decide_channel(k::top_up, a::unknown, false, true), s::wait);  // closed less than a window ago
  EXPECT_EQ(decide_channel(k::top_up, a::unknown, true, false), s::wait);  // not yet due
  EXPECT_EQ(decide_channel(k::top_up, a::not_found, true, true), s::close);
  EXPECT_EQ(decide_channel(k::top_up, a::succeeded, true, true), s::succeed);  // paid meanwhile
  EXPECT_EQ(decide_channel(k::top_up, a::closed, true, true), s::fail);
  // A payout has no payment deadline: unknown stays unknown.
  EXPECT_EQ(decide_channel(k::withdraw, a::unknown, true, true), s::wait);
  EXPECT_EQ(decide_channel(k::withdraw, a::not_found, true, true), s::resubmit);
}

TEST(channel_decision_test, only_a_definitive_answer_moves_or_releases_money) {
  // Whatever the kind and the time: unknown and not found never succeed or fail an order.
  for (order_kind kind : {order_kind::top_up, order_kind::withdraw})
    for (bool overdue : {false, true})
      for (bool expired : {false, true})
      for (channel_outcome answer : {channel_outcome::unknown, channel_outcome::not_found}) {
        channel_step step = decide_channel(kind, answer, overdue, expired);
        EXPECT_NE(step, channel_step::fail);
        EXPECT_NE(step, channel_step::succeed);
      }
}

TEST(channel_decision_test, an_answer_this_build_does_not_know_says_nothing) {
  EXPECT_EQ(decide_channel(order_kind::withdraw, static_cast<channel_outcome>(200), true), channel_step::wait);
  EXPECT_EQ(to_string(static_cast<channel_outcome>(200)), "?");
}

}  // namespace
}  // namespace txengine
