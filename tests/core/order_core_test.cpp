#include "core/order_core.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "core/refund_allowance.hpp"
#include "tests/core/test_support.hpp"

namespace txengine {
namespace {

using namespace txengine::test;
using ak = order_action_kind;
using lt = leg_type;
using os = order_state;

size_t alerts_of(const std::vector<order_action>& actions, alert_kind alert) {
  size_t n = 0;
  for (const auto& a : actions) n += a.kind == ak::alert && a.alert == alert;
  return n;
}

//! Drives one order by hand: the test plays every wallet and the channel.
struct driver : order_stepper {
  explicit driver(order_command c, order_config config = {}, wallet_id system = system_w)
      : order_stepper(order_core(the_order, std::move(c), system, config, t_start), t_start) {}

  std::vector<order_action> start() {
    order.start(now, out);
    return take();
  }
  std::vector<order_action> channel(channel_outcome outcome, int64_t settled = 0,
                                    result_code reason = result_code::channel_declined) {
    order.on_channel(outcome, settled, now, out, reason);
    return take();
  }
  std::vector<order_action> timer() {
    order.on_timer(now, out);
    return take();
  }
  //! Jumps to the next wakeup and fires the timer there.
  std::vector<order_action> wake() {
    int64_t at = order.next_wakeup_ms();
    EXPECT_NE(at, std::numeric_limits<int64_t>::max());
    EXPECT_GE(at, now);
    now = at;
    return timer();
  }
};

// ---------------------------------------------------------------------------------------
// Deferred tries (a cluster node's own legs of an order with legs on other nodes).

//! The legs a batch of actions sends steps to.
std::vector<uint16_t> steps_to(const std::vector<order_action>& actions) {
  std::vector<uint16_t> legs;
  for (const auto& a : actions)
    if (a.kind == ak::send_step) legs.push_back(a.leg);
  return legs;
}

TEST(order_core_test, deferred_legs_are_tried_once_the_others_tries_succeeded) {
  auto pay = command_of(order_kind::pay);
  pay.fee_wallet = fee_w;
  pay.fee_amount = 30;
  driver d(pay);
  d.order.defer_tries(0b001);  // the payer here; the merchant and the fee wallet elsewhere
  EXPECT_EQ(steps_to(d.start()), (std::vector<uint16_t>{1, 2}));
  EXPECT_TRUE(steps_to(d.reply(1, tcc_phase::try_)).empty());
  EXPECT_EQ(steps_to(d.reply(2, tcc_phase::try_)), (std::vector<uint16_t>{0}));
  EXPECT_EQ(d.order.state(), os::trying);
  auto decided = d.reply(0, tcc_phase::try_);
  EXPECT_EQ(d.order.state(), os::confirming);
  EXPECT_EQ(steps_to(decided), (std::vector<uint16_t>{0, 1, 2}));
  d.reply_all(tcc_phase::confirm);
  EXPECT_EQ(d.order.state(), os::succeeded);
}

TEST(order_core_test, a_failed_try_before_the_deferred_ones_cancels_every_leg_and_tries_none) {
  driver d(command_of(order_kind::transfer));
  d.order.defer_tries(0b01);
  EXPECT_EQ(steps_to(d.start()), (std::vector<uint16_t>{1}));
  auto cancels = d.reply(1, tcc_phase::try_, result_code::wallet_frozen);
  EXPECT_EQ(d.order.state(), os::cancelling);
  EXPECT_EQ(steps_to(cancels), (std::vector<uint16_t>{0, 1}));  // the untried one: an empty rollback
  for (const auto& a : cancels) EXPECT_EQ(d.order.legs()[a.leg].phase, tcc_phase::cancel);
  d.reply_all(tcc_phase::cancel);
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::wallet_frozen);
}

TEST(order_core_test, deferring_every_leg_or_none_changes_nothing) {
  for (uint32_t mask : {0b00u, 0b11u, 0b111u}) {
    driver d(command_of(order_kind::transfer));
    d.order.defer_tries(mask);
    EXPECT_EQ(steps_to(d.start()), (std::vector<uint16_t>{0, 1})) << mask;
  }
}

// ---------------------------------------------------------------------------------------
// Legs per kind.

TEST(order_core_test, legs_per_kind) {
  struct expected_leg {
    wallet_id target;
    lt type;
    int64_t amount;
    uint16_t kinds;
  };
  const uint16_t payers = kinds_mask({wallet_kind::user, wallet_kind::merchant});
  const uint16_t merchants = kinds_mask({wallet_kind::merchant});
  const uint16_t fees = kinds_mask({wallet_kind::fee});
  const uint16_t systems = kinds_mask({wallet_kind::system});
  auto pay_with_fee = command_of(order_kind::pay);
  pay_with_fee.fee_wallet = fee_w;
  pay_with_fee.fee_amount = 30;
  const std::vector<std::pair<order_command, std::vector<expected_leg>>> cases = {
      {command_of(order_kind::top_up),
       {{system_w, lt::debit_direct, 1000, systems}, {user_a, lt::credit_incoming, 1000, payers}}},
      {command_of(order_kind::pay),
       {{user_a, lt::debit_hold, 1000, payers}, {merchant_w, lt::credit_on_confirm, 1000, merchants}}},
      {pay_with_fee,
       {{user_a, lt::debit_hold, 1000, payers},
        {merchant_w, lt::credit_on_confirm, 970, merchants},
        {fee_w, lt::credit_on_confirm, 30, fees}}},
      {command_of(order_kind::withdraw),
       {{user_a, lt::debit_hold, 1000, payers}, {system_w, lt::credit_on_confirm, 1000, systems}}},
      {command_of(order_kind::transfer),
       {{user_a, lt::debit_hold, 1000, payers}, {user_b, lt::credit_on_confirm, 1000, payers}}},
      {command_of(order_kind::commission),
       {{fee_w, lt::debit_hold, 1000, fees}, {merchant_w, lt::credit_on_confirm, 1000, merchants}}},
  };
  for (const auto& [command, want] : cases) {
    SCOPED_TRACE(to_string(command.kind));
    order_core o(the_order, command, system_w, {}, t_start);
    ASSERT_EQ(o.legs().size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const auto& leg = o.legs()[i];
      EXPECT_EQ(leg.participant, participant_kind::wallet);
      EXPECT_EQ(leg.target, want[i].target) << i;
      EXPECT_EQ(leg.type, want[i].type) << i;
      EXPECT_EQ(leg.amount, want[i].amount) << i;
      EXPECT_EQ(leg.wallet_kinds_allowed, want[i].kinds) << i;
    }
    EXPECT_EQ(o.state(), os::received);
  }
  order_core refund(the_order, command_of(order_kind::refund), system_w, {}, t_start);
  ASSERT_EQ(refund.legs().size(), 1u);
  EXPECT_EQ(refund.legs()[0].participant, participant_kind::original_order);
  EXPECT_EQ(refund.legs()[0].target, original_payment);
  EXPECT_EQ(refund.legs()[0].amount, 1000);
}

// ---------------------------------------------------------------------------------------
// Happy paths, with real wallets behind the legs.

//! Plays every participant with real cores: wallets, and the original payment's allowance.
struct bank {
  bank() {
    add(system_w, wallet_kind::system);
    add(user_a, wallet_kind::user);
    add(user_b, wallet_kind::user);
    add(merchant_w, wallet_kind::merchant);
    add(fee_w, wallet_kind::fee);
  }
  void add(wallet_id id, wallet_kind kind) { wallets.emplace(id, wallet_core(make_info(id, kind))); }
  //! Money in from outside through the system wallet, so the currency still sums to zero.
  void top_up_directly(wallet_id id, int64_t amount) {
    static order_id txn = 9'000'000;
    ++txn;
    auto& sys = wallets.at(system_w);
    auto& w = wallets.at(id);
    if (try_leg(sys, txn, lt::debit_direct, amount).code != result_code::ok ||
        try_leg(w, txn, lt::credit_incoming, amount).code != result_code::ok ||
        confirm_leg(sys, txn, lt::debit_direct, amount).code != result_code::ok ||
        confirm_leg(w, txn, lt::credit_incoming, amount).code != result_code::ok)
      std::abort();
  }
  int64_t total() const {
    int64_t sum = 0;
    for (const auto& [id, w] : wallets) sum += w.current().available + w.current().frozen + w.current().incoming;
    return sum;
  }
  int64_t available(wallet_id id) const { return wallets.at(id).current().available; }

