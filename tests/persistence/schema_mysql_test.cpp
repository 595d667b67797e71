// Integration tests of persistence/ against the private MariaDB server (scripts/mariadb.sh;
// the CTest fixture `mysql_server` starts it). TXENGINE_MYSQL_URI overrides where it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "persistence/audit.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"

using namespace txengine::persistence;

namespace {

//! Each test has its own databases (ctest runs tests in parallel): txtest_<test name>_<d>.
std::string test_prefix() {
  std::string prefix = "txtest_";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    for (char c : std::string(info->name()))
      prefix += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_');
  return prefix.substr(0, 40);
}

shard_layout test_layout(uint32_t d = 2, uint32_t t = 4) {
  shard_layout l;
  l.databases = d;
  l.tables = t;
  l.prefix = test_prefix();
  return l;
}

class MysqlSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = std::make_unique<mysql_connection>(endpoint_from_environment());
    drop_all();
  }
  std::string db(uint32_t d) const { return "`" + test_layout().database_name(d) + "`"; }
  void TearDown() override { drop_all(); }
  void drop_all() {
    drop_schema(*conn_, test_layout(2, 4));
    drop_schema(*conn_, test_layout(3, 4));
  }
  std::unique_ptr<mysql_connection> conn_;
};

}  // namespace

TEST(MysqlUri, ParsesEveryPart) {
  mysql_endpoint e;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db.example:3310/app", e));
  EXPECT_EQ(e.user, "u");
  EXPECT_EQ(e.password, "p");
  EXPECT_EQ(e.host, "db.example");
  EXPECT_EQ(e.port, 3310);
  EXPECT_EQ(e.database, "app");
  EXPECT_EQ(e.describe(), "mysql://u@db.example:3310/app");

  mysql_endpoint s;
  ASSERT_TRUE(parse_mysql_uri("mysql://root@localhost?socket=/tmp/x.sock", s));
  EXPECT_EQ(s.socket, "/tmp/x.sock");
  EXPECT_EQ(s.user, "root");

  mysql_endpoint d;
  ASSERT_TRUE(parse_mysql_uri("mysql://", d));
  EXPECT_EQ(d.port, 3407);
  EXPECT_EQ(d.user, "txengine");

  std::string why;
  EXPECT_FALSE(parse_mysql_uri("postgres://x", d, &why));
  EXPECT_FALSE(parse_mysql_uri("mysql://u@h:0", d, &why));
  EXPECT_FALSE(parse_mysql_uri("mysql://u@h:99999", d, &why));
  EXPECT_FALSE(parse_mysql_uri("mysql://u@h?sockt=/x", d, &why));
}

