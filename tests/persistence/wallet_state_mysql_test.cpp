// Wallet rows are checkpoints (docs/persistence.md): the effective state of a wallet
// (persistence/wallet_state.hpp) and the audit over it, against the private MariaDB server
// (TXENGINE_MYSQL_URI overrides where it is). Stale checkpoints are made by hand in SQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/wallet_state.hpp"

using namespace txengine::persistence;

namespace {

class WalletCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    // Each test has its own databases (ctest runs tests in parallel): txtest_ck_<test name>_<d>.
    std::string prefix = "txtest_ck_";
    for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))
      prefix += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_');
    layout_.databases = 2;
    layout_.tables = 4;
    layout_.prefix = prefix.substr(0, 40);
    conn_ = std::make_unique<mysql_connection>(endpoint_from_environment());
    drop_schema(*conn_, layout_);
    apply_schema(*conn_, layout_);
  }
  void TearDown() override { drop_schema(*conn_, layout_); }

  //! A wallet row (the checkpoint) with these balances at `version`; status 0, limit 0.
  void wallet_row(uint64_t id, int kind, int64_t available, int64_t frozen, int64_t incoming, uint64_t version,
                  int64_t updated_ms = 100) {
    conn_->execute("INSERT INTO " + layout_.table_for("wallets", id) +
                   " (id, tenant, currency, kind, status, overdraft_limit, available, frozen, incoming, version, "
                   "created_ms, updated_ms) VALUES (" +
                   std::to_string(id) + ", 3, 'USD', " + std::to_string(kind) + ", 0, 500, " +
                   std::to_string(available) + ", " + std::to_string(frozen) + ", " + std::to_string(incoming) + ", " +
                   std::to_string(version) + ", 0, " + std::to_string(updated_ms) + ")");
  }
  //! The next movement of `id` (seq = count + 1) changing available by `delta` (and frozen by
  //! `d_frozen`), with its resulting balances; at_ms = 1000 + seq. Phase 3 (one-step) unless
  //! said: a wallet has at most one movement per phase of an order (the audit checks it).
  void move(uint64_t id, uint64_t order, int64_t delta, int64_t d_frozen = 0, int phase = 3) {
    balances& b = journal_[id];
    b.seq += 1;
    b.available += delta;
    b.frozen += d_frozen;
    conn_->execute("INSERT INTO " + layout_.table_for("fund_movements", id) + " VALUES (" + std::to_string(id) + ", " +
                   std::to_string(b.seq) + ", " + std::to_string(order) + ", " + std::to_string(phase) + ", " + std::to_string(delta) + ", " +
                   std::to_string(d_frozen) + ", 0, " + std::to_string(b.available) + ", " +
                   std::to_string(b.frozen) + ", 0, " + std::to_string(1000 + b.seq) + ")");
  }
  //! Where the journal of `id` stands.
  struct balances {
    uint64_t seq = 0;
    int64_t available = 0, frozen = 0;
  };
  //! The balances after movement `seq` of `id`, as the test wrote them.
  balances after(uint64_t id, uint64_t seq) {
    auto rs = conn_->query("SELECT available_after, frozen_after FROM " + layout_.table_for("fund_movements", id) +
                           " WHERE wallet_id = " + std::to_string(id) + " AND seq = " + std::to_string(seq));
    balances b;
    if (rs->next()) b = {seq, rs->getInt64(1), rs->getInt64(2)};
    return b;
  }
  bool mentions(const audit_report& r, const std::string& text) {
    return std::any_of(r.problems.begin(), r.problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  }

  //! Five orders move 10 each from the system wallet 8 to user 5 (the first one also freezes 4
  //! of it); wallet 5's row is a checkpoint at version 3, wallet 8's at 2; user 13 has no
  //! movement, user 21 a current row at version 2. All the same shard (database 1, table 1 of 2x4)
  //! except wallet 8 (database 0, table 0).
  void stale_but_consistent() {
    for (uint64_t order = 1; order <= 5; ++order) {
      move(8, order, -10);
      move(5, order, 10, order == 1 ? 4 : 0);
      if (order == 1) move(5, order, -4, 0, 0);  // the freeze takes it out of available (a try): seq 2
    }
    // Wallet 5: seqs 1..6 (order 1 has two). Checkpoint at 3, wallet 8's at 2.
    auto five = after(5, 3), eight = after(8, 2);
    wallet_row(5, 0, five.available, five.frozen, 0, 3);
    wallet_row(8, 2, eight.available, 0, 0, 2);
    wallet_row(13, 0, 0, 0, 0, 0, 77);
    move(21, 6, 7);
    move(21, 6, -7, 0, 2);  // and takes it back (a cancel)
    move(21, 7, 3);
    move(8, 7, -3);
    auto twenty_one = after(21, 3);
    wallet_row(21, 0, twenty_one.available, 0, 0, 3, 5000);
  }

  shard_layout layout_;
  std::unique_ptr<mysql_connection> conn_;
  std::map<uint64_t, balances> journal_;
};

}  // namespace

