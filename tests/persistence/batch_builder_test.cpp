// The writer's pure half (persistence/batch_builder.hpp, checkpoint_scheduler.hpp): rows
// merged, intents carried, statements per table and their row counts, checkpoints chosen.
// No MariaDB: the statements are looked at, not run.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "persistence/batch_builder.hpp"
#include "persistence/checkpoint_scheduler.hpp"

using namespace txengine;
using namespace txengine::persistence;

namespace {

//! 2 databases x 3 tables: every (database, table) pair holds keys (6 tables).
shard_layout two_by_three() {
  shard_layout layout;
  layout.databases = 2;
  layout.tables = 3;
  layout.prefix = "txunit";
  return layout;
}

movement_row movement(wallet_id wallet, uint64_t seq, order_id order, tcc_phase phase, int64_t available) {
  movement_row m;
  m.wallet = wallet;
  m.entry.sequence = seq;
  m.entry.txn = order;
  m.entry.phase = phase;
  m.entry.delta.available = available;
  m.entry.after.available = 1000 + available;
  m.entry.at_ms = 10 * static_cast<int64_t>(seq);
  return m;
}

order_row order(order_id id, order_kind kind, wallet_id source, wallet_id destination, order_state state, bool intent) {
  order_row o;
  o.id = id;
  o.command.kind = kind;
  o.command.tenant = 1;
  o.command.source = source;
  o.command.destination = destination;
  o.command.amount = 5;
  o.command.request_id = "r-" + std::to_string(id);
  o.state = state;
  o.intent = intent;
  return o;
}

tcc_row record(wallet_id wallet, order_id id) {
  tcc_row t;
  t.wallet = wallet;
  t.order = id;
  t.record.tried_amount = 5;
  return t;
}

//! Rows of the statements of `family`, over every table.
size_t rows_of(const std::vector<table_statement>& statements, const std::string& family) {
  size_t rows = 0;
  for (const auto& s : statements)
    if (s.family == family) rows += s.rows.size();
  return rows;
}

const std::unordered_map<order_id, std::vector<wallet_id>> no_stored;
const std::unordered_set<order_id> no_fresh;

}  // namespace

TEST(BatchBuilder, ATryAndItsConfirmInOneBatchAreOneRow) {
  std::vector<movement_row> movements = {movement(7, 1, 100, tcc_phase::try_, -5),
                                         movement(8, 4, 101, tcc_phase::try_, -1),
                                         movement(7, 2, 100, tcc_phase::confirm, 2)};
  auto stored = coalesce(movements);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].wallet, 7u);
  EXPECT_EQ(stored[0].phase, movement_phase_try_confirm);
  EXPECT_EQ(stored[0].entry->sequence, 2u);  // the confirm's sequence and balances
  EXPECT_EQ(stored[0].delta.available, -3);  // the two deltas summed
  EXPECT_EQ(stored[1].phase, static_cast<unsigned>(tcc_phase::try_));
}

TEST(BatchBuilder, AConfirmNotRightAfterItsTryStaysARowOfItsOwn) {
  std::vector<movement_row> movements = {movement(7, 1, 100, tcc_phase::try_, -5),
                                         movement(7, 3, 100, tcc_phase::confirm, 5)};
  auto stored = coalesce(movements);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[1].phase, static_cast<unsigned>(tcc_phase::confirm));
}