  //! Delivers actions (and the actions they cause) until only channel work or nothing is left.
  void run(order_core& order, std::vector<order_action> actions) {
    std::deque<order_action> queue(actions.begin(), actions.end());
    while (!queue.empty()) {
      order_action a = queue.front();
      queue.pop_front();
      seen.push_back(a);
      if (a.kind != ak::send_step) continue;
      std::vector<order_action> next;
      const order_leg& leg = order.legs()[a.leg];
      tcc_phase phase = leg.phase;
      int64_t amount = order.step_amount(a.leg);
      if (leg.participant == participant_kind::original_order) {
        result_code code = allowances.at(leg.target).apply(order.id(), phase, amount);
        if (phase == tcc_phase::try_ && code == result_code::ok)
          order.on_refund_origin(origins.at(leg.target), now, next);
        else
          order.on_step_reply(a.leg, phase, code, 0, balances{}, now, next);  // no wallet answers
      } else {
        leg_command c;
        c.txn = order.id();
        c.phase = phase;
        c.type = leg.type;
        c.amount = amount;
        c.tenant = order.command().tenant;
        c.cur = order.command().cur;
        c.try_deadline_ms = order.try_deadline_ms();
        c.wallet_kinds_allowed = leg.wallet_kinds_allowed;
        auto found = wallets.find(leg.target);
        leg_outcome outcome;
        outcome.code = result_code::unknown_wallet;
        tenant_id owner = 0;  // as the shard answers an unknown id
        if (found != wallets.end()) {
          outcome = found->second.apply(c, now);
          owner = found->second.info().tenant;
        }
        order.on_step_reply(a.leg, phase, outcome.code, owner, outcome.after, now, next);
      }
      queue.insert(queue.end(), next.begin(), next.end());
    }
  }
  void start(order_core& order) {
    std::vector<order_action> out;
    order.start(now, out);
    run(order, out);
  }
  void channel(order_core& order, channel_outcome outcome, int64_t settled) {
    std::vector<order_action> out;
    order.on_channel(outcome, settled, now, out);
    run(order, out);
  }
  void expect_all_closed() const {
    for (const auto& [id, w] : wallets) {
      EXPECT_EQ(w.open_transactions(), 0u) << "wallet " << id;
      EXPECT_TRUE(w.verify_journal()) << "wallet " << id;
    }
  }