TEST_F(WalletCheckpoint, EffectiveStateTakesTheNewerMovement) {
  stale_but_consistent();
  // Wallet 5: row at version 3, movements to seq 6: seq 6's balances and version 6.
  auto five = read_effective_wallet(*conn_, layout_, 5);
  ASSERT_TRUE(five.has_value());
  EXPECT_EQ(five->id, 5u);
  EXPECT_EQ(five->tenant, 3u);
  EXPECT_EQ(five->currency, "USD");
  EXPECT_EQ(five->kind, 0u);
  EXPECT_EQ(five->overdraft_limit, 500);
  EXPECT_EQ(five->version, 6u);
  EXPECT_EQ(five->available, 46);  // 5 x 10, less the 4 frozen
  EXPECT_EQ(five->frozen, 4);
  EXPECT_EQ(five->incoming, 0);
  EXPECT_EQ(five->updated_ms, 1006);  // the newest movement's time
  EXPECT_EQ(journal_[5].available, 46);
  auto row = conn_->query("SELECT available, version FROM " + layout_.table_for("wallets", 5) + " WHERE id = 5");
  ASSERT_TRUE(row->next());
  EXPECT_EQ(row->getInt64(1), 16);  // the stale checkpoint itself is untouched
  EXPECT_EQ(row->getUInt64(2), 3u);
  // Wallet 13, no movement: its row.
  auto thirteen = read_effective_wallet(*conn_, layout_, 13);
  ASSERT_TRUE(thirteen.has_value());
  EXPECT_EQ(thirteen->version, 0u);
  EXPECT_EQ(thirteen->available, 0);
  EXPECT_EQ(thirteen->updated_ms, 77);
  // Wallet 21, its row as new as its journal: the row (updated_ms included).
  auto twenty_one = read_effective_wallet(*conn_, layout_, 21);
  ASSERT_TRUE(twenty_one.has_value());
  EXPECT_EQ(twenty_one->version, 3u);
  EXPECT_EQ(twenty_one->available, 3);
  EXPECT_EQ(twenty_one->updated_ms, 5000);
  // Wallet 8 (another shard), the system wallet: -50 - 3 at version 6.
  auto eight = read_effective_wallet(*conn_, layout_, 8);
  ASSERT_TRUE(eight.has_value());
  EXPECT_EQ(eight->kind, 2u);
  EXPECT_EQ(eight->version, 6u);
  EXPECT_EQ(eight->available, -53);
  // No row, no wallet (its movements alone do not make one).
  EXPECT_FALSE(read_effective_wallet(*conn_, layout_, 29).has_value());
  move(29, 9, 1);
  EXPECT_FALSE(read_effective_wallet(*conn_, layout_, 29).has_value());
}

