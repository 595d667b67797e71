// History (issue 12, items 3 and 4) against the private MariaDB server: GetOrder with the
// order's fund movements while it is in memory, after it left memory and after a restart; a
// wallet's whole journal paged through MySQL (older than its entries in memory, or made before
// the restart) equal before and after the restart; another tenant sees nothing.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/durable/mysql_engine_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 21;
constexpr tenant_id other_tenant = 22;
constexpr size_t retained_max = 8;  // 4 per host
constexpr size_t journal_in_memory = 4;  // entries a wallet keeps in memory: older ones only in MySQL

db::shard_layout test_layout() { return layout_with_prefix("txtest_history"); }

engine_config test_config() {
  engine_config config = engine_config_for(storage_for(test_layout()), 1);
  config.orders_retained_max = retained_max;
  config.wallet.core.journal_entries_max = journal_in_memory;
  return config;
}

order_reply run(engine& eng, const order_command& c) {
  order_reply reply = eng.execute(c);
  EXPECT_TRUE(eng.sync_storage());
  return reply;
}

//! A wallet's whole journal, paged by `limit` from `from`.
std::vector<journal_entry> list_all(engine& eng, tenant_id t, wallet_id w, uint32_t limit, uint64_t from = 0) {
  std::vector<journal_entry> all;
  for (int pages = 0; pages < 10'000; ++pages) {
    auto [code, page] = eng.movements(t, w, from, limit);
    EXPECT_EQ(code, result_code::ok);
    if (code != result_code::ok) break;
    for (const auto& e : page) all.push_back(e);
    if (page.size() < limit) break;
    from = page.back().sequence + 1;
  }
  return all;
}

//! Equal as the journal says them. The time of a try is the only thing a try and its confirm
//! stored as one row (phase 4) do not keep: its half read back carries the confirm's time.
void expect_same(const journal_entry& a, const journal_entry& b, const std::string& where) {
  EXPECT_EQ(a.sequence, b.sequence) << where;
  EXPECT_EQ(a.txn, b.txn) << where;
  EXPECT_EQ(a.phase, b.phase) << where;
  EXPECT_EQ(a.delta, b.delta) << where;
  EXPECT_EQ(a.after, b.after) << where;
  if (a.phase != tcc_phase::try_) {
    EXPECT_EQ(a.at_ms, b.at_ms) << where;
  }
}

void expect_same(const std::vector<journal_entry>& a, const std::vector<journal_entry>& b, const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) expect_same(a[i], b[i], where + " #" + std::to_string(i));
}

//! Every sequence from 1 to `last` exactly once, each entry's balances the one before plus its delta.
void expect_whole_journal(const std::vector<journal_entry>& all, uint64_t last, const std::string& where) {
  ASSERT_EQ(all.size(), last) << where;
  balances running;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].sequence, i + 1) << where;
    running = {running.available + all[i].delta.available, running.frozen + all[i].delta.frozen,
               running.incoming + all[i].delta.incoming};
    EXPECT_EQ(all[i].after, running) << where << " sequence " << all[i].sequence;
  }
}

class History : public mysql_engine_test {
 protected:
  History() : mysql_engine_test(test_layout()) {}

  //! Enough new orders between `from` and `to` that every earlier final order left memory.
  void push_out(engine& eng, wallet_id from, wallet_id to, const std::string& prefix) {
    for (size_t i = 0; i < 6 * retained_max; ++i)
      ASSERT_EQ(run(eng, make_command(tenant, order_kind::transfer, prefix + std::to_string(i), from, to, 1)).state,
                order_state::succeeded);
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
    for (const auto& reply : submit_all(eng, {make_command(tenant, order_kind::transfer, prefix + "x", from, to, 1)}, 1))
      ASSERT_EQ(reply.state, order_state::succeeded);
  }
};

