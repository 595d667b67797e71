// Kafka publication (issue 5): the engine on MySQL storage writes an outbox row with every
// final order, the publisher produces it to an in-process mock Kafka cluster (librdkafka's
// rdkafka_mock) and marks it published. Against the private MariaDB server (TXENGINE_MYSQL_URI).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "events.pb.h"
#include "persistence/outbox.hpp"
#include "persistence/outbox_store.hpp"
#include "publication/mock_cluster.hpp"
#include "publication/publisher.hpp"
#include "tests/durable/mysql_engine_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 9;
const std::string topic = "txengine.orders.finalized";
constexpr int partitions = 4;

db::shard_layout test_layout() { return layout_with_prefix("txtest_kpub"); }

engine_config test_config(const std::string& bootstrap) {
  storage_config s = storage_for(test_layout());
  s.kafka.bootstrap_servers = bootstrap;
  s.kafka.topic = topic;
  s.kafka.message_timeout_ms = 2000;  // a broker outage recycles messages quickly
  s.kafka.stop_flush_ms = 500;
  return engine_config_for(std::move(s), 1);
}

order_command transfer(const std::string& request_id, wallet_id from, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::transfer, request_id, from, to, amount);
}

order_command top_up(const std::string& request_id, wallet_id to, int64_t amount) {
  return make_command(tenant, order_kind::top_up, request_id, no_wallet, to, amount);
}

//! Submits every command at once, each in a message of its own, and waits (bounded) for every reply.
std::vector<order_reply> run_all(engine& eng, const std::vector<order_command>& commands) {
  return submit_all(eng, commands, 1);
}

std::vector<wallet_id> create_users(engine& eng, size_t count) {
  std::vector<wallet_id> ids;
  for (size_t i = 0; i < count; ++i) {
    auto created = eng.create_wallet(tenant, usd, wallet_kind::user, 0);
    EXPECT_EQ(created.code, result_code::ok);
    ids.push_back(created.id);
  }
  return ids;
}

//! One top-up of `amount` per user.
std::vector<order_command> top_ups(const std::vector<wallet_id>& users, int64_t amount) {
  std::vector<order_command> commands;
  for (size_t i = 0; i < users.size(); ++i) commands.push_back(top_up("t-" + std::to_string(i), users[i], amount));
  return commands;
}

