#include "core/refund_allowance.hpp"

#include "core/check.hpp"

namespace txengine {

result_code refund_allowance::apply(order_id refund, tcc_phase phase, int64_t amount) {
  auto found = records_.find(refund);
  switch (phase) {
    case tcc_phase::try_: {
      if (found != records_.end()) {
        if (found->second.st == state::cancelled) return result_code::tcc_cancelled;
        return found->second.amount == amount ? result_code::ok : result_code::tcc_conflict;
      }
      if (amount <= 0) return result_code::invalid_amount;
      if (amount > refundable()) return result_code::refund_exceeds_original;
      records_.emplace(refund, record{state::tried, amount});
      reserved_ += amount;
      return result_code::ok;
    }
    case tcc_phase::confirm: {
      if (found == records_.end()) return result_code::tcc_not_tried;
      if (found->second.st == state::cancelled) return result_code::tcc_cancelled;
      if (found->second.st == state::confirmed) return result_code::ok;
      found->second.st = state::confirmed;
      reserved_ -= found->second.amount;
      refunded_ += found->second.amount;
      break;
    }
    case tcc_phase::cancel: {
      if (found == records_.end()) {
        records_.emplace(refund, record{state::cancelled, 0});  // empty rollback, tombstone
        return result_code::ok;
      }
      if (found->second.st == state::confirmed) return result_code::tcc_confirmed;
      if (found->second.st == state::cancelled) return result_code::ok;
      found->second.st = state::cancelled;
      reserved_ -= found->second.amount;
      break;
    }
  }
  TX_CHECK(reserved_ >= 0 && refunded_ >= 0 && refunded_ + reserved_ <= original_amount_);
  return result_code::ok;
}

bool refund_allowance::restore(order_id refund, tcc_phase last_phase, int64_t amount) {
  if (records_.count(refund) != 0 || amount < 0) return false;
  if (last_phase == tcc_phase::cancel) {
    records_.emplace(refund, record{state::cancelled, 0});
    return true;
  }
  if (amount == 0 || amount > refundable()) return false;
  if (last_phase == tcc_phase::try_) {
    records_.emplace(refund, record{state::tried, amount});
    reserved_ += amount;
  } else {
    records_.emplace(refund, record{state::confirmed, amount});
    refunded_ += amount;
  }
  TX_CHECK(reserved_ >= 0 && refunded_ >= 0 && refunded_ + reserved_ <= original_amount_);
  return true;
}

}  // namespace txengine
