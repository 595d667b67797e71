// Randomized tests of wallet_core: thousands of random TCC steps compared with a tiny
// independent model, and random matched-leg orders checked for conservation of money.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <vector>

#include "core/wallet_core.hpp"
#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;
using lt = leg_type;

constexpr lt all_leg_types[] = {lt::debit_hold, lt::debit_direct, lt::credit_incoming, lt::credit_on_confirm};

// ---------------------------------------------------------------------------------------
// The model: DESIGN.md section 1 written down as plainly as possible.

enum class mstate { tried, rejected, confirmed, cancelled };

struct mrecord {
  lt type;
  mstate state;
  result_code try_result;
  int64_t tried;
  int64_t confirmed;
};

struct mwallet {
  wallet_kind kind;
  wallet_status status = wallet_status::active;
  int64_t overdraft;
  int64_t available = 0, frozen = 0, incoming = 0;
  size_t open = 0;
  size_t open_max;
  std::map<order_id, mrecord> records;

  balances now() const { return bal(available, frozen, incoming); }

  void on_try(lt type, int64_t x) {
    if (type == lt::debit_hold) available -= x, frozen += x;
    if (type == lt::debit_direct) available -= x;
    if (type == lt::credit_incoming) incoming += x;
  }
  void on_confirm(lt type, int64_t x, int64_t y) {
    if (type == lt::debit_hold) frozen -= x, available += x - y;
    if (type == lt::debit_direct) available += x - y;
    if (type == lt::credit_incoming) incoming -= x, available += y;
    if (type == lt::credit_on_confirm) available += y;
  }
  void on_cancel(lt type, int64_t x) {
    if (type == lt::debit_hold) frozen -= x, available += x;
    if (type == lt::debit_direct) available += x;
    if (type == lt::credit_incoming) incoming -= x;
  }

  result_code apply(const leg_command& c, int64_t now_ms, bool& repeated) {
    repeated = false;
    auto found = records.find(c.txn);
    if (c.tenant != tenant || c.cur != usd) {
      // Nothing to undo for a leg refused for its tenant or currency: the cancel succeeds.
      if (c.phase == tcc_phase::cancel && found == records.end()) return result_code::ok;
      // Another tenant is answered as for a wallet that does not exist.
      return c.tenant != tenant ? result_code::unknown_wallet : result_code::currency_mismatch;
    }
    if (c.phase == tcc_phase::try_) {
      if (found != records.end()) {
        repeated = true;
        mrecord& r = found->second;
        if (r.state == mstate::cancelled) return result_code::tcc_cancelled;
        if (r.type != c.type || r.tried != c.amount) return result_code::tcc_conflict;
        return r.try_result;
      }
      if (c.amount <= 0) return result_code::invalid_amount;
      if (now_ms > c.try_deadline_ms) return result_code::tcc_deadline_passed;
      result_code code = result_code::ok;
      bool debit = c.type == lt::debit_hold || c.type == lt::debit_direct;
      if (c.wallet_kinds_allowed != 0 && !(c.wallet_kinds_allowed & (1u << unsigned(kind))))
        code = result_code::wallet_kind_not_allowed;
      else if (status == wallet_status::closed)
        code = result_code::wallet_closed;
      else if (debit && status == wallet_status::frozen)
        code = result_code::wallet_frozen;
      else if (debit && kind != wallet_kind::system && available - c.amount < -overdraft)
        code = result_code::insufficient_funds;
      else if (open >= open_max)
        return result_code::wallet_busy;  // retryable: remembered nowhere
      if (code != result_code::ok) {
        records[c.txn] = {c.type, mstate::rejected, code, c.amount, 0};
        return code;
      }
      records[c.txn] = {c.type, mstate::tried, code, c.amount, 0};
      ++open;
      on_try(c.type, c.amount);
      return code;
    }
    if (c.phase == tcc_phase::confirm) {
      if (found == records.end()) return result_code::tcc_not_tried;
      mrecord& r = found->second;
      repeated = true;
      if (r.state == mstate::rejected) return result_code::tcc_not_tried;
      if (r.state == mstate::cancelled) return result_code::tcc_cancelled;
      if (r.state == mstate::confirmed) return r.confirmed == c.amount ? result_code::ok : result_code::tcc_conflict;
      repeated = false;
      if (r.type != c.type) return result_code::tcc_conflict;
      if (c.amount < 0) return result_code::invalid_amount;
      if (c.amount > r.tried) return result_code::confirm_exceeds_tried;
      on_confirm(r.type, r.tried, c.amount);
      r.state = mstate::confirmed;
      r.confirmed = c.amount;
      --open;
      return result_code::ok;
    }
    // cancel
    if (found == records.end()) {
      records[c.txn] = {c.type, mstate::cancelled, result_code::tcc_cancelled, 0, 0};  // tombstone
      return result_code::ok;
    }
    mrecord& r = found->second;
    if (r.state == mstate::cancelled) {
      repeated = true;
      return result_code::ok;
    }
    if (r.state == mstate::confirmed) {
      repeated = true;
      return result_code::tcc_confirmed;
    }
    if (r.state == mstate::tried) {
      on_cancel(r.type, r.tried);
      --open;
    }
    r.state = mstate::cancelled;
    return result_code::ok;
  }

