#include "core/wallet_core.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;
using lt = leg_type;

constexpr lt all_leg_types[] = {lt::debit_hold, lt::debit_direct, lt::credit_incoming, lt::credit_on_confirm};

//! A user wallet holding `available`.
wallet_core funded_user(int64_t available, wallet_config config = {}) {
  wallet_core w(make_info(1), config);
  if (available > 0) fund(w, available);
  return w;
}

// ---------------------------------------------------------------------------------------
// Balance effects of each leg type (DESIGN.md money table).

struct leg_effect {
  lt type;
  balances after_try;
  balances after_confirm;
};

TEST(wallet_core_test, leg_effects_try_confirm_cancel) {
  // Start at available 1000, move 300.
  const leg_effect table[] = {
      {lt::debit_hold, bal(700, 300, 0), bal(700, 0, 0)},
      {lt::debit_direct, bal(700, 0, 0), bal(700, 0, 0)},
      {lt::credit_incoming, bal(1000, 0, 300), bal(1300, 0, 0)},
      {lt::credit_on_confirm, bal(1000, 0, 0), bal(1300, 0, 0)},
  };
  for (const auto& e : table) {
    SCOPED_TRACE(to_string(e.type));
    // try then confirm
    auto w = funded_user(1000);
    auto tried = try_leg(w, 1, e.type, 300);
    EXPECT_EQ(tried.code, result_code::ok);
    EXPECT_FALSE(tried.repeated);
    EXPECT_EQ(tried.after, e.after_try);
    EXPECT_EQ(w.current(), e.after_try);
    EXPECT_EQ(w.open_transactions(), 1u);
    ASSERT_NE(w.find_record(1), nullptr);
    EXPECT_EQ(w.find_record(1)->state, tcc_record_state::tried);
    EXPECT_EQ(w.find_record(1)->tried_amount, 300);
    auto confirmed = confirm_leg(w, 1, e.type, 300);
    EXPECT_EQ(confirmed.code, result_code::ok);
    EXPECT_EQ(confirmed.after, e.after_confirm);
    EXPECT_EQ(w.current(), e.after_confirm);
    EXPECT_EQ(w.open_transactions(), 0u);
    EXPECT_EQ(w.find_record(1)->state, tcc_record_state::confirmed);
    EXPECT_EQ(w.find_record(1)->confirmed_amount, 300);
    EXPECT_TRUE(w.verify_journal());

    // try then cancel: back exactly where it started
    auto v = funded_user(1000);
    EXPECT_EQ(try_leg(v, 2, e.type, 300).code, result_code::ok);
    auto cancelled = cancel_leg(v, 2, e.type);
    EXPECT_EQ(cancelled.code, result_code::ok);
    EXPECT_EQ(v.current(), bal(1000));
    EXPECT_EQ(v.open_transactions(), 0u);
    EXPECT_EQ(v.find_record(2)->state, tcc_record_state::cancelled);
    EXPECT_TRUE(v.verify_journal());
  }
}

TEST(wallet_core_test, partial_confirm_returns_rest_as_cancel_would) {
  for (lt type : all_leg_types) {
    for (int64_t posted : {0, 1, 120, 299}) {
      SCOPED_TRACE(std::string(to_string(type)) + " posted " + std::to_string(posted));
      // A: try 300, confirm `posted`.
      auto a = funded_user(1000);
      ASSERT_EQ(try_leg(a, 1, type, 300).code, result_code::ok);
      ASSERT_EQ(confirm_leg(a, 1, type, posted).code, result_code::ok);
      // B: the same money as a confirmed try of `posted` plus a cancelled try of the rest.
      auto b = funded_user(1000);
      if (posted > 0) {
        ASSERT_EQ(try_leg(b, 1, type, posted).code, result_code::ok);
        ASSERT_EQ(confirm_leg(b, 1, type, posted).code, result_code::ok);
      }
      ASSERT_EQ(try_leg(b, 2, type, 300 - posted).code, result_code::ok);
      ASSERT_EQ(cancel_leg(b, 2, type).code, result_code::ok);
      EXPECT_EQ(a.current(), b.current());
      EXPECT_EQ(a.open_transactions(), 0u);
      EXPECT_EQ(a.find_record(1)->confirmed_amount, posted);
      EXPECT_TRUE(a.verify_journal());
      // Exact figures: debits lose `posted`, credits gain it.
      EXPECT_EQ(a.current(), bal(is_debit(type) ? 1000 - posted : 1000 + posted));
    }
  }
}

TEST(wallet_core_test, confirm_more_than_tried_is_refused) {
  for (lt type : all_leg_types) {
    SCOPED_TRACE(to_string(type));
    auto w = funded_user(1000);
    ASSERT_EQ(try_leg(w, 1, type, 300).code, result_code::ok);
    balances before = w.current();
    auto journal_size = w.journal().size();
    EXPECT_EQ(confirm_leg(w, 1, type, 301).code, result_code::confirm_exceeds_tried);
    EXPECT_EQ(w.current(), before);
    EXPECT_EQ(w.journal().size(), journal_size);
    EXPECT_EQ(w.find_record(1)->state, tcc_record_state::tried);
    EXPECT_EQ(w.open_transactions(), 1u);
    // Still open: the right confirm goes through afterwards.
    EXPECT_EQ(confirm_leg(w, 1, type, 300).code, result_code::ok);
  }
}

TEST(wallet_core_test, confirm_with_negative_amount_or_other_type_changes_nothing) {
  auto w = funded_user(1000);
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 300).code, result_code::ok);
  balances before = w.current();
  EXPECT_EQ(confirm_leg(w, 1, lt::debit_hold, -1).code, result_code::invalid_amount);
  EXPECT_EQ(confirm_leg(w, 1, lt::debit_direct, 300).code, result_code::tcc_conflict);
  EXPECT_EQ(w.current(), before);
  EXPECT_EQ(w.find_record(1)->state, tcc_record_state::tried);
}

// ---------------------------------------------------------------------------------------
// TCC anomalies.