TEST(ShardLayout, WalletIdModDAndModT) {
  shard_layout l = test_layout(2, 4);
  EXPECT_EQ(l.database_of(7), 1u);
  EXPECT_EQ(l.table_of(7), 3u);
  EXPECT_EQ(l.table_for("wallets", 7), "`" + l.prefix + "_1`.`wallets_3`");
  EXPECT_EQ(l.tables_in(0), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(l.tables_in(1), (std::vector<uint32_t>{1, 3}));
  // Every wallet id lands in a table its database holds.
  for (uint64_t id = 0; id < 100; ++id) {
    auto in = l.tables_in(l.database_of(id));
    EXPECT_NE(std::find(in.begin(), in.end(), l.table_of(id)), in.end()) << id;
  }
  shard_layout coprime = test_layout(3, 4);
  EXPECT_EQ(coprime.tables_in(2).size(), 4u);
  EXPECT_EQ(shard_layout::request_key(1, "abc"), shard_layout::request_key(1, "abc"));
  EXPECT_NE(shard_layout::request_key(1, "abc"), shard_layout::request_key(2, "abc"));
  shard_layout bad = test_layout(0, 4);
  EXPECT_FALSE(bad.valid());
  bad = test_layout();
  bad.prefix = "x`; drop";
  EXPECT_FALSE(bad.valid());
}

// The writer names a row's table by (family, key); rows of one shard table go to one statement,
// whichever way the table was named, and each statement gets its table's name.
TEST(TableStatements, RowsByShardKeyAndByNameMeetInOneStatementPerTable) {
  shard_layout l = test_layout(2, 4);
  table_statements set("fund_movements", "INSERT INTO {table} (a) VALUES (?)", {column_kind::uint64});
  for (uint64_t key : {7u, 15u, 2u, 7u}) set.rows_for(l, "fund_movements", key).u(key).end_row();
  set.rows_for(l.table_for("fund_movements", 23)).u(23).end_row();  // 23 is in 7's table
  std::vector<table_statement> out;
  EXPECT_EQ(set.emit(out), 5u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].sql, "INSERT INTO " + l.table_for("fund_movements", 7) + " (a) VALUES (?)");
  EXPECT_EQ(out[0].rows.integers(0), (std::vector<uint64_t>{7, 15, 7, 23}));
  EXPECT_EQ(out[1].sql, "INSERT INTO " + l.table_for("fund_movements", 2) + " (a) VALUES (?)");
  EXPECT_EQ(out[1].rows.size(), 1u);
  // After emit the set starts empty: no stale shard slot points past its tables.
  set.rows_for(l, "fund_movements", 2).u(2).end_row();
  out.clear();
  EXPECT_EQ(set.emit(out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sql, "INSERT INTO " + l.table_for("fund_movements", 2) + " (a) VALUES (?)");
  EXPECT_EQ(out[0].side, commit_side::wallet);  // the default
  // A statement says which connection of a two-connection commit runs it.
  table_statements orders("orders", "INSERT INTO {table} (id) VALUES (?)", {column_kind::uint64}, commit_side::order);
  orders.rows_for(l, "orders", 7).u(1).end_row();
  out.clear();
  orders.emit(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].side, commit_side::order);
}

TEST(Migrations, AreNumberedAndSplit) {
  ASSERT_FALSE(migrations().empty());
  EXPECT_EQ(migrations().front().version, 1u);
  EXPECT_EQ(migrations().front().name, "initial");
  EXPECT_EQ(latest_schema_version(), migrations().back().version);
  auto statements = migrations().front().statements();
  EXPECT_EQ(statements.size(), 6u);  // the first six families; 0006 adds open_orders and refunds
  for (const auto& s : statements) {
    EXPECT_NE(s.find("IF NOT EXISTS"), std::string::npos) << s;
    EXPECT_NE(s.find("{t}"), std::string::npos) << s;
    EXPECT_EQ(s.find("--"), std::string::npos) << s;
  }
}

TEST_F(MysqlSchema, CreatesTwoByFourShardsIdempotently) {
  shard_layout l = test_layout(2, 4);
  schema_report first = apply_schema(*conn_, l);
  EXPECT_EQ(first.databases_created, 2u);
  EXPECT_EQ(first.migrations_applied, 2u * migrations().size());
  EXPECT_EQ(first.tables, 4u * table_families().size());
  EXPECT_EQ(first.version, latest_schema_version());
  EXPECT_EQ(count_shard_tables(*conn_, l), first.tables);

  schema_report again = apply_schema(*conn_, l);
  EXPECT_EQ(again.databases_created, 0u);
  EXPECT_EQ(again.migrations_applied, 0u);
  EXPECT_EQ(count_shard_tables(*conn_, l), first.tables);
  for (uint32_t d = 0; d < 2; ++d)
    EXPECT_EQ(conn_->query_int("SELECT COUNT(*) FROM " + db(d) + ".schema_migrations"),
              static_cast<int64_t>(migrations().size()));

  // A half-applied migration (a table dropped, the version not recorded) is completed.
  conn_->execute("DROP TABLE " + db(1) + ".`orders_3`");
  conn_->execute("DELETE FROM " + db(1) + ".schema_migrations");
  schema_report repaired = apply_schema(*conn_, l);
  EXPECT_EQ(repaired.migrations_applied, migrations().size());
  EXPECT_EQ(count_shard_tables(*conn_, l), first.tables);

  audit_report empty = audit(endpoint_from_environment(), l);
  EXPECT_TRUE(empty.ok) << empty.summary();
  EXPECT_EQ(empty.wallets, 0u);
}

