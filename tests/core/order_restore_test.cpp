// Recovery of an order from its stored row (order_core::stored / restore / resume) and of a
// refund allowance from the stored refunds, without actors: every resumable phase, every
// kind, deadlines passed, partial progress, and rows that must be refused.
#include <gtest/gtest.h>

#include <limits>

#include "core/order_core.hpp"
#include "core/refund_allowance.hpp"
#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;
using ak = order_action_kind;
using os = order_state;

//! A command of `kind`; pays carry a fee, so their stored rows hold a fee leg too.
order_command command_with_fee(order_kind kind) { return command_of(kind, 1000, 100); }

constexpr order_kind all_kinds[] = {order_kind::top_up,   order_kind::pay,    order_kind::withdraw,
                                    order_kind::transfer, order_kind::refund, order_kind::commission};

bool channel_kind(order_kind k) { return k == order_kind::top_up || k == order_kind::withdraw; }

//! The row an order holds as its intent (before its first try).
stored_order intent_of(const order_command& c) {
  order_core fresh(the_order, c, system_w, order_config{}, t_start);
  return fresh.stored(t_start);
}

order_core restore_or_die(const order_command& c, const stored_order& row, const order_config& config = {}) {
  std::string error;
  auto core = order_core::restore(the_order, c, row, config, &error);
  EXPECT_TRUE(core) << error;
  if (!core) std::abort();
  return std::move(*core);
}

//! An order restored from `row`, driven by hand from `at`.
struct resumed : order_stepper {
  resumed(const order_command& c, const stored_order& row, int64_t at, const order_config& config = {})
      : order_stepper(restore_or_die(c, row, config), at) {}
  std::vector<order_action> resume() {
    order.resume(now, out);
    return take();
  }
};

// ---------------------------------------------------------------------------------------
// The legs JSON.

TEST(order_restore_test, legs_json_round_trips_every_kind_and_phase) {
  for (order_kind kind : all_kinds) {
    order_core o(the_order, command_with_fee(kind), system_w, order_config{}, t_start);
    std::vector<order_action> out;
    o.start(t_start, out);
    if (kind == order_kind::refund) o.on_refund_origin({user_a, merchant_w}, t_start, out);
    for (uint16_t i = 0; i < o.legs().size(); ++i)
      o.on_step_reply(i, tcc_phase::try_, result_code::ok, tenant, {}, t_start, out);
    if (channel_kind(kind)) o.on_channel(channel_outcome::succeeded, 700, t_start, out);
    o.on_step_reply(0, tcc_phase::confirm, result_code::ok, tenant, {}, t_start, out);  // one confirm done
    stored_order row = o.stored(t_start + 5);
    ASSERT_EQ(row.state, os::confirming) << to_string(kind);
    EXPECT_TRUE(row.legs[0].done);
    EXPECT_EQ(row.legs[0].confirmed, channel_kind(kind) ? 700 : row.legs[0].amount);
    std::string json = format_legs_json(row.legs);
    std::vector<stored_leg> parsed;
    std::string error;
    ASSERT_TRUE(parse_legs_json(json, parsed, &error)) << error << " in " << json;
    EXPECT_EQ(parsed, row.legs) << json;
    EXPECT_EQ(o.legs_json(), json);  // the host's shortcut writes the same text
  }
  // The extremes of every number, and an empty array.
  std::vector<stored_leg> extremes{
      {participant_kind::wallet, std::numeric_limits<int64_t>::max(), leg_type::credit_on_confirm,
       std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), tcc_phase::cancel, true,
       std::numeric_limits<uint64_t>::max(), 1},
      {participant_kind::original_order, 0, leg_type::debit_hold, -1, std::numeric_limits<int64_t>::min(),
       tcc_phase::confirm, false}};
  EXPECT_EQ(format_legs_json(extremes),
            R"([{"p":0,"w":9223372036854775807,"type":3,"amount":-9223372036854775808,"confirmed":9223372036854775807,)"
            R"("step":2,"done":1,"tseq":18446744073709551615,"seq":1},{"p":1,"w":0,"type":0,"amount":-1,"confirmed":-9223372036854775808,"step":1,"done":0}])");
  EXPECT_EQ(format_legs_json({}), "[]");
  // As many legs as an order can have round-trip; more (formatted on the heap, not the
  // stack) are refused when read back: no stored row can hold them (limits::order_legs_max).
  std::vector<stored_leg> most, six;
  for (int i = 0; i < 6; ++i) {
    stored_leg leg{participant_kind::wallet, 1000u + i, leg_type::debit_hold, 10 * i, i, tcc_phase::confirm, i % 2 == 0};
    six.push_back(leg);
    if (most.size() < limits::order_legs_max) most.push_back(leg);
  }
  std::vector<stored_leg> most_parsed;
  ASSERT_TRUE(parse_legs_json(format_legs_json(most), most_parsed));
  EXPECT_EQ(most_parsed, most);
  std::vector<stored_leg> six_parsed;
  std::string six_error;
  EXPECT_FALSE(parse_legs_json(format_legs_json(six), six_parsed, &six_error));
  EXPECT_NE(six_error.find("too many legs"), std::string::npos) << six_error;
  EXPECT_TRUE(six_parsed.empty());
  // The exact format the orders table has always held.
  std::vector<stored_leg> legs{{participant_kind::original_order, 77, leg_type::debit_hold, 5, 0, tcc_phase::try_, false}};
  EXPECT_EQ(format_legs_json(legs), R"([{"p":1,"w":77,"type":0,"amount":5,"confirmed":0,"step":0,"done":0}])");
  std::vector<stored_leg> parsed;
  ASSERT_TRUE(parse_legs_json(" [ {\"w\":77, \"type\":0,\"amount\":5,\"step\":0,\"done\":0,\"future\":9} ] ", parsed));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].participant, participant_kind::wallet);  // "p" absent: a wallet leg
  EXPECT_EQ(parsed[0].target, 77u);
  ASSERT_TRUE(parse_legs_json("[]", parsed));
  EXPECT_TRUE(parsed.empty());
}