TEST(wallet_core_test, duplicate_try_confirm_cancel_return_first_answer) {
  for (lt type : all_leg_types) {
    SCOPED_TRACE(to_string(type));
    auto w = funded_user(1000);
    auto first = try_leg(w, 1, type, 300);
    ASSERT_EQ(first.code, result_code::ok);
    auto seq = w.journal_sequence();
    auto again = try_leg(w, 1, type, 300);
    EXPECT_EQ(again.code, result_code::ok);
    EXPECT_TRUE(again.repeated);
    EXPECT_EQ(again.after, first.after);
    EXPECT_EQ(w.journal_sequence(), seq);
    EXPECT_EQ(w.open_transactions(), 1u);

    auto confirmed = confirm_leg(w, 1, type, 250);
    ASSERT_EQ(confirmed.code, result_code::ok);
    seq = w.journal_sequence();
    auto confirmed_again = confirm_leg(w, 1, type, 250);
    EXPECT_EQ(confirmed_again.code, result_code::ok);
    EXPECT_TRUE(confirmed_again.repeated);
    EXPECT_EQ(confirmed_again.after, confirmed.after);
    // A repeat of a confirm with a different amount is not the same step.
    EXPECT_EQ(confirm_leg(w, 1, type, 300).code, result_code::tcc_conflict);
    // A try repeated after the confirm still answers the try's first answer.
    auto late_try = try_leg(w, 1, type, 300);
    EXPECT_EQ(late_try.code, result_code::ok);
    EXPECT_TRUE(late_try.repeated);
    EXPECT_EQ(w.journal_sequence(), seq);
    EXPECT_EQ(w.current(), confirmed.after);

    auto v = funded_user(1000);
    ASSERT_EQ(try_leg(v, 2, type, 300).code, result_code::ok);
    ASSERT_EQ(cancel_leg(v, 2, type).code, result_code::ok);
    seq = v.journal_sequence();
    auto cancelled_again = cancel_leg(v, 2, type);
    EXPECT_EQ(cancelled_again.code, result_code::ok);
    EXPECT_TRUE(cancelled_again.repeated);
    EXPECT_EQ(v.journal_sequence(), seq);
    EXPECT_EQ(v.current(), bal(1000));
  }
}

TEST(wallet_core_test, rejected_try_repeats_its_rejection) {
  auto w = funded_user(100);
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 500).code, result_code::insufficient_funds);
  ASSERT_NE(w.find_record(1), nullptr);
  EXPECT_EQ(w.find_record(1)->state, tcc_record_state::try_rejected);
  fund(w, 1000, 2'000'000);
  // The money is there now, but the repeat answers what the first try got.
  auto repeat = try_leg(w, 1, lt::debit_hold, 500);
  EXPECT_EQ(repeat.code, result_code::insufficient_funds);
  EXPECT_TRUE(repeat.repeated);
  EXPECT_EQ(w.current(), bal(1100));
  // Confirming a rejected try: it was never tried.
  EXPECT_EQ(confirm_leg(w, 1, lt::debit_hold, 500).code, result_code::tcc_not_tried);
  // Cancelling it is fine and leaves a tombstone; a later try is no-hanging refused.
  EXPECT_EQ(cancel_leg(w, 1, lt::debit_hold).code, result_code::ok);
  EXPECT_EQ(w.find_record(1)->state, tcc_record_state::cancelled);
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 500).code, result_code::tcc_cancelled);
  EXPECT_EQ(w.current(), bal(1100));
  EXPECT_EQ(w.open_transactions(), 0u);
}

TEST(wallet_core_test, cancel_before_try_is_empty_rollback_and_blocks_late_try) {
  for (lt type : all_leg_types) {
    SCOPED_TRACE(to_string(type));
    auto w = funded_user(1000);
    auto seq = w.journal_sequence();
    auto cancelled = cancel_leg(w, 1, type);
    EXPECT_EQ(cancelled.code, result_code::ok);
    EXPECT_FALSE(cancelled.repeated);
    ASSERT_NE(w.find_record(1), nullptr);
    EXPECT_EQ(w.find_record(1)->state, tcc_record_state::cancelled);  // the tombstone
    EXPECT_EQ(w.current(), bal(1000));
    EXPECT_EQ(w.journal_sequence(), seq);
    // No hanging: the try that arrives after its cancel is refused and changes nothing.
    auto late = try_leg(w, 1, type, 300);
    EXPECT_EQ(late.code, result_code::tcc_cancelled);
    EXPECT_EQ(w.current(), bal(1000));
    EXPECT_EQ(w.open_transactions(), 0u);
    EXPECT_EQ(confirm_leg(w, 1, type, 300).code, result_code::tcc_cancelled);
    EXPECT_EQ(cancel_leg(w, 1, type).code, result_code::ok);
    EXPECT_EQ(w.journal_sequence(), seq);
  }
}

TEST(wallet_core_test, confirm_after_cancel_and_cancel_after_confirm) {
  for (lt type : all_leg_types) {
    SCOPED_TRACE(to_string(type));
    auto w = funded_user(1000);
    ASSERT_EQ(try_leg(w, 1, type, 300).code, result_code::ok);
    ASSERT_EQ(cancel_leg(w, 1, type).code, result_code::ok);
    balances after_cancel = w.current();
    EXPECT_EQ(confirm_leg(w, 1, type, 300).code, result_code::tcc_cancelled);
    EXPECT_EQ(w.current(), after_cancel);
    EXPECT_EQ(w.find_record(1)->state, tcc_record_state::cancelled);

    ASSERT_EQ(try_leg(w, 2, type, 300).code, result_code::ok);
    ASSERT_EQ(confirm_leg(w, 2, type, 300).code, result_code::ok);
    balances after_confirm = w.current();
    auto refused = cancel_leg(w, 2, type);
    EXPECT_EQ(refused.code, result_code::tcc_confirmed);
    EXPECT_EQ(w.current(), after_confirm);
    EXPECT_EQ(w.find_record(2)->state, tcc_record_state::confirmed);
  }
}

TEST(wallet_core_test, confirm_without_try_leaves_no_record) {
  auto w = funded_user(1000);
  EXPECT_EQ(confirm_leg(w, 1, lt::debit_hold, 300).code, result_code::tcc_not_tried);
  EXPECT_EQ(w.find_record(1), nullptr);
  EXPECT_EQ(w.current(), bal(1000));
  // The confirm left nothing behind, so the try still works.
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 300).code, result_code::ok);
}

