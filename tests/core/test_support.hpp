#pragma once
// Small helpers shared by the core tests: a fixed tenant and currency, wallet and leg
// builders, order commands and a hand-driven order, so each test states only what it is about.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <ostream>
#include <utility>
#include <vector>

#include "core/order_core.hpp"
#include "core/wallet_core.hpp"

namespace txengine::test {

inline const currency usd = *currency::parse("USD");
inline const currency eur = *currency::parse("EUR");
constexpr tenant_id tenant = 7;
constexpr tenant_id other_tenant = 8;
constexpr int64_t max64 = std::numeric_limits<int64_t>::max();
constexpr int64_t min64 = std::numeric_limits<int64_t>::min();
//! A try deadline far beyond every test's clock.
constexpr int64_t far_deadline = int64_t{1} << 50;

inline wallet_info make_info(wallet_id id, wallet_kind kind = wallet_kind::user, int64_t overdraft = 0) {
  wallet_info info;
  info.id = id;
  info.tenant = tenant;
  info.cur = usd;
  info.kind = kind;
  info.overdraft_limit = overdraft;
  return info;
}

inline leg_command make_leg(order_id txn, tcc_phase phase, leg_type type, int64_t amount) {
  leg_command c;
  c.txn = txn;
  c.phase = phase;
  c.type = type;
  c.amount = amount;
  c.tenant = tenant;
  c.cur = usd;
  c.try_deadline_ms = far_deadline;
  return c;
}

inline leg_outcome try_leg(wallet_core& w, order_id txn, leg_type type, int64_t amount, int64_t now_ms = 1) {
  return w.apply(make_leg(txn, tcc_phase::try_, type, amount), now_ms);
}
inline leg_outcome confirm_leg(wallet_core& w, order_id txn, leg_type type, int64_t amount, int64_t now_ms = 1) {
  return w.apply(make_leg(txn, tcc_phase::confirm, type, amount), now_ms);
}
inline leg_outcome cancel_leg(wallet_core& w, order_id txn, leg_type type, int64_t now_ms = 1) {
  return w.apply(make_leg(txn, tcc_phase::cancel, type, 0), now_ms);
}

//! Puts `amount` into `available` through a confirmed incoming credit (txn ids from 1'000'000).
inline void fund(wallet_core& w, int64_t amount, order_id txn = 1'000'000) {
  auto tried = try_leg(w, txn, leg_type::credit_incoming, amount);
  auto confirmed = confirm_leg(w, txn, leg_type::credit_incoming, amount);
  if (tried.code != result_code::ok || confirmed.code != result_code::ok) std::abort();
}

inline balances bal(int64_t available, int64_t frozen = 0, int64_t incoming = 0) {
  balances b;
  b.available = available;
  b.frozen = frozen;
  b.incoming = incoming;
  return b;
}

// ---------------------------------------------------------------------------------------
// Orders (order_core_test, order_restore_test).

// Wallet ids of the order tests.
constexpr wallet_id system_w = 1, user_a = 2, user_b = 3, merchant_w = 4, fee_w = 5;
constexpr order_id the_order = 100, original_payment = 500;
constexpr int64_t t_start = 10'000;

//! A valid command of `kind` among the wallets above; a pay with `pay_fee` > 0 pays that fee to fee_w.
inline order_command command_of(order_kind kind, int64_t amount = 1000, int64_t pay_fee = 0) {
  order_command c;
  c.tenant = tenant;
  c.request_id = "r-1";
  c.kind = kind;
  c.amount = amount;
  c.cur = usd;
  switch (kind) {
    case order_kind::top_up:
      c.destination = user_a;
      c.channel = 1;
      break;
    case order_kind::pay:
      c.source = user_a;
      c.destination = merchant_w;
      if (pay_fee > 0) c.fee_wallet = fee_w, c.fee_amount = pay_fee;
      break;
    case order_kind::withdraw:
      c.source = user_a;
      c.channel = 1;
      break;
    case order_kind::transfer:
      c.source = user_a;
      c.destination = user_b;
      break;
    case order_kind::commission:
      c.source = fee_w;
      c.destination = merchant_w;
      break;
    case order_kind::refund:
      c.original_order = original_payment;
      break;
  }
  return c;
}

inline size_t count_of(const std::vector<order_action>& actions, order_action_kind kind) {
  size_t n = 0;
  for (const auto& a : actions) n += a.kind == kind;
  return n;
}

//! The legs of the steps sent, in order.
inline std::vector<uint16_t> sent_legs(const std::vector<order_action>& actions) {
  std::vector<uint16_t> legs;
  for (const auto& a : actions)
    if (a.kind == order_action_kind::send_step) legs.push_back(a.leg);
  return legs;
}

//! One order driven by hand at `now`: the test plays every wallet; each call returns the
//! actions it made.
struct order_stepper {
  order_stepper(order_core o, int64_t at) : order(std::move(o)), now(at) {}

  std::vector<order_action> reply(uint16_t leg, tcc_phase phase, result_code code = result_code::ok) {
    order.on_step_reply(leg, phase, code, tenant, balances{}, now, out);
    return take();
  }
  //! Answers every leg's current step with `code`.
  std::vector<order_action> reply_all(tcc_phase phase, result_code code = result_code::ok) {
    std::vector<order_action> all;
    for (uint16_t i = 0; i < order.legs().size(); ++i) {
      auto got = reply(i, phase, code);
      all.insert(all.end(), got.begin(), got.end());
    }
    return all;
  }
  std::vector<order_action> take() {
    auto got = std::move(out);
    out.clear();
    return got;
  }

  order_core order;
  int64_t now;
  std::vector<order_action> out;
};

}  // namespace txengine::test

namespace txengine {
inline std::ostream& operator<<(std::ostream& os, const balances& b) {
  return os << "{available " << b.available << ", frozen " << b.frozen << ", incoming " << b.incoming << "}";
}
inline std::ostream& operator<<(std::ostream& os, result_code c) { return os << to_string(c); }
inline std::ostream& operator<<(std::ostream& os, order_state s) { return os << to_string(s); }
}  // namespace txengine