TEST_F(MysqlSchema, RefusesAnotherLayoutAndAChangedMigration) {
  apply_schema(*conn_, test_layout(2, 4));
  EXPECT_THROW(apply_schema(*conn_, test_layout(3, 4)), schema_error);  // database 0 is 2x4
  conn_->execute("UPDATE " + db(0) + ".schema_migrations SET checksum = '0000000000000000'");
  EXPECT_THROW(apply_schema(*conn_, test_layout(2, 4)), schema_error);
  conn_->execute("UPDATE " + db(0) + ".schema_migrations SET version = version + 1000");
  EXPECT_THROW(apply_schema(*conn_, test_layout(2, 4)), schema_error);
}

TEST_F(MysqlSchema, AuditFindsBrokenBalances) {
  shard_layout l = test_layout(2, 4);
  apply_schema(*conn_, l);
  // A system wallet (id 8) funds wallet 5 with 100: consistent.
  auto wallet = [&](uint64_t id, int kind, int64_t available, uint64_t version) {
    conn_->execute("INSERT INTO " + l.table_for("wallets", id) +
                   " (id, tenant, currency, kind, status, available, version, created_ms, updated_ms) VALUES (" +
                   std::to_string(id) + ", 1, 'USD', " + std::to_string(kind) + ", 0, " + std::to_string(available) +
                   ", " + std::to_string(version) + ", 0, 0)");
  };
  auto movement = [&](uint64_t id, uint64_t seq, uint64_t order, int64_t delta, int64_t after) {
    conn_->execute("INSERT INTO " + l.table_for("fund_movements", id) + " VALUES (" + std::to_string(id) + ", " +
                   std::to_string(seq) + ", " + std::to_string(order) + ", 3, " + std::to_string(delta) + ", 0, 0, " +
                   std::to_string(after) + ", 0, 0, 0)");
  };
  wallet(8, 2, -100, 1);
  wallet(5, 0, 100, 1);
  movement(8, 1, 1, -100, -100);
  movement(5, 1, 1, 100, 100);
  audit_report good = audit(endpoint_from_environment(), l);
  EXPECT_TRUE(good.ok) << good.summary();
  EXPECT_EQ(good.wallets, 2u);
  EXPECT_EQ(good.movements, 2u);
  EXPECT_EQ(good.sum_by_currency.at("USD"), 0);

  // Money out of nowhere: a balance without a movement, so the sum and the journal disagree.
  conn_->execute("UPDATE " + l.table_for("wallets", 5) + " SET available = available + 1 WHERE id = 5");
  audit_report bad = audit(endpoint_from_environment(), l);
  EXPECT_FALSE(bad.ok);
  // The wallet vs its journal, its row (a checkpoint at version 1) vs movement 1, and the USD sum.
  EXPECT_EQ(bad.problem_count, 3u) << bad.summary();
}