TEST(wallet_core_test, same_txn_with_different_content_conflicts) {
  auto w = funded_user(1000);
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 300).code, result_code::ok);
  balances before = w.current();
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 301).code, result_code::tcc_conflict);
  EXPECT_EQ(try_leg(w, 1, lt::debit_direct, 300).code, result_code::tcc_conflict);
  EXPECT_EQ(try_leg(w, 1, lt::credit_incoming, 300).code, result_code::tcc_conflict);
  EXPECT_EQ(w.current(), before);
  EXPECT_EQ(w.find_record(1)->tried_amount, 300);
  EXPECT_EQ(w.open_transactions(), 1u);
  // A rejected try conflicts too when repeated with other content.
  EXPECT_EQ(try_leg(w, 2, lt::debit_hold, 5000).code, result_code::insufficient_funds);
  EXPECT_EQ(try_leg(w, 2, lt::debit_hold, 5).code, result_code::tcc_conflict);
  EXPECT_EQ(w.current(), before);
}

TEST(wallet_core_test, try_after_deadline_is_refused) {
  auto w = funded_user(1000);
  auto late = make_leg(1, tcc_phase::try_, lt::debit_hold, 300);
  late.try_deadline_ms = 500;
  EXPECT_EQ(w.apply(late, 501).code, result_code::tcc_deadline_passed);
  EXPECT_EQ(w.current(), bal(1000));
  EXPECT_EQ(w.find_record(1), nullptr);
  EXPECT_EQ(w.open_transactions(), 0u);
  // At the deadline itself the try is still in time.
  EXPECT_EQ(w.apply(late, 500).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(700, 300));
  // A repeat after the deadline answers from the record (idempotency wins).
  auto repeat = w.apply(late, 10'000);
  EXPECT_EQ(repeat.code, result_code::ok);
  EXPECT_TRUE(repeat.repeated);
}

// ---------------------------------------------------------------------------------------
// Rejections: each leaves balances, records and journal unchanged.

void expect_try_rejected(wallet_core& w, const leg_command& c, result_code expected, bool leaves_record) {
  balances before = w.current();
  auto seq = w.journal_sequence();
  auto open = w.open_transactions();
  auto out = w.apply(c, 1);
  EXPECT_EQ(out.code, expected);
  EXPECT_EQ(out.after, before);
  EXPECT_EQ(w.current(), before);
  EXPECT_EQ(w.journal_sequence(), seq);
  EXPECT_EQ(w.open_transactions(), open);
  if (leaves_record) {
    ASSERT_NE(w.find_record(c.txn), nullptr);
    EXPECT_EQ(w.find_record(c.txn)->state, tcc_record_state::try_rejected);
    EXPECT_EQ(w.find_record(c.txn)->try_result, expected);
  } else {
    EXPECT_EQ(w.find_record(c.txn), nullptr);
  }
}

TEST(wallet_core_test, invalid_amount) {
  auto w = funded_user(1000);
  order_id txn = 1;
  for (lt type : all_leg_types)
    for (int64_t amount : {int64_t{0}, int64_t{-1}, int64_t{-300}, min64})
      expect_try_rejected(w, make_leg(txn++, tcc_phase::try_, type, amount), result_code::invalid_amount, false);
}

TEST(wallet_core_test, currency_and_tenant_mismatch_for_every_phase) {
  auto w = funded_user(1000);
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 300).code, result_code::ok);
  balances before = w.current();
  // Cancel of txn 1 (which has a record) with the wrong tenant or currency is refused.
  for (auto phase : {tcc_phase::try_, tcc_phase::confirm, tcc_phase::cancel}) {
    auto c = make_leg(phase == tcc_phase::try_ ? 2 : 1, phase, lt::debit_hold, 300);
    c.cur = eur;
    EXPECT_EQ(w.apply(c, 1).code, result_code::currency_mismatch);
    c = make_leg(phase == tcc_phase::try_ ? 2 : 1, phase, lt::debit_hold, 300);
    c.tenant = other_tenant;
    leg_outcome foreign = w.apply(c, 1);
    EXPECT_EQ(foreign.code, result_code::unknown_wallet);  // as for a wallet that does not exist
    EXPECT_EQ(foreign.after, balances{});                  // and no balances
  }
  // Another tenant's cancel of a transaction this wallet never recorded has nothing to undo:
  // it succeeds (so that order's compensation completes) and leaves no tombstone.
  auto foreign_cancel = make_leg(3, tcc_phase::cancel, lt::debit_hold, 0);
  foreign_cancel.tenant = other_tenant;
  EXPECT_EQ(w.apply(foreign_cancel, 1).code, result_code::ok);
  EXPECT_EQ(w.find_record(3), nullptr);
  EXPECT_EQ(w.find_record(2), nullptr);
  EXPECT_EQ(w.current(), before);
  EXPECT_EQ(w.find_record(1)->state, tcc_record_state::tried);
}

TEST(wallet_core_test, insufficient_funds_respects_overdraft_limit) {
  auto w = funded_user(100);
  expect_try_rejected(w, make_leg(1, tcc_phase::try_, lt::debit_hold, 101), result_code::insufficient_funds, true);
  expect_try_rejected(w, make_leg(2, tcc_phase::try_, lt::debit_direct, 101), result_code::insufficient_funds, true);
  EXPECT_EQ(try_leg(w, 3, lt::debit_hold, 100).code, result_code::ok);  // exactly all of it
  expect_try_rejected(w, make_leg(4, tcc_phase::try_, lt::debit_hold, 1), result_code::insufficient_funds, true);

  ASSERT_EQ(w.set_overdraft_limit(tenant, 50), result_code::ok);
  EXPECT_EQ(w.info().overdraft_limit, 50);
  expect_try_rejected(w, make_leg(5, tcc_phase::try_, lt::debit_hold, 51), result_code::insufficient_funds, true);
  EXPECT_EQ(try_leg(w, 6, lt::debit_hold, 50).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(-50, 150));
  // Credits never need funds.
  EXPECT_EQ(try_leg(w, 7, lt::credit_on_confirm, 10).code, result_code::ok);

  // The frozen money is not spendable either: held 150, available -50.
  ASSERT_EQ(w.set_overdraft_limit(tenant, 0), result_code::ok);
  expect_try_rejected(w, make_leg(8, tcc_phase::try_, lt::debit_hold, 1), result_code::insufficient_funds, true);
}

TEST(wallet_core_test, system_wallet_may_go_negative) {
  wallet_core sys(make_info(2, wallet_kind::system));
  EXPECT_EQ(try_leg(sys, 1, lt::debit_direct, 1'000'000).code, result_code::ok);
  EXPECT_EQ(try_leg(sys, 2, lt::debit_hold, 5).code, result_code::ok);
  EXPECT_EQ(sys.current(), bal(-1'000'005, 5));
  EXPECT_EQ(confirm_leg(sys, 1, lt::debit_direct, 1'000'000).code, result_code::ok);
  EXPECT_EQ(cancel_leg(sys, 2, lt::debit_hold).code, result_code::ok);
  EXPECT_EQ(sys.current(), bal(-1'000'000));
}