  std::map<wallet_id, wallet_core> wallets;
  std::map<order_id, refund_allowance> allowances;
  std::map<order_id, refund_origin> origins;
  std::vector<order_action> seen;
  int64_t now = t_start;
};

TEST(order_core_test, happy_path_pay_transfer_commission) {
  auto pay_with_fee = command_of(order_kind::pay);
  pay_with_fee.fee_wallet = fee_w;
  pay_with_fee.fee_amount = 30;
  struct expectation {
    order_command command;
    std::map<wallet_id, int64_t> delta;  // change of available per wallet
  };
  const expectation cases[] = {
      {command_of(order_kind::pay), {{user_a, -1000}, {merchant_w, 1000}}},
      {pay_with_fee, {{user_a, -1000}, {merchant_w, 970}, {fee_w, 30}}},
      {command_of(order_kind::transfer), {{user_a, -1000}, {user_b, 1000}}},
      {command_of(order_kind::commission), {{fee_w, -1000}, {merchant_w, 1000}}},
  };
  for (const auto& e : cases) {
    SCOPED_TRACE(to_string(e.command.kind));
    bank b;
    b.top_up_directly(user_a, 5000);
    b.top_up_directly(fee_w, 5000);
    std::map<wallet_id, int64_t> before;
    for (const auto& [id, w] : b.wallets) before[id] = w.current().available;
    int64_t total = b.total();
    order_core o(the_order, e.command, system_w, {}, t_start);
    b.start(o);
    EXPECT_EQ(o.state(), os::succeeded);
    EXPECT_EQ(o.reason(), result_code::ok);
    EXPECT_EQ(o.posted_amount(), 1000);
    EXPECT_EQ(o.finished_ms(), t_start);
    EXPECT_EQ(count_of(b.seen, ak::finished), 1u);
    EXPECT_EQ(count_of(b.seen, ak::alert), 0u);
    EXPECT_EQ(count_of(b.seen, ak::channel_submit), 0u);  // internal kinds need no channel
    EXPECT_EQ(o.next_wakeup_ms(), std::numeric_limits<int64_t>::max());
    for (const auto& [id, w] : b.wallets) {
      int64_t want = e.delta.count(id) ? e.delta.at(id) : 0;
      EXPECT_EQ(w.current().available - before[id], want) << "wallet " << id;
    }
    EXPECT_EQ(b.total(), total);
    EXPECT_EQ(b.total(), 0);
    b.expect_all_closed();
  }
}

TEST(order_core_test, happy_path_top_up_and_withdraw_through_channel) {
  for (auto kind : {order_kind::top_up, order_kind::withdraw}) {
    SCOPED_TRACE(to_string(kind));
    bank b;
    b.top_up_directly(user_a, 5000);
    order_core o(the_order, command_of(kind), system_w, {}, t_start);
    b.start(o);
    // Both tries done: the provider decides now.
    EXPECT_EQ(o.state(), os::processing);
    EXPECT_EQ(count_of(b.seen, ak::channel_submit), 1u);
    if (kind == order_kind::top_up) {
      EXPECT_EQ(b.wallets.at(system_w).current(), bal(-6000));
      EXPECT_EQ(b.wallets.at(user_a).current(), bal(5000, 0, 1000));
    } else {
      EXPECT_EQ(b.wallets.at(user_a).current(), bal(4000, 1000));
    }
    EXPECT_EQ(b.total(), 0);
    b.now += 50;
    b.channel(o, channel_outcome::succeeded, 1000);
    EXPECT_EQ(o.state(), os::succeeded);
    EXPECT_EQ(o.posted_amount(), 1000);
    int64_t sign = kind == order_kind::top_up ? 1 : -1;
    EXPECT_EQ(b.available(user_a), 5000 + sign * 1000);
    EXPECT_EQ(b.available(system_w), -5000 - sign * 1000);
    EXPECT_EQ(b.total(), 0);
    b.expect_all_closed();
  }
}

TEST(order_core_test, happy_path_refund) {
  bank b;
  b.top_up_directly(merchant_w, 5000);
  b.allowances.emplace(original_payment, refund_allowance(1000));
  b.origins[original_payment] = refund_origin{user_a, merchant_w};
  order_core o(the_order, command_of(order_kind::refund, 300), system_w, {}, t_start);
  std::vector<order_action> out;
  o.start(b.now, out);
  // First only the allowance is tried; the wallet legs are known once it answers.
  ASSERT_EQ(sent_legs(out), std::vector<uint16_t>{0});
  EXPECT_EQ(o.legs().size(), 1u);
  b.run(o, out);
  ASSERT_EQ(o.legs().size(), 3u);
  EXPECT_EQ(o.legs()[1].target, merchant_w);
  EXPECT_EQ(o.legs()[1].type, lt::debit_hold);
  EXPECT_EQ(o.legs()[1].wallet_kinds_allowed, kinds_mask({wallet_kind::merchant}));
  EXPECT_EQ(o.legs()[2].target, user_a);
  EXPECT_EQ(o.legs()[2].type, lt::credit_on_confirm);
  EXPECT_EQ(o.state(), os::succeeded);
  EXPECT_EQ(b.available(merchant_w), 4700);
  EXPECT_EQ(b.available(user_a), 300);
  EXPECT_EQ(b.allowances.at(original_payment).refunded(), 300);
  EXPECT_EQ(b.allowances.at(original_payment).reserved(), 0);
  EXPECT_EQ(b.total(), 0);
  b.expect_all_closed();
}

TEST(order_core_test, refund_beyond_original_fails_and_releases) {
  bank b;
  b.top_up_directly(merchant_w, 5000);
  b.allowances.emplace(original_payment, refund_allowance(1000));
  b.origins[original_payment] = refund_origin{user_a, merchant_w};
  order_core first(the_order, command_of(order_kind::refund, 800), system_w, {}, t_start);
  b.start(first);
  ASSERT_EQ(first.state(), os::succeeded);
  order_core second(the_order + 1, command_of(order_kind::refund, 300), system_w, {}, t_start);
  b.start(second);
  EXPECT_EQ(second.state(), os::failed);
  EXPECT_EQ(second.reason(), result_code::refund_exceeds_original);
  EXPECT_EQ(second.legs().size(), 1u);  // no wallet was touched
  EXPECT_EQ(b.allowances.at(original_payment).refundable(), 200);
  EXPECT_EQ(b.available(merchant_w), 4200);
  // A refund whose merchant lacks the money: the reservation is released again.
  bank poor;
  poor.allowances.emplace(original_payment, refund_allowance(1000));
  poor.origins[original_payment] = refund_origin{user_a, merchant_w};
  order_core third(the_order + 2, command_of(order_kind::refund, 300), system_w, {}, t_start);
  poor.start(third);
  EXPECT_EQ(third.state(), os::failed);
  EXPECT_EQ(third.reason(), result_code::insufficient_funds);
  EXPECT_EQ(poor.allowances.at(original_payment).reserved(), 0);
  EXPECT_EQ(poor.allowances.at(original_payment).refundable(), 1000);
  poor.expect_all_closed();
}

TEST(order_core_test, stale_refund_origin_is_ignored) {
  driver d(command_of(order_kind::refund, 300));
  d.start();
  d.order.on_refund_origin({user_a, merchant_w}, d.now, d.out);
  auto tries = d.take();
  EXPECT_EQ(sent_legs(tries), (std::vector<uint16_t>{1, 2}));
  // The host may deliver the allowance's answer twice: the second adds nothing.
  d.order.on_refund_origin({user_a, merchant_w}, d.now, d.out);
  EXPECT_TRUE(d.take().empty());
  EXPECT_EQ(d.order.legs().size(), 3u);
  // An ok try of the allowance through on_step_reply is the host's job, not a tried leg.
  driver e(command_of(order_kind::refund, 300));
  e.start();
  EXPECT_TRUE(e.reply(0, tcc_phase::try_, result_code::ok).empty());
  EXPECT_EQ(e.order.state(), os::trying);
  EXPECT_TRUE(e.order.legs()[0].awaiting);
}

// ---------------------------------------------------------------------------------------
// Tenants: an order keeps a leg's balances only from an accepted step of a wallet of its own
// tenant, so nothing of another tenant's wallet can reach its reply.

TEST(order_core_test, balances_only_from_an_accepted_step_of_a_wallet_of_the_order_tenant) {
  const balances secret = bal(123'456, 789, 10);
  // Every other answer shows nothing: refused by the order's own wallet, accepted or refused by
  // another tenant's, or by no wallet at all (0: an unknown id).
  struct answer {
    result_code code;
    tenant_id wallet_tenant;
  };
  for (answer a : {answer{result_code::insufficient_funds, tenant}, answer{result_code::ok, other_tenant},
                   answer{result_code::unknown_wallet, other_tenant}, answer{result_code::ok, 0},
                   answer{result_code::unknown_wallet, 0}}) {
    SCOPED_TRACE(std::string(to_string(a.code)) + " from tenant " + std::to_string(a.wallet_tenant));
    driver d(command_of(order_kind::transfer));
    d.start();
    d.order.on_step_reply(0, tcc_phase::try_, a.code, a.wallet_tenant, secret, d.now, d.out);
    EXPECT_EQ(d.order.legs()[0].balances_tenant, 0u);
    EXPECT_EQ(d.order.legs()[0].last_balances, balances{});
  }
  // An accepted step of its own tenant's wallet: kept.
  driver d(command_of(order_kind::transfer));
  d.start();
  d.order.on_step_reply(0, tcc_phase::try_, result_code::ok, tenant, secret, d.now, d.out);
  EXPECT_EQ(d.order.legs()[0].balances_tenant, tenant);
  EXPECT_EQ(d.order.legs()[0].last_balances, secret);
  // A later accepted step of another tenant's wallet cannot replace them (a forged or
  // misrouted answer): what the leg shows is still its own wallet's.
  d.order.on_step_reply(0, tcc_phase::try_, result_code::ok, other_tenant, bal(1), d.now, d.out);
  EXPECT_EQ(d.order.legs()[0].last_balances, secret);
}

TEST(order_core_test, order_naming_another_tenant_wallet_ends_as_with_an_unknown_wallet) {
  // With real wallets behind the legs: wallet 6 belongs to another tenant and holds money;
  // wallet 7 does not exist. Orders naming either, on either side, end the same way, and the
  // other tenant's wallet neither changes nor shows its balances.
  constexpr wallet_id foreign = 6, ghost = 7;
  auto run = [&](order_command command) {
    bank b;
    wallet_info info = make_info(foreign, wallet_kind::merchant);
    info.tenant = other_tenant;
    b.wallets.emplace(foreign, wallet_core(info));
    b.top_up_directly(user_a, 5000);
    b.top_up_directly(fee_w, 5000);
    for (auto phase : {tcc_phase::try_, tcc_phase::confirm}) {  // money of the other tenant
      leg_command c = make_leg(8'000'000, phase, lt::credit_incoming, 4000);
      c.tenant = other_tenant;
      EXPECT_EQ(b.wallets.at(foreign).apply(c, t_start).code, result_code::ok);
    }
    order_core o(the_order, command, system_w, {}, t_start);
    b.start(o);
    EXPECT_EQ(b.wallets.at(foreign).current(), bal(4000));
    EXPECT_EQ(b.wallets.at(foreign).open_transactions(), 0u);
    b.expect_all_closed();
    return o;
  };
  auto named = [&](order_kind kind, bool as_source, wallet_id w) {
    order_command c = command_of(kind);
    (as_source ? c.source : c.destination) = w;
    return c;
  };
  for (order_kind kind : {order_kind::transfer, order_kind::pay, order_kind::commission})
    for (bool as_source : {true, false}) {
      SCOPED_TRACE(std::string(to_string(kind)) + (as_source ? " from" : " to"));
      order_core with_foreign = run(named(kind, as_source, foreign));
      order_core with_ghost = run(named(kind, as_source, ghost));
      EXPECT_EQ(with_foreign.state(), os::failed);
      EXPECT_EQ(with_foreign.reason(), result_code::unknown_wallet);
      EXPECT_EQ(with_foreign.reason(), with_ghost.reason());
      ASSERT_EQ(with_foreign.legs().size(), with_ghost.legs().size());
      for (size_t i = 0; i < with_foreign.legs().size(); ++i) {
        const order_leg& f = with_foreign.legs()[i];
        const order_leg& g = with_ghost.legs()[i];
        EXPECT_EQ(f.balances_tenant, g.balances_tenant) << "leg " << i;
        EXPECT_EQ(f.last_balances, g.last_balances) << "leg " << i;
        if (f.target == foreign) {
          EXPECT_EQ(f.balances_tenant, 0u);
          EXPECT_EQ(f.last_balances, balances{});
        }
      }
    }
}

// ---------------------------------------------------------------------------------------
// Failures of the try phase.

TEST(order_core_test, invalid_command_fails_at_start) {
  auto bad = command_of(order_kind::transfer);
  bad.amount = 0;
  driver d(bad);
  auto out = d.start();
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::invalid_amount);
  EXPECT_EQ(count_of(out, ak::finished), 1u);
  EXPECT_EQ(count_of(out, ak::send_step), 0u);
  EXPECT_EQ(d.order.next_wakeup_ms(), std::numeric_limits<int64_t>::max());
  // A channel kind without a system wallet for its tenant and currency.
  driver e(command_of(order_kind::top_up), {}, no_wallet);
  out = e.start();
  EXPECT_EQ(e.order.state(), os::failed);
  EXPECT_EQ(e.order.reason(), result_code::unknown_wallet);
  EXPECT_EQ(count_of(out, ak::finished), 1u);
}

TEST(order_core_test, try_rejection_cancels_every_leg_and_fails_with_that_reason) {
  driver d(command_of(order_kind::transfer));
  auto out = d.start();
  EXPECT_EQ(d.order.state(), os::trying);
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  EXPECT_TRUE(d.reply(1, tcc_phase::try_, result_code::ok).empty());  // one try fine, waiting for the other
  out = d.reply(0, tcc_phase::try_, result_code::insufficient_funds);
  EXPECT_EQ(d.order.state(), os::cancelling);
  EXPECT_EQ(d.order.reason(), result_code::insufficient_funds);
  // Every leg is cancelled, the refused one too (its cancel is an empty rollback).
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  for (const auto& leg : d.order.legs()) EXPECT_EQ(leg.phase, tcc_phase::cancel);
  EXPECT_TRUE(d.reply(0, tcc_phase::cancel, result_code::ok).empty());
  out = d.reply(1, tcc_phase::cancel, result_code::ok);
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::insufficient_funds);
  EXPECT_EQ(count_of(out, ak::finished), 1u);
  EXPECT_EQ(d.order.finished_ms(), t_start);
}