TEST_F(WalletCheckpoint, EffectiveStateOfAListAndOfAWholeTable) {
  stale_but_consistent();
  std::map<uint64_t, std::pair<int64_t, uint64_t>> listed, all;  // id -> available, version
  auto rs = conn_->query(effective_wallets_sql(layout_, 1, 1, "5,13,37"));
  while (rs->next())
    listed[rs->getUInt64(effective_column::id)] = {rs->getInt64(effective_column::available),
                                                   rs->getUInt64(effective_column::version)};
  EXPECT_EQ(listed, (std::map<uint64_t, std::pair<int64_t, uint64_t>>{{5, {46, 6}}, {13, {0, 0}}}));
  rs = conn_->query("SELECT id, available, version FROM " + effective_wallets_sql(layout_, 1, 1).insert(0, "(") +
                    ") e ORDER BY id");
  while (rs->next()) all[rs->getUInt64(1)] = {rs->getInt64(2), rs->getUInt64(3)};
  EXPECT_EQ(all, (std::map<uint64_t, std::pair<int64_t, uint64_t>>{{5, {46, 6}}, {13, {0, 0}}, {21, {3, 3}}}));
}

TEST_F(WalletCheckpoint, AuditPassesOnAStaleButConsistentCheckpoint) {
  stale_but_consistent();
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.wallets, 4u);
  EXPECT_EQ(r.sum_by_currency.at("USD"), 0);  // the rows alone sum to -20 + 16 + 4 + 3 = 3
}

TEST_F(WalletCheckpoint, AuditFailsWhenTheCheckpointDisagreesWithItsMovement) {
  stale_but_consistent();
  // The stale row of wallet 5 gains a cent: the effective state (seq 6) does not change, so only
  // the checkpoint check can see it.
  conn_->execute("UPDATE " + layout_.table_for("wallets", 5) + " SET available = available + 1 WHERE id = 5");
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem_count, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "wallet 5 row (checkpoint) at version 3 holds 17/4/0, its movement says 16/4/0"))
      << r.summary();
}

TEST_F(WalletCheckpoint, AuditFailsWhenTheCheckpointHasNoMovement) {
  stale_but_consistent();
  // A row at a version its journal never reached: it is also ahead of the journal.
  conn_->execute("UPDATE " + layout_.table_for("wallets", 21) + " SET version = 9 WHERE id = 21");
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(mentions(r, "wallet 21 row (checkpoint) at version 9 holds 3/0/0, but the wallet has no movement"))
      << r.summary();
  EXPECT_TRUE(mentions(r, "wallet 21 balances 3/0/0 version 9, movements sum to 3/0/0 last seq 3 count 3"))
      << r.summary();
}

TEST_F(WalletCheckpoint, AuditFailsOnBalancesAtVersionZero) {
  stale_but_consistent();
  conn_->execute("UPDATE " + layout_.table_for("wallets", 13) + " SET incoming = 2 WHERE id = 13");
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(mentions(r, "wallet 13 row (checkpoint) at version 0 holds 0/0/2, not 0/0/0")) << r.summary();
}

TEST_F(WalletCheckpoint, AuditFailsOnAGapInTheJournal) {
  stale_but_consistent();
  // Wallet 5's newest movement moves from seq 6 to seq 7: the same sums, a gap at 6.
  conn_->execute("UPDATE " + layout_.table_for("fund_movements", 5) + " SET seq = 7 WHERE wallet_id = 5 AND seq = 6");
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem_count, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "wallet 5 balances 46/4/0 version 7, movements sum to 46/4/0 last seq 7 count 6"))
      << r.summary();
}

TEST_F(WalletCheckpoint, AuditFailsWhenTheEffectiveSumIsNotZero) {
  stale_but_consistent();
  // A cent out of nowhere, journalled properly: each wallet equals its journal and its checkpoint
  // its movement, only the sum over the effective balances (and the order's sum) can tell.
  move(5, 42, 1);
  audit_options no_order_sums;
  no_order_sums.orders_zero_sum = false;
  audit_report r = audit(endpoint_from_environment(), layout_, no_order_sums);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem_count, 1u) << r.summary();
  EXPECT_EQ(r.sum_by_currency.at("USD"), 1);
  EXPECT_TRUE(mentions(r, "sum of balances of USD is 1, not 0")) << r.summary();
  audit_report with_orders = audit(endpoint_from_environment(), layout_);
  EXPECT_TRUE(mentions(with_orders, "movements of order 42 sum to 1")) << with_orders.summary();
}

