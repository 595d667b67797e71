// Random end-to-end runs of order_core against real wallet cores, a refund allowance and a
// misbehaving simulated channel, over a network that delays, loses, duplicates and reorders
// every message. Whatever happens, every order must end final, nothing may stay open, and
// the currency must still sum to zero. The same runs with crashes: at given instants every
// order, message and the provider's memory are lost; the orders come back from what their
// stored rows held (order_core::restore, resume) and the refund allowance from the stored
// refunds, as after a restart on MySQL (the wallets keep what they applied: committed).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/order_core.hpp"
#include "core/refund_allowance.hpp"
#include "core/simulated_channel.hpp"
#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;

constexpr wallet_id system_w = 1, user_a = 2, user_b = 3, merchant_w = 4, fee_w = 5;
constexpr order_id original_payment = 1'000'000;
constexpr int64_t never = std::numeric_limits<int64_t>::max();

struct message {
  bool to_order = false;  //!< false: a step to a participant; true: its answer
  size_t order = 0;
  uint16_t leg = 0;
  tcc_phase phase = tcc_phase::try_;
  int64_t amount = 0;
  result_code code = result_code::ok;
  balances after;
  bool origin = false;  //!< the allowance accepted: deliver as on_refund_origin
};

struct world {
  //! `retention_ms`: how long the wallets keep finished records; by default every record, to
  //! audit it (check_world). The journals keep every entry either way.
  explicit world(uint64_t seed, int64_t retention_ms = int64_t{1} << 40) : rng(seed), channel(make_channel(seed)) {
    wallet_config config;
    config.finished_record_retention_ms = retention_ms;
    config.journal_entries_max = size_t{1} << 20;
    for (auto [id, kind] : {std::pair{system_w, wallet_kind::system}, {user_a, wallet_kind::user},
                            {user_b, wallet_kind::user}, {merchant_w, wallet_kind::merchant},
                            {fee_w, wallet_kind::fee}})
      wallets.emplace(id, wallet_core(make_info(id, kind), config));
    // Money comes in through the system wallet, so the currency sums to zero from the start.
    order_id txn = 5'000'000;
    for (wallet_id id : {user_a, user_b, merchant_w, fee_w}) {
      ++txn;
      auto& sys = wallets.at(system_w);
      auto& w = wallets.at(id);
      try_leg(sys, txn, leg_type::debit_direct, 50'000);
      try_leg(w, txn, leg_type::credit_incoming, 50'000);
      confirm_leg(sys, txn, leg_type::debit_direct, 50'000);
      confirm_leg(w, txn, leg_type::credit_incoming, 50'000);
    }
  }

  static channel_config make_channel(uint64_t seed) {
    channel_config c;
    c.latency_ms = 5;
    c.settle_ms = 40;
    c.decline_ppm = 100'000;
    c.reply_lost_ppm = 100'000;
    c.reply_unknown_ppm = 100'000;
    c.submit_lost_ppm = 30'000;
    c.partial_ppm = 100'000;
    c.rate_per_s = 10;  // bursts overflow the provider's queue: busy declines
    c.queue_max = 3;
    c.seed = seed;
    return c;
  }

  bool chance(int per_mille) { return int(rng() % 1000) < per_mille; }

  void post(message m) {
    if (chance(20)) return;  // lost
    int copies = chance(20) ? 2 : 1;  // duplicated
    for (int i = 0; i < copies; ++i) {
      int64_t delay = int64_t(rng() % 30);
      if (chance(15)) delay += 3000 + int64_t(rng() % 6000);  // a stalled link
      // User B's node hangs for six seconds: its tries outlive their deadline, the orders
      // cancel, and the stalled tries arrive after their cancels.
      const order_leg& leg = orders[m.order]->legs()[m.leg];
      if (!m.to_order && leg.participant == participant_kind::wallet && leg.target == user_b &&
          now >= 8000 && now < 14'000)
        delay += 14'000 - now;
      network.emplace(now + delay, m);
    }
  }

  order_command random_command(size_t index) {
    order_command c;
    c.tenant = tenant;
    c.request_id = "r-" + std::to_string(index);
    c.cur = usd;
    c.amount = int64_t(rng() % 3000 + 1);
    switch (rng() % 6) {
      case 0: c.kind = order_kind::top_up, c.destination = user_a, c.channel = 1; break;
      case 1:
        c.kind = order_kind::pay, c.source = user_b, c.destination = merchant_w;
        if (chance(500)) c.fee_wallet = fee_w, c.fee_amount = c.amount / 10;
        if (c.fee_amount == 0) c.fee_wallet = no_wallet;
        break;
      case 2: c.kind = order_kind::withdraw, c.source = user_b, c.channel = 1; break;
      case 3: c.kind = order_kind::transfer, c.source = user_a, c.destination = user_b; break;
      case 4: c.kind = order_kind::refund, c.original_order = original_payment, c.amount %= 800; break;
      default: c.kind = order_kind::commission, c.source = fee_w, c.destination = merchant_w; break;
    }
    if (c.amount == 0) c.amount = 1;
    return c;
  }

  void handle(size_t oi, const std::vector<order_action>& actions) {
    order_core& o = *orders[oi];
    for (const auto& a : actions) {
      switch (a.kind) {
        case order_action_kind::send_step: {
          message m;
          m.order = oi;
          m.leg = a.leg;
          m.phase = o.legs()[a.leg].phase;
          m.amount = o.step_amount(a.leg);
          post(m);
          break;
        }
        case order_action_kind::channel_submit:
        case order_action_kind::channel_resubmit:
        case order_action_kind::channel_reroute:
        case order_action_kind::channel_close:
        case order_action_kind::channel_query: {
          channel_request r;
          r.what = a.kind == order_action_kind::channel_query   ? channel_request::kind::query
                   : a.kind == order_action_kind::channel_close ? channel_request::kind::close
                                                                : channel_request::kind::submit;
          r.order = o.id();
          r.amount = o.command().amount;
          std::vector<channel_response> answers;
          channel.receive(r, now, answers);
          deliver_channel(answers);
          break;
        }
        case order_action_kind::finished:
          ++finished;
          rows[oi] = o.stored(now);
          break;
        case order_action_kind::alert: ++alerts[a.alert]; break;
        case order_action_kind::persist: rows[oi] = o.stored(now); break;
      }
    }
  }

  void deliver_channel(const std::vector<channel_response>& answers) {
    for (const auto& r : answers) {
      size_t oi = by_id.at(r.order);
      std::vector<order_action> out;
      orders[oi]->on_channel(r.outcome, r.settled_amount, now, out,
                             r.busy ? result_code::channel_busy : result_code::channel_declined);
      handle(oi, out);
    }
  }

  void deliver(const message& m) {
    order_core& o = *orders[m.order];
    if (m.to_order) {
      std::vector<order_action> out;
      if (m.origin)
        o.on_refund_origin(refund_origin{user_a, merchant_w}, now, out);
      else
        o.on_step_reply(m.leg, m.phase, m.code, tenant, m.after, now, out);
      handle(m.order, out);
      return;
    }
    const order_leg& leg = o.legs()[m.leg];
    message reply = m;
    reply.to_order = true;
    if (leg.participant == participant_kind::original_order) {
      reply.code = allowance.apply(o.id(), m.phase, m.amount);
      reply.origin = m.phase == tcc_phase::try_ && reply.code == result_code::ok;
    } else {
      leg_command c;
      c.txn = o.id();
      c.phase = m.phase;
      c.type = leg.type;
      c.amount = m.amount;
      c.tenant = o.command().tenant;
      c.cur = o.command().cur;
      c.try_deadline_ms = o.try_deadline_ms();
      c.wallet_kinds_allowed = leg.wallet_kinds_allowed;
      leg_outcome out = wallets.at(leg.target).apply(c, now);
      reply.code = out.code;
      reply.after = out.after;
    }
    post(reply);
  }

  int64_t total() const {
    int64_t sum = 0;
    for (const auto& [id, w] : wallets) sum += w.current().available + w.current().frozen + w.current().incoming;
    return sum;
  }

  static std::string legs_of(const order_core& o) {
    std::string out;
    for (const auto& l : o.legs())
      out += " [w" + std::to_string(l.target) + " phase " + std::to_string(int(l.phase)) + " attempts " +
             std::to_string(l.attempts) + (l.awaiting ? " awaiting" : "") + "]";
    return out;
  }
  //! The orders not final (a failure's report).
  std::string unfinished() const {
    std::string out;
    for (size_t i = 0; i < orders.size(); ++i)
      if (orders[i] && !is_final(orders[i]->state()))
        out += " " + std::to_string(i + 1) + " (" + std::string(to_string(orders[i]->command().kind)) + " " +
               std::string(to_string(orders[i]->state())) + " legs" + legs_of(*orders[i]) + ")";
    return out;
  }

  //! Everything not stored is lost; the orders resume from their rows.
  void crash(int64_t downtime_ms) {
    ++crashes;
    now += downtime_ms;  // nothing runs until the restart
    network.clear();
    channel = simulated_channel(make_channel(rng()));  // the provider forgot every order
    // The allowance as the original's host rebuilds it from the stored refunds.
    allowance = refund_allowance{20'000};
    for (size_t i = 0; i < orders.size(); ++i) {
      if (!orders[i] || orders[i]->command().kind != order_kind::refund) continue;
      const stored_order& row = rows[i];
      int64_t amount = orders[i]->command().amount;
      bool granted = row.legs.size() == 3;
      bool restored = true;
      if (row.state == order_state::succeeded) restored = allowance.restore(order_id(i + 1), tcc_phase::confirm, amount);
      else if (row.state == order_state::failed) restored = allowance.restore(order_id(i + 1), tcc_phase::cancel, 0);
      else if (granted) restored = allowance.restore(order_id(i + 1), tcc_phase::try_, amount);
      EXPECT_TRUE(restored) << "refund " << i + 1;
    }
    for (size_t i = 0; i < orders.size(); ++i) {
      if (!orders[i] || is_final(orders[i]->state())) continue;
      std::string error;
      auto restored = order_core::restore(order_id(i + 1), orders[i]->command(), rows[i], order_config{}, &error);
      ASSERT_TRUE(restored) << error;
      ++resumed_by_state[rows[i].state];
      orders[i] = std::make_unique<order_core>(std::move(*restored));
      std::vector<order_action> out;
      orders[i]->resume(now, out);
      handle(i, out);
    }
  }

  //! The whole process stops for `length_ms` (a GC, a stopped VM, a clock step): nothing runs,
  //! and what was due meanwhile (messages, timers) happens late, at the end of the pause.
  void pause(int64_t length_ms) {
    ++pauses_done;
    int64_t resume = now + length_ms;
    std::multimap<int64_t, message> moved;
    for (auto& [at, m] : network) moved.emplace(std::max(at, resume), m);
    network.swap(moved);
    now = resume;
  }

  //! `crash_at`: instants of crashes, sorted; `crash_downtime_ms`: how long each one lasts.
  //! `pause_at` (sorted) and `pause_ms`: pauses of the whole process (pause()).
  void run(size_t order_count, std::vector<int64_t> crash_at = {}, std::vector<int64_t> crash_downtime_ms = {},
           std::vector<int64_t> pause_at = {}, std::vector<int64_t> pause_ms = {}) {
    std::multimap<int64_t, size_t> starts;
    for (size_t i = 0; i < order_count; ++i) starts.emplace(int64_t(rng() % 20'000), i);
    orders.resize(order_count);
    rows.resize(order_count);
    crash_downtime_ms.resize(crash_at.size(), 0);
    size_t crashes_done = 0, pauses_started = 0;
    pause_ms.resize(pause_at.size(), 0);
    while (true) {
      int64_t next = never;
      if (crashes_done < crash_at.size()) next = std::min(next, crash_at[crashes_done]);
      if (pauses_started < pause_at.size()) next = std::min(next, pause_at[pauses_started]);
      if (!starts.empty()) next = std::min(next, starts.begin()->first);
      if (!network.empty()) next = std::min(next, network.begin()->first);
      next = std::min(next, channel.next_wakeup_ms());
      for (const auto& o : orders)
        if (o) next = std::min(next, o->next_wakeup_ms());
      if (next == never) break;
      now = std::max(now, next);
      ASSERT_LT(now, 10'000'000) << "orders do not finish:" << unfinished();
      if (crashes_done < crash_at.size() && crash_at[crashes_done] <= now) {
        ++crashes_done;
        crash(crash_downtime_ms[crashes_done - 1]);
        if (::testing::Test::HasFatalFailure()) return;
      }
      if (pauses_started < pause_at.size() && pause_at[pauses_started] <= now) pause(pause_ms[pauses_started++]);
      while (!starts.empty() && starts.begin()->first <= now) {
        size_t i = starts.begin()->second;
        starts.erase(starts.begin());
        orders[i] = std::make_unique<order_core>(order_id(i + 1), random_command(i), system_w, order_config{}, now);
        by_id[order_id(i + 1)] = i;
        rows[i] = orders[i]->stored(now);  // the intent row
        std::vector<order_action> out;
        orders[i]->start(now, out);
        handle(i, out);
      }
      while (!network.empty() && network.begin()->first <= now) {
        message m = network.begin()->second;
        network.erase(network.begin());
        deliver(m);
      }
      std::vector<channel_response> answers;
      channel.poll(now, answers);
      deliver_channel(answers);
      for (size_t i = 0; i < orders.size(); ++i) {
        if (!orders[i] || orders[i]->next_wakeup_ms() > now) continue;
        std::vector<order_action> out;
        orders[i]->on_timer(now, out);
        handle(i, out);
      }
    }
  }

  std::mt19937_64 rng;
  simulated_channel channel;
  std::map<wallet_id, wallet_core> wallets;
  refund_allowance allowance{20'000};
  std::vector<std::unique_ptr<order_core>> orders;
  std::vector<stored_order> rows;  //!< what each order's stored row holds
  std::unordered_map<order_id, size_t> by_id;
  size_t crashes = 0;
  size_t pauses_done = 0;
  std::map<order_state, size_t> resumed_by_state;
  std::multimap<int64_t, message> network;
  std::map<alert_kind, size_t> alerts;
  size_t finished = 0;
  int64_t now = 0;
};

struct run_totals {
  size_t succeeded = 0, failed = 0, partial = 0;
  std::map<result_code, size_t> reasons;
};

//! Every order final, nothing open, the currency sums to zero, and each order's wallet legs agree
//! with its state. `records_kept`: the wallets kept every finished record (else a succeeded order's
//! leg may have none left; its journal entries are checked instead).
void check_world(world& w, run_totals& totals, bool records_kept = true) {
  EXPECT_EQ(w.finished, w.orders.size());
  EXPECT_EQ(w.total(), 0);
  EXPECT_EQ(w.allowance.reserved(), 0);
  for (const auto& [id, wallet] : w.wallets) {
    EXPECT_EQ(wallet.open_transactions(), 0u) << id;
    EXPECT_EQ(wallet.current().frozen, 0) << id;
    EXPECT_EQ(wallet.current().incoming, 0) << id;
    EXPECT_TRUE(wallet.verify_journal()) << id;
  }
  // The participants never disagreed with an order, and the provider never changed its mind.
  EXPECT_EQ(w.alerts[alert_kind::step_refused], 0u);
  EXPECT_EQ(w.alerts[alert_kind::conflicting_outcome], 0u);
  EXPECT_EQ(w.alerts[alert_kind::invalid_transition], 0u);
  EXPECT_EQ(w.alerts[alert_kind::settled_more_than_asked], 0u);
  for (const auto& o : w.orders) {
    ASSERT_TRUE(is_final(o->state()));
    if (o->state() == order_state::succeeded) {
      ++totals.succeeded;
      totals.partial += o->posted_amount() < o->command().amount;
    } else {
      ++totals.failed;
      ++totals.reasons[o->reason()];
    }
    for (uint16_t i = 0; i < o->legs().size(); ++i) {
      const auto& leg = o->legs()[i];
      if (leg.participant != participant_kind::wallet) continue;
      const tcc_record* r = w.wallets.at(leg.target).find_record(o->id());
      if (!records_kept && r == nullptr) continue;
      if (o->state() == order_state::succeeded) {
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->state, tcc_record_state::confirmed);
        EXPECT_EQ(r->confirmed_amount, o->step_amount(i));
      } else if (r) {
        EXPECT_EQ(r->state, tcc_record_state::cancelled);  // tried and undone, or a tombstone
      }
    }
  }
  // Every order's own movements sum to zero over the wallets (money neither made nor lost by
  // any order), and a failed order confirmed nothing.
  std::map<order_id, int64_t> net;
  std::map<order_id, size_t> confirms;
  for (const auto& [id, wallet] : w.wallets)
    for (const auto& e : wallet.journal()) {
      net[e.txn] += e.delta.available + e.delta.frozen + e.delta.incoming;
      confirms[e.txn] += e.phase == tcc_phase::confirm;
    }
  for (const auto& o : w.orders) {
    EXPECT_EQ(net[o->id()], 0) << "order " << o->id() << " " << to_string(o->command().kind) << " "
                               << to_string(o->state());
    if (o->state() == order_state::failed) {
      EXPECT_EQ(confirms[o->id()], 0u) << "order " << o->id();
    }
  }
}

TEST(order_flow_random_test, every_order_ends_and_money_is_conserved) {
  run_totals totals;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    world w(seed);
    ASSERT_EQ(w.total(), 0);
    w.run(400);
    if (HasFatalFailure()) return;
    check_world(w, totals);
    if (HasFatalFailure()) return;
  }
  // The runs must cover successes, partial settlements and several kinds of failure.
  EXPECT_GT(totals.succeeded, 600u);
  EXPECT_GT(totals.failed, 50u);
  EXPECT_GT(totals.partial, 10u);
  EXPECT_GT(totals.reasons[result_code::channel_declined], 5u);
  EXPECT_GT(totals.reasons[result_code::insufficient_funds], 5u);
  EXPECT_GT(totals.reasons[result_code::refund_exceeds_original], 5u);
  EXPECT_GT(totals.reasons[result_code::try_deadline_exceeded], 5u);
  EXPECT_GT(totals.reasons[result_code::channel_busy], 5u);
}

TEST(order_flow_random_test, crashes_resume_every_order_from_its_stored_row) {
  run_totals totals;
  std::map<order_state, size_t> resumed;
  for (uint64_t seed = 11; seed <= 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    world w(seed);
    std::mt19937_64 rng(seed);
    std::vector<int64_t> crash_at, downtime;
    for (int i = 0; i < 4; ++i) crash_at.push_back(int64_t(rng() % 26'000));
    std::sort(crash_at.begin(), crash_at.end());
    // Quick restarts (tries still before their deadline) and slow ones (every deadline passed).
    for (int i = 0; i < 4; ++i) downtime.push_back(i % 2 == 0 ? int64_t(rng() % 300) : 5'000 + int64_t(rng() % 5'000));
    w.run(400, crash_at, downtime);
    if (HasFatalFailure()) return;
    EXPECT_EQ(w.crashes, crash_at.size());
    check_world(w, totals);
    if (HasFatalFailure()) return;
    for (const auto& [state, n] : w.resumed_by_state) resumed[state] += n;
  }
  // Crashes caught orders in every resumable phase, and they still ended well and badly.
  EXPECT_GT(resumed[order_state::trying], 20u);
  EXPECT_GT(resumed[order_state::processing], 3u);
  EXPECT_GT(resumed[order_state::confirming], 0u);
  EXPECT_GT(totals.succeeded, 600u);
  EXPECT_GT(totals.failed, 50u);
}

TEST(order_flow_random_test, pauses_and_crashes_longer_than_the_record_retention) {
  // The wallets forget a finished record 11 s after it finished (just above the try deadline
  // plus the longest retry, as engine_config_problem requires); the process pauses and stays
  // down for up to 40 s. A confirm whose answer was lost is repeated after its record is gone,
  // and orders resume after their confirmed records are gone: every order must still end, by
  // itself, with its money conserved (docs/simulation.md, "What it found", 3).
  run_totals totals;
  std::map<order_state, size_t> resumed;
  size_t pauses = 0;
  for (uint64_t seed = 21; seed <= 28; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    world w(seed, 11'000);
    std::mt19937_64 rng(seed);
    std::vector<int64_t> crash_at, downtime, pause_at, pause_ms;
    for (int i = 0; i < 3; ++i) crash_at.push_back(int64_t(rng() % 26'000));
    for (int i = 0; i < 3; ++i) downtime.push_back(12'000 + int64_t(rng() % 28'000));
    for (int i = 0; i < 6; ++i) pause_at.push_back(int64_t(rng() % 40'000));
    for (int i = 0; i < 6; ++i) pause_ms.push_back(12'000 + int64_t(rng() % 28'000));
    std::sort(crash_at.begin(), crash_at.end());
    std::sort(pause_at.begin(), pause_at.end());
    w.run(400, crash_at, downtime, pause_at, pause_ms);
    if (HasFatalFailure()) return;
    check_world(w, totals, false);
    if (HasFatalFailure()) return;
    pauses += w.pauses_done;
    for (const auto& [state, n] : w.resumed_by_state) resumed[state] += n;
  }
  EXPECT_EQ(pauses, 8u * 6u);
  EXPECT_GT(resumed[order_state::trying], 10u);
  EXPECT_GT(resumed[order_state::confirming], 5u);
  EXPECT_GT(totals.succeeded, 400u);
  EXPECT_GT(totals.failed, 50u);
}

}  // namespace
}  // namespace txengine