TEST(order_core_test, late_and_stale_replies_are_ignored) {
  driver d(command_of(order_kind::transfer));
  d.start();
  d.reply(0, tcc_phase::try_, result_code::insufficient_funds);
  ASSERT_EQ(d.order.state(), os::cancelling);
  // The other leg's try answer arrives after its cancel was sent: ignored, as is a second
  // refusal, an answer to a leg that does not exist, and a confirm nobody asked for.
  EXPECT_TRUE(d.reply(1, tcc_phase::try_, result_code::ok).empty());
  EXPECT_TRUE(d.reply(1, tcc_phase::try_, result_code::wallet_frozen).empty());
  EXPECT_TRUE(d.reply(7, tcc_phase::cancel, result_code::ok).empty());
  EXPECT_TRUE(d.reply(0, tcc_phase::confirm, result_code::ok).empty());
  EXPECT_EQ(d.order.reason(), result_code::insufficient_funds);
  EXPECT_FALSE(d.order.legs()[1].tried);
  d.reply_all(tcc_phase::cancel);
  ASSERT_EQ(d.order.state(), os::failed);
  // A duplicate cancel answer after the end changes nothing.
  EXPECT_TRUE(d.reply(0, tcc_phase::cancel, result_code::ok).empty());
  EXPECT_TRUE(d.timer().empty());
  EXPECT_EQ(d.order.state(), os::failed);

  // A duplicate ok to a try does not count twice.
  driver e(command_of(order_kind::transfer));
  e.start();
  EXPECT_TRUE(e.reply(0, tcc_phase::try_, result_code::ok).empty());
  EXPECT_TRUE(e.reply(0, tcc_phase::try_, result_code::ok).empty());
  EXPECT_EQ(e.order.state(), os::trying);
}