//! Transfers among them (every 7th too large: it fails).
std::vector<order_command> workload(const std::vector<wallet_id>& users, size_t transfers, const std::string& prefix) {
  std::vector<order_command> commands;
  for (size_t i = 0; i < transfers; ++i) {
    wallet_id from = users[i % users.size()];
    wallet_id to = users[(i + 1) % users.size()];
    commands.push_back(transfer(prefix + std::to_string(i), from, to, i % 7 == 0 ? 1'000'000'000 : 1 + i % 50));
  }
  return commands;
}

//! Polls `condition` every 10 ms until it holds or `timeout` passes.
template <class F>
bool wait_for(F condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

//! What the topic holds: the events by event id, and how many messages were read in all.
struct published {
  std::map<uint64_t, txengine::events::OrderFinalized> by_id;
  std::map<uint64_t, std::string> key_by_id;
  size_t messages = 0;
  size_t undecodable = 0;
};

published read_events(const std::string& bootstrap, const std::set<uint64_t>& expected) {
  published out;
  auto messages = publication::read_topic(
      bootstrap, topic, partitions, std::chrono::seconds(30), [&](const std::vector<publication::read_message>& m) {
        // Stop once every expected event was seen (at least once).
        if (m.size() < expected.size()) return false;
        std::set<std::string> keys;
        for (const auto& r : m) keys.insert(r.key);
        for (uint64_t id : expected)
          if (keys.count(std::to_string(id)) == 0) return false;
        return true;
      });
  out.messages = messages.size();
  for (const auto& m : messages) {
    txengine::events::OrderFinalized e;
    if (!e.ParseFromString(m.value)) {
      ++out.undecodable;
      continue;
    }
    out.by_id[e.event_id()] = e;
    out.key_by_id[e.event_id()] = m.key;
  }
  return out;
}

class KafkaPublication : public mysql_engine_test {
 protected:
  KafkaPublication() : mysql_engine_test(test_layout()) {}

  void SetUp() override {
    mysql_engine_test::SetUp();
    cluster_ = std::make_unique<publication::mock_cluster>(3);
    cluster_->create_topic(topic, partitions);
  }

  //! Every reply's order is on the topic with the reply's content; returns the ids.
  void expect_published(const std::vector<order_reply>& replies, const published& events) {
    EXPECT_EQ(events.undecodable, 0u);
    for (const auto& r : replies) {
      auto it = events.by_id.find(r.id);
      ASSERT_NE(it, events.by_id.end()) << "order " << r.id << " not published";
      const auto& e = it->second;
      EXPECT_EQ(events.key_by_id.at(r.id), std::to_string(r.id));
      EXPECT_EQ(e.order_id(), r.id);
      EXPECT_EQ(e.tenant(), r.tenant);
      EXPECT_EQ(e.request_id(), r.request_id);
      EXPECT_EQ(e.kind(), static_cast<int>(r.kind));
      EXPECT_EQ(e.state(), static_cast<int>(r.state));
      EXPECT_EQ(e.result(), static_cast<int>(r.code));
      EXPECT_EQ(e.amount(), r.amount);
      EXPECT_EQ(e.confirmed_amount(), r.posted_amount);
      EXPECT_EQ(e.currency(), "USD");
      EXPECT_EQ(e.source(), r.source);
      EXPECT_EQ(e.destination(), r.destination);
      EXPECT_EQ(e.created_ms(), r.created_ms);
      EXPECT_EQ(e.final_ms(), r.finished_ms);
    }
  }

  //! Every reply's order is on the topic, read back by event id.
  void expect_all_on_topic(const std::string& bootstrap, const std::vector<order_reply>& replies) {
    std::set<uint64_t> ids;
    for (const auto& r : replies) ids.insert(r.id);
    auto events = read_events(bootstrap, ids);
    EXPECT_EQ(events.by_id.size(), ids.size());
    expect_published(replies, events);
  }

  //! An engine (Kafka unreachable) funds `users` users and runs `transfers` transfers, then
  //! stops: every final order stays unpublished in the outbox. Returns the replies.
  std::vector<order_reply> run_while_kafka_is_down(const engine_config& config, size_t users_count, size_t transfers) {
    engine eng(config);
    auto users = create_users(eng, users_count);
    auto replies = run_all(eng, top_ups(users, 100'000));
    auto more = run_all(eng, workload(users, transfers, "x-"));
    replies.insert(replies.end(), more.begin(), more.end());
    EXPECT_TRUE(eng.sync_storage());
    EXPECT_EQ(eng.publication().unpublished, static_cast<int64_t>(replies.size()));
    return replies;
  }

  std::unique_ptr<publication::mock_cluster> cluster_;
};

}  // namespace

TEST(KafkaOutbox, PayloadAndStatements) {
  order_row row;
  row.id = 12345;
  row.command = transfer("r-1", 5, 6, 700);
  row.state = order_state::succeeded;
  row.posted_amount = 700;
  row.created_ms = 1000;
  row.final_ms = 1010;
  txengine::events::OrderFinalized e;
  ASSERT_TRUE(e.ParseFromString(db::order_finalized_payload(row)));
  EXPECT_EQ(e.event_id(), 12345u);
  EXPECT_EQ(e.order_id(), 12345u);
  EXPECT_EQ(e.request_id(), "r-1");
  EXPECT_EQ(e.state(), txengine::wire::ORDER_STATE_SUCCEEDED);
  EXPECT_EQ(e.result(), txengine::wire::OK);
  EXPECT_EQ(e.kind(), txengine::wire::ORDER_KIND_TRANSFER);
  EXPECT_EQ(e.confirmed_amount(), 700);
  EXPECT_EQ(e.final_ms(), 1010);
  EXPECT_EQ(db::order_event_key(12345), "12345");

  // Rows not final get no outbox row; final ones one row in their home wallet's table.
  order_row intent = row;
  intent.id = 12346;
  intent.state = order_state::trying;
  std::vector<db::table_statement> sql;
  EXPECT_EQ(db::append_outbox_statements(test_layout(), topic, {&row, &intent}, 5, sql), 1u);
  ASSERT_EQ(sql.size(), 1u);
  EXPECT_NE(sql[0].sql.find("INSERT IGNORE INTO " + test_layout().table_for("outbox", 5)), std::string::npos);
  ASSERT_EQ(sql[0].rows.size(), 1u);
  EXPECT_EQ(sql[0].rows.integers(0).at(0), 12345u);  // event id = order id; the intent has no row
}

TEST(KafkaOutbox, BadConfigurationIsRefused) {
  publication_config c;
  std::string why;
  EXPECT_FALSE(publication::validate(c, &why));  // no servers
  c.bootstrap_servers = "127.0.0.1:9092";
  EXPECT_TRUE(publication::validate(c, &why)) << why;
  c.topic = "bad topic";
  EXPECT_FALSE(publication::validate(c, &why));
  EXPECT_NE(why.find("kafka.topic"), std::string::npos);
  c.topic = std::string(129, 'a');
  EXPECT_FALSE(publication::validate(c));
  c.topic = "ok";
  c.outbox_unpublished_max = 0;
  EXPECT_FALSE(publication::validate(c));
  c.outbox_unpublished_max = 1;
  c.in_flight_max = 0;
  EXPECT_FALSE(publication::validate(c));
}

TEST_F(KafkaPublication, BadTopicStopsTheEngineFromStarting) {
  auto config = test_config(cluster_->bootstrap_servers());
  config.storage->kafka.topic = "no spaces allowed";
  EXPECT_THROW(engine eng(config), storage_unavailable);
  config = test_config(cluster_->bootstrap_servers());
  config.storage->kafka.properties = {{"no.such.property", "1"}};
  EXPECT_THROW(engine eng(config), storage_unavailable);
}

TEST_F(KafkaPublication, EveryFinalOrderIsPublishedOnce) {
  std::string bootstrap = cluster_->bootstrap_servers();
  engine eng(test_config(bootstrap));
  ASSERT_TRUE(eng.publishing()) << eng.publication_description();
  auto users = create_users(eng, 20);
  auto replies = run_all(eng, top_ups(users, 100'000));
  auto transfers = run_all(eng, workload(users, 400, "x-"));
  replies.insert(replies.end(), transfers.begin(), transfers.end());
  size_t failed = 0;
  std::set<uint64_t> ids;
  for (const auto& r : replies) {
    ASSERT_NE(r.id, 0u);
    ASSERT_TRUE(is_final(r.state));
    if (r.state == order_state::failed) ++failed;
    ids.insert(r.id);
  }
  EXPECT_GT(failed, 0u);
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(30)))
      << eng.publication().unpublished << " unpublished; " << eng.publication().last_error;
  auto stats = eng.publication();
  EXPECT_EQ(stats.marked, ids.size());
  EXPECT_EQ(stats.delivery_failures, 0u);
  EXPECT_EQ(stats.latency_samples, ids.size());
  EXPECT_GE(stats.latency_p99_ms, stats.latency_p50_ms);
  EXPECT_EQ(count("outbox"), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(count("outbox", "published_ms=0"), 0);

  auto events = read_events(bootstrap, ids);
  EXPECT_EQ(events.by_id.size(), ids.size());
  EXPECT_EQ(events.messages, ids.size());  // no outage: not even a redelivery
  expect_published(replies, events);
}

TEST_F(KafkaPublication, AClusterNodeReadsOnlyTheOutboxRowsOfItsPartitions) {
  { engine schema(test_config(cluster_->bootstrap_servers())); }
  // Eight unpublished rows, homed on wallets 1..8, each in its home wallet's table.
  for (uint64_t home = 1; home <= 8; ++home)
    conn_->execute("INSERT INTO " + layout_.table_for("outbox", home) +
                   " (event_id,order_id,topic,event_key,payload,created_ms,home_wallet,published_ms) VALUES (" +
                   std::to_string(100 * home) + "," + std::to_string(100 * home) + ",'t','k','p',1," +
                   std::to_string(home) + ",0)");
  std::vector<uint32_t> held{1, 3};  // of 4 partitions: homes 1, 3, 5, 7
  db::outbox_share share;
  share.partitions = 4;
  share.held = [&held] { return held; };
  auto mine = db::mysql_outbox(storage_for(test_layout()), share);
  auto every = db::mysql_outbox(storage_for(test_layout()));
  auto scope = mine->enter_thread();
  auto store = mine->connect();
  auto all = every->connect();
  auto read = [](outbox_store& s, uint32_t tables) {
    std::set<uint64_t> ids;
    for (uint32_t t = 0; t < tables; ++t)
      for (const auto& e : s.read_unpublished(t, 0, 100, [](uint64_t) { return false; })) ids.insert(e.id);
    return ids;
  };
  EXPECT_EQ(store->count_unpublished(), 4);
  EXPECT_EQ(read(*store, mine->tables()), (std::set<uint64_t>{100, 300, 500, 700}));
  EXPECT_GT(store->oldest_unpublished_created_ms(10), 0);
  EXPECT_EQ(all->count_unpublished(), 8);  // one node: every row
  held.clear();  // it holds nothing (yet): it publishes nothing
  EXPECT_EQ(store->count_unpublished(), 0);
  EXPECT_TRUE(read(*store, mine->tables()).empty());
  EXPECT_EQ(store->oldest_unpublished_created_ms(10), 0);
}

TEST_F(KafkaPublication, BrokerDownOutboxGrowsToItsLimitThenDrains) {
  std::string bootstrap = cluster_->bootstrap_servers();
  auto config = test_config(bootstrap);
  config.storage->kafka.outbox_unpublished_max = 30;
  engine eng(config);
  auto users = create_users(eng, 10);
  auto accepted = run_all(eng, top_ups(users, 100'000));
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(30)));

  cluster_->set_all_down(true);
  // Waves of 4 orders: the engine keeps serving while the outbox grows, until it passes its
  // limit; then new commands are refused with the retryable `unavailable`.
  size_t refused = 0;
  for (int wave = 0; wave < 30 && refused == 0; ++wave) {
    for (auto& r : run_all(eng, workload(users, 4, "w" + std::to_string(wave) + "-"))) {
      if (r.code == result_code::unavailable && r.id == 0) {
        ++refused;
        continue;
      }
      ASSERT_NE(r.id, 0u) << to_string(r.code);
      ASSERT_TRUE(is_final(r.state));
      accepted.push_back(r);
    }
    ASSERT_TRUE(eng.sync_storage());
  }
  EXPECT_GT(refused, 0u);
  auto stats = eng.publication();
  EXPECT_GT(stats.unpublished, 30);
  EXPECT_LE(stats.unpublished, 30 + 4);  // one wave past the limit at most
  EXPECT_EQ(count("outbox", "published_ms=0"), stats.unpublished);
  EXPECT_EQ(eng.get_wallet(tenant, users[0]).code, result_code::ok);  // still serving reads
  EXPECT_TRUE(wait_for([&] { return eng.publication().oldest_unpublished_age_ms > 0; }, std::chrono::seconds(5)));

  // Kafka back: the outbox drains by itself, the refusals stop.
  cluster_->set_all_down(false);
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(60)))
      << eng.publication().unpublished << " unpublished; " << eng.publication().last_error;
  auto after = run_all(eng, workload(users, 4, "after-"));
  for (const auto& r : after) {
    ASSERT_NE(r.id, 0u) << to_string(r.code);
    accepted.push_back(r);
  }
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(30)));

  std::set<uint64_t> ids;
  for (const auto& r : accepted) ids.insert(r.id);
  auto events = read_events(bootstrap, ids);
  // Nothing lost; redeliveries (if any) are the same event id, so counted once.
  EXPECT_EQ(events.by_id.size(), ids.size());
  EXPECT_GE(events.messages, ids.size());
  expect_published(accepted, events);
  EXPECT_EQ(count("outbox", "published_ms=0"), 0);
}

TEST_F(KafkaPublication, RestartPublishesWhatWasLeft) {
  std::string bootstrap = cluster_->bootstrap_servers();
  cluster_->set_all_down(true);
  // Stopped with everything unpublished (as after a crash: the rows are all there is).
  auto replies = run_while_kafka_is_down(test_config(bootstrap), 10, 40);
  EXPECT_EQ(count("outbox", "published_ms=0"), static_cast<int64_t>(replies.size()));

  cluster_->set_all_down(false);
  auto config = test_config(bootstrap);
  config.storage->kafka.page_rows = 3;      // many small pages and rounds
  config.storage->kafka.in_flight_max = 7;
  engine eng(config);
  EXPECT_EQ(eng.publication().unpublished, static_cast<int64_t>(replies.size()));  // counted at start
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(30)))
      << eng.publication().last_error;
  EXPECT_EQ(count("outbox", "published_ms=0"), 0);
  EXPECT_EQ(eng.publication().marked, replies.size());
  expect_all_on_topic(bootstrap, replies);
}

