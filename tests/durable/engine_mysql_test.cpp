// The engine with MySQL storage (docs/durability-design.md), against the private MariaDB
// server (scripts/mariadb.sh; the CTest fixture `mysql_server` starts it; TXENGINE_MYSQL_URI
// overrides where it is): orders end committed, durable replies come after the commit, and a
// new engine on the same databases sees the wallets (lazy loading).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "persistence/split_commit.hpp"
#include "tests/durable/mysql_engine_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 7;

db::shard_layout test_layout() { return layout_with_prefix("txtest_durable"); }

engine_config test_config(ack_mode ack = ack_mode::durable) {
  return engine_config_for(storage_for(test_layout(), ack), 1);  // a provider that always answers, and says yes
}

order_command transfer(const std::string& request_id, wallet_id from, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::transfer, request_id, from, to, amount);
}

order_command top_up(const std::string& request_id, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::top_up, request_id, no_wallet, to, amount);
}

//! Submits every command at once (batches per host) and waits for every reply.
std::vector<order_reply> run_all(engine& eng, const std::vector<order_command>& commands) {
  return submit_all(eng, commands, 200);
}

std::vector<wallet_id> create_users(engine& eng, size_t count) {
  std::vector<wallet_id> ids;
  for (size_t i = 0; i < count; ++i) {
    auto created = eng.create_wallet(tenant, usd, wallet_kind::user, 1'000'000);
    EXPECT_EQ(created.code, result_code::ok);
    ids.push_back(created.id);
  }
  return ids;
}

//! Random transfers among `users` (some too large: they fail and are compensated) and top-ups.
std::vector<order_command> workload(const std::vector<wallet_id>& users, size_t count, const std::string& prefix,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<order_command> commands;
  for (size_t i = 0; i < count; ++i) {
    std::string id = prefix + std::to_string(i);
    if (i % 50 == 0) {
      commands.push_back(top_up(id, users[rng() % users.size()], 1 + rng() % 1000));
      continue;
    }
    size_t a = rng() % users.size();
    size_t b = (a + 1 + rng() % (users.size() - 1)) % users.size();
    int64_t amount = i % 97 == 0 ? 50'000'000 : 1 + static_cast<int64_t>(rng() % 500);
    commands.push_back(transfer(id, users[a], users[b], amount));
  }
  return commands;
}

class DurableEngine : public mysql_engine_test {
 protected:
  DurableEngine() : mysql_engine_test(test_layout()) {}

  void expect_committed_and_consistent(engine& eng, const std::vector<wallet_id>& wallets, int64_t orders) {
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
    expect_audit_ok();
    EXPECT_EQ(count("orders"), orders);
    EXPECT_EQ(count("orders", "is_final=0"), 0);
    EXPECT_EQ(count("request_ids"), orders);
    EXPECT_EQ(count("tcc_records", "state=0"), 0);  // no open TCC record once every order is final
    for (wallet_id id : wallets) EXPECT_EQ(stored_balances(id), eng.get_wallet(tenant, id).current) << id;
  }
};

void run_and_check_final(engine& eng, const std::vector<order_command>& commands, size_t* failed = nullptr) {
  auto replies = run_all(eng, commands);
  size_t failures = 0;
  for (const auto& reply : replies) {
    EXPECT_NE(reply.id, 0u) << to_string(reply.code);
    EXPECT_TRUE(is_final(reply.state));
    if (reply.state == order_state::failed) ++failures;
  }
  if (failed) *failed = failures;
}

}  // namespace

TEST_F(DurableEngine, OrdersEndCommittedDurableAck) {
  engine eng(test_config(ack_mode::durable));
  EXPECT_TRUE(eng.persistent());
  auto users = create_users(eng, 100);
  auto commands = workload(users, 3000, "d-", 1);
  size_t failed = 0;
  run_and_check_final(eng, commands, &failed);
  EXPECT_GT(failed, 0u);  // the oversized transfers failed and were compensated
  auto all = users;
  all.push_back(eng.system_wallet(tenant, usd));
  expect_committed_and_consistent(eng, all, static_cast<int64_t>(commands.size()));
}

