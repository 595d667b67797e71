#pragma once
// The refundable amount of one succeeded payment, as a TCC participant: a refund reserves
// part of it (try), takes it (confirm) or releases it (cancel). Concurrent refunds of one
// payment can therefore never sum to more than the payment (seed 002).
#include <cstdint>
#include <unordered_map>

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

}  // namespace txengine