TEST_F(WalletCheckpoint, AuditCountsATryAndConfirmRowAsTwoSequenceNumbers) {
  stale_but_consistent();
  // The writer stores a try and its confirm committed together as one row of phase 4 with the
  // confirm's seq: wallet 5's journal goes 6 -> 8 with it, and that is no gap.
  conn_->execute("INSERT INTO " + layout_.table_for("fund_movements", 5) +
                 " VALUES (5, 8, 43, 4, -6, 0, 0, 40, 4, 0, 1008)");
  move(8, 43, 6);
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_TRUE(r.ok) << r.summary();
  // The same row as a plain confirm leaves seq 7 missing.
  conn_->execute("UPDATE " + layout_.table_for("fund_movements", 5) + " SET phase = 1 WHERE wallet_id = 5 AND seq = 8");
  audit_report gap = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(gap.ok);
  EXPECT_TRUE(mentions(gap, "wallet 5 balances 40/4/0 version 8, movements sum to 40/4/0 last seq 8 count 7"))
      << gap.summary();
}

TEST_F(WalletCheckpoint, AuditFindsAPhaseAppliedTwice) {
  stale_but_consistent();
  // Order 7's one-step credit of wallet 21 applied a second time, journalled properly: every
  // journal check holds, the sum (and the order's) does not, and the phase count names it.
  move(21, 7, 3);
  audit_report r = audit(endpoint_from_environment(), layout_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.duplicate_movements, 1u);
  EXPECT_TRUE(mentions(r, "wallet 21 has movements of order 7 applied more than once (tries 0, confirms 0, cancels 0, "
                          "one-step 2)"))
      << r.summary();
  EXPECT_TRUE(mentions(r, "sum of balances of USD is 3, not 0")) << r.summary();
  EXPECT_TRUE(mentions(r, "movements of order 7 sum to 3")) << r.summary();
  EXPECT_EQ(r.problem_count, 3u) << r.summary();
}

TEST_F(WalletCheckpoint, AuditOnSeveralConnectionsFindsWhatOneConnectionFinds) {
  stale_but_consistent();
  move(29, 9, 1);  // a movement of no wallet, past the shard's largest wallet id (the last range)
  conn_->execute("UPDATE " + layout_.table_for("wallets", 21) + " SET available = available + 1 WHERE id = 21");
  auto run = [&](size_t connections) {
    audit_options o;
    o.connections = connections;
    audit_report r = audit(endpoint_from_environment(), layout_, o);
    std::sort(r.problems.begin(), r.problems.end());
    return r;
  };
  audit_report one = run(1);
  EXPECT_FALSE(one.ok);
  EXPECT_EQ(one.orphan_movements, 1u) << one.summary();
  EXPECT_TRUE(mentions(one, "1 movements of no wallet")) << one.summary();
  EXPECT_TRUE(mentions(one, "wallet 21 balances 4/0/0 version 3")) << one.summary();
  // 2x4 tables: one connection reads a table at a time; eight split each table into wallet id
  // ranges, 32 of them split even the four empty tables.
  for (size_t connections : {2, 3, 8, 32}) {
    audit_report many = run(connections);
    EXPECT_EQ(many.problems, one.problems) << connections << " connections: " << many.summary();
    EXPECT_EQ(many.problem_count, one.problem_count) << connections;
    EXPECT_EQ(many.wallets, one.wallets);
    EXPECT_EQ(many.movements, one.movements);
    EXPECT_EQ(many.orphan_movements, 1u);
    EXPECT_EQ(many.sum_by_currency, one.sum_by_currency);
  }
}
