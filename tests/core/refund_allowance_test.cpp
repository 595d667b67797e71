#include "core/refund_allowance.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using p = tcc_phase;

TEST(refund_allowance_test, reserve_confirm_cancel) {
  refund_allowance a(1000);
  EXPECT_EQ(a.refundable(), 1000);
  EXPECT_EQ(a.apply(1, p::try_, 300), result_code::ok);
  EXPECT_EQ(a.reserved(), 300);
  EXPECT_EQ(a.refunded(), 0);
  EXPECT_EQ(a.refundable(), 700);
  EXPECT_EQ(a.apply(1, p::confirm, 300), result_code::ok);
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.refunded(), 300);
  EXPECT_EQ(a.refundable(), 700);

  EXPECT_EQ(a.apply(2, p::try_, 200), result_code::ok);
  EXPECT_EQ(a.refundable(), 500);
  EXPECT_EQ(a.apply(2, p::cancel, 0), result_code::ok);
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.refunded(), 300);
  EXPECT_EQ(a.refundable(), 700);
}

TEST(refund_allowance_test, never_exceeds_original) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(1, p::try_, 1001), result_code::refund_exceeds_original);
  EXPECT_EQ(a.refundable(), 1000);
  EXPECT_EQ(a.apply(2, p::try_, 1000), result_code::ok);  // the whole amount is fine
  EXPECT_EQ(a.apply(2, p::confirm, 1000), result_code::ok);
  EXPECT_EQ(a.apply(3, p::try_, 1), result_code::refund_exceeds_original);
  EXPECT_EQ(a.refunded(), 1000);
  EXPECT_EQ(a.refundable(), 0);
}

TEST(refund_allowance_test, concurrent_reservations_share_the_amount) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(1, p::try_, 600), result_code::ok);
  EXPECT_EQ(a.apply(2, p::try_, 500), result_code::refund_exceeds_original);  // only 400 left
  EXPECT_EQ(a.apply(3, p::try_, 400), result_code::ok);
  EXPECT_EQ(a.apply(4, p::try_, 1), result_code::refund_exceeds_original);
  EXPECT_EQ(a.reserved(), 1000);
  // One refund fails: its reservation comes back for another.
  EXPECT_EQ(a.apply(1, p::cancel, 0), result_code::ok);
  EXPECT_EQ(a.apply(2, p::try_, 500), result_code::ok);
  EXPECT_EQ(a.apply(3, p::confirm, 400), result_code::ok);
  EXPECT_EQ(a.apply(2, p::confirm, 500), result_code::ok);
  EXPECT_EQ(a.refunded(), 900);
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.refundable(), 100);
}

TEST(refund_allowance_test, idempotent_steps) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(1, p::try_, 300), result_code::ok);
  EXPECT_EQ(a.apply(1, p::try_, 300), result_code::ok);  // repeat: not reserved twice
  EXPECT_EQ(a.reserved(), 300);
  EXPECT_EQ(a.apply(1, p::try_, 301), result_code::tcc_conflict);
  EXPECT_EQ(a.reserved(), 300);
  EXPECT_EQ(a.apply(1, p::confirm, 300), result_code::ok);
  EXPECT_EQ(a.apply(1, p::confirm, 300), result_code::ok);  // repeat: not refunded twice
  EXPECT_EQ(a.apply(1, p::try_, 300), result_code::ok);     // a late repeat of the try
  EXPECT_EQ(a.refunded(), 300);
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.apply(2, p::try_, 100), result_code::ok);
  EXPECT_EQ(a.apply(2, p::cancel, 0), result_code::ok);
  EXPECT_EQ(a.apply(2, p::cancel, 0), result_code::ok);  // repeat: not released twice
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.refundable(), 700);
}

TEST(refund_allowance_test, empty_rollback_and_no_hanging) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(9, p::cancel, 0), result_code::ok);  // never tried: tombstone
  EXPECT_EQ(a.refundable(), 1000);
  EXPECT_EQ(a.apply(9, p::try_, 100), result_code::tcc_cancelled);  // the late try is refused
  EXPECT_EQ(a.apply(9, p::confirm, 100), result_code::tcc_cancelled);
  EXPECT_EQ(a.apply(9, p::cancel, 0), result_code::ok);
  EXPECT_EQ(a.reserved(), 0);
  EXPECT_EQ(a.refundable(), 1000);
}