TEST(BatchBuilder, MergingKeepsTheNewestRowsAndTheCreationsRequestId) {
  batch_rows rows;
  write_batch first;
  wallet_row created;
  created.info.id = 3;
  created.version = 1;
  created.request_id = "create-3";
  created.request_hash = 42;
  first.wallets.push_back(created);
  first.orders.push_back(order(9, order_kind::transfer, 3, 4, order_state::trying, true));
  rows.add(first);
  write_batch second;
  wallet_row changed;
  changed.info.id = 3;
  changed.version = 2;
  second.wallets.push_back(changed);
  second.orders.push_back(order(9, order_kind::transfer, 3, 4, order_state::succeeded, false));
  rows.add(second);
  ASSERT_EQ(rows.wallets.size(), 1u);
  EXPECT_EQ(rows.wallets.at(3).version, 2u);
  EXPECT_EQ(rows.wallets.at(3).request_id, "create-3");
  EXPECT_EQ(rows.wallets.at(3).request_hash, 42u);
  ASSERT_EQ(rows.orders.size(), 1u);
  EXPECT_EQ(rows.orders.at(9).state, order_state::succeeded);
  EXPECT_TRUE(rows.orders.at(9).intent);  // the intent still has to be written
}

TEST(BatchBuilder, IntentsWithoutEffectsAreCarriedExceptChannelOrders) {
  batch_rows rows;
  write_batch b;
  b.orders.push_back(order(1, order_kind::transfer, 3, 4, order_state::trying, true));  // no effect: carried
  b.orders.push_back(order(2, order_kind::transfer, 5, 6, order_state::trying, true));  // has a movement
  b.orders.push_back(order(3, order_kind::top_up, no_wallet, 6, order_state::trying, true));  // channel
  b.movements.push_back(movement(5, 1, 2, tcc_phase::try_, -5));
  rows.add(b);
  auto carried = rows.take_carried_intents();
  ASSERT_EQ(carried.size(), 1u);
  EXPECT_EQ(carried[0].id, 1u);
  EXPECT_EQ(rows.orders.count(1), 0u);
  EXPECT_EQ(rows.orders.size(), 2u);
}

TEST(BatchBuilder, AwaitedIntentsAreNeverCarriedAndStayAwaitedWhenMerged) {
  // An order with another cluster node's wallet waits for its intent's commit (docs/cluster.md).
  batch_rows rows;
  write_batch b;
  order_row awaited = order(7, order_kind::transfer, 3, 4, order_state::trying, true);
  awaited.awaited = true;
  b.orders.push_back(awaited);
  rows.add(b);
  write_batch again;  // a later row of the same order (not awaited itself) keeps the flag
  again.orders.push_back(order(7, order_kind::transfer, 3, 4, order_state::trying, false));
  rows.add(again);
  EXPECT_TRUE(rows.orders.at(7).awaited);
  EXPECT_TRUE(rows.take_carried_intents().empty());
  EXPECT_EQ(rows.orders.count(7), 1u);
}

TEST(BatchBuilder, APartitionsListNamesEveryWalletAndEveryOrdersHome) {
  batch_rows rows;
  write_batch b;
  b.orders.push_back(order(1, order_kind::transfer, 17, 4, order_state::trying, true));  // home 17: partition 1
  b.movements.push_back(movement(35, 1, 1, tcc_phase::try_, -5));                        // partition 3
  wallet_row w;
  w.info.id = 64;  // partition 0
  b.wallets.push_back(w);
  rows.add(b);
  wallet_checkpoint c;
  c.wallet = 46;  // partition 14
  EXPECT_EQ(partitions_of(rows, {c}, 16), (std::vector<uint32_t>{0, 1, 3, 14}));
}