TEST_F(KafkaPublication, NoBootstrapServersMeansNoOutboxRows) {
  auto config = test_config("");
  engine eng(config);
  EXPECT_FALSE(eng.publishing());
  EXPECT_NE(eng.publication_description().find("OFF"), std::string::npos);
  auto users = create_users(eng, 2);
  auto replies = run_all(eng, {top_up("t-0", users[0], 100)});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].state, order_state::succeeded);
  ASSERT_TRUE(eng.sync_storage());
  EXPECT_EQ(count("orders"), 1);
  EXPECT_EQ(count("outbox"), 0);
}

TEST_F(KafkaPublication, AFatalProducerErrorReplacesTheProducerAndLosesNothing) {
  std::string bootstrap = cluster_->bootstrap_servers();
  auto config = test_config(bootstrap);
  cluster_->set_all_down(true);
  auto replies = run_while_kafka_is_down(config, 5, 60);
  // The publisher alone over the same databases (as a separate publishing process would be).
  storage_link link;
  link.config = *config.storage;
  publication::outbox_publisher publisher(link.config, link, db::mysql_outbox(link.config));
  EXPECT_EQ(link.outbox_unpublished.load(), static_cast<int64_t>(replies.size()));
  publisher.inject_fatal_error_for_test();  // while its messages wait for the brokers
  ASSERT_TRUE(wait_for([&] { return publisher.stats().producer_restarts == 1; }, std::chrono::seconds(10)))
      << publisher.stats().last_error;
  cluster_->set_all_down(false);
  ASSERT_TRUE(wait_for([&] { return publisher.stats().unpublished == 0; }, std::chrono::seconds(30)))
      << publisher.stats().last_error;
  publisher.stop();
  EXPECT_EQ(count("outbox", "published_ms=0"), 0);
  expect_all_on_topic(bootstrap, replies);
}