TEST(wallet_core_test, amount_overflow_near_int64_max_credit) {
  auto w = funded_user(max64 - 100);
  EXPECT_EQ(w.current(), bal(max64 - 100));
  expect_try_rejected(w, make_leg(1, tcc_phase::try_, lt::credit_incoming, 101), result_code::amount_overflow, true);
  expect_try_rejected(w, make_leg(2, tcc_phase::try_, lt::credit_on_confirm, 101), result_code::amount_overflow,
                      true);
  expect_try_rejected(w, make_leg(3, tcc_phase::try_, lt::credit_incoming, max64), result_code::amount_overflow,
                      true);
  // Exactly up to INT64_MAX is fine.
  EXPECT_EQ(try_leg(w, 4, lt::credit_incoming, 100).code, result_code::ok);
  // Pending credits count: another credit that would overflow once both confirm is refused.
  expect_try_rejected(w, make_leg(5, tcc_phase::try_, lt::credit_on_confirm, 1), result_code::amount_overflow, true);
  EXPECT_EQ(confirm_leg(w, 4, lt::credit_incoming, 100).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(max64));
  expect_try_rejected(w, make_leg(6, tcc_phase::try_, lt::credit_incoming, 1), result_code::amount_overflow, true);
  EXPECT_TRUE(w.verify_journal());
}

TEST(wallet_core_test, pending_credits_up_to_max_leave_room_for_debits) {
  // Two incoming credits that together reach exactly INT64_MAX are both acceptable, and a
  // debit while they are pending cannot overflow anything: none of these is an overflow.
  auto w = funded_user(max64 - 100);
  EXPECT_EQ(try_leg(w, 1, lt::credit_incoming, 60).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 2, lt::credit_incoming, 40).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 3, lt::debit_hold, 50).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 4, lt::debit_direct, 50).code, result_code::ok);
  // Every order of confirms and cancels must stay in range.
  EXPECT_EQ(confirm_leg(w, 1, lt::credit_incoming, 60).code, result_code::ok);
  EXPECT_EQ(cancel_leg(w, 3, lt::debit_hold).code, result_code::ok);
  EXPECT_EQ(cancel_leg(w, 4, lt::debit_direct).code, result_code::ok);
  EXPECT_EQ(confirm_leg(w, 2, lt::credit_incoming, 40).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(max64));
  EXPECT_TRUE(w.verify_journal());
}

TEST(wallet_core_test, debit_from_large_balance_is_not_an_overflow) {
  // Taking money out of a wallet near INT64_MAX moves it away from the limit; a cancel only
  // returns to where it was.
  auto w = funded_user(max64 - 10);
  EXPECT_EQ(try_leg(w, 1, lt::debit_direct, 100).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 2, lt::debit_hold, 100).code, result_code::ok);
  EXPECT_EQ(cancel_leg(w, 1, lt::debit_direct).code, result_code::ok);
  EXPECT_EQ(cancel_leg(w, 2, lt::debit_hold).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(max64 - 10));
}

TEST(wallet_core_test, amount_overflow_system_wallet_near_int64_min) {
  wallet_core sys(make_info(2, wallet_kind::system));
  ASSERT_EQ(try_leg(sys, 1, lt::debit_direct, max64).code, result_code::ok);
  ASSERT_EQ(confirm_leg(sys, 1, lt::debit_direct, max64).code, result_code::ok);
  EXPECT_EQ(sys.current(), bal(min64 + 1));
  EXPECT_EQ(try_leg(sys, 2, lt::debit_direct, 1).code, result_code::ok);  // reaches INT64_MIN exactly
  expect_try_rejected(sys, make_leg(3, tcc_phase::try_, lt::debit_direct, 1), result_code::amount_overflow, true);
  expect_try_rejected(sys, make_leg(4, tcc_phase::try_, lt::debit_hold, 1), result_code::amount_overflow, true);
  EXPECT_EQ(cancel_leg(sys, 2, lt::debit_direct).code, result_code::ok);
  EXPECT_EQ(sys.current(), bal(min64 + 1));
  expect_try_rejected(sys, make_leg(5, tcc_phase::try_, lt::debit_hold, 2), result_code::amount_overflow, true);
  expect_try_rejected(sys, make_leg(6, tcc_phase::try_, lt::debit_direct, max64), result_code::amount_overflow, true);
  EXPECT_TRUE(sys.verify_journal());
}

TEST(wallet_core_test, huge_pending_credits_on_a_negative_system_wallet_never_wrap) {
  // The system wallet at INT64_MIN+1 can legitimately take credits summing to more than
  // INT64_MAX; whatever is accepted must confirm to the exact mathematical balance.
  wallet_core sys(make_info(2, wallet_kind::system));
  ASSERT_EQ(try_leg(sys, 1, lt::debit_direct, max64).code, result_code::ok);
  ASSERT_EQ(confirm_leg(sys, 1, lt::debit_direct, max64).code, result_code::ok);
  ASSERT_EQ(try_leg(sys, 2, lt::credit_on_confirm, max64).code, result_code::ok);
  auto second = try_leg(sys, 3, lt::credit_on_confirm, 1);
  EXPECT_TRUE(second.code == result_code::ok || second.code == result_code::amount_overflow) << second.code;
  ASSERT_EQ(confirm_leg(sys, 2, lt::credit_on_confirm, max64).code, result_code::ok);
  EXPECT_EQ(sys.current(), bal(0));
  if (second.code == result_code::ok) {
    ASSERT_EQ(confirm_leg(sys, 3, lt::credit_on_confirm, 1).code, result_code::ok);
    EXPECT_EQ(sys.current(), bal(1));
  }
  EXPECT_EQ(sys.open_transactions(), 0u);
  // With nothing pending the wallet takes ordinary amounts again.
  EXPECT_EQ(try_leg(sys, 4, lt::credit_incoming, 5).code, result_code::ok);
}