TEST(order_core_test, retryable_try_is_resent_until_deadline_then_cancelled) {
  order_config config;
  driver d(command_of(order_kind::transfer), config);
  d.start();
  EXPECT_TRUE(d.reply(1, tcc_phase::try_, result_code::ok).empty());
  EXPECT_TRUE(d.reply(0, tcc_phase::try_, result_code::wallet_busy).empty());  // retryable: no cancel
  EXPECT_EQ(d.order.state(), os::trying);
  int resends = 0;
  int64_t last_resend = d.now;
  for (;;) {
    auto out = d.wake();
    if (d.order.state() != os::trying) {
      // The deadline ended the try phase: compensate every leg.
      EXPECT_EQ(d.now, d.order.try_deadline_ms());
      EXPECT_EQ(d.order.state(), os::cancelling);
      EXPECT_EQ(d.order.reason(), result_code::try_deadline_exceeded);
      EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
      break;
    }
    ASSERT_EQ(sent_legs(out), std::vector<uint16_t>{0});  // only the busy leg is resent
    EXPECT_LT(d.now, d.order.try_deadline_ms());
    EXPECT_GT(d.now, last_resend);
    last_resend = d.now;
    ++resends;
    d.reply(0, tcc_phase::try_, result_code::wallet_busy);
    ASSERT_LT(resends, 100);
  }
  EXPECT_GE(resends, 3);  // 250 ms backoff doubling within a 5 s deadline
  EXPECT_EQ(count_of(d.take(), ak::alert), 0u);
  d.reply_all(tcc_phase::cancel);
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::try_deadline_exceeded);
}

TEST(order_core_test, unanswered_try_is_resent_with_backoff) {
  order_config config;
  config.retry_initial_ms = 100;
  config.retry_max_ms = 400;
  config.try_deadline_ms = 100'000;
  driver d(command_of(order_kind::transfer), config);
  d.start();
  EXPECT_EQ(d.order.next_wakeup_ms(), t_start + 100);
  std::vector<int64_t> gaps;
  int64_t last = d.now;
  for (int i = 0; i < 6; ++i) {
    auto out = d.wake();
    EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
    gaps.push_back(d.now - last);
    last = d.now;
  }
  EXPECT_EQ(gaps, (std::vector<int64_t>{100, 200, 400, 400, 400, 400}));
  EXPECT_EQ(d.order.legs()[0].attempts, 7u);
  // A timer firing early does nothing.
  d.now += 1;
  EXPECT_TRUE(d.timer().empty());
}

TEST(order_core_test, a_route_change_resends_only_the_steps_still_waiting_at_once) {
  order_config config;
  config.retry_initial_ms = 1'000;
  config.retry_max_ms = 4'000;
  driver d(command_of(order_kind::transfer), config);
  d.start();
  d.reply(0, tcc_phase::try_);  // leg 0 answered; leg 1's wallet is on a node that went away
  d.now += 10;
  d.order.resend_waiting_steps(d.now, d.out);
  auto out = d.take();
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{1}));  // now, not after its 1 s backoff
  EXPECT_EQ(d.order.legs()[1].attempts, 2u);
  EXPECT_EQ(d.order.next_wakeup_ms(), d.now + 2'000);  // its backoff goes on from there
  d.reply(1, tcc_phase::try_);
  EXPECT_EQ(d.order.state(), os::confirming);
  d.take();
  // A final order resends nothing.
  d.reply_all(tcc_phase::confirm);
  ASSERT_EQ(d.order.state(), os::succeeded);
  d.order.resend_waiting_steps(d.now, d.out);
  EXPECT_TRUE(d.take().empty());
}

// ---------------------------------------------------------------------------------------
// Confirm and cancel never give up.

//! Confirm phase reached with every try ok; leg 1's confirm is the stubborn one.
driver confirming_transfer(order_config config) {
  driver d(command_of(order_kind::transfer), config);
  d.start();
  auto out = d.reply_all(tcc_phase::try_);
  EXPECT_EQ(d.order.state(), os::confirming);
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  EXPECT_TRUE(d.reply(0, tcc_phase::confirm, result_code::ok).empty());
  return d;
}

void expect_confirm_retried_forever(order_config config, bool answer_busy, std::vector<uint32_t> want_alerts) {
  driver d = confirming_transfer(config);
  if (answer_busy) d.reply(1, tcc_phase::confirm, result_code::wallet_busy);
  std::vector<uint32_t> alerted_at;
  for (int round = 0; round < 200; ++round) {
    auto out = d.wake();
    ASSERT_EQ(sent_legs(out), std::vector<uint16_t>{1});
    if (alerts_of(out, alert_kind::retries_exceeded) > 0) alerted_at.push_back(d.order.legs()[1].attempts);
    EXPECT_EQ(alerts_of(out, alert_kind::step_refused), 0u);  // busy is retryable, not refused
    if (answer_busy) d.reply(1, tcc_phase::confirm, result_code::wallet_busy);
    EXPECT_LE(d.order.next_wakeup_ms() - d.now, config.retry_max_ms);
  }
  // 201 sends: still confirming, alerted at the threshold then at each power of two.
  EXPECT_EQ(d.order.state(), os::confirming);
  EXPECT_EQ(d.order.legs()[1].attempts, 201u);
  EXPECT_EQ(alerted_at, want_alerts);
  auto out = d.reply(1, tcc_phase::confirm, result_code::ok);
  EXPECT_EQ(d.order.state(), os::succeeded);
  EXPECT_EQ(count_of(out, ak::finished), 1u);
}

TEST(order_core_test, confirm_retries_forever_and_alerts_at_threshold_when_unanswered) {
  expect_confirm_retried_forever({}, false, {8, 16, 32, 64, 128});
}

TEST(order_core_test, confirm_retries_forever_and_alerts_at_threshold_when_busy) {
  // The wallet answers every attempt with a retryable refusal: the alert must still come.
  expect_confirm_retried_forever({}, true, {8, 16, 32, 64, 128});
}

TEST(order_core_test, retries_alert_at_a_threshold_that_is_not_a_power_of_two) {
  order_config config;
  config.alert_attempts = 5;
  expect_confirm_retried_forever(config, false, {5, 8, 16, 32, 64, 128});
  expect_confirm_retried_forever(config, true, {5, 8, 16, 32, 64, 128});
}

TEST(order_core_test, refused_confirm_alerts_and_keeps_retrying) {
  driver d = confirming_transfer({});
  auto out = d.reply(1, tcc_phase::confirm, result_code::tcc_cancelled);
  EXPECT_EQ(alerts_of(out, alert_kind::step_refused), 1u);
  EXPECT_EQ(out[0].leg, 1u);
  EXPECT_EQ(d.order.state(), os::confirming);
  out = d.wake();
  EXPECT_EQ(sent_legs(out), std::vector<uint16_t>{1});
  out = d.reply(1, tcc_phase::confirm, result_code::ok);
  EXPECT_EQ(d.order.state(), os::succeeded);
}

