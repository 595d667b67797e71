// Recovery on MySQL (docs/durability-design.md, "Recovery"), against the private MariaDB server
// (TXENGINE_MYSQL_URI): an engine stops committing mid-flight as a crash would; a new engine on
// the same databases resumes every non-final order until all are final, with money conserved;
// repeats of their request ids get them; refunds of payments made before a restart keep within
// what was paid.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "ports/clock.hpp"
#include "core/order_id_generator.hpp"
#include "tests/durable/mysql_engine_support.hpp"

using namespace txengine;
using namespace txengine::mysql_test;

namespace {

constexpr tenant_id tenant = 7;

db::shard_layout test_layout() { return layout_with_prefix("txtest_recovery"); }

//! Channel 2: the provider the mixed orders' top-ups and withdrawals use (channel 1 funds the wallets).
constexpr channel_id mixed_channel = 2;

//! `held_channel`: channel 2's provider answers only after ten minutes, so every top-up and
//! withdrawal through it whose intent committed is still open when the test crashes the engine.
engine_config test_config(ack_mode ack, int64_t try_deadline_ms = 5'000, bool held_channel = false) {
  // A provider that says yes, slowly: top-ups and withdrawals are caught mid-way.
  engine_config config = engine_config_for(storage_for(test_layout(), ack), 150);
  config.channels.push_back({mixed_channel, always_yes_channel(held_channel ? 600'000 : 150)});
  config.order.try_deadline_ms = try_deadline_ms;
  // The provider forgets everything on a restart: orders it was processing are declined once
  // "not found" has lasted this long after their submit.
  config.order.channel_not_found_final_ms = 1'000;
  return config;
}

order_command command(order_kind kind, const std::string& request_id, wallet_id from, wallet_id to, int64_t amount) {
  return make_command(tenant, kind, request_id, from, to, amount);
}

order_command refund_of(const std::string& request_id, order_id original, int64_t amount) {
  order_command c = command(order_kind::refund, request_id, no_wallet, no_wallet, amount);
  c.original_order = original;
  return c;
}

//! Sends every command at once (batches per host) and collects replies until `stop_after` of
//! them came (all by default), within a bound.
std::vector<order_reply> submit(engine& eng, const std::vector<order_command>& commands, size_t stop_after = SIZE_MAX) {
  return submit_all(eng, commands, 100, stop_after);
}

struct stored_row {
  order_id id = 0;
  order_kind kind = order_kind::transfer;
  order_state state = order_state::trying;
  int64_t amount = 0;
  order_id original = 0;
  std::string request_id;
  std::vector<stored_leg> legs;
  bool legs_ok = false;
};

class Recovery : public mysql_engine_test {
 protected:
  Recovery() : mysql_engine_test(test_layout()) {}

  std::vector<stored_row> orders(const std::string& where = "1=1") {
    auto layout = test_layout();
    std::vector<stored_row> rows;
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) {
        auto rs = conn_->query("SELECT id, kind, state, amount, original_order, request_id, legs FROM " +
                               layout.table_at("orders", d, t) + " WHERE " + where);
        while (rs->next()) {
          stored_row r;
          r.id = rs->getUInt64(1);
          r.kind = static_cast<order_kind>(rs->getUInt(2));
          r.state = static_cast<order_state>(rs->getUInt(3));
          r.amount = rs->getInt64(4);
          r.original = rs->getUInt64(5);
          r.request_id = std::string(rs->getString(6));
          r.legs_ok = parse_legs_json(std::string(rs->getString(7)), r.legs);
          rows.push_back(std::move(r));
        }
      }
    return rows;
  }

  //! The TCC record state of a wallet leg, or -1 when the wallet has none for the order.
  int tcc_state(wallet_id wallet, order_id order) {
    auto rs = conn_->query("SELECT state, try_result FROM " + test_layout().table_for("tcc_records", wallet) +
                           " WHERE wallet_id=" + std::to_string(wallet) + " AND order_id=" + std::to_string(order));
    if (!rs->next()) return -1;
    if (rs->getUInt(2) != 0) return 100;  // a refused try
    return static_cast<int>(rs->getUInt(1));
  }

  //! Every try of the order's wallet legs committed and not cancelled (tried or confirmed): resumed,
  //! it must confirm. Refunds need their wallet legs (the allowance was granted).
  bool all_tries_committed(const stored_row& r) {
    if (r.kind == order_kind::top_up || r.kind == order_kind::withdraw) return false;  // the channel decides
    if (r.kind == order_kind::refund && r.legs.size() != 3) return false;
    for (const auto& leg : r.legs) {
      if (leg.participant != participant_kind::wallet) continue;
      int s = tcc_state(leg.target, r.id);
      if (s != static_cast<int>(tcc_record_state::tried) && s != static_cast<int>(tcc_record_state::confirmed))
        return false;
    }
    return true;
  }

  //! The first open TCC records with their order's stored state, to tell why they stayed.
  std::string open_tcc_records() {
    std::map<order_id, stored_row> by_id;
    for (const auto& r : orders()) by_id[r.id] = r;
    std::string out;
    size_t shown = 0;
    for (uint32_t d = 0; d < test_layout().databases && shown < 10; ++d)
      for (uint32_t t : test_layout().tables_in(d)) {
        auto rs = conn_->query("SELECT wallet_id, order_id, leg_type, tried_amount FROM " +
                               test_layout().table_at("tcc_records", d, t) + " WHERE state=0 LIMIT 10");
        while (rs->next() && shown < 10) {
          ++shown;
          order_id id = rs->getUInt64(2);
          auto found = by_id.find(id);
          out += "\n  wallet " + std::to_string(rs->getUInt64(1)) + " order " + std::to_string(id) + " leg type " +
                 std::to_string(rs->getUInt(3)) + " tried " + std::to_string(rs->getInt64(4)) + ": ";
          if (found == by_id.end()) out += "no order row";
          else
            out += "kind " + std::to_string(static_cast<int>(found->second.kind)) + " state " +
                   std::to_string(static_cast<int>(found->second.state));
        }
      }
    return out;
  }

  void expect_consistent(size_t orders_expected) {
    expect_audit_ok();
    EXPECT_EQ(orders("is_final=0").size(), 0u);
    EXPECT_EQ(orders().size(), orders_expected);
    EXPECT_EQ(count("tcc_records", "state=0"), 0) << open_tcc_records();
    // Refunds never took more than their payment.
    std::map<order_id, int64_t> paid, refunded;
    for (const auto& r : orders("is_final=1 AND state=5")) {
      if (r.kind == order_kind::pay) paid[r.id] = r.amount;
      if (r.kind == order_kind::refund) refunded[r.original] += r.amount;
    }
    for (const auto& [original, amount] : refunded) EXPECT_LE(amount, paid[original]) << original;
  }
};

struct population {
  std::vector<wallet_id> users, merchants;
  std::vector<order_id> payments;
};

//! Users and merchants with money, and a few payments to refund later; everything final.
population populate(engine& eng, size_t users, size_t merchants) {
  population p;
  for (size_t i = 0; i < users; ++i) p.users.push_back(eng.create_wallet(tenant, usd, wallet_kind::user).id);
  for (size_t i = 0; i < merchants; ++i)
    p.merchants.push_back(eng.create_wallet(tenant, usd, wallet_kind::merchant).id);
  std::vector<order_command> funding;
  for (size_t i = 0; i < p.users.size(); ++i)
    funding.push_back(command(order_kind::top_up, "fund-u" + std::to_string(i), no_wallet, p.users[i], 100'000));
  for (size_t i = 0; i < p.merchants.size(); ++i)
    funding.push_back(command(order_kind::top_up, "fund-m" + std::to_string(i), no_wallet, p.merchants[i], 100'000));
  for (const auto& reply : submit(eng, funding)) EXPECT_EQ(reply.state, order_state::succeeded);
  std::vector<order_command> pays;
  for (size_t i = 0; i < 20; ++i)
    pays.push_back(command(order_kind::pay, "paid-" + std::to_string(i), p.users[i % p.users.size()],
                           p.merchants[i % p.merchants.size()], 1'000));
  for (const auto& reply : submit(eng, pays)) {
    EXPECT_EQ(reply.state, order_state::succeeded);
    p.payments.push_back(reply.id);
  }
  return p;
}

//! A mix of every kind, some failing (too large), refunds of the earlier payments among them.
std::vector<order_command> mixed(const population& p, size_t count, const std::string& prefix, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<order_command> out;
  for (size_t i = 0; i < count; ++i) {
    std::string id = prefix + std::to_string(i);
    wallet_id a = p.users[rng() % p.users.size()];
    wallet_id b = p.users[rng() % p.users.size()];
    if (b == a) b = p.users[(std::find(p.users.begin(), p.users.end(), a) - p.users.begin() + 1) % p.users.size()];
    wallet_id m = p.merchants[rng() % p.merchants.size()];
    int64_t amount = 1 + static_cast<int64_t>(rng() % 400);
    switch (i % 10) {
      case 0: out.push_back(command(order_kind::top_up, id, no_wallet, a, amount)); out.back().channel = mixed_channel; break;
      case 1: out.push_back(command(order_kind::withdraw, id, a, no_wallet, amount)); out.back().channel = mixed_channel; break;
      case 2: out.push_back(command(order_kind::pay, id, a, m, amount)); break;
      case 3: out.push_back(refund_of(id, p.payments[rng() % p.payments.size()], 1 + rng() % 300)); break;
      case 4: out.push_back(command(order_kind::transfer, id, a, b, 10'000'000)); break;  // fails: compensated
      default: out.push_back(command(order_kind::transfer, id, a, b, amount)); break;
    }
  }
  return out;
}

}  // namespace

//! Moves an engine's virtual clock forward by a millisecond each time every order host answered
//! a query (so after they handled what came before it): time passes only as fast as the engine
//! works, never while it is stalled. Stops (and is joined) when destroyed.
class time_pump {
 public:
  time_pump(engine& eng, manual_clock& clock)
      : thread_([this, &eng, &clock] {
          while (!stop_.load()) {
            (void)eng.stats();
            clock.advance(1);
          }
        }) {}
  ~time_pump() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

//! (replies before the crash, restart after every try deadline passed)
class RecoveryCrash : public Recovery, public ::testing::WithParamInterface<std::tuple<size_t, bool>> {};

TEST_P(RecoveryCrash, EveryOrderResumesToAFinalStateAndMoneyIsConserved) {
  // Durable acks: in memory mode an order's intent and final rows mostly share a batch, so a
  // stop leaves hardly any non-final row (Recovery.WrittenRows* covers what recovery does there).
  const ack_mode ack = ack_mode::durable;
  const size_t replies_before_crash = std::get<0>(GetParam());
  const bool slow_restart = std::get<1>(GetParam());
  const int64_t deadline_ms = slow_restart ? 1'500 : 5'000;
  std::vector<order_command> commands;
  std::vector<order_reply> acknowledged;
  population pop;
  {
    engine first(test_config(ack, deadline_ms, /*held_channel=*/true));
    pop = populate(first, 60, 6);
    commands = mixed(pop, 3000, "crash-", 42);
    acknowledged = submit(first, commands, replies_before_crash);
    // The crash must catch orders mid-way: the mixed top-ups and withdrawals wait for a provider
    // that does not answer before it, so once one's intent committed it stays open (waiting for
    // "any open order" was not enough: the open ones could all finish before the stop). Under
    // load the first replies can come before any such commit, so wait for one, bounded.
    const std::string held = "is_final=0 AND kind IN (" + std::to_string(static_cast<int>(order_kind::top_up)) + "," +
                             std::to_string(static_cast<int>(order_kind::withdraw)) + ")";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (orders(held).empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    first.stop_storage_now();  // a crash: from here nothing more is committed
  }
  auto open = orders("is_final=0");
  std::map<std::string, int> codes;
  for (const auto& reply : acknowledged)
    if (reply.id != 0 || reply.code != result_code::ok) ++codes[std::string(to_string(reply.code))];
  std::string seen;
  for (const auto& [code, n] : codes) seen += code + " x" + std::to_string(n) + " ";
  ASSERT_GT(open.size(), 0u) << "the crash caught no order mid-way; replies before it: " << seen;
  // Recovery finds them through open_orders (migration 0006): the writer put every one there.
  EXPECT_EQ(count("open_orders"), static_cast<int64_t>(open.size()));
  EXPECT_EQ(count("refunds"), static_cast<int64_t>(orders("kind=4").size()));
  std::set<order_id> must_succeed;
  std::map<std::string, order_id> open_by_request;
  std::map<order_kind, size_t> open_by_kind;
  for (const auto& r : open) {
    EXPECT_TRUE(r.legs_ok) << r.id;
    if (all_tries_committed(r)) must_succeed.insert(r.id);
    open_by_request[r.request_id] = r.id;
    ++open_by_kind[r.kind];
  }
  size_t stored = orders().size();
  // Past every deadline: lost tries are refused by their wallets and their orders compensate.
  // No sleeping through the deadlines: the second engine runs on virtual time that starts after
  // them (and moves while the engine works, see time_pump); the quick restart runs on wall time.
  manual_clock later(wall_clock_ms() + deadline_ms + 100);
  engine_config second_config = test_config(ack, deadline_ms);
  if (slow_restart) second_config.clock = &later;
  engine second(second_config);
  std::optional<time_pump> pump;
  if (slow_restart) pump.emplace(second, later);
  // Repeats of the open orders' request ids, at once (recovery may still be reading): each gets
  // its order, final, never a new one.
  std::vector<order_command> repeats;
  for (const auto& c : commands)
    if (open_by_request.count(c.request_id)) repeats.push_back(c);
  auto repeated = submit(second, repeats);
  for (size_t i = 0; i < repeats.size(); ++i) {
    EXPECT_EQ(repeated[i].id, open_by_request[repeats[i].request_id]) << repeats[i].request_id;
    EXPECT_TRUE(is_final(repeated[i].state)) << repeats[i].request_id;
    EXPECT_TRUE(repeated[i].duplicate) << repeats[i].request_id;
  }
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(60)));
  auto report = second.recovery();
  EXPECT_TRUE(report.done);
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_EQ(report.orders, open.size()) << report.summary();
  EXPECT_EQ(report.resumed, open.size()) << report.summary();
  EXPECT_EQ(report.unreadable, 0u);
  for (const auto& [kind, n] : open_by_kind) EXPECT_EQ(report.by_kind[static_cast<size_t>(kind)], n);
  EXPECT_EQ(second.stats().orders.resumed, open.size());
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(60)));
  ASSERT_TRUE(second.sync_storage());
  expect_consistent(stored);
  // Orders whose every try was committed before the deadline succeed; acknowledged ones kept
  // their acknowledged state (durable acks: committed before the reply).
  std::map<order_id, order_state> final_state;
  for (const auto& r : orders()) final_state[r.id] = r.state;
  // (How many there are depends on the timing; Recovery.WrittenRows... makes them for sure.)
  for (order_id id : must_succeed) EXPECT_EQ(final_state[id], order_state::succeeded) << id;
  size_t checked = 0;
  for (const auto& reply : acknowledged) {
    if (reply.id == 0 || !is_final(reply.state)) continue;
    if (ack == ack_mode::durable) {
      EXPECT_EQ(final_state[reply.id], reply.state) << reply.id;
    }
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  // Balances in memory equal the committed ones.
  for (wallet_id w : pop.users) {
    auto stored = db::read_effective_wallet(*conn_, test_layout(), w);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ((balances{stored->available, stored->frozen, stored->incoming}), second.get_wallet(tenant, w).current);
  }
  // The engine goes on: new orders, and refunds of the earlier payments up to what is left.
  auto more = mixed(pop, 500, "after-", 43);
  for (const auto& reply : submit(second, more)) EXPECT_TRUE(is_final(reply.state)) << to_string(reply.code);
  std::vector<order_command> full_refunds;
  for (size_t i = 0; i < pop.payments.size(); ++i)
    full_refunds.push_back(refund_of("full-" + std::to_string(i), pop.payments[i], 1'000));
  submit(second, full_refunds);
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(60)));
  ASSERT_TRUE(second.sync_storage());
  expect_consistent(orders().size());
}

INSTANTIATE_TEST_SUITE_P(Restarts, RecoveryCrash,
                         ::testing::Values(std::make_tuple(size_t{100}, false), std::make_tuple(size_t{100}, true),
                                           std::make_tuple(size_t{750}, true)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) < 500 ? "Early" : "Later") +
                                  (std::get<1>(info.param) ? "PastDeadlines" : "Quick");
                         });

TEST_F(Recovery, RefundsOfPaymentsMadeBeforeARestartStayWithinThePayment) {
  wallet_id user = no_wallet, merchant = no_wallet;
  order_id paid = 0;
  order_command payment;
  {
    engine first(test_config(ack_mode::durable));
    user = first.create_wallet(tenant, usd, wallet_kind::user).id;
    merchant = first.create_wallet(tenant, usd, wallet_kind::merchant).id;
    ASSERT_EQ(first.execute(command(order_kind::top_up, "f1", no_wallet, user, 5'000)).state, order_state::succeeded);
    ASSERT_EQ(first.execute(command(order_kind::top_up, "f2", no_wallet, merchant, 5'000)).state,
              order_state::succeeded);
    payment = command(order_kind::pay, "p1", user, merchant, 1'000);
    auto reply = first.execute(payment);
    ASSERT_EQ(reply.state, order_state::succeeded);
    paid = reply.id;
    ASSERT_EQ(first.execute(refund_of("r1", paid, 300)).state, order_state::succeeded);
    auto refused = first.execute(refund_of("r2", paid, 800));
    ASSERT_EQ(refused.code, result_code::refund_exceeds_original);
  }
  {
    engine second(test_config(ack_mode::durable));
    ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
    auto over = second.execute(refund_of("r3", paid, 701));
    EXPECT_EQ(over.state, order_state::failed);
    EXPECT_EQ(over.code, result_code::refund_exceeds_original);
    EXPECT_EQ(second.execute(refund_of("r4", paid, 400)).state, order_state::succeeded);
    // Concurrent refunds of what is left: 300 in 50s, 20 tries.
    std::vector<order_command> storm;
    for (int i = 0; i < 20; ++i) storm.push_back(refund_of("s" + std::to_string(i), paid, 50));
    int64_t refunded = 0;
    for (const auto& reply : submit(second, storm))
      if (reply.state == order_state::succeeded) refunded += 50;
    EXPECT_EQ(refunded, 300);
    EXPECT_EQ(second.execute(refund_of("r5", paid, 1)).code, result_code::refund_exceeds_original);
    // A refund of an unknown order, of a failed one, of another tenant's: refused, nothing moves.
    EXPECT_EQ(second.execute(refund_of("r6", paid + 1, 1)).code, result_code::unknown_order);
    order_command other = refund_of("r7", paid, 1);
    other.tenant = tenant + 1;
    EXPECT_EQ(second.execute(other).code, result_code::unknown_order);  // as if it did not exist
    ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(30)));
  }
  {
    // Once more, and this time the payment's request id is repeated first (its row read back
    // by the request-id lookup): its allowance is still rebuilt before any refund step.
    engine third(test_config(ack_mode::durable));
    auto again = third.execute(payment);
    EXPECT_EQ(again.id, paid);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(third.execute(refund_of("r8", paid, 1)).code, result_code::refund_exceeds_original);
    EXPECT_EQ(third.execute(refund_of("r1", paid, 300)).id, third.execute(refund_of("r1", paid, 300)).id);
    ASSERT_TRUE(third.wait_until_quiet(std::chrono::seconds(30)));
    ASSERT_TRUE(third.sync_storage());
    EXPECT_EQ(third.get_wallet(tenant, user).current.available, 5'000 - 1'000 + 1'000);
    EXPECT_EQ(third.get_wallet(tenant, merchant).current.available, 5'000 + 1'000 - 1'000);
  }
  expect_consistent(orders().size());
}

TEST_F(Recovery, NothingToResumeOnAFreshOrCleanDatabase) {
  {
    engine first(test_config(ack_mode::durable));
    ASSERT_TRUE(first.wait_for_recovery(std::chrono::seconds(30)));
    auto report = first.recovery();
    EXPECT_EQ(report.orders, 0u);
    EXPECT_NE(report.summary().find("resumed 0 of 0"), std::string::npos) << report.summary();
    wallet_id user = first.create_wallet(tenant, usd, wallet_kind::user).id;
    ASSERT_EQ(first.execute(command(order_kind::top_up, "f1", no_wallet, user, 5'000)).state, order_state::succeeded);
  }
  engine second(test_config(ack_mode::durable));  // stopped cleanly: every order final
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
  EXPECT_EQ(second.recovery().orders, 0u);
  EXPECT_EQ(second.recovery().resumed, 0u);
}

namespace {

//! Writes what the engine's writer would have committed for orders cut short by a crash.
class row_writer {
 public:
  explicit row_writer(db::mysql_connection& conn) : conn_(conn) {}

  //! The intent row of a transfer (state trying, its legs, its request id), created `age_ms` ago.
  order_id transfer_intent(const order_command& c, int64_t age_ms, int64_t try_deadline_ms) {
    int64_t created = wall_clock_ms() - age_ms;
    order_id id = ids_.next(created);
    order_core core(id, c, no_wallet, order_config{}, created);
    std::string legs = format_legs_json(core.stored(created).legs);
    auto layout = test_layout();
    conn_.execute("INSERT INTO " + layout.table_for("orders", order_home(c)) +
                  " (id,tenant,request_id,kind,state,is_final,result_code,currency,amount,confirmed_amount,source,"
                  "destination,fee_wallet,fee_amount,original_order,channel,legs,attempts,try_deadline_ms,created_ms,"
                  "updated_ms,final_ms) VALUES (" +
                  std::to_string(id) + "," + std::to_string(c.tenant) + ",'" + c.request_id + "'," +
                  std::to_string(static_cast<unsigned>(c.kind)) + ",1,0,0,'" + c.cur.code() + "'," +
                  std::to_string(c.amount) + ",0," + std::to_string(c.source) + "," + std::to_string(c.destination) +
                  ",0,0,0,0,'" + legs + "',0," + std::to_string(created + try_deadline_ms) + "," +
                  std::to_string(created) + "," + std::to_string(created) + ",0)");
    conn_.execute("INSERT INTO " + layout.table_for("open_orders", order_home(c)) + " (id) VALUES (" +
                  std::to_string(id) + ")");
    conn_.execute("INSERT INTO " +
                  layout.table_for("request_ids", db::shard_layout::request_key(c.tenant, c.request_id)) +
                  " (tenant,request_id,order_id,content_hash,created_ms) VALUES (" + std::to_string(c.tenant) + ",'" +
                  c.request_id + "'," + std::to_string(id) + "," + std::to_string(command_content_hash(c)) + "," +
                  std::to_string(created) + ")");
    return id;
  }

  //! A committed step of one wallet leg: its fund movement (when the balances change) and its
  //! TCC record. The wallet row is left as it was: it is a checkpoint, the movement carries the
  //! new balances and version (docs/persistence.md), so the engine must load the stale row's
  //! wallet from its journal.
  void step(wallet_id wallet, order_id order, leg_type type, tcc_phase phase, int64_t amount) {
    auto layout = test_layout();
    auto current = db::read_effective_wallet(conn_, layout, wallet);
    ASSERT_TRUE(current.has_value());
    balances b{current->available, current->frozen, current->incoming};
    uint64_t version = current->version;
    balances d;
    if (type == leg_type::debit_hold) d = phase == tcc_phase::try_ ? balances{-amount, amount, 0} : balances{0, -amount, 0};
    if (type == leg_type::credit_on_confirm && phase == tcc_phase::confirm) d = {amount, 0, 0};
    if (d != balances{}) {
      balances after{b.available + d.available, b.frozen + d.frozen, b.incoming + d.incoming};
      conn_.execute("INSERT INTO " + layout.table_for("fund_movements", wallet) +
                    " (wallet_id,seq,order_id,phase,d_available,d_frozen,d_incoming,available_after,frozen_after,"
                    "incoming_after,at_ms) VALUES (" +
                    std::to_string(wallet) + "," + std::to_string(version + 1) + "," + std::to_string(order) + "," +
                    std::to_string(static_cast<unsigned>(phase)) + "," + std::to_string(d.available) + "," +
                    std::to_string(d.frozen) + "," + std::to_string(d.incoming) + "," + std::to_string(after.available) +
                    "," + std::to_string(after.frozen) + "," + std::to_string(after.incoming) + "," +
                    std::to_string(wall_clock_ms()) + ")");
    }
    auto state = phase == tcc_phase::try_ ? tcc_record_state::tried : tcc_record_state::confirmed;
    conn_.execute("INSERT INTO " + layout.table_for("tcc_records", wallet) +
                  " (wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,try_deadline_ms,"
                  "updated_ms) VALUES (" +
                  std::to_string(wallet) + "," + std::to_string(order) + "," +
                  std::to_string(static_cast<unsigned>(type)) + "," + std::to_string(static_cast<unsigned>(state)) +
                  ",0," + std::to_string(amount) + "," + std::to_string(phase == tcc_phase::confirm ? amount : 0) +
                  ",0," + std::to_string(wall_clock_ms()) + ") ON DUPLICATE KEY UPDATE state=VALUES(state)," +
                  "confirmed_amount=VALUES(confirmed_amount)");
  }

 private:
  db::mysql_connection& conn_;
  order_id_generator ids_{0, 0};
};

}  // namespace

class RecoveryWritten : public Recovery, public ::testing::WithParamInterface<ack_mode> {};

TEST_P(RecoveryWritten, OrdersResumeAsTheirWalletsTccRecordsSay) {
  std::vector<wallet_id> u;
  {
    engine first(test_config(GetParam()));
    for (int i = 0; i < 8; ++i) {
      u.push_back(first.create_wallet(tenant, usd, wallet_kind::user).id);
      ASSERT_EQ(first.execute(command(order_kind::top_up, "f" + std::to_string(i), no_wallet, u.back(), 10'000)).state,
                order_state::succeeded);
    }
  }
  // Four transfers cut short a minute ago (every try deadline long passed), as a crash leaves them:
  row_writer rows(*conn_);
  const int64_t age = 60'000, deadline = 5'000;
  auto a = command(order_kind::transfer, "a", u[0], u[1], 100);  // both tries committed: confirms
  auto b = command(order_kind::transfer, "b", u[2], u[3], 100);  // the destination's try lost: compensates
  auto c = command(order_kind::transfer, "c", u[4], u[5], 100);  // confirming cut short: confirms
  auto d = command(order_kind::transfer, "d", u[6], u[7], 100);  // the intent only: fails
  order_id ia = rows.transfer_intent(a, age, deadline);
  order_id ib = rows.transfer_intent(b, age, deadline);
  order_id ic = rows.transfer_intent(c, age, deadline);
  order_id id = rows.transfer_intent(d, age, deadline);
  rows.step(u[0], ia, leg_type::debit_hold, tcc_phase::try_, 100);
  rows.step(u[1], ia, leg_type::credit_on_confirm, tcc_phase::try_, 100);
  rows.step(u[2], ib, leg_type::debit_hold, tcc_phase::try_, 100);
  rows.step(u[4], ic, leg_type::debit_hold, tcc_phase::try_, 100);
  rows.step(u[5], ic, leg_type::credit_on_confirm, tcc_phase::try_, 100);
  rows.step(u[4], ic, leg_type::debit_hold, tcc_phase::confirm, 100);
  if (HasFatalFailure()) return;

  engine second(test_config(GetParam()));
  // A repeat of each request id: the resumed order, never a new one.
  auto replies = submit(second, {a, b, c, d});
  std::vector<order_id> ids{ia, ib, ic, id};
  std::vector<order_state> want{order_state::succeeded, order_state::failed, order_state::succeeded,
                                order_state::failed};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(replies[i].id, ids[i]) << i;
    EXPECT_EQ(replies[i].state, want[i]) << i;
    EXPECT_TRUE(replies[i].duplicate) << i;
  }
  EXPECT_EQ(replies[1].code, result_code::tcc_deadline_passed);
  EXPECT_EQ(replies[3].code, result_code::tcc_deadline_passed);
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
  EXPECT_EQ(second.recovery().resumed, 4u) << second.recovery().summary();
  EXPECT_EQ(second.recovery().by_state[static_cast<size_t>(order_state::trying)], 4u);
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(30)));
  ASSERT_TRUE(second.sync_storage());
  std::vector<int64_t> available{9'900, 10'100, 10'000, 10'000, 9'900, 10'100, 10'000, 10'000};
  for (size_t i = 0; i < u.size(); ++i) {
    auto view = second.get_wallet(tenant, u[i]);
    EXPECT_EQ(view.current, (balances{available[i], 0, 0})) << i;
    EXPECT_EQ(view.open_transactions, 0u) << i;
  }
  expect_consistent(8 + 4);
  // Another start finds nothing left to resume.
}

INSTANTIATE_TEST_SUITE_P(Acks, RecoveryWritten, ::testing::Values(ack_mode::durable, ack_mode::memory),
                         [](const auto& info) { return std::string(info.param == ack_mode::durable ? "Durable" : "Memory"); });

TEST_F(Recovery, ARoutedOrderResumesAtTheProviderItsRowNames) {
  // Route: provider 2, then 3. Before the stop, 2 refuses every order with a code it declared
  // "nothing moved", and 3 holds them (answers after ten minutes): each payout is re-routed to 3,
  // its row naming "2,3" committed before the submit to 3. After the restart 2 declines with a
  // code it did not declare: an order resumed at 2 would fail; resumed at 3 (its row's last), it
  // is asked there, submitted again under its id and paid.
  route_rule rule;
  rule.providers = {{2, 1}, {3, 0}};
  channel_config declared = always_yes_channel(5);
  declared.decline_ppm = 1'000'000;
  declared.declared_decline_ppm = 1'000'000;
  engine_config config = engine_config_for(storage_for(test_layout(), ack_mode::durable), 5);
  config.order.channel_not_found_final_ms = 500;
  config.channels.push_back({2, declared});
  config.channels.push_back({3, always_yes_channel(600'000)});
  config.routes = {rule};
  wallet_id user = 0;
  std::vector<order_command> payouts;
  {
    engine first(config);
    user = first.create_wallet(tenant, usd, wallet_kind::user).id;
    ASSERT_EQ(first.execute(command(order_kind::top_up, "fund", no_wallet, user, 10'000)).state,
              order_state::succeeded);  // names channel 1
    for (int i = 0; i < 5; ++i) {
      payouts.push_back(command(order_kind::withdraw, "out" + std::to_string(i), user, no_wallet, 1'000));
      payouts.back().channel = 0;  // routed
    }
    submit(first, payouts, 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (count("orders", "is_final=0 AND route='2,3'") < 5 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(count("orders", "is_final=0 AND route='2,3'"), 5);
    EXPECT_EQ(first.stats().orders.channel_reroutes, 5u);
    first.stop_storage_now();
  }
  channel_config undeclared = declared;
  undeclared.declared_decline_ppm = 0;
  config.channels = {{1, always_yes_channel(5)}, {2, undeclared}, {3, always_yes_channel(5)}};
  engine second(config);
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
  EXPECT_EQ(second.recovery().resumed, 5u);
  auto repeated = submit(second, payouts);
  for (const auto& r : repeated) {
    EXPECT_EQ(r.state, order_state::succeeded) << r.request_id << " " << to_string(r.code);
    EXPECT_EQ(r.posted_amount, 1'000);
  }
  EXPECT_EQ(second.stats().orders.channel_reroutes, 0u);
  EXPECT_EQ(second.get_wallet(tenant, user).current, (balances{5'000, 0, 0}));
  ASSERT_TRUE(second.sync_storage());
  EXPECT_EQ(count("orders", "is_final=1 AND route='2,3'"), 5);
  EXPECT_EQ(count("orders", "route='1'"), 1);  // the funding top-up named its channel
  expect_audit_ok();
}

TEST_F(Recovery, AnUnreadableRowIsLeftAsItIsAndReported) {
  std::vector<wallet_id> u;
  {
    engine first(test_config(ack_mode::durable));
    for (int i = 0; i < 2; ++i) {
      u.push_back(first.create_wallet(tenant, usd, wallet_kind::user).id);
      ASSERT_EQ(first.execute(command(order_kind::top_up, "f" + std::to_string(i), no_wallet, u.back(), 1'000)).state,
                order_state::succeeded);
    }
  }
  row_writer rows(*conn_);
  auto good = command(order_kind::transfer, "good", u[0], u[1], 10);
  auto bad = command(order_kind::transfer, "bad", u[1], u[0], 10);
  rows.transfer_intent(good, 0, 5'000);
  order_id broken = rows.transfer_intent(bad, 0, 5'000);
  conn_->execute("UPDATE " + test_layout().table_for("orders", u[1]) + " SET legs='[{\"w\":1}]' WHERE id=" +
                 std::to_string(broken));
  engine second(test_config(ack_mode::durable));
  ASSERT_TRUE(second.wait_for_recovery(std::chrono::seconds(30)));
  auto report = second.recovery();
  EXPECT_EQ(report.orders, 2u);
  EXPECT_EQ(report.resumed, 1u);
  EXPECT_EQ(report.unreadable, 1u);
  EXPECT_NE(report.summary().find("1 not resumed"), std::string::npos) << report.summary();
  ASSERT_TRUE(second.wait_until_quiet(std::chrono::seconds(30)));
  // Its request id is not taken by a new order: a repeat gets `unavailable`, nothing moves.
  auto repeat = second.execute(bad);
  EXPECT_EQ(repeat.id, 0u);
  EXPECT_EQ(repeat.code, result_code::unavailable);
  EXPECT_EQ(second.execute(good).state, order_state::succeeded);
  EXPECT_EQ(second.get_wallet(tenant, u[0]).current, (balances{990, 0, 0}));
  EXPECT_EQ(second.get_wallet(tenant, u[1]).current, (balances{1'010, 0, 0}));
  ASSERT_TRUE(second.sync_storage());
  EXPECT_EQ(orders("is_final=0").size(), 1u);  // the unreadable one, untouched
}
