#pragma once
// Small helpers shared by the core tests: a fixed tenant and currency, wallet and leg
// builders, so each test states only what it is about.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <ostream>

#include "actors/core/wallet_core.hpp"

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

}  // namespace txengine::test

namespace txengine {
inline std::ostream& operator<<(std::ostream& os, const balances& b) {
  return os << "{available " << b.available << ", frozen " << b.frozen << ", incoming " << b.incoming << "}";
}
inline std::ostream& operator<<(std::ostream& os, result_code c) { return os << to_string(c); }
inline std::ostream& operator<<(std::ostream& os, order_state s) { return os << to_string(s); }
}  // namespace txengine