// Each leg points at the journal entries its steps made, so an order's fund movements are found
// by primary key (the journal has no index by order, migration 0005); a restore keeps them.
TEST(order_restore_test, legs_keep_the_journal_entries_their_steps_made) {
  order_core o(the_order, command_of(order_kind::transfer), system_w, {}, t_start);
  std::vector<order_action> out;
  o.start(t_start, out);
  o.on_step_reply(0, tcc_phase::try_, result_code::ok, tenant, {}, t_start, out, 41);
  o.on_step_reply(1, tcc_phase::try_, result_code::ok, tenant, {}, t_start, out, 7);
  ASSERT_EQ(o.state(), os::confirming);
  o.on_step_reply(0, tcc_phase::confirm, result_code::ok, tenant, {}, t_start, out, 42);
  o.on_step_reply(1, tcc_phase::confirm, result_code::wallet_busy, tenant, {}, t_start, out, 99);  // refused: no entry
  stored_order row = o.stored(t_start);
  EXPECT_EQ(row.legs[0].try_sequence, 41u);
  EXPECT_EQ(row.legs[0].step_sequence, 42u);
  EXPECT_EQ(row.legs[1].try_sequence, 7u);
  EXPECT_EQ(row.legs[1].step_sequence, 0u);
  std::string json = format_legs_json(row.legs);
  EXPECT_NE(json.find(R"("done":1,"tseq":41,"seq":42})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("done":0,"tseq":7})"), std::string::npos) << json;
  std::vector<stored_leg> parsed;
  ASSERT_TRUE(parse_legs_json(json, parsed));
  EXPECT_EQ(parsed, row.legs);
  auto restored = order_core::restore(the_order, command_of(order_kind::transfer), row, {});
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->stored(t_start).legs, row.legs);
  // A repeat answer (after a restart the wallet no longer knows the entry) keeps what is known.
  std::vector<order_action> more;
  restored->resume(t_start, more);
  restored->on_step_reply(1, tcc_phase::confirm, result_code::ok, tenant, {}, t_start, more, 0);
  EXPECT_EQ(restored->stored(t_start).legs[1].try_sequence, 7u);
  EXPECT_EQ(restored->stored(t_start).legs[1].step_sequence, 0u);
}