TEST(wallet_core_test, frozen_wallet_refuses_debits_accepts_credits) {
  auto w = funded_user(1000);
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 100).code, result_code::ok);  // tried before the freeze
  ASSERT_EQ(w.freeze(tenant), result_code::ok);
  EXPECT_EQ(w.info().status, wallet_status::frozen);
  expect_try_rejected(w, make_leg(2, tcc_phase::try_, lt::debit_hold, 10), result_code::wallet_frozen, true);
  expect_try_rejected(w, make_leg(3, tcc_phase::try_, lt::debit_direct, 10), result_code::wallet_frozen, true);
  EXPECT_EQ(try_leg(w, 4, lt::credit_incoming, 10).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 5, lt::credit_on_confirm, 10).code, result_code::ok);
  // Steps of a debit tried before the freeze still finish: the order must be able to end.
  EXPECT_EQ(confirm_leg(w, 1, lt::debit_hold, 100).code, result_code::ok);
  EXPECT_EQ(confirm_leg(w, 4, lt::credit_incoming, 10).code, result_code::ok);
  EXPECT_EQ(confirm_leg(w, 5, lt::credit_on_confirm, 10).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(920));
  ASSERT_EQ(w.unfreeze(tenant), result_code::ok);
  EXPECT_EQ(w.info().status, wallet_status::active);
  EXPECT_EQ(try_leg(w, 6, lt::debit_hold, 10).code, result_code::ok);
}

TEST(wallet_core_test, closed_wallet_refuses_everything_new) {
  wallet_core w(make_info(1));
  ASSERT_EQ(w.close(tenant), result_code::ok);
  EXPECT_EQ(w.info().status, wallet_status::closed);
  order_id txn = 1;
  for (lt type : all_leg_types)
    expect_try_rejected(w, make_leg(txn++, tcc_phase::try_, type, 10), result_code::wallet_closed, true);
  EXPECT_EQ(w.freeze(tenant), result_code::wallet_closed);
  EXPECT_EQ(w.unfreeze(tenant), result_code::wallet_closed);
  EXPECT_EQ(w.close(tenant), result_code::wallet_closed);
  EXPECT_EQ(w.set_overdraft_limit(tenant, 5), result_code::wallet_closed);
  EXPECT_EQ(w.info().status, wallet_status::closed);
}

TEST(wallet_core_test, wallet_kind_mask) {
  wallet_core merchant(make_info(3, wallet_kind::merchant));
  fund(merchant, 1000);
  auto c = make_leg(1, tcc_phase::try_, lt::debit_hold, 10);
  c.wallet_kinds_allowed = uint16_t(1u << unsigned(wallet_kind::user));
  expect_try_rejected(merchant, c, result_code::wallet_kind_not_allowed, true);
  c.txn = 2;
  c.wallet_kinds_allowed = uint16_t(1u << unsigned(wallet_kind::system)) | uint16_t(1u << unsigned(wallet_kind::fee));
  expect_try_rejected(merchant, c, result_code::wallet_kind_not_allowed, true);
  c.txn = 3;
  c.wallet_kinds_allowed = uint16_t((1u << unsigned(wallet_kind::user)) | (1u << unsigned(wallet_kind::merchant)));
  EXPECT_EQ(merchant.apply(c, 1).code, result_code::ok);
  c.txn = 4;
  c.wallet_kinds_allowed = 0;  // no restriction
  EXPECT_EQ(merchant.apply(c, 1).code, result_code::ok);
  // The mask applies to credits too (a system wallet must not receive a merchant's pay).
  wallet_core sys(make_info(2, wallet_kind::system));
  auto credit = make_leg(5, tcc_phase::try_, lt::credit_on_confirm, 10);
  credit.wallet_kinds_allowed = uint16_t(1u << unsigned(wallet_kind::merchant));
  expect_try_rejected(sys, credit, result_code::wallet_kind_not_allowed, true);
}

TEST(wallet_core_test, wallet_busy_is_retryable_and_leaves_no_record) {
  wallet_config config;
  config.open_transactions_max = 2;
  auto w = funded_user(1000, config);
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 10).code, result_code::ok);
  ASSERT_EQ(try_leg(w, 2, lt::credit_on_confirm, 10).code, result_code::ok);
  for (lt type : all_leg_types) expect_try_rejected(w, make_leg(3, tcc_phase::try_, type, 10), result_code::wallet_busy, false);
  EXPECT_TRUE(is_retryable(result_code::wallet_busy));
  // Repeats of open transactions are still answered.
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 10).code, result_code::ok);
  // Once one finishes, the same try goes through: nothing remembered the refusal.
  ASSERT_EQ(confirm_leg(w, 1, lt::debit_hold, 10).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 3, lt::debit_hold, 10).code, result_code::ok);
  EXPECT_EQ(w.open_transactions(), 2u);
  // Cancel of an unknown txn (empty rollback) is never refused as busy.
  EXPECT_EQ(cancel_leg(w, 4, lt::debit_hold).code, result_code::ok);
}

TEST(wallet_core_test, close_needs_empty_wallet) {
  auto w = funded_user(10);
  EXPECT_EQ(w.close(tenant), result_code::wallet_not_empty);
  ASSERT_EQ(try_leg(w, 1, lt::debit_direct, 10).code, result_code::ok);
  ASSERT_EQ(confirm_leg(w, 1, lt::debit_direct, 10).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(0));
  // Balances are zero, but an open credit_on_confirm is still a transaction in flight.
  ASSERT_EQ(try_leg(w, 2, lt::credit_on_confirm, 10).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(0));
  EXPECT_EQ(w.close(tenant), result_code::wallet_not_empty);
  ASSERT_EQ(cancel_leg(w, 2, lt::credit_on_confirm).code, result_code::ok);
  // A negative balance (overdraft) is not empty either.
  ASSERT_EQ(w.set_overdraft_limit(tenant, 5), result_code::ok);
  ASSERT_EQ(try_leg(w, 3, lt::debit_direct, 5).code, result_code::ok);
  ASSERT_EQ(confirm_leg(w, 3, lt::debit_direct, 5).code, result_code::ok);
  EXPECT_EQ(w.close(tenant), result_code::wallet_not_empty);
  fund(w, 5, 2'000'000);
  EXPECT_EQ(w.close(tenant), result_code::ok);
}