TEST_F(KafkaPublication, PublishedRowsAreDeletedAfterTheirRetention) {
  auto config = test_config(cluster_->bootstrap_servers());
  config.storage->kafka.published_retention_ms = 200;
  engine eng(config);
  auto users = create_users(eng, 4);
  run_all(eng, top_ups(users, 100));
  ASSERT_TRUE(eng.sync_storage());
  EXPECT_EQ(count("orders"), 4);
  ASSERT_TRUE(wait_for([&] { return eng.publication().unpublished == 0; }, std::chrono::seconds(30)));
  EXPECT_TRUE(wait_for([&] { return count("outbox") == 0; }, std::chrono::seconds(10)));
  EXPECT_EQ(count("orders"), 4);
  EXPECT_EQ(eng.publication().marked, 4u);
}

TEST_F(KafkaPublication, ACleanStopPublishesWhatWasCommitted) {
  std::string bootstrap = cluster_->bootstrap_servers();
  auto config = test_config(bootstrap);
  config.storage->kafka.stop_flush_ms = 20'000;  // a bound; the stop ends once the outbox is empty
  std::vector<order_reply> replies;
  {
    engine eng(config);
    auto users = create_users(eng, 10);
    replies = run_all(eng, top_ups(users, 100'000));
    auto more = run_all(eng, workload(users, 100, "x-"));
    replies.insert(replies.end(), more.begin(), more.end());
  }  // no wait for the publisher: the engine's stop publishes what is left
  EXPECT_EQ(count("outbox"), static_cast<int64_t>(replies.size()));
  EXPECT_EQ(count("outbox", "published_ms=0"), 0);
  expect_all_on_topic(bootstrap, replies);
}