TEST(order_restore_test, bad_legs_json_is_refused_with_a_reason) {
  const char* bad[] = {
      "",
      "{}",
      "[",
      "[{]",
      R"([{"w":1,"type":0,"amount":5,"step":0}])",                    // no done
      R"([{"w":1,"type":9,"amount":5,"step":0,"done":0}])",           // leg type
      R"([{"w":1,"type":0,"amount":5,"step":3,"done":0}])",           // phase
      R"([{"w":1,"type":0,"amount":5,"step":0,"done":2}])",           // done
      R"([{"p":2,"w":1,"type":0,"amount":5,"step":0,"done":0}])",     // participant
      R"([{"w":-1,"type":0,"amount":5,"step":0,"done":0}])",          // target
      R"([{"w":1,"type":0,"amount":"5","step":0,"done":0}])",         // a string
      R"([{"w":99999999999999999999,"type":0,"amount":5,"step":0,"done":0}])",  // too large
      R"([{"w":1,"type":0,"amount":5,"step":0,"done":0}] x)",         // trailing text
      R"([{"w":1,"type":0,"amount":5,"step":0,"done":0},])",
      R"([{"w":1,"type":0,"amount":5,"step":0,"done":0,"seq":-3}])",  // journal sequence
      R"([{"w":1,"type":0,"amount":5,"step":0,"done":0,"tseq":-1}])",
  };
  for (const char* text : bad) {
    std::vector<stored_leg> legs{stored_leg{}};
    std::string error;
    EXPECT_FALSE(parse_legs_json(text, legs, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
    EXPECT_TRUE(legs.empty()) << text;
  }
  std::string many = "[";
  for (int i = 0; i < 9; ++i) many += std::string(i ? "," : "") + R"({"w":1,"type":0,"amount":5,"step":0,"done":0})";
  std::vector<stored_leg> legs;
  EXPECT_FALSE(parse_legs_json(many + "]", legs));
}

// ---------------------------------------------------------------------------------------
// Resuming a try phase.

TEST(order_restore_test, intent_row_resumes_every_kind_and_succeeds) {
  for (order_kind kind : all_kinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    order_command c = command_with_fee(kind);
    resumed r(c, intent_of(c), t_start + 100);
    EXPECT_TRUE(r.order.restored());
    EXPECT_EQ(r.order.state(), os::trying);
    EXPECT_EQ(r.order.created_ms(), t_start);
    EXPECT_EQ(r.order.try_deadline_ms(), t_start + order_config{}.try_deadline_ms);
    auto actions = r.resume();
    EXPECT_EQ(sent_legs(actions).size(), r.order.legs().size());  // every try again
    if (kind == order_kind::refund) {
      // The allowance is tried again; once granted, the wallet legs come with a row to persist.
      r.order.on_refund_origin({user_a, merchant_w}, r.now, r.out);
      actions = r.take();
      EXPECT_EQ(count_of(actions, ak::persist), 1u);
      EXPECT_EQ(sent_legs(actions), (std::vector<uint16_t>{1, 2}));
    }
    actions = r.reply_all(tcc_phase::try_);
    if (channel_kind(kind)) {
      EXPECT_EQ(r.order.state(), os::processing);
      EXPECT_EQ(count_of(actions, ak::persist), 1u);
      ASSERT_EQ(count_of(actions, ak::channel_submit), 1u);
      actions = (r.order.on_channel(channel_outcome::succeeded, c.amount, r.now, r.out), r.take());
      EXPECT_EQ(count_of(actions, ak::persist), 1u);
    }
    EXPECT_EQ(r.order.state(), os::confirming);
    actions = r.reply_all(tcc_phase::confirm);
    EXPECT_EQ(r.order.state(), os::succeeded);
    EXPECT_EQ(count_of(actions, ak::finished), 1u);
  }
}

TEST(order_restore_test, try_phase_past_its_deadline_waits_for_the_wallets) {
  // Restarted long after the deadline: the timer never cancels (a leg may be confirmed); every
  // leg's answer decides. All tries recorded: it confirms.
  order_command c = command_with_fee(order_kind::transfer);
  resumed r(c, intent_of(c), t_start + 60'000);
  r.resume();
  for (int i = 0; i < 20; ++i) {
    r.now = r.order.next_wakeup_ms();
    r.order.on_timer(r.now, r.out);
    auto actions = r.take();
    EXPECT_EQ(r.order.state(), os::trying);
    EXPECT_EQ(count_of(actions, ak::send_step), 2u);  // resent with backoff, never cancelled
  }
  r.reply_all(tcc_phase::try_);
  EXPECT_EQ(r.order.state(), os::confirming);
  r.reply_all(tcc_phase::confirm);
  EXPECT_EQ(r.order.state(), os::succeeded);
}

TEST(order_restore_test, try_refused_after_the_deadline_compensates) {
  // One leg's try was lost in the crash: past the deadline its wallet refuses it, so the order
  // cancels every leg and fails with that reason.
  for (order_kind kind : all_kinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    order_command c = command_with_fee(kind);
    resumed r(c, intent_of(c), t_start + 60'000);
    r.resume();
    if (kind == order_kind::refund) {
      r.order.on_refund_origin({user_a, merchant_w}, r.now, r.out);
      r.take();
    }
    uint16_t last = static_cast<uint16_t>(r.order.legs().size() - 1);
    for (uint16_t i = 0; i < last; ++i) r.reply(i, tcc_phase::try_);
    auto actions = r.reply(last, tcc_phase::try_, result_code::tcc_deadline_passed);
    EXPECT_EQ(r.order.state(), os::cancelling);
    EXPECT_EQ(sent_legs(actions).size(), r.order.legs().size());
    r.reply_all(tcc_phase::cancel);
    EXPECT_EQ(r.order.state(), os::failed);
    EXPECT_EQ(r.order.reason(), result_code::tcc_deadline_passed);
  }
}

TEST(order_restore_test, try_phase_before_its_deadline_still_ends_at_it) {
  // Resumed in time: a lost try is applied anew; a wallet that keeps answering "busy" is
  // retried until its deadline passes and it refuses the try (the wallets enforce it).
  order_command c = command_with_fee(order_kind::pay);
  resumed r(c, intent_of(c), t_start + 1'000);
  r.resume();
  r.reply(0, tcc_phase::try_);
  r.reply(1, tcc_phase::try_);
  r.reply(2, tcc_phase::try_, result_code::wallet_busy);
  r.now = t_start + 6'000;
  r.order.on_timer(r.now, r.out);
  r.take();
  EXPECT_EQ(r.order.state(), os::trying);
  r.reply(2, tcc_phase::try_, result_code::tcc_deadline_passed);
  EXPECT_EQ(r.order.state(), os::cancelling);
}

// ---------------------------------------------------------------------------------------
// Resuming later phases.

TEST(order_restore_test, processing_row_queries_the_channel_first) {
  for (order_kind kind : {order_kind::top_up, order_kind::withdraw}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    order_command c = command_with_fee(kind);
    stored_order row = intent_of(c);
    row.state = os::processing;
    row.updated_ms = t_start + 50;  // the submit
    // The restarted provider forgot the order: "not found" until long enough after the submit.
    resumed r(c, row, t_start + 1'000);
    EXPECT_EQ(r.order.state(), os::processing);
    auto actions = r.resume();
    EXPECT_EQ(count_of(actions, ak::channel_query), 1u);
    EXPECT_EQ(count_of(actions, ak::channel_submit), 0u);
    EXPECT_TRUE(sent_legs(actions).empty());
    r.order.on_channel(channel_outcome::not_found, 0, r.now, r.out);
    EXPECT_EQ(r.order.state(), os::processing);
    EXPECT_LT(r.order.next_wakeup_ms(), r.now + 60'000);  // it asks again
    r.now = t_start + 50 + order_config{}.channel_not_found_final_ms;
    r.order.on_timer(r.now, r.out);
    EXPECT_EQ(count_of(r.take(), ak::channel_query), 1u);
    r.order.on_channel(channel_outcome::not_found, 0, r.now, r.out);
    actions = r.take();
    // Long enough after the stored submit (core/channel_decision.hpp): a payout is submitted
    // again under its id, money coming in is closed at the provider; neither fails by itself.
    EXPECT_EQ(r.order.state(), os::processing);
    EXPECT_TRUE(sent_legs(actions).empty());
    EXPECT_EQ(count_of(actions, kind == order_kind::withdraw ? ak::channel_resubmit : ak::channel_close), 1u);
    r.order.on_channel(kind == order_kind::withdraw ? channel_outcome::declined : channel_outcome::closed, 0, r.now,
                       r.out);
    actions = r.take();
    EXPECT_EQ(r.order.state(), os::cancelling);
    EXPECT_EQ(sent_legs(actions).size(), 2u);
    r.reply_all(tcc_phase::cancel);
    EXPECT_EQ(r.order.state(), os::failed);
    EXPECT_EQ(r.order.reason(), result_code::channel_declined);
  }
  // A provider that remembers answers the query: partial settlement, confirmed with its amount.
  order_command c = command_with_fee(order_kind::top_up);
  stored_order row = intent_of(c);
  row.state = os::processing;
  row.updated_ms = t_start;
  resumed r(c, row, t_start + 500);
  r.resume();
  r.order.on_channel(channel_outcome::succeeded, 600, r.now, r.out);
  auto actions = r.take();
  EXPECT_EQ(r.order.state(), os::confirming);
  EXPECT_EQ(count_of(actions, ak::persist), 1u);
  EXPECT_EQ(r.order.step_amount(0), 600);
  r.reply_all(tcc_phase::confirm);
  EXPECT_EQ(r.order.state(), os::succeeded);
  EXPECT_EQ(r.order.posted_amount(), 600);
}

TEST(order_restore_test, confirming_row_confirms_what_is_not_done_with_the_stored_amount) {
  // A top-up that settled 600 of 1000, its first confirm acknowledged before the stop.
  order_command c = command_with_fee(order_kind::top_up);
  order_core before(the_order, c, system_w, order_config{}, t_start);
  std::vector<order_action> out;
  before.start(t_start, out);
  before.on_step_reply(0, tcc_phase::try_, result_code::ok, tenant, {}, t_start, out);
  before.on_step_reply(1, tcc_phase::try_, result_code::ok, tenant, {}, t_start, out);
  before.on_channel(channel_outcome::succeeded, 600, t_start + 10, out);
  before.on_step_reply(0, tcc_phase::confirm, result_code::ok, tenant, {}, t_start + 20, out);
  stored_order row = before.stored(t_start + 20);
  resumed r(c, row, t_start + 90'000);
  EXPECT_EQ(r.order.state(), os::confirming);
  auto actions = r.resume();
  EXPECT_EQ(sent_legs(actions), (std::vector<uint16_t>{1}));
  EXPECT_EQ(r.order.step_amount(1), 600);
  EXPECT_EQ(r.order.posted_amount(), 600);
  actions = r.reply(1, tcc_phase::confirm);
  EXPECT_EQ(r.order.state(), os::succeeded);
  // A late channel answer changes nothing; a different one is an incident.
  r.order.on_channel(channel_outcome::succeeded, 600, r.now, r.out);
  EXPECT_EQ(r.take().size(), 0u);
  r.order.on_channel(channel_outcome::declined, 0, r.now, r.out);
  actions = r.take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].alert, alert_kind::conflicting_outcome);
  EXPECT_EQ(r.order.state(), os::succeeded);

  // Every confirm done: final at once.
  for (auto& leg : row.legs) leg.done = true;
  resumed all_done(c, row, t_start + 90'000);
  actions = all_done.resume();
  EXPECT_TRUE(sent_legs(actions).empty());
  EXPECT_EQ(count_of(actions, ak::finished), 1u);
  EXPECT_EQ(all_done.order.state(), os::succeeded);
}

TEST(order_restore_test, confirming_and_cancelling_rows_of_every_kind) {
  for (order_kind kind : all_kinds) {
    for (os state : {os::confirming, os::cancelling}) {
      SCOPED_TRACE(std::string(to_string(kind)) + " " + std::string(to_string(state)));
      order_command c = command_with_fee(kind);
      stored_order row = intent_of(c);
      if (kind == order_kind::refund) {
        row.legs.push_back({participant_kind::wallet, merchant_w, leg_type::debit_hold, c.amount, 0, tcc_phase::try_, false});
        row.legs.push_back(
            {participant_kind::wallet, user_a, leg_type::credit_on_confirm, c.amount, 0, tcc_phase::try_, false});
      }
      row.state = state;
      row.posted_amount = c.amount;
      if (state == os::cancelling) row.reason = result_code::insufficient_funds;
      resumed r(c, row, t_start + 100);
      auto actions = r.resume();
      tcc_phase phase = state == os::confirming ? tcc_phase::confirm : tcc_phase::cancel;
      EXPECT_EQ(sent_legs(actions).size(), r.order.legs().size());
      for (uint16_t i = 0; i < r.order.legs().size(); ++i) {
        EXPECT_EQ(r.order.legs()[i].phase, phase);
        if (phase == tcc_phase::confirm) {
          EXPECT_EQ(r.order.step_amount(i), r.order.legs()[i].amount);
        }
      }
      // Unanswered steps are resent on the timer, as before the stop.
      r.now = r.order.next_wakeup_ms();
      r.order.on_timer(r.now, r.out);
      EXPECT_EQ(sent_legs(r.take()).size(), r.order.legs().size());
      actions = r.reply_all(phase);
      EXPECT_EQ(r.order.state(), state == os::confirming ? os::succeeded : os::failed);
      if (state == os::cancelling) {
        EXPECT_EQ(r.order.reason(), result_code::insufficient_funds);
      }
    }
  }
}

TEST(order_restore_test, refund_with_its_wallet_legs_resumes_all_three) {
  order_command c = command_with_fee(order_kind::refund);
  order_core before(the_order, c, system_w, order_config{}, t_start);
  std::vector<order_action> out;
  before.start(t_start, out);
  before.on_refund_origin({user_a, merchant_w}, t_start, out);
  stored_order row = before.stored(t_start);
  ASSERT_EQ(row.legs.size(), 3u);
  {
    resumed r(c, row, t_start + 60'000);
    auto actions = r.resume();
    EXPECT_EQ(sent_legs(actions), (std::vector<uint16_t>{0, 1, 2}));
    r.reply(1, tcc_phase::try_);
    r.reply(2, tcc_phase::try_);
    EXPECT_EQ(r.order.state(), os::trying);  // the allowance has not answered yet
    r.order.on_refund_origin({user_a, merchant_w}, r.now, r.out);  // the repeated reservation
    actions = r.take();
    EXPECT_EQ(count_of(actions, ak::persist), 1u);  // the decision to confirm, before the confirms
    EXPECT_EQ(r.order.state(), os::confirming);
    r.reply_all(tcc_phase::confirm);
    EXPECT_EQ(r.order.state(), os::succeeded);
  }
  {
    // An origin that is not the stored one: nothing is confirmed, everything cancelled.
    resumed r(c, row, t_start + 100);
    r.resume();
    r.order.on_refund_origin({user_b, merchant_w}, r.now, r.out);
    EXPECT_EQ(r.order.state(), os::cancelling);
    EXPECT_EQ(r.order.reason(), result_code::tcc_conflict);
  }
  {
    // The allowance refused (the original's host found no reservation for it): compensate.
    resumed r(c, row, t_start + 100);
    r.resume();
    r.reply(0, tcc_phase::try_, result_code::refund_exceeds_original);
    EXPECT_EQ(r.order.state(), os::cancelling);
  }
}

TEST(order_restore_test, config_changes_do_not_move_a_stored_deadline) {
  order_command c = command_with_fee(order_kind::transfer);
  stored_order row = intent_of(c);
  order_config other;
  other.try_deadline_ms = 1;
  resumed r(c, row, t_start, other);
  EXPECT_EQ(r.order.try_deadline_ms(), row.try_deadline_ms);
}

TEST(order_restore_test, rows_that_are_not_a_resumable_order_are_refused) {
  order_command c = command_with_fee(order_kind::pay);
  auto refused = [](const order_command& command, const stored_order& row) {
    std::string error;
    auto core = order_core::restore(the_order, command, row, order_config{}, &error);
    EXPECT_FALSE(core);
    EXPECT_NE(error.find("order 100"), std::string::npos) << error;
    return error;
  };
  stored_order row = intent_of(c);
  for (os state : {os::received, os::succeeded, os::failed}) {
    stored_order final_row = row;
    final_row.state = state;
    refused(c, final_row);
  }
  stored_order other_wallet = row;
  other_wallet.legs[1].target = user_b;
  refused(c, other_wallet);
  stored_order other_amount = row;
  other_amount.legs[0].amount += 1;
  refused(c, other_amount);
  stored_order fewer = row;
  fewer.legs.pop_back();
  refused(c, fewer);
  stored_order processing = row;
  processing.state = os::processing;
  refused(c, processing);  // no channel
  order_command invalid = c;
  invalid.amount = 0;
  refused(invalid, row);
  order_command top_up = command_with_fee(order_kind::top_up);
  stored_order settled = intent_of(top_up);
  settled.state = os::confirming;
  settled.posted_amount = top_up.amount + 1;
  refused(top_up, settled);
  settled.legs[0].target = no_wallet;
  refused(top_up, settled);
  order_command refund = command_with_fee(order_kind::refund);
  stored_order confirming_refund = intent_of(refund);
  confirming_refund.state = os::confirming;
  refused(refund, confirming_refund);  // confirming needs the wallet legs
}

// ---------------------------------------------------------------------------------------
// The refund allowance from the stored refunds.

TEST(order_restore_test, allowance_restored_from_stored_refunds) {
  refund_allowance a(1'000);
  EXPECT_TRUE(a.restore(1, tcc_phase::confirm, 300));  // succeeded
  EXPECT_TRUE(a.restore(2, tcc_phase::try_, 200));     // running, its reservation granted
  EXPECT_TRUE(a.restore(3, tcc_phase::cancel, 0));     // failed
  EXPECT_EQ(a.refunded(), 300);
  EXPECT_EQ(a.reserved(), 200);
  EXPECT_EQ(a.refundable(), 500);
  // Bad or repeated records change nothing.
  EXPECT_FALSE(a.restore(1, tcc_phase::confirm, 300));
  EXPECT_FALSE(a.restore(4, tcc_phase::confirm, 501));
  EXPECT_FALSE(a.restore(5, tcc_phase::try_, -1));
  EXPECT_FALSE(a.restore(6, tcc_phase::try_, 0));
  EXPECT_EQ(a.refundable(), 500);
  // The running refund's repeated try is a repeat; its confirm takes the reservation.
  EXPECT_EQ(a.apply(2, tcc_phase::try_, 200), result_code::ok);
  EXPECT_EQ(a.apply(2, tcc_phase::confirm, 200), result_code::ok);
  EXPECT_EQ(a.refunded(), 500);
  // A failed refund's late try is refused (tombstone), the confirmed one is not undone.
  EXPECT_EQ(a.apply(3, tcc_phase::try_, 100), result_code::tcc_cancelled);
  EXPECT_EQ(a.apply(1, tcc_phase::cancel, 0), result_code::tcc_confirmed);
  // Never more than paid.
  EXPECT_EQ(a.apply(7, tcc_phase::try_, 501), result_code::refund_exceeds_original);
  EXPECT_EQ(a.apply(7, tcc_phase::try_, 500), result_code::ok);
}

}  // namespace
}  // namespace txengine