TEST(wallet_core_test, admin_operations) {
  auto w = funded_user(0);
  EXPECT_EQ(w.set_overdraft_limit(tenant, -1), result_code::invalid_limit);
  EXPECT_EQ(w.info().overdraft_limit, 0);
  for (tenant_id wrong : {other_tenant, tenant_id{0}}) {
    EXPECT_EQ(w.freeze(wrong), result_code::unknown_wallet);
    EXPECT_EQ(w.unfreeze(wrong), result_code::unknown_wallet);
    EXPECT_EQ(w.close(wrong), result_code::unknown_wallet);
    EXPECT_EQ(w.set_overdraft_limit(wrong, 5), result_code::unknown_wallet);
  }
  EXPECT_EQ(w.info().status, wallet_status::active);
  EXPECT_EQ(w.info().overdraft_limit, 0);
  // Freeze / unfreeze are idempotent.
  EXPECT_EQ(w.freeze(tenant), result_code::ok);
  EXPECT_EQ(w.freeze(tenant), result_code::ok);
  EXPECT_EQ(w.unfreeze(tenant), result_code::ok);
  EXPECT_EQ(w.unfreeze(tenant), result_code::ok);
  // A frozen (empty) wallet may be closed.
  EXPECT_EQ(w.freeze(tenant), result_code::ok);
  EXPECT_EQ(w.close(tenant), result_code::ok);

  // The system wallet is the platform's counterparty: never frozen, closed or limited.
  wallet_core sys(make_info(2, wallet_kind::system));
  EXPECT_EQ(sys.freeze(tenant), result_code::wallet_kind_not_allowed);
  EXPECT_EQ(sys.close(tenant), result_code::wallet_kind_not_allowed);
  EXPECT_EQ(sys.set_overdraft_limit(tenant, 5), result_code::wallet_kind_not_allowed);
  EXPECT_EQ(sys.info().status, wallet_status::active);
}

// ---------------------------------------------------------------------------------------
// Journal.

TEST(wallet_core_test, journal_records_every_change) {
  auto w = funded_user(0);
  EXPECT_TRUE(w.journal().empty());
  ASSERT_EQ(try_leg(w, 1, lt::credit_incoming, 100, 5).code, result_code::ok);
  ASSERT_EQ(try_leg(w, 2, lt::credit_on_confirm, 50, 6).code, result_code::ok);  // no balance change
  ASSERT_EQ(confirm_leg(w, 1, lt::credit_incoming, 100, 7).code, result_code::ok);
  ASSERT_EQ(confirm_leg(w, 2, lt::credit_on_confirm, 0, 8).code, result_code::ok);  // posts nothing
  ASSERT_EQ(w.journal().size(), 2u);
  const auto& first = w.journal()[0];
  EXPECT_EQ(first.sequence, 1u);
  EXPECT_EQ(first.txn, 1u);
  EXPECT_EQ(first.phase, tcc_phase::try_);
  EXPECT_EQ(first.delta, bal(0, 0, 100));
  EXPECT_EQ(first.after, bal(0, 0, 100));
  EXPECT_EQ(first.at_ms, 5);
  const auto& second = w.journal()[1];
  EXPECT_EQ(second.sequence, 2u);
  EXPECT_EQ(second.phase, tcc_phase::confirm);
  EXPECT_EQ(second.delta, bal(100, 0, -100));
  EXPECT_EQ(second.at_ms, 7);
  EXPECT_EQ(w.journal_base(), bal(0));
  EXPECT_TRUE(w.verify_journal());
}

TEST(wallet_core_test, journal_folds_oldest_entries_into_base) {
  wallet_config config;
  config.journal_entries_max = 4;
  wallet_core w(make_info(1), config);
  for (order_id txn = 1; txn <= 10; ++txn) {
    ASSERT_EQ(try_leg(w, txn, lt::credit_incoming, int64_t(txn)).code, result_code::ok);
    ASSERT_EQ(confirm_leg(w, txn, lt::credit_incoming, int64_t(txn)).code, result_code::ok);
    EXPECT_LE(w.journal().size(), 4u);
    EXPECT_TRUE(w.verify_journal());
  }
  EXPECT_EQ(w.journal_sequence(), 20u);
  EXPECT_EQ(w.journal().front().sequence, 17u);
  EXPECT_EQ(w.journal().back().sequence, 20u);
  EXPECT_EQ(w.current(), bal(55));
  // The base is the balance just before the oldest kept entry: after txn 8 confirmed.
  EXPECT_EQ(w.journal_base(), bal(36));
}