TEST_F(History, OrderMovementsInMemoryAfterEvictionAndAfterRestart) {
  std::vector<order_id> ids;
  std::map<order_id, std::vector<order_movement>> seen;
  wallet_id user = 0, merchant = 0, other = 0, filler_a = 0, filler_b = 0;
  {
    engine eng(test_config());
    user = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    merchant = eng.create_wallet(tenant, usd, wallet_kind::merchant).id;
    other = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    filler_a = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    filler_b = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    std::vector<order_command> commands = {
        make_command(tenant, order_kind::top_up, "t1", no_wallet, user, 100'000),
        make_command(tenant, order_kind::top_up, "t2", no_wallet, filler_a, 100'000),
        make_command(tenant, order_kind::pay, "p1", user, merchant, 1'000),
        make_command(tenant, order_kind::transfer, "x1", user, other, 2'500),
        make_command(tenant, order_kind::transfer, "x2", user, other, 50'000'000),  // fails: not enough money
        make_command(tenant, order_kind::withdraw, "w1", user, no_wallet, 300),
    };
    for (const auto& c : commands) {
      order_reply reply = run(eng, c);
      ASSERT_NE(reply.id, 0u) << c.request_id;
      ids.push_back(reply.id);
      // In memory: its movements, each an entry of its wallet's journal.
      order_reply with = eng.get_order(tenant, reply.id, true);
      ASSERT_EQ(with.id, reply.id);
      EXPECT_EQ(with.state, reply.state);
      seen[reply.id] = with.movements;
      std::set<wallet_id> parties;
      for (const auto& w : reply.wallets) parties.insert(w.wallet);
      for (const auto& m : with.movements) {
        EXPECT_EQ(m.entry.txn, reply.id) << c.request_id;
        EXPECT_TRUE(parties.count(m.wallet)) << c.request_id << " wallet " << m.wallet;
        auto [code, page] = eng.movements(tenant, m.wallet, m.entry.sequence, 1);
        ASSERT_EQ(code, result_code::ok);
        ASSERT_EQ(page.size(), 1u);
        expect_same(m.entry, page[0], c.request_id);
      }
      // Without the flag: no movements, as before.
      EXPECT_TRUE(eng.get_order(tenant, reply.id).movements.empty());
      // Another tenant: no such order, no rows.
      order_reply foreign = eng.get_order(other_tenant, reply.id, true);
      EXPECT_EQ(foreign.code, result_code::unknown_order);
      EXPECT_EQ(foreign.id, 0u);
      EXPECT_TRUE(foreign.movements.empty());
    }
    // What each kind moved: a top-up tries and confirms on the user (incoming, then available)
    // and takes the money from the system wallet at its try (its confirm of all of it changes
    // nothing there: no entry); a payment holds and confirms on the payer and credits the
    // merchant; the failed transfer moved nothing.
    auto count_at = [&](order_id id, wallet_id w) {
      return std::count_if(seen[id].begin(), seen[id].end(), [&](const order_movement& m) { return m.wallet == w; });
    };
    EXPECT_EQ(count_at(ids[0], user), 2);
    EXPECT_EQ(seen[ids[0]].size(), 3u);
    EXPECT_EQ(count_at(ids[2], user), 2);
    EXPECT_EQ(count_at(ids[2], merchant), 1);
    EXPECT_EQ(count_at(ids[3], other), 1);
    EXPECT_TRUE(seen[ids[4]].empty());
    EXPECT_EQ(count_at(ids[5], user), 2);

    push_out(eng, filler_a, filler_b, "fill-");
    EXPECT_GE(eng.stats().orders.evicted, ids.size());
    for (order_id id : ids) {
      order_reply stored = eng.get_order(tenant, id, true);
      ASSERT_EQ(stored.id, id);
      ASSERT_EQ(stored.movements.size(), seen[id].size()) << id;
      for (size_t i = 0; i < stored.movements.size(); ++i) {
        EXPECT_EQ(stored.movements[i].wallet, seen[id][i].wallet);
        expect_same(stored.movements[i].entry, seen[id][i].entry, "evicted " + std::to_string(id));
      }
      EXPECT_EQ(eng.get_order(other_tenant, id, true).code, result_code::unknown_order);
      EXPECT_TRUE(eng.get_order(other_tenant, id, true).movements.empty());
    }
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
  }
  // After a restart: the same movements, read from MySQL by the pointers in the stored legs.
  engine eng(test_config());
  for (order_id id : ids) {
    order_reply stored = eng.get_order(tenant, id, true);
    ASSERT_EQ(stored.id, id);
    ASSERT_EQ(stored.movements.size(), seen[id].size()) << id;
    for (size_t i = 0; i < stored.movements.size(); ++i) {
      EXPECT_EQ(stored.movements[i].wallet, seen[id][i].wallet);
      expect_same(stored.movements[i].entry, seen[id][i].entry, "restarted " + std::to_string(id));
    }
    order_reply foreign = eng.get_order(other_tenant, id, true);
    EXPECT_EQ(foreign.code, result_code::unknown_order);
    EXPECT_TRUE(foreign.movements.empty());
  }
  expect_audit_ok();
}

TEST_F(History, WholeWalletHistoryPagesThroughMySQLAndSurvivesARestart) {
  wallet_id a = 0, b = 0;
  uint64_t last = 0;
  std::vector<journal_entry> before;
  {
    engine eng(test_config());
    a = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    b = eng.create_wallet(tenant, usd, wallet_kind::user).id;
    ASSERT_EQ(run(eng, make_command(tenant, order_kind::top_up, "t1", no_wallet, a, 10'000)).state,
              order_state::succeeded);
    for (int i = 0; i < 12; ++i) {
      bool forth = i % 3 != 2;
      ASSERT_EQ(run(eng, make_command(tenant, order_kind::transfer, "x" + std::to_string(i), forth ? a : b,
                                      forth ? b : a, 100 + i))
                    .state,
                order_state::succeeded);
    }
    EXPECT_EQ(run(eng, make_command(tenant, order_kind::transfer, "big", a, b, 50'000'000)).state,
              order_state::failed);
    last = eng.get_wallet(tenant, a).journal_sequence;
    ASSERT_GT(last, 2 * journal_in_memory);  // most of it is no longer in memory
    before = list_all(eng, tenant, a, 1000);
    expect_whole_journal(before, last, "before");
    for (uint32_t limit : {1u, 2u, 3u, 7u}) expect_same(list_all(eng, tenant, a, limit), before, "paged before");
    // Another tenant: nothing, whatever the range.
    auto foreign = eng.movements(other_tenant, a, 0, 100);
    EXPECT_EQ(foreign.first, result_code::unknown_wallet) << to_string(foreign.first);  // as for no such wallet
    EXPECT_TRUE(foreign.second.empty());
    ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(eng.sync_storage());
  }
  engine eng(test_config());
  // After the restart the wallet's journal in memory starts at its checkpoint: the rest is read.
  std::vector<journal_entry> after = list_all(eng, tenant, a, 1000);
  expect_same(after, before, "after restart");
  for (uint32_t limit : {1u, 2u, 3u, 7u}) expect_same(list_all(eng, tenant, a, limit), before, "paged after");
  // Page boundaries: from 0 and from 1 are the same; a page may start on either half of a try
  // and its confirm stored as one row; past the end nothing.
  expect_same(list_all(eng, tenant, a, 5, 1), before, "from 1");
  for (uint64_t from = 1; from <= last; ++from) {
    auto [code, page] = eng.movements(tenant, a, from, 2);
    ASSERT_EQ(code, result_code::ok);
    ASSERT_EQ(page.size(), std::min<uint64_t>(2, last - from + 1)) << from;
    expect_same(page[0], before[from - 1], "page from " + std::to_string(from));
  }
  EXPECT_TRUE(eng.movements(tenant, a, last + 1, 10).second.empty());
  auto foreign = eng.movements(other_tenant, a, 0, 100);
  EXPECT_NE(foreign.first, result_code::ok);
  EXPECT_TRUE(foreign.second.empty());
  // New movements after the restart continue the same journal.
  ASSERT_EQ(run(eng, make_command(tenant, order_kind::transfer, "y1", a, b, 1)).state, order_state::succeeded);
  auto grown = list_all(eng, tenant, a, 3);
  ASSERT_EQ(grown.size(), before.size() + 2);
  expect_same(std::vector<journal_entry>(grown.begin(), grown.begin() + static_cast<long>(before.size())), before,
              "grown");
  expect_whole_journal(grown, last + 2, "grown");
  ASSERT_TRUE(eng.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(eng.sync_storage());
  expect_audit_ok();
}

}  // namespace