TEST(refund_allowance_test, out_of_order_steps_are_refused) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(1, p::confirm, 100), result_code::tcc_not_tried);
  EXPECT_EQ(a.apply(1, p::try_, 100), result_code::ok);  // the refused confirm left nothing behind
  EXPECT_EQ(a.apply(1, p::confirm, 100), result_code::ok);
  EXPECT_EQ(a.apply(1, p::cancel, 0), result_code::tcc_confirmed);
  EXPECT_EQ(a.refunded(), 100);
  EXPECT_EQ(a.apply(2, p::try_, 100), result_code::ok);
  EXPECT_EQ(a.apply(2, p::cancel, 0), result_code::ok);
  EXPECT_EQ(a.apply(2, p::confirm, 100), result_code::tcc_cancelled);
  EXPECT_EQ(a.apply(2, p::try_, 100), result_code::tcc_cancelled);
  EXPECT_EQ(a.refunded(), 100);
  EXPECT_EQ(a.reserved(), 0);
}

TEST(refund_allowance_test, invalid_amounts) {
  refund_allowance a(1000);
  EXPECT_EQ(a.apply(1, p::try_, 0), result_code::invalid_amount);
  EXPECT_EQ(a.apply(2, p::try_, -5), result_code::invalid_amount);
  EXPECT_EQ(a.refundable(), 1000);
  // A refused try leaves nothing: the same refund may try again with a valid amount.
  EXPECT_EQ(a.apply(1, p::try_, 5), result_code::ok);
}