TEST_F(MysqlSchema, MigrationSixMovesTheOrderIndexesToBackfilledSideTables) {
  shard_layout l = test_layout(2, 4);
  apply_schema(*conn_, l, 5);  // a database as migrations 0001-0005 left it
  auto has_index = [&](uint64_t home, const std::string& index) {
    return conn_->query_int("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='" +
                            l.database_name(l.database_of(home)) + "' AND TABLE_NAME='orders_" +
                            std::to_string(l.table_of(home)) + "' AND INDEX_NAME='" + index + "'") > 0;
  };
  EXPECT_TRUE(has_index(5, "open_orders"));
  EXPECT_TRUE(has_index(6, "by_original"));
  EXPECT_EQ(count_shard_tables(*conn_, l), 4u * 6u);  // no side table yet
  // Orders of that schema: (id, home wallet, kind, final, original order).
  auto order = [&](uint64_t id, uint64_t home, int kind, bool final, uint64_t original) {
    conn_->execute("INSERT INTO " + l.table_for("orders", home) +
                   " (id, tenant, request_id, kind, state, is_final, currency, amount, source, original_order, legs, "
                   "created_ms, updated_ms) VALUES (" +
                   std::to_string(id) + ", 1, 'r" + std::to_string(id) + "', " + std::to_string(kind) + ", " +
                   (final ? "5, 1" : "1, 0") + ", 'USD', 10, " + std::to_string(home) + ", " +
                   std::to_string(original) + ", '[]', 0, 0)");
  };
  order(101, 5, 1, true, 0);     // a payment, final
  order(102, 5, 3, false, 0);    // a transfer cut short
  order(103, 6, 4, true, 101);   // a refund of 101, final, in another table
  order(104, 7, 4, false, 101);  // a refund of 101 cut short
  order(105, 7, 3, true, 0);

  schema_report report = apply_schema(*conn_, l, 6);
  EXPECT_EQ(report.migrations_applied, 2u);  // 0006 in both databases
  EXPECT_EQ(count_shard_tables(*conn_, l), 4u * 8u);  // 0007 adds wallet_requests later
  auto ids = [&](const std::string& family, uint64_t home, const std::string& column) {
    std::vector<uint64_t> out;
    auto rs = conn_->query("SELECT " + column + " FROM " + l.table_for(family, home) + " ORDER BY " + column);
    while (rs->next()) out.push_back(rs->getUInt64(1));
    return out;
  };
  EXPECT_EQ(ids("open_orders", 5, "id"), (std::vector<uint64_t>{102}));
  EXPECT_EQ(ids("open_orders", 7, "id"), (std::vector<uint64_t>{104}));
  EXPECT_EQ(ids("open_orders", 6, "id"), (std::vector<uint64_t>{}));
  EXPECT_EQ(ids("refunds", 6, "refund_id"), (std::vector<uint64_t>{103}));
  EXPECT_EQ(ids("refunds", 7, "refund_id"), (std::vector<uint64_t>{104}));
  EXPECT_EQ(ids("refunds", 7, "original_order"), (std::vector<uint64_t>{101}));
  EXPECT_EQ(ids("refunds", 5, "refund_id"), (std::vector<uint64_t>{}));
  for (uint64_t home : {4u, 5u, 6u, 7u}) {
    EXPECT_FALSE(has_index(home, "open_orders")) << home;
    EXPECT_FALSE(has_index(home, "by_original")) << home;
  }
  audit_report consistent = audit(endpoint_from_environment(), l);
  EXPECT_TRUE(consistent.ok) << consistent.summary();

  // A half-applied 0006 (its version not recorded) runs again: nothing changes, nothing fails.
  conn_->execute("DELETE FROM " + db(1) + ".schema_migrations WHERE version = 5");
  EXPECT_EQ(apply_schema(*conn_, l, 6).migrations_applied, 1u);
  EXPECT_EQ(ids("open_orders", 7, "id"), (std::vector<uint64_t>{104}));
  EXPECT_EQ(ids("refunds", 7, "refund_id"), (std::vector<uint64_t>{104}));

  // The audit finds the side tables out of step with the orders, and says how.
  auto problems_after = [&](const std::string& change, const std::string& undo) {
    conn_->execute(change);
    audit_report r = audit(endpoint_from_environment(), l);
    conn_->execute(undo);
    EXPECT_FALSE(r.ok) << change;
    return r.summary();
  };
  std::string missing = problems_after("DELETE FROM " + l.table_for("open_orders", 5) + " WHERE id = 102",
                                       "INSERT INTO " + l.table_for("open_orders", 5) + " (id) VALUES (102)");
  EXPECT_NE(missing.find("orders not final without their open_orders row"), std::string::npos) << missing;
  EXPECT_NE(missing.find("102"), std::string::npos) << missing;
  std::string stale = problems_after("INSERT INTO " + l.table_for("open_orders", 7) + " (id) VALUES (105), (999)",
                                     "DELETE FROM " + l.table_for("open_orders", 7) + " WHERE id IN (105, 999)");
  EXPECT_NE(stale.find("open_orders rows of final or missing orders (orders 105, 999)"), std::string::npos) << stale;
  std::string refund = problems_after("DELETE FROM " + l.table_for("refunds", 6),
                                      "INSERT INTO " + l.table_for("refunds", 6) + " VALUES (101, 103)");
  EXPECT_NE(refund.find("refunds without their refunds row"), std::string::npos) << refund;
  std::string orphan = problems_after("INSERT INTO " + l.table_for("refunds", 5) + " VALUES (101, 102)",
                                      "DELETE FROM " + l.table_for("refunds", 5));
  EXPECT_NE(orphan.find("refunds rows without their refund order"), std::string::npos) << orphan;
  audit_report again = audit(endpoint_from_environment(), l);
  EXPECT_TRUE(again.ok) << again.summary();
}