// A journal at its bound (256 by default) keeps 256 slots: room is made before an entry is
// added, so its ring (fifo_vector) never holds 257 and never doubles to 512 (20 KiB a wallet).
TEST(wallet_core_test, full_journal_keeps_its_bound_in_slots) {
  wallet_core w(make_info(1), wallet_config{});
  ASSERT_EQ(limits::wallet_journal_entries_max, 256u);
  for (order_id txn = 1; txn <= 1'000; ++txn) {
    ASSERT_EQ(try_leg(w, txn, lt::credit_incoming, 1).code, result_code::ok);
    ASSERT_EQ(confirm_leg(w, txn, lt::credit_incoming, 1).code, result_code::ok);
  }
  EXPECT_EQ(w.journal().size(), 256u);
  EXPECT_EQ(w.journal().capacity(), 256u);
  EXPECT_EQ(w.journal().back().sequence, 2'000u);
  EXPECT_TRUE(w.verify_journal());
}

TEST(wallet_core_test, journal_verifies_after_random_operations) {
  for (size_t journal_max : {size_t{3}, size_t{1} << 16}) {
    wallet_config config;
    config.journal_entries_max = journal_max;
    wallet_core w(make_info(1, wallet_kind::user, 500), config);
    std::mt19937_64 rng(1234);
    for (int i = 0; i < 5000; ++i) {
      auto txn = order_id(rng() % 300 + 1);
      auto type = all_leg_types[rng() % 4];
      auto phase = tcc_phase(rng() % 3);
      auto amount = int64_t(rng() % 400);
      w.apply(make_leg(txn, phase, type, amount), i);
      ASSERT_TRUE(w.verify_journal()) << "step " << i;
      ASSERT_LE(w.journal().size(), journal_max);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Finished records.

TEST(wallet_core_test, finished_records_expire_after_retention) {
  wallet_config config;
  config.finished_record_retention_ms = 1000;
  auto w = funded_user(1000, config);  // funding record finished at t=1
  ASSERT_EQ(try_leg(w, 1, lt::debit_hold, 100, 10).code, result_code::ok);
  ASSERT_EQ(confirm_leg(w, 1, lt::debit_hold, 100, 20).code, result_code::ok);
  ASSERT_EQ(cancel_leg(w, 2, lt::debit_hold, 30).code, result_code::ok);  // tombstone
  ASSERT_EQ(try_leg(w, 3, lt::debit_hold, 100, 40).code, result_code::ok);  // stays open
  // At finished + retention the record still answers repeats.
  auto repeat = confirm_leg(w, 1, lt::debit_hold, 100, 1020);
  EXPECT_EQ(repeat.code, result_code::ok);
  EXPECT_TRUE(repeat.repeated);
  EXPECT_NE(w.find_record(1), nullptr);
  // One millisecond later it is gone; the tombstone of txn 2 is still there.
  cancel_leg(w, 99, lt::debit_hold, 1021);  // any step runs the expiry
  EXPECT_EQ(w.find_record(1), nullptr);
  ASSERT_NE(w.find_record(2), nullptr);
  EXPECT_EQ(try_leg(w, 2, lt::debit_hold, 100, 1030).code, result_code::tcc_cancelled);
  cancel_leg(w, 98, lt::debit_hold, 1031);
  EXPECT_EQ(w.find_record(2), nullptr);
  // Open transactions never expire.
  cancel_leg(w, 97, lt::debit_hold, 1'000'000);
  ASSERT_NE(w.find_record(3), nullptr);
  EXPECT_EQ(w.find_record(3)->state, tcc_record_state::tried);
  EXPECT_EQ(confirm_leg(w, 3, lt::debit_hold, 100, 1'000'001).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(800));
}

TEST(wallet_core_test, finished_records_restored_from_storage_do_not_expire) {
  // Storage holds the records of orders not final at the stop, which recovery resumes: a
  // confirmed one must still answer a resumed try or confirm after any pause.
  wallet_config config;
  config.finished_record_retention_ms = 1000;
  tcc_record confirmed{lt::credit_on_confirm, tcc_record_state::confirmed, result_code::ok, 300, 300};
  tcc_record cancelled{lt::debit_hold, tcc_record_state::cancelled, result_code::tcc_cancelled, 0, 0};
  tcc_record open{lt::debit_hold, tcc_record_state::tried, result_code::ok, 100, 0};
  auto w = wallet_core::restore(make_info(1), config, bal(700, 100, 0), 3, {{1, confirmed}, {2, cancelled}, {3, open}},
                                10);
  EXPECT_EQ(w.open_transactions(), 1u);
  // A record finished now expires as usual; the restored ones stay.
  ASSERT_EQ(try_leg(w, 4, lt::debit_hold, 10, 20).code, result_code::ok);
  ASSERT_EQ(confirm_leg(w, 4, lt::debit_hold, 10, 30).code, result_code::ok);
  cancel_leg(w, 99, lt::debit_hold, 10'000'000);  // any step runs the expiry
  EXPECT_EQ(w.find_record(4), nullptr);
  auto repeat = try_leg(w, 1, lt::credit_on_confirm, 300, 10'000'001);
  EXPECT_EQ(repeat.code, result_code::ok);  // answered from the record, not tcc_deadline_passed
  EXPECT_TRUE(repeat.repeated);
  EXPECT_EQ(confirm_leg(w, 1, lt::credit_on_confirm, 300, 10'000'002).code, result_code::ok);
  EXPECT_EQ(try_leg(w, 2, lt::debit_hold, 100, 10'000'003).code, result_code::tcc_cancelled);
  EXPECT_EQ(confirm_leg(w, 3, lt::debit_hold, 100, 10'000'004).code, result_code::ok);
  EXPECT_EQ(w.current(), bal(690, 0, 0));
  EXPECT_TRUE(w.verify_journal());
}

TEST(wallet_core_test, rejected_try_records_expire_too) {
  wallet_config config;
  config.finished_record_retention_ms = 100;
  wallet_core w(make_info(1), config);
  EXPECT_EQ(try_leg(w, 1, lt::debit_hold, 5, 10).code, result_code::insufficient_funds);
  ASSERT_NE(w.find_record(1), nullptr);
  cancel_leg(w, 50, lt::debit_hold, 111);
  EXPECT_EQ(w.find_record(1), nullptr);
}

TEST(wallet_core_test, finished_records_are_bounded_in_count) {
  wallet_config config;
  config.finished_records_max = 10;
  config.finished_record_min_keep_ms = 50;
  wallet_core w(make_info(1), config);
  // One step every 10 ms: records older than the minimum keep (50 ms) may go by count.
  for (order_id txn = 1; txn <= 100; ++txn) {
    int64_t t = static_cast<int64_t>(txn) * 10;
    leg_command try_cmd = make_leg(txn, tcc_phase::try_, lt::credit_on_confirm, 1);
    try_cmd.try_deadline_ms = t + 1000;
    ASSERT_EQ(w.apply(try_cmd, t).code, result_code::ok) << txn;
    leg_command confirm = try_cmd;
    confirm.phase = tcc_phase::confirm;
    ASSERT_EQ(w.apply(confirm, t).code, result_code::ok);
    EXPECT_LE(w.records(), 11u);  // the bound is enforced at the start of the next step
  }
  EXPECT_EQ(w.current(), bal(100));
  EXPECT_NE(w.find_record(100), nullptr);
  EXPECT_EQ(w.find_record(1), nullptr);
}

// A cancel tombstone is never dropped by count while a try of its order may still arrive (the
// order's try deadline): past the bound new tries wait (wallet_busy) instead; anti-hanging holds
// on a hot wallet too.
TEST(wallet_core_test, tombstones_younger_than_the_try_deadline_are_not_dropped_by_count) {
  wallet_config config;
  config.finished_records_max = 3;
  config.finished_record_min_keep_ms = 1000;
  wallet_core w(make_info(1), config);
  // Four cancels of never-tried legs at t=0: four tombstones, one past the bound.
  for (order_id txn = 1; txn <= 4; ++txn) {
    leg_command cancel = make_leg(txn, tcc_phase::cancel, lt::credit_on_confirm, 1);
    ASSERT_EQ(w.apply(cancel, 0).code, result_code::ok);
  }
  // More records would drop a tombstone: a new try waits instead, retryably, and leaves nothing.
  leg_command other = make_leg(9, tcc_phase::try_, lt::credit_on_confirm, 1);
  other.try_deadline_ms = 5000;
  EXPECT_EQ(w.apply(other, 500).code, result_code::wallet_busy);
  EXPECT_EQ(w.find_record(9), nullptr);
  // The late try of a cancelled leg still meets its tombstone (no hanging).
  leg_command late = make_leg(1, tcc_phase::try_, lt::credit_on_confirm, 1);
  late.try_deadline_ms = 999;
  EXPECT_EQ(w.apply(late, 600).code, result_code::tcc_cancelled);
  // Past the minimum keep the oldest may go by count, and tries run again.
  EXPECT_EQ(w.apply(other, 1001).code, result_code::ok);
  EXPECT_EQ(w.find_record(1), nullptr);  // the oldest went
  EXPECT_NE(w.find_record(2), nullptr);
  EXPECT_LE(w.records(), 4u);
}

// An order whose try was refused for tenant or currency cancels every leg: that cancel has
// nothing to undo and must succeed, or the order's compensation would retry forever.
TEST(wallet_core_test, cancel_of_a_leg_refused_for_tenant_or_currency_succeeds) {
  wallet_core w(make_info(1));
  leg_command other_tenant_try = make_leg(9, tcc_phase::try_, leg_type::debit_hold, 10);
  other_tenant_try.tenant = other_tenant;
  EXPECT_EQ(w.apply(other_tenant_try, 0).code, result_code::unknown_wallet);
  leg_command cancel = other_tenant_try;
  cancel.phase = tcc_phase::cancel;
  EXPECT_EQ(w.apply(cancel, 0).code, result_code::ok);
  leg_command other_currency = make_leg(10, tcc_phase::cancel, leg_type::credit_on_confirm, 10);
  other_currency.cur = eur;
  EXPECT_EQ(w.apply(other_currency, 0).code, result_code::ok);
  EXPECT_EQ(w.current(), balances{});
  EXPECT_EQ(w.records(), 0u);
  // A repeat of the refused try is still refused: nothing can hang.
  EXPECT_EQ(w.apply(other_tenant_try, 0).code, result_code::unknown_wallet);
}

// ---------------------------------------------------------------------------------------
// Tenants: another tenant learns nothing about a wallet, neither its balances nor that it
// exists. The wallet shard answers a step for an id it does not know with unknown_wallet (ok
// for a cancel) and no balances (wallet_actor.cpp); a step of another tenant gets exactly
// that, in every phase and whatever the wallet holds, and changes nothing.

//! Everything a wallet holds that a step could change.
struct wallet_snapshot {
  wallet_info info;
  balances current;
  size_t open = 0;
  size_t records = 0;
  uint64_t journal_sequence = 0;
  bool operator==(const wallet_snapshot& o) const {
    return info.id == o.info.id && info.tenant == o.info.tenant && info.cur == o.info.cur &&
           info.kind == o.info.kind && info.status == o.info.status &&
           info.overdraft_limit == o.info.overdraft_limit && current == o.current && open == o.open &&
           records == o.records && journal_sequence == o.journal_sequence;
  }
};

wallet_snapshot snapshot_of(const wallet_core& w) {
  return {w.info(), w.current(), w.open_transactions(), w.records(), w.journal_sequence()};
}

//! Wallets in every state another tenant might probe: funded with an open hold, frozen,
//! closed, a system wallet below zero, a merchant with an overdraft limit.
std::vector<wallet_core> probed_wallets() {
  std::vector<wallet_core> wallets;
  wallets.push_back(funded_user(1000));
  EXPECT_EQ(try_leg(wallets.back(), 1, lt::debit_hold, 300).code, result_code::ok);  // open: txn 1
  wallets.push_back(funded_user(50));
  EXPECT_EQ(wallets.back().freeze(tenant), result_code::ok);
  wallets.push_back(funded_user(0));
  EXPECT_EQ(wallets.back().close(tenant), result_code::ok);
  wallets.emplace_back(make_info(2, wallet_kind::system));
  EXPECT_EQ(try_leg(wallets.back(), 1, lt::debit_direct, 700).code, result_code::ok);
  EXPECT_EQ(confirm_leg(wallets.back(), 1, lt::debit_direct, 700).code, result_code::ok);
  wallets.emplace_back(make_info(3, wallet_kind::merchant, 400));
  return wallets;
}

TEST(wallet_core_test, another_tenant_step_gets_the_answer_of_an_unknown_wallet) {
  for (auto& w : probed_wallets()) {
    SCOPED_TRACE("wallet kind " + std::string(to_string(w.info().kind)) + " status " +
                 std::string(to_string(w.info().status)));
    for (tenant_id stranger : {other_tenant, tenant_id{0}})
      for (lt type : all_leg_types)
        for (auto phase : {tcc_phase::try_, tcc_phase::confirm, tcc_phase::cancel})
          for (order_id txn : {order_id{1}, order_id{1'000'000}, order_id{77}})  // open, finished, never seen
            for (int64_t amount : {int64_t{300}, int64_t{0}, int64_t{-1}, max64})
              for (currency cur : {usd, eur}) {
                wallet_snapshot before = snapshot_of(w);
                leg_command c = make_leg(txn, phase, type, amount);
                c.tenant = stranger;
                c.cur = cur;
                leg_outcome got = w.apply(c, 2);
                // What wallet_actor answers for an unknown id: ok for a cancel, else unknown_wallet.
                // Only a cancel of a transaction this wallet holds is refused (an order of
                // another tenant cannot share its id with one of this wallet's).
                bool held = w.find_record(txn) != nullptr;
                result_code want = phase == tcc_phase::cancel && !held ? result_code::ok : result_code::unknown_wallet;
                EXPECT_EQ(got.code, want) << to_string(type) << " " << to_string(phase) << " txn " << txn;
                EXPECT_EQ(got.after, balances{}) << to_string(type) << " " << to_string(phase);
                EXPECT_FALSE(got.repeated);
                EXPECT_TRUE(snapshot_of(w) == before) << to_string(type) << " " << to_string(phase);
              }
  }
}

TEST(wallet_core_test, another_tenant_administration_gets_unknown_wallet_and_changes_nothing) {
  for (auto& w : probed_wallets()) {
    wallet_snapshot before = snapshot_of(w);
    for (tenant_id stranger : {other_tenant, tenant_id{0}}) {
      EXPECT_EQ(w.freeze(stranger), result_code::unknown_wallet);
      EXPECT_EQ(w.unfreeze(stranger), result_code::unknown_wallet);
      EXPECT_EQ(w.close(stranger), result_code::unknown_wallet);
      for (int64_t limit : {int64_t{0}, int64_t{5}, int64_t{-1}, max64})
        EXPECT_EQ(w.set_overdraft_limit(stranger, limit), result_code::unknown_wallet);
    }
    EXPECT_TRUE(snapshot_of(w) == before);
  }
}

}  // namespace
}  // namespace txengine
