#include "core/movement_history.hpp"

#include <gtest/gtest.h>

namespace txengine {
namespace {

stored_leg wallet_leg(wallet_id w, leg_type type, tcc_phase phase, bool done, uint64_t tseq, uint64_t seq,
                      int64_t amount = 100, int64_t confirmed = 0) {
  stored_leg leg;
  leg.participant = participant_kind::wallet;
  leg.target = w;
  leg.type = type;
  leg.amount = amount;
  leg.confirmed = confirmed;
  leg.phase = phase;
  leg.done = done;
  leg.try_sequence = tseq;
  leg.step_sequence = seq;
  return leg;
}

TEST(MovementHistory, LookupsUsePointersAndFallBackByOrder) {
  std::vector<stored_leg> legs{
      wallet_leg(1, leg_type::debit_hold, tcc_phase::confirm, true, 7, 8),
      wallet_leg(2, leg_type::credit_on_confirm, tcc_phase::confirm, true, 0, 3, 100, 100),
      wallet_leg(3, leg_type::debit_hold, tcc_phase::confirm, true, 0, 5),  // try answered again after a restart
      wallet_leg(4, leg_type::credit_on_confirm, tcc_phase::cancel, true, 0, 0),  // nothing moved
  };
  stored_leg allowance;
  allowance.participant = participant_kind::original_order;
  allowance.target = 99;
  legs.push_back(allowance);
  auto lookups = movement_lookups(legs);
  ASSERT_EQ(lookups.size(), 3u);
  EXPECT_EQ(lookups[0].wallet, 1u);
  EXPECT_EQ(lookups[0].sequences, (std::vector<uint64_t>{7, 8}));
  EXPECT_FALSE(lookups[0].by_order);
  EXPECT_EQ(lookups[1].sequences, (std::vector<uint64_t>{3}));
  EXPECT_EQ(lookups[2].wallet, 3u);
  EXPECT_TRUE(lookups[2].by_order);
  // A leg still trying, its answer not yet in: nothing to look up.
  EXPECT_TRUE(movement_lookups({wallet_leg(5, leg_type::debit_hold, tcc_phase::try_, false, 0, 0)}).empty());
  EXPECT_EQ(leg_of_wallet(legs, 3)->step_sequence, 5u);
  EXPECT_EQ(leg_of_wallet(legs, 99), nullptr);
}

TEST(MovementHistory, SplitsATryAndItsConfirmAsTheWalletMadeThem) {
  // A wallet at available 1000 tries 300 on hold, then confirms 200 (partial): the entries it
  // made, and the one row storage keeps for both.
  wallet_info info;
  info.id = 1;
  info.tenant = 1;
  info.cur = *currency::parse("USD");
  wallet_core core = wallet_core::restore(info, {}, {1000, 0, 0}, 4, {}, 0);
  leg_command c;
  c.txn = 42;
  c.type = leg_type::debit_hold;
  c.amount = 300;
  c.tenant = 1;
  c.cur = info.cur;
  c.try_deadline_ms = 1'000'000;
  ASSERT_EQ(core.apply(c, 10).code, result_code::ok);
  c.phase = tcc_phase::confirm;
  c.amount = 200;
  ASSERT_EQ(core.apply(c, 10).code, result_code::ok);
  ASSERT_EQ(core.journal().size(), 2u);
  const journal_entry& tried = core.journal()[0];
  const journal_entry& confirmed = core.journal()[1];
  journal_entry combined = confirmed;
  combined.delta = {tried.delta.available + confirmed.delta.available, tried.delta.frozen + confirmed.delta.frozen,
                    tried.delta.incoming + confirmed.delta.incoming};
  journal_entry a, b;
  ASSERT_TRUE(split_try_confirm(combined, leg_type::debit_hold, 300, a, b));
  EXPECT_EQ(a.sequence, tried.sequence);
  EXPECT_EQ(a.phase, tcc_phase::try_);
  EXPECT_EQ(a.delta, tried.delta);
  EXPECT_EQ(a.after, tried.after);
  EXPECT_EQ(b.sequence, confirmed.sequence);
  EXPECT_EQ(b.phase, tcc_phase::confirm);
  EXPECT_EQ(b.delta, confirmed.delta);
  EXPECT_EQ(b.after, confirmed.after);
  // A try that makes no entry cannot be half of a pair.
  EXPECT_FALSE(split_try_confirm(combined, leg_type::credit_on_confirm, 300, a, b));
}

TEST(MovementHistory, PagesJoinStorageAndMemoryWithoutGapsOrRepeats) {
  fifo_vector<journal_entry> memory;
  for (uint64_t s = 6; s <= 9; ++s) memory.push_back(journal_entry{s, 1, tcc_phase::try_, {}, {}, 0});
  EXPECT_EQ(first_in_memory(memory, 9), 6u);
  EXPECT_EQ(first_in_memory(fifo_vector<journal_entry>{}, 9), 10u);
  std::vector<journal_entry> older;
  for (uint64_t s = 3; s <= 5; ++s) older.push_back(journal_entry{s, 1, tcc_phase::try_, {}, {}, 0});
  auto sequences = [](const std::vector<journal_entry>& page) {
    std::vector<uint64_t> out;
    for (const auto& e : page) out.push_back(e.sequence);
    return out;
  };
  EXPECT_EQ(sequences(join_page(older, memory, 3, 100)), (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(sequences(join_page(older, memory, 3, 2)), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(sequences(join_page(older, memory, 3, 4)), (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_EQ(sequences(join_page({}, memory, 8, 10)), (std::vector<uint64_t>{8, 9}));
  older.push_back(older.back());  // repeated: listed once
  EXPECT_EQ(sequences(join_page(older, memory, 0, 5)), (std::vector<uint64_t>{3, 4, 5, 6, 7}));
}

}  // namespace
}  // namespace txengine

namespace txengine {
namespace {

TEST(MovementHistory, BalancesAfterAnOrderComeFromEachWalletsNewestMovementOfIt) {
  auto entry = [](uint64_t seq, int64_t available, int64_t frozen) {
    journal_entry e;
    e.sequence = seq;
    e.txn = 9;
    e.after = balances{available, frozen, 0};
    return e;
  };
  // Payer 1: the try froze 100, the confirm took it; merchant 2: credited; wallet 3 was refused.
  std::vector<order_movement> movements = {{2, entry(5, 100, 0)}, {1, entry(8, 400, 0)}, {1, entry(7, 400, 100)}};
  auto after = balances_after({1, 2, 3}, movements);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].wallet, 1u);
  EXPECT_EQ(after[0].after.available, 400);
  EXPECT_EQ(after[0].after.frozen, 0);  // seq 8, not the try's 7
  EXPECT_EQ(after[1].wallet, 2u);
  EXPECT_EQ(after[1].after.available, 100);
  EXPECT_TRUE(balances_after({}, movements).empty());
}

}  // namespace
}  // namespace txengine
