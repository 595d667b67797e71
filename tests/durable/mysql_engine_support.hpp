#pragma once
// Helpers shared by the tests of the engine on MySQL storage (tests/durable, tests/publication),
// against the private MariaDB server (TXENGINE_MYSQL_URI overrides where it is): the storage
// configuration, a fixture with fresh test databases, submitting commands in batches, and reading
// the stored rows back. Each test binary names its own databases (its prefix): ctest runs the
// binaries in parallel.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "node/engine.hpp"
#include "tests/submit_support.hpp"
#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/wallet_state.hpp"

namespace txengine::mysql_test {

namespace db = txengine::persistence;

inline const currency usd = *currency::parse("USD");

//! Two databases of four tables each, named after `prefix`.
inline db::shard_layout layout_with_prefix(const std::string& prefix) {
  db::shard_layout layout;
  layout.databases = 2;
  layout.tables = 4;
  layout.prefix = prefix;
  return layout;
}

//! Storage in `layout` on the test server (TXENGINE_MYSQL_URI when set, else the default).
inline storage_config storage_for(const db::shard_layout& layout, ack_mode ack = ack_mode::durable) {
  storage_config s;
  if (const char* uri = std::getenv("TXENGINE_MYSQL_URI"); uri && *uri) s.uri = uri;
  s.databases = layout.databases;
  s.tables = layout.tables;
  s.prefix = layout.prefix;
  s.ack = ack;
  return s;
}

//! A provider that always answers, and says yes, after `latency_ms`.
inline channel_config always_yes_channel(int64_t latency_ms) {
  channel_config c;
  c.latency_ms = latency_ms;
  c.decline_ppm = c.reply_lost_ppm = c.reply_unknown_ppm = c.submit_lost_ppm = c.partial_ppm = 0;
  return c;
}

//! Two scheduler threads, channel 1 a provider that always says yes after
//! `channel_latency_ms`, and `storage`.
inline engine_config engine_config_for(storage_config storage, int64_t channel_latency_ms) {
  engine_config config;
  config.scheduler_threads = 2;
  config.channels = {{1, always_yes_channel(channel_latency_ms)}};
  config.storage = std::move(storage);
  return config;
}

//! A command of `kind` in USD; top-ups and withdrawals go through channel 1.
inline order_command make_command(tenant_id tenant, order_kind kind, const std::string& request_id, wallet_id from,
                                  wallet_id to, int64_t amount) {
  order_command c;
  c.tenant = tenant;
  c.request_id = request_id;
  c.kind = kind;
  c.source = from;
  c.destination = to;
  c.amount = amount;
  c.cur = usd;
  if (kind == order_kind::top_up || kind == order_kind::withdraw) c.channel = 1;
  return c;
}

//! A refund of (part of) payment `original`: it names no wallet.
inline order_command make_refund(tenant_id tenant, const std::string& request_id, order_id original, int64_t amount) {
  order_command c = make_command(tenant, order_kind::refund, request_id, no_wallet, no_wallet, amount);
  c.original_order = original;
  return c;
}

//! A test on fresh databases in `layout`: dropped before and after each test.
class mysql_engine_test : public ::testing::Test {
 protected:
  explicit mysql_engine_test(db::shard_layout layout) : layout_(std::move(layout)) {}

  void SetUp() override {
    conn_ = std::make_unique<db::mysql_connection>(db::endpoint_from_environment());
    db::drop_schema(*conn_, layout_);
  }
  void TearDown() override { db::drop_schema(*conn_, layout_); }

  //! Rows of the table family `family` matching `where`, over every database and table.
  int64_t count(const std::string& family, const std::string& where = "1=1") {
    int64_t total = 0;
    for (uint32_t d = 0; d < layout_.databases; ++d)
      for (uint32_t t : layout_.tables_in(d))
        total += conn_->query_int("SELECT COUNT(*) FROM " + layout_.table_at(family, d, t) + " WHERE " + where);
    return total;
  }

  //! The committed balances of a wallet, its effective state (the row is a checkpoint: all zero
  //! when it has no row).
  balances stored_balances(wallet_id id) {
    balances b;
    if (auto w = db::read_effective_wallet(*conn_, layout_, id)) b = {w->available, w->frozen, w->incoming};
    return b;
  }

  //! The audit of the stored rows passes and money is conserved in every currency.
  void expect_audit_ok() {
    auto report = db::audit(db::endpoint_from_environment(), layout_);
    EXPECT_TRUE(report.ok) << report.summary();
    for (const auto& [cur, sum] : report.sum_by_currency) EXPECT_EQ(sum, 0) << cur;
  }

  db::shard_layout layout_;
  std::unique_ptr<db::mysql_connection> conn_;
};

}  // namespace txengine::mysql_test
