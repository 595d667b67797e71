#pragma once
// The refundable amount of one succeeded payment, as a TCC participant: a refund reserves
// part of it (try), takes it (confirm) or releases it (cancel). Concurrent refunds of one
// payment can therefore never sum to more than the payment (seed 002).
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/money.hpp"
#include "core/order_state.hpp"
#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {

class refund_allowance {
 public:
  explicit refund_allowance(int64_t original_amount) : original_amount_(original_amount) {}

  //! Idempotent per refund order id, with empty rollback and no hanging, like a wallet leg.
  result_code apply(order_id refund, tcc_phase phase, int64_t amount);

  //! After a restart: a refund the stored orders tell about, as its last step left it (try:
  //! reserved, still running; confirm: refunded; cancel: a tombstone). Changes nothing and
  //! returns false for a refund already known, a negative amount, or one that does not fit
  //! what is left (the stored refunds were granted within the amount, so that is corrupt data).
  bool restore(order_id refund, tcc_phase last_phase, int64_t amount);

  int64_t refunded() const { return refunded_; }
  int64_t reserved() const { return reserved_; }
  int64_t refundable() const { return original_amount_ - refunded_ - reserved_; }

 private:
  enum class state : uint8_t { tried, confirmed, cancelled };
  struct record {
    state st;
    int64_t amount;
  };
  int64_t original_amount_;
  int64_t refunded_ = 0;
  int64_t reserved_ = 0;
  std::unordered_map<order_id, record> records_;
};

//! What a refund's step needs to know of its original order, as the host owning the original
//! sees it for the refund's tenant (another tenant's order is absent: nothing about it leaks).
struct refund_original {
  enum class presence : uint8_t {
    absent,   //!< no such order of this tenant on this host
    running,  //!< the tenant's order, not final yet
    final,    //!< the tenant's order, final: `kind`, `state`, `cur` and `posted_amount` hold
  };
  presence is = presence::absent;
  order_kind kind = order_kind::pay;
  order_state state = order_state::failed;
  currency cur;
  int64_t posted_amount = 0;
};

//! One TCC step of a refund on its original payment's refundable amount. `allowance` is the
//! original's (created on the first try; null until then). Only a succeeded payment of the
//! refund's currency is refundable; a cancel of anything not reserved is an empty rollback; a
//! confirm of what was never tried is refused. Deterministic, no I/O.
result_code apply_refund_step(const refund_original& original, std::unique_ptr<refund_allowance>& allowance,
                              order_id refund, tcc_phase phase, currency cur, int64_t amount);

//! A refund of a payment as its stored row tells after a restart.
struct stored_refund_state {
  order_id id = 0;
  order_state state = order_state::trying;
  int64_t amount = 0;
  bool granted = false;  //!< its row holds the wallet legs: the allowance had reserved its amount
};

//! Rebuilds a succeeded payment's allowance from its stored refunds: succeeded ones took their
//! amount, running granted ones keep their reservation, failed ones leave a tombstone, the rest
//! (not granted when the engine stopped) ask again. Confirmed first: they surely happened.
//! Refunds that do not fit what is left (corrupt data) are not applied and are returned in
//! `misfits` for the caller to report.
std::unique_ptr<refund_allowance> rebuild_refund_allowance(int64_t posted_amount,
                                                           const std::vector<stored_refund_state>& refunds,
                                                           std::vector<stored_refund_state>* misfits);

}  // namespace txengine