TEST(refund_allowance_test, random_steps_never_refund_more_than_original) {
  std::mt19937_64 rng(77);
  refund_allowance a(10'000);
  // An independent model: per refund id, its state and amount.
  enum class st { none, tried, confirmed, cancelled };
  struct rec {
    st s = st::none;
    int64_t amount = 0;
  };
  std::vector<rec> model(60);
  int64_t reserved = 0, refunded = 0;
  for (int i = 0; i < 20'000; ++i) {
    order_id id = rng() % model.size();
    auto phase = tcc_phase(rng() % 3);
    int64_t amount = int64_t(rng() % 1500) - 10;
    auto code = a.apply(id + 1, phase, amount);
    rec& r = model[id];
    result_code want = result_code::ok;
    switch (phase) {
      case p::try_:
        if (r.s == st::cancelled) want = result_code::tcc_cancelled;
        else if (r.s != st::none) want = r.amount == amount ? result_code::ok : result_code::tcc_conflict;
        else if (amount <= 0) want = result_code::invalid_amount;
        else if (amount > 10'000 - reserved - refunded) want = result_code::refund_exceeds_original;
        else {
          r = {st::tried, amount};
          reserved += amount;
        }
        break;
      case p::confirm:
        if (r.s == st::none) want = result_code::tcc_not_tried;
        else if (r.s == st::cancelled) want = result_code::tcc_cancelled;
        else if (r.s == st::tried) {
          r.s = st::confirmed;
          reserved -= r.amount;
          refunded += r.amount;
        }
        break;
      case p::cancel:
        if (r.s == st::confirmed) want = result_code::tcc_confirmed;
        else if (r.s == st::tried) {
          r.s = st::cancelled;
          reserved -= r.amount;
        } else if (r.s == st::none) {
          r = {st::cancelled, 0};
        }
        break;
    }
    ASSERT_EQ(code, want) << "step " << i;
    ASSERT_EQ(a.reserved(), reserved);
    ASSERT_EQ(a.refunded(), refunded);
    ASSERT_LE(a.reserved() + a.refunded(), 10'000);
    // Refunds finish from time to time so new ones can come.
    if (rng() % 200 == 0) model.assign(model.size(), rec{}), a = refund_allowance(10'000), reserved = refunded = 0;
  }
}

// The rules a refund's step follows on its original payment (moved out of the order host).
TEST(refund_step, only_a_succeeded_payment_of_the_same_currency_is_refundable) {
  const currency usd = *currency::parse("USD");
  const currency eur = *currency::parse("EUR");
  std::unique_ptr<refund_allowance> allowance;
  refund_original absent;
  EXPECT_EQ(apply_refund_step(absent, allowance, 1, tcc_phase::try_, usd, 10), result_code::unknown_order);
  EXPECT_EQ(apply_refund_step(absent, allowance, 1, tcc_phase::confirm, usd, 10), result_code::unknown_order);
  EXPECT_EQ(apply_refund_step(absent, allowance, 1, tcc_phase::cancel, usd, 10), result_code::ok);  // empty rollback
  refund_original running;
  running.is = refund_original::presence::running;
  EXPECT_EQ(apply_refund_step(running, allowance, 1, tcc_phase::try_, usd, 10), result_code::original_not_refundable);
  EXPECT_EQ(apply_refund_step(running, allowance, 1, tcc_phase::cancel, usd, 10), result_code::ok);
  EXPECT_EQ(allowance, nullptr);  // nothing reserved by any of these

  refund_original pay{refund_original::presence::final, order_kind::pay, order_state::succeeded, usd, 100};
  refund_original failed_pay = pay;
  failed_pay.state = order_state::failed;
  refund_original transfer = pay;
  transfer.kind = order_kind::transfer;
  EXPECT_EQ(apply_refund_step(failed_pay, allowance, 1, tcc_phase::try_, usd, 10), result_code::original_not_refundable);
  EXPECT_EQ(apply_refund_step(transfer, allowance, 1, tcc_phase::try_, usd, 10), result_code::original_not_refundable);
  EXPECT_EQ(apply_refund_step(pay, allowance, 1, tcc_phase::try_, eur, 10), result_code::currency_mismatch);
  EXPECT_EQ(allowance, nullptr);
  // Confirm before any try: refused; cancel before any try: empty rollback, no allowance yet.
  EXPECT_EQ(apply_refund_step(pay, allowance, 1, tcc_phase::confirm, usd, 10), result_code::tcc_not_tried);
  EXPECT_EQ(apply_refund_step(pay, allowance, 1, tcc_phase::cancel, usd, 10), result_code::ok);
  EXPECT_EQ(allowance, nullptr);
  // The first try creates the allowance of the settled amount; more than it is refused.
  EXPECT_EQ(apply_refund_step(pay, allowance, 2, tcc_phase::try_, usd, 60), result_code::ok);
  ASSERT_NE(allowance, nullptr);
  EXPECT_EQ(apply_refund_step(pay, allowance, 3, tcc_phase::try_, usd, 50), result_code::refund_exceeds_original);
  EXPECT_EQ(apply_refund_step(pay, allowance, 2, tcc_phase::confirm, usd, 60), result_code::ok);
  EXPECT_EQ(apply_refund_step(pay, allowance, 2, tcc_phase::confirm, usd, 60), result_code::ok);  // idempotent
  EXPECT_EQ(allowance->refunded(), 60);
  EXPECT_EQ(allowance->refundable(), 40);
}

TEST(refund_step, rebuild_after_a_restart_applies_confirmed_first_and_reports_misfits) {
  std::vector<stored_refund_state> refunds{
      {1, order_state::trying, 30, true},      // granted, running: keeps its reservation
      {2, order_state::succeeded, 50, true},   // took its amount (applied first)
      {3, order_state::failed, 0, false},      // a tombstone: a late try is refused
      {4, order_state::trying, 10, false},     // not granted yet: asks again
      {5, order_state::confirming, 40, true},  // does not fit what is left: reported, not applied
  };
  std::vector<stored_refund_state> misfits;
  auto allowance = rebuild_refund_allowance(100, refunds, &misfits);
  ASSERT_NE(allowance, nullptr);
  EXPECT_EQ(allowance->refunded(), 50);
  EXPECT_EQ(allowance->reserved(), 30);
  ASSERT_EQ(misfits.size(), 1u);
  EXPECT_EQ(misfits[0].id, 5u);
  EXPECT_EQ(allowance->apply(3, tcc_phase::try_, 5), result_code::tcc_cancelled);
  EXPECT_EQ(allowance->apply(4, tcc_phase::try_, 10), result_code::ok);
  EXPECT_EQ(allowance->refundable(), 10);
}

}  // namespace
}  // namespace txengine