TEST(order_core_test, confirm_of_a_forgotten_record_counts_as_done) {
  // The confirm's answer was lost, then the wallet forgot the finished record (a pause longer
  // than the retention): the repeat finds no record. The try was accepted and the order never
  // cancelled, so the wallet confirmed it: the leg is done, no alert, the order succeeds.
  driver d = confirming_transfer({});  // leg 0 confirmed and acknowledged
  auto out = d.reply(1, tcc_phase::confirm, result_code::tcc_not_tried);
  EXPECT_EQ(alerts_of(out, alert_kind::step_refused), 0u);
  EXPECT_EQ(d.order.state(), os::succeeded);
  EXPECT_EQ(count_of(out, ak::finished), 1u);
  EXPECT_TRUE(d.order.legs()[1].done);
}

TEST(order_core_test, confirm_decision_is_persisted_before_the_confirms) {
  // Every kind writes its `confirming` row ahead of its first confirm, so recovery never
  // resumes in `trying` an order whose confirms may be committed.
  for (order_kind kind : {order_kind::transfer, order_kind::pay, order_kind::commission}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    driver d(command_of(kind));
    d.start();
    std::vector<order_action> out;
    for (uint16_t i = 0; i < d.order.legs().size(); ++i) {
      auto more = d.reply(i, tcc_phase::try_, result_code::ok);
      out.insert(out.end(), more.begin(), more.end());
    }
    ASSERT_EQ(d.order.state(), os::confirming);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[0].kind, ak::persist);
    EXPECT_EQ(count_of(out, ak::persist), 1u);
    EXPECT_EQ(count_of(out, ak::send_step), d.order.legs().size());
    EXPECT_EQ(d.order.stored(d.now).state, os::confirming);
  }
}

TEST(order_core_test, not_tried_answers_to_a_try_or_a_cancel_are_not_taken_as_confirmed) {
  // Only a confirm of a leg whose try succeeded can have been forgotten after confirming; a
  // refused try still cancels the order.
  driver d(command_of(order_kind::transfer));
  d.start();
  auto out = d.reply(0, tcc_phase::try_, result_code::tcc_not_tried);
  EXPECT_EQ(d.order.state(), os::cancelling);
}

TEST(order_core_test, cancel_retries_until_acknowledged) {
  driver d(command_of(order_kind::transfer));
  d.start();
  d.reply(0, tcc_phase::try_, result_code::wallet_frozen);
  ASSERT_EQ(d.order.state(), os::cancelling);
  d.reply(0, tcc_phase::cancel, result_code::ok);
  for (int i = 0; i < 20; ++i) {
    auto out = d.wake();
    EXPECT_EQ(sent_legs(out), std::vector<uint16_t>{1});
  }
  EXPECT_EQ(d.order.state(), os::cancelling);
  d.reply(1, tcc_phase::cancel, result_code::ok);
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::wallet_frozen);
}

// ---------------------------------------------------------------------------------------
// Channel outcomes.

//! A top-up whose tries all succeeded: waiting for the provider.
driver processing_order(order_kind kind, order_config config = {}, int64_t amount = 1000) {
  driver d(command_of(kind, amount), config);
  d.start();
  auto out = d.reply_all(tcc_phase::try_);
  EXPECT_EQ(d.order.state(), os::processing);
  EXPECT_EQ(count_of(out, ak::channel_submit), 1u);
  return d;
}

driver processing_top_up(order_config config = {}, int64_t amount = 1000) {
  driver d(command_of(order_kind::top_up, amount), config);
  d.start();
  auto out = d.reply_all(tcc_phase::try_);
  EXPECT_EQ(d.order.state(), os::processing);
  EXPECT_EQ(count_of(out, ak::channel_submit), 1u);
  return d;
}

TEST(order_core_test, channel_success_with_partial_settlement) {
  driver d = processing_top_up();
  d.now += 30;
  auto out = d.channel(channel_outcome::succeeded, 600);
  EXPECT_EQ(d.order.state(), os::confirming);
  EXPECT_EQ(d.order.posted_amount(), 600);
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  // Confirms carry the settled amount; the tried amount stays on the leg.
  EXPECT_EQ(d.order.step_amount(0), 600);
  EXPECT_EQ(d.order.step_amount(1), 600);
  EXPECT_EQ(d.order.legs()[0].amount, 1000);
  d.reply_all(tcc_phase::confirm);
  EXPECT_EQ(d.order.state(), os::succeeded);
  EXPECT_EQ(d.order.posted_amount(), 600);

  // With real wallets: the unsettled part goes back as a cancel would return it.
  bank b;
  order_core o(the_order, command_of(order_kind::top_up), system_w, {}, t_start);
  b.start(o);
  b.channel(o, channel_outcome::succeeded, 600);
  EXPECT_EQ(o.state(), os::succeeded);
  EXPECT_EQ(b.wallets.at(system_w).current(), bal(-600));
  EXPECT_EQ(b.wallets.at(user_a).current(), bal(600));
  EXPECT_EQ(b.total(), 0);
  b.expect_all_closed();
}

TEST(order_core_test, channel_settling_more_than_asked_alerts_and_posts_the_amount) {
  driver d = processing_top_up();
  auto out = d.channel(channel_outcome::succeeded, 1500);
  EXPECT_EQ(alerts_of(out, alert_kind::settled_more_than_asked), 1u);
  EXPECT_EQ(d.order.posted_amount(), 1000);
  EXPECT_EQ(d.order.state(), os::confirming);
}

TEST(order_core_test, a_top_up_unpaid_past_its_payment_deadline_is_closed_then_fails_or_succeeds) {
  order_config config;
  config.payment_deadline_ms = 60'000;
  for (channel_outcome after_close : {channel_outcome::closed, channel_outcome::succeeded}) {
    driver d = processing_top_up(config);
    const int64_t submitted = d.now;
    // "Processing" (the payer has not paid) before the deadline: asked again, never closed.
    size_t closes = 0;
    while (d.now < submitted + config.payment_deadline_ms) {
      closes += count_of(d.wake(), ak::channel_close);
      if (d.now < submitted + config.payment_deadline_ms) closes += count_of(d.channel(channel_outcome::unknown), ak::channel_close);
    }
    EXPECT_EQ(closes, 0u);
    // Past it: the next "processing" answer closes it at the provider, once a window.
    auto out = d.channel(channel_outcome::unknown);
    EXPECT_EQ(count_of(out, ak::channel_close), 1u);
    EXPECT_EQ(count_of(d.channel(channel_outcome::unknown), ak::channel_close), 0u);
    EXPECT_EQ(d.order.state(), os::processing);
    // Closed: failed, nothing moved. Paid meanwhile: the close answers succeeded.
    d.channel(after_close, after_close == channel_outcome::succeeded ? 1000 : 0);
    EXPECT_EQ(d.order.state(), after_close == channel_outcome::closed ? os::cancelling : os::confirming);
  }
  // A payout has no payment deadline: it stays processing.
  driver w(command_of(order_kind::withdraw), config);
  w.start();
  w.reply_all(tcc_phase::try_);
  w.now += 10 * config.payment_deadline_ms;
  EXPECT_EQ(count_of(w.channel(channel_outcome::unknown), ak::channel_close), 0u);
  EXPECT_EQ(w.order.state(), os::processing);
}