// The journal has no index by order (migration 0006): each order's legs name the journal entries
// their steps made, and every movement of every order is found from them by primary key.
TEST_F(DurableEngine, EveryOrdersMovementsAreFoundByPrimaryKeyFromItsLegs) {
  engine eng(test_config(ack_mode::durable));
  auto users = create_users(eng, 20);
  auto commands = workload(users, 400, "j-", 3);
  run_and_check_final(eng, commands);
  ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(eng.sync_storage());
  db::shard_layout layout = test_layout();
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      EXPECT_EQ(conn_->query_int("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema='" +
                                 layout.database_name(d) + "' AND table_name='fund_movements_" + std::to_string(t) +
                                 "' AND index_name='by_order'"),
                0);
  int64_t orders = 0, pointed = 0, scanned = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d)) {
      auto rs = conn_->query("SELECT id, legs FROM " + layout.table_at("orders", d, t));
      while (rs->next()) {
        ++orders;
        order_id id = rs->getUInt64(1);
        std::vector<stored_leg> legs;
        ASSERT_TRUE(parse_legs_json(std::string(rs->getString(2)), legs)) << id;
        for (const auto& leg : legs) {
          if (leg.participant != participant_kind::wallet) continue;
          std::string table = layout.table_for("fund_movements", leg.target);
          std::string where = " WHERE wallet_id=" + std::to_string(leg.target);
          int64_t by_scan = conn_->query_int("SELECT COUNT(*) FROM " + table + where + " AND order_id=" + std::to_string(id));
          std::string seqs = std::to_string(leg.try_sequence) + "," + std::to_string(leg.step_sequence);
          int64_t by_key = conn_->query_int("SELECT COUNT(*) FROM " + table + where + " AND seq IN (" + seqs + ")");
          int64_t by_key_ours = conn_->query_int("SELECT COUNT(*) FROM " + table + where + " AND seq IN (" + seqs +
                                                 ") AND order_id=" + std::to_string(id));
          EXPECT_EQ(by_key, by_key_ours) << "order " << id << ": a pointer names another order's movement";
          EXPECT_EQ(by_key, by_scan) << "order " << id << " wallet " << leg.target << " legs " << rs->getString(2);
          pointed += by_key;
          scanned += by_scan;
        }
      }
    }
  EXPECT_EQ(orders, static_cast<int64_t>(commands.size()));
  EXPECT_GT(pointed, orders);  // most orders moved money on two wallets
  EXPECT_EQ(pointed, scanned);
}

TEST_F(DurableEngine, OrdersEndCommittedMemoryAck) {
  engine eng(test_config(ack_mode::memory));
  auto users = create_users(eng, 100);
  auto commands = workload(users, 3000, "m-", 2);
  run_and_check_final(eng, commands);
  auto all = users;
  all.push_back(eng.system_wallet(tenant, usd));
  expect_committed_and_consistent(eng, all, static_cast<int64_t>(commands.size()));
}

TEST_F(DurableEngine, DurableReplyComesAfterCommit) {
  engine eng(test_config(ack_mode::durable));
  auto users = create_users(eng, 10);
  db::shard_layout layout = test_layout();
  for (int i = 0; i < 40; ++i) {
    auto reply = eng.execute(transfer("c-" + std::to_string(i), users[i % 10], users[(i + 3) % 10], 10 + i));
    ASSERT_NE(reply.id, 0u);
    ASSERT_EQ(reply.state, order_state::succeeded);
    // Read right after the reply, from another connection: the final row and the movements are there.
    auto rs = conn_->query("SELECT state, is_final FROM " + layout.table_for("orders", users[i % 10]) +
                           " WHERE id=" + std::to_string(reply.id));
    ASSERT_TRUE(rs->next()) << "order " << reply.id << " not committed when its reply came";
    EXPECT_EQ(rs->getUInt(1), static_cast<unsigned>(order_state::succeeded));
    EXPECT_EQ(rs->getUInt(2), 1u);
    int64_t movements = 0;
    for (wallet_id w : {users[i % 10], users[(i + 3) % 10]})
      movements += conn_->query_int("SELECT SUM(IF(phase=4,2,1)) FROM " + layout.table_for("fund_movements", w) +
                                    " WHERE order_id=" + std::to_string(reply.id));
    // Source: try and confirm (one row of phase 4 when committed together); destination: confirm.
    EXPECT_EQ(movements, 3);
    for (wallet_id w : {users[i % 10], users[(i + 3) % 10]})
      EXPECT_EQ(stored_balances(w), eng.get_wallet(tenant, w).current);
  }
}