  result_code admin_check(tenant_id t) const {
    if (t != tenant) return result_code::unknown_wallet;
    if (status == wallet_status::closed) return result_code::wallet_closed;
    return result_code::ok;
  }
};

tcc_record_state to_core(mstate s) {
  switch (s) {
    case mstate::tried: return tcc_record_state::tried;
    case mstate::rejected: return tcc_record_state::try_rejected;
    case mstate::confirmed: return tcc_record_state::confirmed;
    case mstate::cancelled: return tcc_record_state::cancelled;
  }
  return tcc_record_state::tried;
}

TEST(wallet_model_random_test, random_tcc_steps_match_the_model) {
  const wallet_kind kinds[] = {wallet_kind::system, wallet_kind::user, wallet_kind::user, wallet_kind::merchant,
                               wallet_kind::fee};
  const int64_t overdrafts[] = {0, 0, 300, 0, 100};
  size_t steps_total = 0, ok_total = 0;
  std::map<result_code, size_t> seen_codes;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto chance = [&](int percent) { return int(rng() % 100) < percent; };
    std::vector<wallet_core> cores;
    std::vector<mwallet> models;
    wallet_config config;
    config.open_transactions_max = 10;
    for (size_t i = 0; i < 5; ++i) {
      cores.emplace_back(make_info(wallet_id(i + 1), kinds[i], overdrafts[i]), config);
      models.push_back(mwallet{kinds[i], wallet_status::active, overdrafts[i], 0, 0, 0, 0, 10, {}});
    }
    int64_t now = 1000;
    for (int step = 0; step < 5000; ++step, ++now) {
      size_t wi = rng() % cores.size();
      wallet_core& core = cores[wi];
      mwallet& model = models[wi];
      if (chance(3)) {
        // An admin step, through both.
        tenant_id t = chance(10) ? other_tenant : tenant;
        result_code got, want = model.admin_check(t);
        switch (rng() % 4) {
          case 0:
            got = core.freeze(t);
            if (want == result_code::ok && model.kind == wallet_kind::system) want = result_code::wallet_kind_not_allowed;
            if (want == result_code::ok) model.status = wallet_status::frozen;
            break;
          case 1:
            got = core.unfreeze(t);
            if (want == result_code::ok) model.status = wallet_status::active;
            break;
          case 2:
            got = core.close(t);
            if (want == result_code::ok && model.kind == wallet_kind::system) want = result_code::wallet_kind_not_allowed;
            if (want == result_code::ok && (model.now() != balances{} || model.open != 0))
              want = result_code::wallet_not_empty;
            if (want == result_code::ok) model.status = wallet_status::closed;
            break;
          default: {
            int64_t limit = int64_t(rng() % 400) - 20;
            got = core.set_overdraft_limit(t, limit);
            if (want == result_code::ok && limit < 0) want = result_code::invalid_limit;
            if (want == result_code::ok && model.kind == wallet_kind::system) want = result_code::wallet_kind_not_allowed;
            if (want == result_code::ok) model.overdraft = limit;
          }
        }
        ASSERT_EQ(got, want) << "admin step " << step;
        ASSERT_EQ(core.info().status, model.status);
        ASSERT_EQ(core.info().overdraft_limit, model.overdraft);
        continue;
      }
      leg_command c;
      c.txn = order_id(rng() % 40 + 1);
      c.phase = tcc_phase(rng() % 3);
      c.type = all_leg_types[rng() % 4];
      c.tenant = chance(2) ? other_tenant : tenant;
      c.cur = chance(2) ? eur : usd;
      c.try_deadline_ms = chance(3) ? now - 1 : now + 5000;
      if (chance(10)) c.wallet_kinds_allowed = uint16_t(rng() % 16);
      auto found = model.records.find(c.txn);
      if (found != model.records.end() && chance(85)) c.type = found->second.type;  // mostly the right leg
      int64_t tried = found != model.records.end() ? found->second.tried : 0;
      if (c.phase == tcc_phase::confirm && tried > 0) {
        int pick = int(rng() % 100);
        c.amount = pick < 50 ? tried : pick < 80 ? int64_t(rng() % uint64_t(tried + 1)) : pick < 85 ? tried + 1
                                                                                                    : int64_t(rng() % 600);
      } else if (c.phase == tcc_phase::try_ && tried > 0 && chance(60)) {
        c.amount = tried;  // a duplicate try
      } else {
        c.amount = chance(5) ? -int64_t(rng() % 3) : int64_t(rng() % 500 + 1);
      }
      bool want_repeated = false;
      result_code want = model.apply(c, now, want_repeated);
      leg_outcome got = core.apply(c, now);
      ++steps_total;
      ok_total += got.code == result_code::ok;
      ++seen_codes[got.code];
      ASSERT_EQ(got.code, want) << "step " << step << " wallet " << wi << " txn " << c.txn << " "
                                << to_string(c.phase) << " " << to_string(c.type) << " " << c.amount;
      ASSERT_EQ(got.repeated, want_repeated) << "step " << step;
      // Another tenant's step shows no balances.
      ASSERT_EQ(got.after, c.tenant == tenant ? model.now() : balances{}) << "step " << step;
      ASSERT_EQ(core.current(), model.now()) << "step " << step;
      ASSERT_EQ(core.open_transactions(), model.open) << "step " << step;
      auto mfound = model.records.find(c.txn);
      const tcc_record* record = core.find_record(c.txn);
      ASSERT_EQ(record != nullptr, mfound != model.records.end()) << "step " << step;
      if (record) {
        ASSERT_EQ(record->state, to_core(mfound->second.state)) << "step " << step;
      }
      if (step % 97 == 0) {
        ASSERT_TRUE(core.verify_journal());
      }
    }
    for (auto& core : cores) EXPECT_TRUE(core.verify_journal());
  }
  // The stream must exercise the happy cases, not only refusals, and every TCC rule.
  EXPECT_GT(ok_total, steps_total / 4);
  for (auto code : {result_code::invalid_amount, result_code::unknown_wallet, result_code::currency_mismatch,
                    result_code::insufficient_funds, result_code::wallet_frozen, result_code::wallet_kind_not_allowed,
                    result_code::wallet_busy, result_code::tcc_cancelled, result_code::tcc_confirmed,
                    result_code::tcc_not_tried, result_code::confirm_exceeds_tried, result_code::tcc_deadline_passed,
                    result_code::tcc_conflict})
    EXPECT_GT(seen_codes[code], 10u) << to_string(code);
}

