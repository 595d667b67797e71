// The consumers' MySQL store (apps/consumer_common.hpp) against the private MariaDB server: the
// de-duplication record (processed_events) is bounded by its retention, pruned in chunks, one
// consumer's rows at a time, and the retention flag refuses what it cannot mean.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/consumer_common.hpp"

using namespace txengine;
using namespace txengine::consumers;

namespace {

constexpr const char* test_database = "txtest_consumers_store";

class ConsumerStore : public ::testing::Test {
 protected:
  void SetUp() override {
    opt_.database = test_database;
    db_ = connect_store(opt_);
    db_->execute("DELETE FROM processed_events");
  }
  void TearDown() override {
    if (db_) db_->execute(std::string("DROP DATABASE IF EXISTS ") + test_database);
  }

  //! `count` rows of `consumer` processed `hours_ago` hours ago, event ids from `first`.
  void processed(const std::string& consumer, uint64_t first, int count, int hours_ago) {
    for (int i = 0; i < count; ++i)
      db_->execute("INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset, "
                   "processed_at) VALUES ('" + consumer + "', " + std::to_string(first + i) + ", 't', 0, " +
                   std::to_string(i) + ", NOW(3) - INTERVAL " + std::to_string(hours_ago) + " HOUR)");
  }
  int64_t rows(const std::string& consumer) {
    return db_->query_int("SELECT COUNT(*) FROM processed_events WHERE consumer='" + consumer + "'");
  }

  common_options opt_;
  std::unique_ptr<persistence::mysql_connection> db_;
};

}  // namespace

TEST_F(ConsumerStore, ProcessedEventsPastTheirRetentionArePrunedInChunks) {
  processed("notifier", 1, 25, 200);     // older than 168 h
  processed("notifier", 1000, 5, 1);     // recent: a redelivery of these is still de-duplicated
  processed("payer", 1, 3, 200);         // another consumer's rows are its own business
  std::vector<uint64_t> deleted;
  for (int call = 0; call < 4; ++call) deleted.push_back(prune_processed(*db_, "notifier", 168, 10));
  EXPECT_EQ(deleted, (std::vector<uint64_t>{10, 10, 5, 0}));
  EXPECT_EQ(rows("notifier"), 5);
  EXPECT_EQ(rows("payer"), 3);
  EXPECT_EQ(processed_among(*db_, "notifier", {1, 1000, 1004}).size(), 2u);  // the recent ones
  // The oldest rows are found by an index, not by reading the whole record.
  EXPECT_EQ(db_->query_int(std::string("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema='") +
                           test_database + "' AND table_name='processed_events' AND index_name='by_age'"),
            2);  // (consumer, processed_at)
  // The schema (with its index) is created again without harm.
  auto again = connect_store(opt_);
  EXPECT_EQ(rows("notifier"), 5);
}

TEST(ConsumerOptions, RetentionFlagTakesHoursAndRefusesTheRest) {
  auto parse = [](const char* value, common_options& opt, std::string& error) {
    CLI::App app{"", "consumer"};
    add_common_options(app, opt);
    error.clear();
    try {
      app.parse(std::string("--bootstrap 127.0.0.1:1 --processed-retention-hours ") + value);
    } catch (const CLI::ParseError& e) {
      error = e.what();
    }
    return true;
  };
  common_options opt;
  EXPECT_EQ(opt.processed_retention_hours, 168);  // a week by default
  std::string error;
  ASSERT_TRUE(parse("0", opt, error));
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(opt.processed_retention_hours, 0);  // kept forever
  ASSERT_TRUE(parse("24", opt, error));
  EXPECT_EQ(opt.processed_retention_hours, 24);
  for (const char* bad : {"-1", "87601", "1.5", "day"}) {
    ASSERT_TRUE(parse(bad, opt, error)) << bad;
    EXPECT_NE(error.find("--processed-retention-hours"), std::string::npos) << bad << ": " << error;
    EXPECT_EQ(opt.processed_retention_hours, 24) << bad;  // unchanged
  }
}