TEST(BatchBuilder, AFinalOrderWritesNoRecordsAndDeletesTheStoredOnes) {
  auto layout = two_by_three();
  batch_rows rows;
  write_batch b;
  b.orders.push_back(order(20, order_kind::transfer, 3, 4, order_state::succeeded, false));
  b.orders.push_back(order(21, order_kind::transfer, 5, 6, order_state::trying, true));
  b.tcc.push_back(record(3, 20));
  b.tcc.push_back(record(5, 21));
  rows.add(b);
  std::unordered_map<order_id, std::vector<wallet_id>> stored = {{20, {3, 4}}};
  std::unordered_set<order_id> fresh = {20, 21};
  built_rows written;
  auto statements = batch_statements(layout, rows, tcc_history{stored, fresh}, written);
  EXPECT_EQ(rows_of(statements, "tcc_records"), 1u);  // order 21's only
  ASSERT_EQ(written.tcc_kept.size(), 1u);
  EXPECT_EQ(written.tcc_kept[0].first, 21u);
  ASSERT_EQ(written.tcc_deleted.size(), 1u);
  EXPECT_EQ(written.tcc_deleted[0], 20u);
  EXPECT_EQ(rows_of(statements, "tcc_records delete"), 2u);  // wallets 3 and 4: two tables, a row each
  EXPECT_EQ(rows_of(statements, "orders"), 2u);
  EXPECT_EQ(rows_of(statements, "request_ids"), 1u);         // order 21's intent
  EXPECT_EQ(rows_of(statements, "open_orders"), 1u);         // 21 is open
  EXPECT_EQ(rows_of(statements, "open_orders delete"), 1u);  // 20's final row without its intent
  // orders 2 + request id 1 + open 1 + open delete 1 + TCC kept 1 + TCC deleted (a row a wallet) 2
  EXPECT_EQ(written.rows, 8u);
  for (const auto& s : statements) {
    bool order_side = s.family == "orders" || s.family == "request_ids" || s.family.rfind("open_orders", 0) == 0;
    EXPECT_EQ(s.side == commit_side::order, order_side) << s.family;
  }
}

TEST(BatchBuilder, AFinalOrderOfAnEarlierProcessIsDeletedInEveryTable) {
  auto layout = two_by_three();
  batch_rows rows;
  write_batch b;
  b.orders.push_back(order(30, order_kind::transfer, 3, 4, order_state::failed, false));
  rows.add(b);
  built_rows written;
  auto statements = batch_statements(layout, rows, tcc_history{no_stored, no_fresh}, written);
  size_t tables = 0;
  for (const auto& s : statements)
    if (s.family == "tcc_records delete") ++tables;
  EXPECT_EQ(tables, 6u);  // 2 databases x 3 tables
  EXPECT_TRUE(written.tcc_deleted.empty());
}

TEST(BatchBuilder, AClusterNodesFinalOrderIsDeletedInEveryTableEvenWhenFresh) {
  // Another node's writer wrote the rows of this order's remote legs: this writer's history
  // does not name them, and this node may hold those wallets now (a takeover).
  auto layout = two_by_three();
  batch_rows rows;
  write_batch b;
  b.orders.push_back(order(31, order_kind::transfer, 3, 4, order_state::succeeded, false));
  rows.add(b);
  std::unordered_set<order_id> fresh{31};
  auto deletes = [&](const tcc_history& history) {
    built_rows written;
    size_t tables = 0;
    for (const auto& s : batch_statements(layout, rows, history, written))
      if (s.family == "tcc_records delete") ++tables;
    return tables;
  };
  EXPECT_EQ(deletes(tcc_history{no_stored, fresh, true}), 6u);
  EXPECT_EQ(deletes(tcc_history{no_stored, fresh}), 0u);  // one node: a fresh order without stored rows
}

TEST(BatchBuilder, StatementsFollowTheShardOfTheirKey) {
  auto layout = two_by_three();
  batch_rows rows;
  write_batch b;
  b.movements.push_back(movement(2, 1, 40, tcc_phase::cancel, 0));
  b.movements.push_back(movement(3, 1, 40, tcc_phase::cancel, 0));
  b.movements.push_back(movement(9, 1, 40, tcc_phase::cancel, 0));
  b.orders.push_back(order(40, order_kind::refund, no_wallet, no_wallet, order_state::trying, true));
  b.orders.back().command.home = 3;  // its original's home, as a cluster node resolved it
  rows.add(b);
  built_rows written;
  std::vector<table_statement> out;
  movement_statements(layout, rows, out, written);
  ASSERT_EQ(out.size(), 2u);  // wallet 2 in one table, wallets 3 and 9 in another
  for (const auto& s : out) {
    bool in_3 = s.sql.find(layout.table_for("fund_movements", 3)) != std::string::npos;
    EXPECT_EQ(s.rows.size(), in_3 ? 2u : 1u) << s.sql;
  }
  std::vector<table_statement> refunds;
  refund_statements(layout, rows, refunds, written);
  ASSERT_EQ(refunds.size(), 1u);
  EXPECT_NE(refunds[0].sql.find(layout.table_for("refunds", 3)), std::string::npos);  // the refund's home
  EXPECT_EQ(written.rows, 4u);
}

