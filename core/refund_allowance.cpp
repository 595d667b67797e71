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

result_code apply_refund_step(const refund_original& original, std::unique_ptr<refund_allowance>& allowance,
                              order_id refund, tcc_phase phase, currency cur, int64_t amount) {
  if (original.is != refund_original::presence::final) {
    if (phase == tcc_phase::cancel) return result_code::ok;  // nothing was reserved
    return original.is == refund_original::presence::running ? result_code::original_not_refundable
                                                             : result_code::unknown_order;
  }
  if (phase == tcc_phase::try_) {
    if (original.kind != order_kind::pay || original.state != order_state::succeeded)
      return result_code::original_not_refundable;
    if (original.cur != cur) return result_code::currency_mismatch;
  }
  if (!allowance) {
    if (phase == tcc_phase::cancel) return result_code::ok;
    if (phase == tcc_phase::confirm) return result_code::tcc_not_tried;
    allowance = std::make_unique<refund_allowance>(original.posted_amount);
  }
  return allowance->apply(refund, phase, amount);
}

std::unique_ptr<refund_allowance> rebuild_refund_allowance(int64_t posted_amount,
                                                           const std::vector<stored_refund_state>& refunds,
                                                           std::vector<stored_refund_state>* misfits) {
  auto allowance = std::make_unique<refund_allowance>(posted_amount);
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& refund : refunds) {
      bool ok = true;
      if (pass == 0 && refund.state == order_state::succeeded)
        ok = allowance->restore(refund.id, tcc_phase::confirm, refund.amount);
      else if (pass == 1 && refund.state == order_state::failed)
        ok = allowance->restore(refund.id, tcc_phase::cancel, 0);
      else if (pass == 1 && !is_final(refund.state) && refund.granted)
        ok = allowance->restore(refund.id, tcc_phase::try_, refund.amount);
      if (!ok && misfits != nullptr) misfits->push_back(refund);
    }
  return allowance;
}

}  // namespace txengine