TEST_F(DurableEngine, RestartLoadsWalletsLazily) {
  std::vector<wallet_id> users;
  std::map<wallet_id, balances> before;
  wallet_id system = no_wallet;
  int64_t orders = 0;
  {
    engine first(test_config());
    users = create_users(first, 60);
    auto commands = workload(users, 1000, "r1-", 3);
    run_and_check_final(first, commands);
    orders += static_cast<int64_t>(commands.size());
    ASSERT_TRUE(first.wait_until_quiet(std::chrono::seconds(30)));
    for (wallet_id id : users) before[id] = first.get_wallet(tenant, id).current;
    system = first.system_wallet(tenant, usd);
    before[system] = first.get_wallet(tenant, system).current;
  }
  engine second(test_config());
  EXPECT_EQ(second.stats().wallets, 0u);  // nothing in memory yet
  EXPECT_EQ(second.system_wallet(tenant, usd), system);
  for (const auto& [id, b] : before) {
    auto view = second.get_wallet(tenant, id);
    ASSERT_EQ(view.code, result_code::ok) << id;
    EXPECT_EQ(view.current, b) << id;
    EXPECT_EQ(view.open_transactions, 0u);
  }
  EXPECT_EQ(second.get_wallet(tenant, 999'999).code, result_code::unknown_wallet);
  auto created = second.create_wallet(tenant, usd, wallet_kind::user, 1'000'000);
  EXPECT_GT(created.id, users.back());
  // Orders on the loaded wallets continue their journals (versions without gaps: the audit).
  users.push_back(created.id);
  auto commands = workload(users, 1000, "r2-", 4);
  run_and_check_final(second, commands);
  orders += static_cast<int64_t>(commands.size());
  auto all = users;
  all.push_back(system);
  expect_committed_and_consistent(second, all, orders);
}

TEST_F(DurableEngine, RestartLoadsAStaleCheckpointFromItsJournal) {
  // The wallet row is a checkpoint; after a crash it may be older than the wallet's journal
  // (docs/persistence.md). Made here by hand: the row of `payer` goes back to its version 4.
  wallet_id payer = 0, payee = 0;
  {
    engine first(test_config());
    auto users = create_users(first, 2);
    payer = users[0];
    payee = users[1];
    // The top-up: payer seq 1, 2 (incoming, then available); each transfer: payer seq +2 (hold,
    // confirm). Each pair committed together is one row of phase 4 with the second seq.
    for (const auto& c : {top_up("k-top", payer, 1'000), transfer("k-1", payer, payee, 100),
                          transfer("k-2", payer, payee, 50)})
      run_and_check_final(first, {c});  // one after the other: the sequences are known
    ASSERT_TRUE(first.wait_until_quiet(std::chrono::seconds(30)));
    EXPECT_EQ(first.get_wallet(tenant, payer).journal_sequence, 6u);
  }
  const std::string wallets = layout_.table_for("wallets", payer), movements = layout_.table_for("fund_movements", payer);
  conn_->execute("UPDATE " + wallets + " w JOIN " + movements +
                 " m ON m.wallet_id = w.id AND m.seq = 4 SET w.available = m.available_after, w.frozen = "
                 "m.frozen_after, w.incoming = m.incoming_after, w.version = 4 WHERE w.id = " +
                 std::to_string(payer));
  ASSERT_EQ(conn_->query_int("SELECT version FROM " + wallets + " WHERE id = " + std::to_string(payer)), 4);
  ASSERT_EQ(conn_->query_int("SELECT available FROM " + wallets + " WHERE id = " + std::to_string(payer)), 900);
  expect_audit_ok();  // stale but consistent

  engine second(test_config());
  auto view = second.get_wallet(tenant, payer);
  ASSERT_EQ(view.code, result_code::ok);
  EXPECT_EQ(view.current, (balances{850, 0, 0}));  // movement 6's, not the row's 900
  EXPECT_EQ(view.journal_sequence, 6u);
  auto replies = run_all(second, {transfer("k-3", payer, payee, 25)});
  ASSERT_EQ(replies[0].state, order_state::succeeded) << to_string(replies[0].code);
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(second.sync_storage());
  // The journal goes on at 7 and 8 (no duplicate key swallowed, no gap), with this order.
  const std::string after_six = " WHERE wallet_id = " + std::to_string(payer) + " AND seq > 6";
  EXPECT_EQ(conn_->query_int("SELECT SUM(IF(phase=4,2,1)) FROM " + movements + after_six), 2);
  EXPECT_EQ(conn_->query_int("SELECT COUNT(*) FROM " + movements + after_six + " AND order_id <> " +
                             std::to_string(replies[0].id)), 0);
  auto rs = conn_->query("SELECT seq, available_after FROM " + movements + after_six + " ORDER BY seq DESC");
  ASSERT_TRUE(rs->next());
  EXPECT_EQ(rs->getUInt64(1), 8u);
  EXPECT_EQ(rs->getInt64(2), 825);
  auto stored = db::read_effective_wallet(*conn_, layout_, payer);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->version, 8u);
  EXPECT_EQ(stored->available, 825);
  expect_committed_and_consistent(second, {payer, payee, second.system_wallet(tenant, usd)}, 4);
}

TEST_F(DurableEngine, RestartLoadsWalletsForSteps) {
  // The first thing the second engine sees is a step for a wallet it must load (no query first).
  std::vector<wallet_id> users;
  {
    engine first(test_config());
    users = create_users(first, 20);
    run_and_check_final(first, workload(users, 200, "s1-", 5));
  }
  engine second(test_config());
  auto commands = workload(users, 400, "s2-", 6);
  run_and_check_final(second, commands);
  auto all = users;
  all.push_back(second.system_wallet(tenant, usd));
  expect_committed_and_consistent(second, all, 600);
}

TEST_F(DurableEngine, RepeatedRequestIdsAfterRestartGetTheOriginalOrder) {
  std::vector<wallet_id> users;
  std::vector<order_command> commands;
  std::vector<order_reply> first_replies;
  {
    engine first(test_config());
    users = create_users(first, 30);
    commands = workload(users, 300, "q-", 7);
    first_replies = run_all(first, commands);
  }
  engine second(test_config());
  std::map<wallet_id, balances> before;
  for (wallet_id id : users) before[id] = second.get_wallet(tenant, id).current;
  // The same commands again, and one with a known request id but other content.
  auto again = commands;
  auto conflicting = commands[1];
  conflicting.amount += 1;
  again.push_back(conflicting);
  auto replies = run_all(second, again);
  for (size_t i = 0; i < commands.size(); ++i) {
    EXPECT_EQ(replies[i].id, first_replies[i].id) << i;
    EXPECT_EQ(replies[i].state, first_replies[i].state) << i;
    EXPECT_TRUE(replies[i].duplicate) << i;
  }
  EXPECT_EQ(replies.back().id, 0u);
  EXPECT_EQ(replies.back().code, result_code::duplicate_conflict);
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(30)));
  for (wallet_id id : users) EXPECT_EQ(second.get_wallet(tenant, id).current, before[id]) << id;
  // New request ids after the restart still make new orders.
  auto more = workload(users, 100, "q2-", 8);
  run_and_check_final(second, more);
  auto all = users;
  all.push_back(second.system_wallet(tenant, usd));
  expect_committed_and_consistent(second, all, static_cast<int64_t>(commands.size() + more.size()));
}

