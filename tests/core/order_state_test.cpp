#include "core/order_state.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace txengine {
namespace {

TEST(order_state_test, full_table_matches_whitelist) {
  using s = order_state;
  // The expected whitelist, written independently of order_state.cpp.
  const std::set<std::pair<int, int>> expected = {
      {int(s::received), int(s::trying)},       {int(s::received), int(s::failed)},
      {int(s::trying), int(s::confirming)},     {int(s::trying), int(s::processing)},
      {int(s::trying), int(s::cancelling)},     {int(s::processing), int(s::confirming)},
      {int(s::processing), int(s::cancelling)}, {int(s::confirming), int(s::succeeded)},
      {int(s::cancelling), int(s::failed)},
  };
  int allowed = 0;
  for (int from = 0; from < order_state_count; ++from) {
    for (int to = 0; to < order_state_count; ++to) {
      bool want = expected.count({from, to}) != 0;
      EXPECT_EQ(transition_allowed(s(from), s(to)), want)
          << to_string(s(from)) << " -> " << to_string(s(to));
      allowed += want;
    }
  }
  EXPECT_EQ(allowed, 9);
}

TEST(order_state_test, final_states_and_self_loops_never_move) {
  for (int to = 0; to < order_state_count; ++to) {
    EXPECT_FALSE(transition_allowed(order_state::succeeded, order_state(to)));
    EXPECT_FALSE(transition_allowed(order_state::failed, order_state(to)));
  }
  for (int st = 0; st < order_state_count; ++st) EXPECT_FALSE(transition_allowed(order_state(st), order_state(st)));
  // Nothing goes back to received, and confirming never turns into a failure.
  for (int from = 0; from < order_state_count; ++from)
    EXPECT_FALSE(transition_allowed(order_state(from), order_state::received));
  EXPECT_FALSE(transition_allowed(order_state::confirming, order_state::failed));
  EXPECT_FALSE(transition_allowed(order_state::confirming, order_state::cancelling));
  EXPECT_FALSE(transition_allowed(order_state::processing, order_state::failed));
}

}  // namespace
}  // namespace txengine