// ---------------------------------------------------------------------------------------
// Conservation: random orders made of matched legs over a lossy, duplicating, reordering
// network. Every debit leg is paired with an equal credit leg; both end confirmed (same
// posted amount) or both cancelled. Once every order is finished the currency sums to zero.

struct leg_ref {
  size_t wallet;
  lt type;
};

struct sim_order {
  order_id id;
  leg_ref legs[2];  // [0] debit, [1] credit
  int64_t amount;
  int64_t posted;
  enum class phase { trying, confirming, cancelling, done } at = phase::trying;
  result_code try_result[2] = {result_code::ok, result_code::ok};
  bool try_answered[2] = {false, false};
  bool step_done[2] = {false, false};
  bool cancel_done[2] = {false, false};
};

struct message {
  size_t order;
  int leg;
  tcc_phase phase;
};

TEST(wallet_model_random_test, matched_orders_conserve_money) {
  const wallet_kind kinds[] = {wallet_kind::system, wallet_kind::user, wallet_kind::user,
                               wallet_kind::user,   wallet_kind::merchant, wallet_kind::fee};
  size_t succeeded_total = 0, failed_total = 0;
  for (uint64_t seed = 100; seed < 110; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto chance = [&](int percent) { return int(rng() % 100) < percent; };
    std::vector<wallet_core> wallets;
    wallet_config config;
    config.open_transactions_max = 16;  // busy refusals happen and are retried
    for (size_t i = 0; i < std::size(kinds); ++i)
      wallets.emplace_back(make_info(wallet_id(i + 1), kinds[i], i == 2 ? 500 : 0), config);
    std::vector<sim_order> orders;
    std::vector<message> network;
    int64_t now = 1000;
    size_t finished = 0;

    auto sum = [&] {
      int64_t s = 0;
      for (auto& w : wallets) s += w.current().available + w.current().frozen + w.current().incoming;
      return s;
    };
    auto send_phase = [&](size_t oi, tcc_phase phase) {
      for (int leg = 0; leg < 2; ++leg) network.push_back({oi, leg, phase});
    };
    auto deliver = [&](const message& m) {
      sim_order& o = orders[m.order];
      const leg_ref& ref = o.legs[m.leg];
      leg_command c = make_leg(o.id, m.phase, ref.type, m.phase == tcc_phase::try_ ? o.amount : o.posted);
      c.try_deadline_ms = far_deadline;
      leg_outcome out = wallets[ref.wallet].apply(c, now);
      if (m.phase == tcc_phase::try_) {
        if (is_retryable(out.code)) {
          if (o.at == sim_order::phase::trying) network.push_back(m);  // resend later
          return;
        }
        if (o.at != sim_order::phase::trying || o.try_answered[m.leg]) {
          // A late or duplicate try: whatever it did, the order's cancel or confirm decides.
          // Once this leg's cancel went through, no try may hang: it is refused.
          if (o.cancel_done[m.leg]) {
            EXPECT_EQ(out.code, result_code::tcc_cancelled);
          }
          return;
        }
        o.try_answered[m.leg] = true;
        o.try_result[m.leg] = out.code;
        if (o.try_answered[0] && o.try_answered[1]) {
          bool all_ok = o.try_result[0] == result_code::ok && o.try_result[1] == result_code::ok;
          o.at = all_ok ? sim_order::phase::confirming : sim_order::phase::cancelling;
          send_phase(m.order, all_ok ? tcc_phase::confirm : tcc_phase::cancel);
        }
        return;
      }
      // A confirm or cancel of a matched order is never refused by a correct participant.
      ASSERT_EQ(out.code, result_code::ok) << to_string(m.phase) << " order " << o.id << " leg " << m.leg;
      if (m.phase == tcc_phase::cancel) o.cancel_done[m.leg] = true;
      if (!o.step_done[m.leg]) {
        o.step_done[m.leg] = true;
        if (o.step_done[0] && o.step_done[1]) {
          o.at = sim_order::phase::done;
          ++finished;
        }
      }
    };

    const int orders_wanted = 1500;
    while (finished < orders.size() || orders.size() < size_t(orders_wanted)) {
      ++now;
      int pick = int(rng() % 100);
      if (pick < 20 && orders.size() < size_t(orders_wanted)) {
        // A new order: debit one wallet, credit another, same amount.
        sim_order o;
        o.id = orders.size() + 1;
        size_t debit = chance(30) ? 0 : rng() % wallets.size();  // often the system wallet (top-ups)
        size_t credit = rng() % wallets.size();
        if (credit == debit) credit = (credit + 1) % wallets.size();
        o.legs[0] = {debit, chance(50) ? lt::debit_hold : lt::debit_direct};
        o.legs[1] = {credit, chance(50) ? lt::credit_incoming : lt::credit_on_confirm};
        o.amount = int64_t(rng() % 1000 + 1);
        o.posted = chance(20) ? int64_t(rng() % uint64_t(o.amount + 1)) : o.amount;  // partial confirms
        orders.push_back(o);
        send_phase(orders.size() - 1, tcc_phase::try_);
      } else if (pick < 23 && !orders.empty()) {
        // A try deadline passes: the order cancels while tries may still be on the way.
        size_t oi = rng() % orders.size();
        if (orders[oi].at == sim_order::phase::trying) {
          orders[oi].at = sim_order::phase::cancelling;
          send_phase(oi, tcc_phase::cancel);
        }
      } else if (pick < 25) {
        // Freeze or unfreeze a user wallet: debits refused, everything already tried finishes.
        size_t wi = 1 + rng() % (wallets.size() - 1);
        if (chance(50))
          wallets[wi].freeze(tenant);
        else
          wallets[wi].unfreeze(tenant);
      } else if (!network.empty()) {
        // Deliver a random message (reordering); sometimes keep it to deliver again (duplicates).
        size_t mi = rng() % network.size();
        message m = network[mi];
        if (!chance(10)) {
          network[mi] = network.back();
          network.pop_back();
        }
        deliver(m);
        if (HasFatalFailure()) return;
      }
      ASSERT_LT(now, 10'000'000) << "the simulation does not finish";
    }
    // Let the duplicates still on the network arrive: they must change nothing.
    while (!network.empty()) {
      message m = network.back();
      network.pop_back();
      deliver(m);
      if (HasFatalFailure()) return;
    }
    EXPECT_EQ(sum(), 0);
    for (auto& w : wallets) {
      EXPECT_EQ(w.open_transactions(), 0u);
      EXPECT_TRUE(w.verify_journal());
      EXPECT_EQ(w.current().frozen, 0);
      EXPECT_EQ(w.current().incoming, 0);
      if (w.info().kind != wallet_kind::system) {
        EXPECT_GE(w.current().available, -w.info().overdraft_limit);
      }
    }
    // Cross-check with the orders themselves: each wallet's available is what its confirmed legs moved.
    std::vector<int64_t> expected(wallets.size(), 0);
    for (const auto& o : orders) {
      if (o.at != sim_order::phase::done) continue;
      const tcc_record* r = wallets[o.legs[0].wallet].find_record(o.id);
      ASSERT_NE(r, nullptr);
      if (r->state == tcc_record_state::confirmed) {
        expected[o.legs[0].wallet] -= o.posted;
        expected[o.legs[1].wallet] += o.posted;
        ++succeeded_total;
      } else {
        ++failed_total;
      }
    }
    for (size_t i = 0; i < wallets.size(); ++i) EXPECT_EQ(wallets[i].current().available, expected[i]) << i;
  }
  // Both outcomes must be common, or the test proves little.
  EXPECT_GT(succeeded_total, 3000u);
  EXPECT_GT(failed_total, 1000u);
}

}  // namespace
}  // namespace txengine