namespace {

//! Wallets among `ids` whose row (the checkpoint itself, not the effective state) is older than
//! their journal.
int64_t stale_rows(db::mysql_connection& conn, const db::shard_layout& layout, const std::vector<wallet_id>& ids) {
  int64_t stale = 0;
  for (wallet_id id : ids)
    stale += conn.query_int("SELECT COUNT(*) FROM " + layout.table_for("wallets", id) + " w WHERE w.id = " +
                            std::to_string(id) + " AND w.version < (SELECT COALESCE(MAX(seq), 0) FROM " +
                            layout.table_for("fund_movements", id) + " m WHERE m.wallet_id = w.id)");
  return stale;
}

}  // namespace

TEST_F(DurableEngine, WalletRowsAreCheckpointsWrittenLaterAndAtACleanStop) {
  std::vector<wallet_id> users;
  {
    engine eng(test_config());  // checkpoint interval 30 s: none is due during the test
    users = create_users(eng, 20);
    run_and_check_final(eng, workload(users, 200, "ck-", 11));
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
    // Committed orders, rows not rewritten: the journal holds the wallets' state.
    EXPECT_GT(stale_rows(*conn_, layout_, users), 0);
    expect_audit_ok();
    for (wallet_id id : users) EXPECT_EQ(stored_balances(id), eng.get_wallet(tenant, id).current) << id;
  }
  // A clean stop writes every checkpoint.
  EXPECT_EQ(stale_rows(*conn_, layout_, users), 0);
  expect_audit_ok();
}

TEST_F(DurableEngine, DueCheckpointsAreWrittenByAnIdleWriter) {
  engine_config config = test_config();
  config.storage->wallet_checkpoint_interval_ms = 100;
  engine eng(config);
  auto users = create_users(eng, 20);
  run_and_check_final(eng, workload(users, 200, "cki-", 12));
  ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
  // No more orders: the writer's checkpoint timer writes them within a bounded time.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (stale_rows(*conn_, layout_, users) > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(stale_rows(*conn_, layout_, users), 0);
  expect_audit_ok();
}