TEST(order_core_test, channel_decline_cancels_and_fails) {
  for (auto reason : {result_code::channel_declined, result_code::channel_busy}) {
    driver d = processing_top_up();
    auto out = d.channel(channel_outcome::declined, 0, reason);
    EXPECT_EQ(d.order.state(), os::cancelling);
    EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
    d.reply_all(tcc_phase::cancel);
    EXPECT_EQ(d.order.state(), os::failed);
    EXPECT_EQ(d.order.reason(), reason);
  }
  // With real wallets the declined withdrawal gives the user's money back.
  bank b;
  b.top_up_directly(user_a, 5000);
  order_core o(the_order, command_of(order_kind::withdraw), system_w, {}, t_start);
  b.start(o);
  EXPECT_EQ(b.wallets.at(user_a).current(), bal(4000, 1000));
  b.channel(o, channel_outcome::declined, 0);
  EXPECT_EQ(o.state(), os::failed);
  EXPECT_EQ(b.wallets.at(user_a).current(), bal(5000));
  EXPECT_EQ(b.total(), 0);
  b.expect_all_closed();
}

TEST(order_core_test, unknown_outcome_keeps_processing_and_queries_later) {
  order_config config;
  driver d = processing_top_up(config);
  const int64_t submitted = d.now;
  // No query before the submit had its chance to answer.
  EXPECT_EQ(d.order.next_wakeup_ms(), submitted + config.channel_submit_timeout_ms);
  d.now += 1;
  auto out = d.channel(channel_outcome::unknown);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.order.state(), os::processing);
  EXPECT_EQ(d.order.reason(), result_code::ok);
  int64_t next_query = d.order.next_wakeup_ms();
  EXPECT_GE(next_query, submitted + config.channel_query_min_delay_ms);
  // A timer before the query instant asks nothing.
  d.now = next_query - 1;
  EXPECT_EQ(count_of(d.timer(), ak::channel_query), 0u);
  int queries = 0;
  int64_t last_query = 0;
  while (d.now < submitted + 50'000) {
    out = d.wake();
    if (count_of(out, ak::channel_query) == 0) continue;
    ++queries;
    EXPECT_GE(d.now, submitted + config.channel_query_min_delay_ms);
    if (last_query) {
      EXPECT_LE(d.now - last_query, config.channel_query_max_interval_ms);
    }
    last_query = d.now;
    d.channel(channel_outcome::unknown);  // the provider keeps saying "processing"
    EXPECT_EQ(d.order.state(), os::processing);
  }
  EXPECT_GE(queries, 5);
  // Unknown is never failure; the definitive answer still decides.
  d.channel(channel_outcome::succeeded, 1000);
  EXPECT_EQ(d.order.state(), os::confirming);
}

TEST(order_core_test, query_never_earlier_than_min_delay) {
  order_config config;
  config.channel_submit_timeout_ms = 10;  // the submit answer is late quickly...
  config.channel_query_min_delay_ms = 300;  // ...but the provider needs time to know the order
  driver d = processing_top_up(config);
  const int64_t submitted = d.now;
  EXPECT_EQ(d.order.next_wakeup_ms(), submitted + 300);
  d.now = submitted + 5;
  d.channel(channel_outcome::unknown);
  EXPECT_GE(d.order.next_wakeup_ms(), submitted + 300);
  auto out = d.wake();
  EXPECT_EQ(count_of(out, ak::channel_query), 1u);
  EXPECT_GE(d.now, submitted + 300);
}

TEST(order_core_test, not_found_late_closes_a_top_up_and_only_closed_fails_it) {
  // Money coming in: "not found" long after the submit asks the provider to close the order.
  // Closed: nothing was paid and nothing will be, the order fails. Not found or unknown again:
  // it waits (a whole window before the next close request).
  order_config config;
  driver d = processing_top_up(config);
  const int64_t submitted = d.now;
  d.now = submitted + config.channel_not_found_final_ms - 1;
  auto out = d.channel(channel_outcome::not_found);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.order.state(), os::processing);
  d.now = submitted + config.channel_not_found_final_ms;
  out = d.channel(channel_outcome::not_found);
  EXPECT_EQ(d.order.state(), os::processing);
  EXPECT_EQ(count_of(out, ak::channel_close), 1u);
  EXPECT_TRUE(sent_legs(out).empty());
  out = d.channel(channel_outcome::not_found);  // the close is on its way: nothing more
  EXPECT_TRUE(out.empty());
  out = d.channel(channel_outcome::unknown);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.order.state(), os::processing);
  out = d.channel(channel_outcome::closed);
  EXPECT_EQ(d.order.state(), os::cancelling);
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  d.reply_all(tcc_phase::cancel);
  EXPECT_EQ(d.order.state(), os::failed);
  EXPECT_EQ(d.order.reason(), result_code::channel_declined);
  // A later "declined" says the same (nothing moved): no conflict; a success would be one.
  EXPECT_TRUE(d.channel(channel_outcome::declined).empty());
  EXPECT_EQ(alerts_of(d.channel(channel_outcome::succeeded, 1000), alert_kind::conflicting_outcome), 1u);
}

TEST(order_core_test, a_top_up_paid_before_its_close_succeeds) {
  order_config config;
  driver d = processing_top_up(config);
  d.now += config.channel_not_found_final_ms;
  EXPECT_EQ(count_of(d.channel(channel_outcome::not_found), ak::channel_close), 1u);
  auto out = d.channel(channel_outcome::succeeded, 1000);  // the close's answer: already paid
  EXPECT_EQ(d.order.state(), os::confirming);
  d.reply_all(tcc_phase::confirm);
  EXPECT_EQ(d.order.state(), os::succeeded);
  EXPECT_EQ(d.order.posted_amount(), 1000);
}

TEST(order_core_test, a_payout_not_found_is_submitted_again_and_never_failed) {
  // Money going out: "not found" never fails a payout (the provider may pay it yet; failing it
  // would give the money back and pay it twice). Long after the submit, the same order id is
  // submitted again (the provider takes one order per id), once per window, for as long as it
  // takes; the processing alert fires once; a definitive answer ends it.
  order_config config;
  config.processing_alert_ms = 3 * config.channel_not_found_final_ms;
  driver d = processing_order(order_kind::withdraw, config);
  const int64_t submitted = d.now;
  size_t resubmits = 0, alerts = 0;
  for (int round = 1; round <= 10; ++round) {
    d.now = submitted + round * config.channel_not_found_final_ms + 1;
    auto out = d.timer();
    alerts += alerts_of(out, alert_kind::processing_too_long);
    out = d.channel(channel_outcome::not_found);
    resubmits += count_of(out, ak::channel_resubmit);
    EXPECT_EQ(count_of(out, ak::channel_close), 0u);
    EXPECT_TRUE(sent_legs(out).empty());
    EXPECT_EQ(d.order.state(), os::processing);
    EXPECT_TRUE(d.channel(channel_outcome::not_found).empty());  // within the new window: waits
  }
  EXPECT_EQ(resubmits, 10u);
  EXPECT_EQ(alerts, 1u);
  auto out = d.channel(channel_outcome::succeeded, 1000);
  EXPECT_EQ(d.order.state(), os::confirming);
  d.reply_all(tcc_phase::confirm);
  EXPECT_EQ(d.order.state(), os::succeeded);
}