TEST(BatchBuilder, CheckpointStatementsUpdateOnlyOlderRows) {
  auto layout = two_by_three();
  std::vector<table_statement> out;
  EXPECT_EQ(checkpoint_statements(layout, {}, out), 0u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(checkpoint_statements(layout, {wallet_checkpoint{3, 7, {}, 0}, wallet_checkpoint{4, 2, {}, 0}}, out), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].sql.find("version<?"), std::string::npos);
}

TEST(CheckpointScheduler, AWalletIsCheckpointedOnceItsIntervalHasPassed) {
  using namespace std::chrono_literals;
  checkpoint_scheduler s(30s, 100, 1000);
  auto t0 = checkpoint_scheduler::clock::time_point{} + 1h;
  EXPECT_TRUE(s.choose({movement(7, 1, 1, tcc_phase::try_, -5)}, {}, false, t0).empty());
  EXPECT_TRUE(s.pending());
  EXPECT_FALSE(s.due(t0 + 29s));
  EXPECT_TRUE(s.due(t0 + 30s));
  EXPECT_EQ(s.next_due(), t0 + 30s);
  // A newer movement before its time: the checkpoint holds the newest state, due as before.
  EXPECT_TRUE(s.choose({movement(7, 2, 1, tcc_phase::confirm, 5)}, {}, false, t0 + 10s).empty());
  auto chosen = s.choose({}, {}, false, t0 + 30s);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].wallet, 7u);
  EXPECT_EQ(chosen[0].version, 2u);
  EXPECT_EQ(chosen[0].current.available, 1005);
  EXPECT_FALSE(s.pending());
  EXPECT_FALSE(s.waiting());
}

TEST(CheckpointScheduler, AWholeWalletRowIsCheckpointEnough) {
  using namespace std::chrono_literals;
  checkpoint_scheduler s(30s, 100, 1000);
  auto t0 = checkpoint_scheduler::clock::time_point{} + 1h;
  s.choose({movement(7, 1, 1, tcc_phase::try_, -5)}, {}, false, t0);
  wallet_row row;
  row.info.id = 7;
  row.version = 1;
  s.choose({}, {{7, row}}, false, t0 + 1s);
  EXPECT_FALSE(s.pending());
  EXPECT_TRUE(s.choose({}, {}, false, t0 + 60s).empty());  // its queue entry is skipped
  EXPECT_FALSE(s.waiting());
}

TEST(CheckpointScheduler, BoundsPerBatchFlushAllAndPendingMax) {
  using namespace std::chrono_literals;
  checkpoint_scheduler s(30s, 2, 4);
  auto t0 = checkpoint_scheduler::clock::time_point{} + 1h;
  std::vector<movement_row> five;
  for (wallet_id w = 1; w <= 5; ++w) five.push_back(movement(w, 1, 1, tcc_phase::try_, -1));
  // Five wallets waiting, over the bound of 4: the oldest go at once, two a batch at most.
  EXPECT_EQ(s.choose(five, {}, false, t0).size(), 1u);  // back within the bound after one
  EXPECT_EQ(s.choose({}, {}, false, t0 + 30s).size(), 2u);
  auto rest = s.choose({}, {}, true, t0 + 31s);  // a clean stop: all of them, past the per-batch bound
  EXPECT_EQ(rest.size(), 2u);
  EXPECT_FALSE(s.pending());
}