TEST_F(DurableEngine, StatusAndLimitChangesAreWrittenAtOnce) {
  engine eng(test_config());
  auto users = create_users(eng, 2);
  run_and_check_final(eng, {top_up("st-top", users[0], 500), transfer("st-1", users[0], users[1], 100)});
  ASSERT_EQ(eng.admin(tenant, users[0], admin_op::freeze).code, result_code::ok);
  ASSERT_EQ(eng.admin(tenant, users[1], admin_op::set_overdraft_limit, 777).code, result_code::ok);
  ASSERT_TRUE(eng.sync_storage());
  const std::string where = " WHERE id = ";
  EXPECT_EQ(conn_->query_int("SELECT status FROM " + layout_.table_for("wallets", users[0]) + where +
                             std::to_string(users[0])),
            static_cast<int64_t>(wallet_status::frozen));
  EXPECT_EQ(conn_->query_int("SELECT overdraft_limit FROM " + layout_.table_for("wallets", users[1]) + where +
                             std::to_string(users[1])),
            777);
  // Written with its balances and version (a row is always a consistent checkpoint).
  EXPECT_EQ(stale_rows(*conn_, layout_, users), 0);
  expect_audit_ok();
}

TEST_F(DurableEngine, PreparedBranchesAreSettledByTheirDecisionAtStart) {
  // What a crash between the order side's XA PREPARE and its XA COMMIT leaves (split_commit.hpp):
  // prepared branches, with or without their decision row. Made here by hand.
  {
    engine first(test_config());
    create_users(first, 1);
  }
  const std::string ours = db::xa_branch_prefix(layout_.prefix);
  const std::string decided = db::xa_branch_id(ours, 42, 1), undecided = db::xa_branch_id(ours, 42, 2);
  const std::string foreign = db::xa_branch_id(db::xa_branch_prefix("another_prefix"), 42, 3);
  const std::string request_ids = layout_.table_for("request_ids", 1);
  auto prepare = [&](const std::string& xid, const std::string& request) {
    db::bulk_connection c(db::endpoint_from_environment());
    c.set_autocommit(true);
    c.execute("XA START '" + xid + "'");
    c.execute("INSERT INTO " + request_ids + " (tenant, request_id, order_id, content_hash, created_ms) VALUES (99, '" +
              request + "', 1, 1, 1)");
    c.execute("XA END '" + xid + "'");
    c.execute("XA PREPARE '" + xid + "'");
  };  // the connection closes: the branch stays prepared, detached
  prepare(decided, "xa-decided");
  prepare(undecided, "xa-undecided");
  prepare(foreign, "xa-foreign");
  conn_->execute("INSERT INTO " + db::xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" + decided + "', 1)");
  // A spent decision (its branch committed, the process gone before the next batch deleted it).
  conn_->execute("INSERT INTO " + db::xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" +
                 db::xa_branch_id(ours, 41, 9) + "', 1)");
  auto requests = [&](const std::string& request) {
    return conn_->query_int("SELECT COUNT(*) FROM " + request_ids + " WHERE request_id = '" + request + "'");
  };
  EXPECT_EQ(requests("xa-decided"), 0);  // prepared is not committed
  {
    db::bulk_connection c(db::endpoint_from_environment());
    EXPECT_EQ(db::prepared_branches(c, ours), 2u);  // what txaudit reports as not settled
  }
  {
    engine second(test_config());
    EXPECT_NE(second.storage_description().find("prepared branches settled: 1 committed, 1 rolled back"),
              std::string::npos)
        << second.storage_description();
  }
  EXPECT_EQ(requests("xa-decided"), 1);
  EXPECT_EQ(requests("xa-undecided"), 0);
  EXPECT_EQ(conn_->query_int("SELECT COUNT(*) FROM " + db::xa_decisions_table(layout_)), 0);  // spent
  {
    db::bulk_connection c(db::endpoint_from_environment());
    EXPECT_EQ(db::prepared_branches(c, ours), 0u);
  }
  // Another prefix's branch is not ours to settle.
  bool foreign_left = false;
  auto rs = conn_->query("XA RECOVER");
  while (rs->next()) foreign_left = foreign_left || std::string(rs->getString(4)) == foreign;
  EXPECT_TRUE(foreign_left);
  conn_->execute("XA ROLLBACK '" + foreign + "'");  // it holds locks the schema drop would wait for
}

TEST_F(DurableEngine, OneConnectionCommitsWithoutBranches) {
  engine_config config = test_config();
  config.storage->split_commit = false;
  engine eng(config);
  auto users = create_users(eng, 10);
  run_and_check_final(eng, workload(users, 200, "one-", 13));
  auto all = users;
  all.push_back(eng.system_wallet(tenant, usd));
  expect_committed_and_consistent(eng, all, 200);
}

TEST_F(DurableEngine, OpenOrdersAndRefundsSideTablesFollowTheOrderRows) {
  // A slow provider: with durable acks a top-up's intent is committed before it is sent, long
  // before its final row, so the order is in open_orders meanwhile.
  engine eng(engine_config_for(storage_for(test_layout(), ack_mode::durable), 400));
  auto users = create_users(eng, 2);
  wallet_id merchant = eng.create_wallet(tenant, usd, wallet_kind::merchant).id;
  order_reply topped;
  std::thread client([&] { topped = eng.execute(top_up("slow", users[0], 5'000)); });
  bool seen_open = false;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !seen_open && std::chrono::steady_clock::now() < until;) {
    seen_open = count("open_orders") == 1;
    if (!seen_open) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, bounded
  }
  client.join();
  EXPECT_TRUE(seen_open) << "the top-up's intent never showed in open_orders";
  ASSERT_EQ(topped.state, order_state::succeeded);
  EXPECT_EQ(count("open_orders", "id=" + std::to_string(topped.id)), 0);  // gone with the final row
  EXPECT_EQ(count("open_orders"), 0);

  // Orders whose first row is final write no side-table row; refunds write theirs, refused or not.
  run_and_check_final(eng, workload(users, 100, "side-", 21));
  auto paid = eng.execute(make_command(tenant, order_kind::pay, "pay", users[1], merchant, 1'000));
  ASSERT_EQ(paid.state, order_state::succeeded);
  order_command refund = make_command(tenant, order_kind::refund, "refund", no_wallet, no_wallet, 600);
  refund.original_order = paid.id;
  auto granted = eng.execute(refund);
  ASSERT_EQ(granted.state, order_state::succeeded);
  refund.request_id = "refund-too-much";
  auto refused = eng.execute(refund);
  ASSERT_EQ(refused.code, result_code::refund_exceeds_original);
  ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(eng.sync_storage());
  EXPECT_EQ(count("open_orders"), 0);
  EXPECT_EQ(count("refunds"), 2);
  for (order_id id : {granted.id, refused.id})
    EXPECT_EQ(count("refunds", "original_order=" + std::to_string(paid.id) + " AND refund_id=" + std::to_string(id)), 1)
        << id;
  expect_audit_ok();
}

TEST_F(DurableEngine, BranchesAreSettledBeforeMigrationSixBackfillsFromThem) {
  // A database of migrations 0001-0005 where a crash of that version left a decided branch
  // holding a non-final order row (no open_orders row then). The branch must be committed before
  // 0006 backfills open_orders (else the backfill waits on its locks and misses the order).
  db::apply_schema(*conn_, layout_, 5);
  const std::string xid = db::xa_branch_id(db::xa_branch_prefix(layout_.prefix), 7, 1);
  const wallet_id home = 5;
  {
    db::bulk_connection c(db::endpoint_from_environment());
    c.set_autocommit(true);
    c.execute("XA START '" + xid + "'");
    // Legs that do not parse: recovery reports the order and leaves it (nothing to resume).
    c.execute("INSERT INTO " + layout_.table_for("orders", home) +
              " (id, tenant, request_id, kind, state, is_final, currency, amount, source, destination, legs, "
              "created_ms, updated_ms) VALUES (77, 7, 'cut-short', 3, 1, 0, 'USD', 10, 5, 6, '[{\"w\":1}]', 1, 1)");
    c.execute("XA END '" + xid + "'");
    c.execute("XA PREPARE '" + xid + "'");
  }
  conn_->execute("INSERT INTO " + db::xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" + xid + "', 1)");
  engine eng(test_config());
  EXPECT_NE(eng.storage_description().find("prepared branches settled: 1 committed"), std::string::npos)
      << eng.storage_description();
  ASSERT_TRUE(eng.wait_for_recovery(std::chrono::seconds(30)));
  EXPECT_EQ(eng.recovery().orders, 1u) << eng.recovery().summary();
  EXPECT_EQ(count("open_orders", "id=77"), 1);
}