TEST(order_core_test, conflicting_later_outcome_alerts_and_changes_nothing) {
  driver d = processing_top_up();
  d.channel(channel_outcome::succeeded, 1000);
  ASSERT_EQ(d.order.state(), os::confirming);
  // The same answer again is fine; unknowns say nothing.
  EXPECT_TRUE(d.channel(channel_outcome::succeeded, 1000).empty());
  EXPECT_TRUE(d.channel(channel_outcome::unknown).empty());
  EXPECT_TRUE(d.channel(channel_outcome::not_found).empty());
  auto out = d.channel(channel_outcome::declined);
  EXPECT_EQ(alerts_of(out, alert_kind::conflicting_outcome), 1u);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(d.order.state(), os::confirming);
  out = d.channel(channel_outcome::succeeded, 700);  // a different settled amount
  EXPECT_EQ(alerts_of(out, alert_kind::conflicting_outcome), 1u);
  EXPECT_EQ(d.order.posted_amount(), 1000);
  d.reply_all(tcc_phase::confirm);
  ASSERT_EQ(d.order.state(), os::succeeded);
  out = d.channel(channel_outcome::declined);
  EXPECT_EQ(alerts_of(out, alert_kind::conflicting_outcome), 1u);
  EXPECT_EQ(d.order.state(), os::succeeded);

  // Declined first, succeeded later: the first definitive answer wins.
  driver e = processing_top_up();
  e.channel(channel_outcome::declined);
  ASSERT_EQ(e.order.state(), os::cancelling);
  out = e.channel(channel_outcome::succeeded, 1000);
  EXPECT_EQ(alerts_of(out, alert_kind::conflicting_outcome), 1u);
  EXPECT_EQ(e.order.state(), os::cancelling);
  EXPECT_EQ(e.order.reason(), result_code::channel_declined);
}

TEST(order_core_test, channel_answer_before_processing_is_ignored) {
  driver d(command_of(order_kind::top_up));
  d.start();
  EXPECT_TRUE(d.channel(channel_outcome::succeeded, 1000).empty());
  EXPECT_EQ(d.order.state(), os::trying);
  // It did not count as the definitive answer either.
  d.reply_all(tcc_phase::try_);
  ASSERT_EQ(d.order.state(), os::processing);
  d.channel(channel_outcome::declined);
  EXPECT_EQ(d.order.state(), os::cancelling);
}

TEST(order_core_test, processing_too_long_alerts_once) {
  order_config config;
  driver d = processing_top_up(config);
  const int64_t submitted = d.now;
  size_t alerts = 0;
  while (d.now < submitted + 3 * config.processing_alert_ms) {
    auto out = d.wake();
    size_t here = alerts_of(out, alert_kind::processing_too_long);
    if (here) {
      EXPECT_GE(d.now, submitted + config.processing_alert_ms);
    }
    alerts += here;
  }
  EXPECT_EQ(alerts, 1u);
  EXPECT_EQ(d.order.state(), os::processing);
}

TEST(order_core_test, next_wakeup_follows_the_phase) {
  order_config config;
  config.retry_initial_ms = 100;
  driver d(command_of(order_kind::top_up), config);
  EXPECT_EQ(d.order.try_deadline_ms(), t_start + config.try_deadline_ms);
  d.start();
  EXPECT_EQ(d.order.next_wakeup_ms(), t_start + 100);  // resend of unanswered tries
  d.reply(0, tcc_phase::try_, result_code::ok);
  EXPECT_EQ(d.order.next_wakeup_ms(), t_start + 100);
  d.reply(1, tcc_phase::try_, result_code::wallet_busy);
  EXPECT_GT(d.order.next_wakeup_ms(), t_start);
  EXPECT_LE(d.order.next_wakeup_ms(), d.order.try_deadline_ms());
  d.now += 10;
  d.reply(1, tcc_phase::try_, result_code::ok);
  ASSERT_EQ(d.order.state(), os::processing);
  // Processing: the first query after the submit timeout.
  EXPECT_EQ(d.order.next_wakeup_ms(), d.now + config.channel_submit_timeout_ms);
  d.channel(channel_outcome::succeeded, 1000);
  EXPECT_EQ(d.order.next_wakeup_ms(), d.now + 100);  // confirm resends
  d.reply_all(tcc_phase::confirm);
  EXPECT_EQ(d.order.state(), os::succeeded);
  EXPECT_EQ(d.order.next_wakeup_ms(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(d.timer().empty());
}

TEST(order_core_test, try_deadline_on_timer_even_without_resends_due) {
  order_config config;
  config.retry_initial_ms = 1'000'000;  // no resend before the deadline
  driver d(command_of(order_kind::pay), config);
  d.start();
  EXPECT_EQ(d.order.next_wakeup_ms(), d.order.try_deadline_ms());
  d.now = d.order.try_deadline_ms() - 1;
  EXPECT_TRUE(d.timer().empty());
  auto out = d.wake();
  EXPECT_EQ(d.order.state(), os::cancelling);
  EXPECT_EQ(d.order.reason(), result_code::try_deadline_exceeded);
  EXPECT_EQ(sent_legs(out), (std::vector<uint16_t>{0, 1}));
  // Try answers after the cancel went out are stale.
  EXPECT_TRUE(d.reply(0, tcc_phase::try_, result_code::ok).empty());
}

// The system wallet is the counterparty of channel orders, never their user side: such an
// order fails at start, before any leg is sent, with wallet_kind_not_allowed.
TEST(order_core_test, system_wallet_as_user_side_fails_at_start) {
  for (auto kind : {order_kind::top_up, order_kind::withdraw}) {
    order_command c = command_of(kind);
    (kind == order_kind::top_up ? c.destination : c.source) = system_w;
    order_core core(the_order, c, system_w, order_config{}, t_start);
    std::vector<order_action> out;
    core.start(t_start, out);
    EXPECT_EQ(core.state(), os::failed);
    EXPECT_EQ(core.reason(), result_code::wallet_kind_not_allowed);
    EXPECT_EQ(count_of(out, ak::send_step), 0u);
    EXPECT_EQ(count_of(out, ak::finished), 1u);
  }
}

}  // namespace
}  // namespace txengine
