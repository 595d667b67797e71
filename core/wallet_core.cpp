#include "core/wallet_core.hpp"

#include <limits>

#include "core/check.hpp"
#include "core/test_hooks.hpp"

namespace txengine {

namespace {

bool add_balances(const balances& base, const balances& delta, balances& out) {
  balances result;
  if (!checked_add(base.available, delta.available, result.available)) return false;
  if (!checked_add(base.frozen, delta.frozen, result.frozen)) return false;
  if (!checked_add(base.incoming, delta.incoming, result.incoming)) return false;
  out = result;
  return true;
}

//! The sub-balance change of one step of one leg; `amount` is tried, `posted` confirmed.
balances delta_of(leg_type type, tcc_phase phase, int64_t amount, int64_t posted) {
  switch (phase) {
    case tcc_phase::try_:
      switch (type) {
        case leg_type::debit_hold: return {-amount, amount, 0};
        case leg_type::debit_direct: return {-amount, 0, 0};
        case leg_type::credit_incoming: return {0, 0, amount};
        case leg_type::credit_on_confirm: return {0, 0, 0};
      }
      break;
    case tcc_phase::confirm:
      switch (type) {
        case leg_type::debit_hold: return {amount - posted, -amount, 0};
        case leg_type::debit_direct: return {amount - posted, 0, 0};
        case leg_type::credit_incoming: return {posted, 0, -amount};
        case leg_type::credit_on_confirm: return {posted, 0, 0};
      }
      break;
    case tcc_phase::cancel:
      switch (type) {
        case leg_type::debit_hold: return {amount, -amount, 0};
        case leg_type::debit_direct: return {amount, 0, 0};
        case leg_type::credit_incoming: return {0, 0, -amount};
        case leg_type::credit_on_confirm: return {0, 0, 0};
      }
      break;
  }
  TX_CHECK(false);
  return {};
}

//! A try's amount that later steps may hand back to `available` and that no sub-balance
//! already carries: bounds every confirm and cancel so they can never overflow once the try
//! was accepted. A hold sits in `frozen` and an incoming credit in `incoming`, so claiming
//! them again would count them twice and refuse valid commands as overflows.
int64_t headroom_claim(leg_type type, int64_t amount) {
  return type == leg_type::debit_direct || type == leg_type::credit_on_confirm ? amount : 0;
}

}  // namespace

wallet_core::wallet_core(wallet_info info, wallet_config config) : info_(info), config_(config) {
  TX_CHECK(info_.id != no_wallet);
  TX_CHECK(info_.cur.valid());
  TX_CHECK(info_.overdraft_limit >= 0);
}

wallet_core wallet_core::restore(wallet_info info, wallet_config config, balances current, uint64_t sequence,
                                 const std::vector<std::pair<order_id, tcc_record>>& records, int64_t /*now_ms*/) {
  wallet_core core(info, config);
  core.balances_ = current;
  core.journal_base_ = current;
  core.journal_sequence_ = sequence;
  for (const auto& [txn, record] : records) {
    if (!core.records_.emplace(txn, record).second) continue;
    if (record.state == tcc_record_state::tried) {
      ++core.open_transactions_;
      core.pending_claims_ += headroom_claim(record.type, record.tried_amount);
    }
    // A finished record is not marked for expiry: it belongs to an order that was not final at
    // the stop (storage deletes the records of final orders), which recovery resumes, perhaps
    // as `trying` when its row came from an earlier build that wrote no `confirming` row. Kept
    // for the wallet's life in memory (records of the orders in flight at the stop: few), it
    // answers that order's repeats whatever pause comes first; a confirmed one forgotten would
    // answer a resumed try past its deadline with tcc_deadline_passed, and the order would
    // cancel its other legs (docs/simulation.md, "What it found", 3).
  }
  return core;
}

leg_outcome wallet_core::apply(const leg_command& command, int64_t now_ms) {
  expire_finished(now_ms);
  // A cancel of a leg this wallet refused for its tenant or currency has nothing to undo:
  // such a try never leaves a record, and a repeat of it meets the same refusal (no
  // hanging), so the order's compensation must not be refused forever.
  bool nothing_to_undo = command.phase == tcc_phase::cancel && records_.count(command.txn) == 0;
  if (command.tenant != info_.tenant) return answer_other_tenant(nothing_to_undo);
  if (command.cur != info_.cur) return answer(nothing_to_undo ? result_code::ok : result_code::currency_mismatch);
  switch (command.phase) {
    case tcc_phase::try_: return try_leg(command, now_ms);
    case tcc_phase::confirm: return confirm_leg(command, now_ms);
    case tcc_phase::cancel: return cancel_leg(command, now_ms);
  }
  return answer(result_code::invalid_argument);
}

result_code wallet_core::check_try(const leg_command& command) const {
  if (command.amount <= 0) return result_code::invalid_amount;
  if (command.wallet_kinds_allowed != 0 &&
      (command.wallet_kinds_allowed & (1u << static_cast<unsigned>(info_.kind))) == 0)
    return result_code::wallet_kind_not_allowed;
  if (info_.status == wallet_status::closed) return result_code::wallet_closed;
  if (is_debit(command.type)) {
    if (info_.status == wallet_status::frozen) return result_code::wallet_frozen;
    if (info_.kind != wallet_kind::system) {
      int64_t after;
      if (!checked_sub(balances_.available, command.amount, after)) return result_code::amount_overflow;
      if (after < -info_.overdraft_limit) return result_code::insufficient_funds;
    }
  }
  if (open_transactions_ >= config_.open_transactions_max) return result_code::wallet_busy;
  // Finished records too young to drop fill the bound: a new try waits (see wallet_config).
  if (finished_.size() > config_.finished_records_max) return result_code::wallet_busy;
  balances after;
  if (!add_balances(balances_, delta_of(command.type, tcc_phase::try_, command.amount, 0), after))
    return result_code::amount_overflow;
  // Everything that may still flow into `available` must fit, so no later confirm or cancel
  // can overflow: after this try, available + frozen + incoming + pending claims.
  int64_t claims;
  if (!checked_add(pending_claims_, headroom_claim(command.type, command.amount), claims))
    return result_code::amount_overflow;
  int64_t total = 0;
  bool fits = checked_add(total, after.available, total) && checked_add(total, after.frozen, total) &&
              checked_add(total, after.incoming, total) && checked_add(total, claims, total);
  if (!fits) return result_code::amount_overflow;
  return result_code::ok;
}

leg_outcome wallet_core::try_leg(const leg_command& command, int64_t now_ms) {
  auto found = records_.find(command.txn);
  if (found != records_.end()) {
    const tcc_record& record = found->second;
    if (record.state == tcc_record_state::cancelled) {
      if (test_hooks::broken != 1 || record.tried_amount != 0) return answer(result_code::tcc_cancelled, true);
      records_.erase(found);  // test hook (txsim --break anti_hanging): the tombstone is ignored
      return try_leg(command, now_ms);
    }
    if (record.type != command.type || record.tried_amount != command.amount)
      return answer(result_code::tcc_conflict, true);
    return answer(record.try_result, true);
  }
  if (command.amount <= 0) return answer(result_code::invalid_amount);
  if (now_ms > command.try_deadline_ms) return answer(result_code::tcc_deadline_passed);
  result_code code = check_try(command);
  // Retryable refusals leave no record: the same try may succeed later.
  if (is_retryable(code)) return answer(code);
  tcc_record record;
  record.type = command.type;
  record.tried_amount = command.amount;
  record.try_result = code;
  if (code != result_code::ok) {
    record.state = tcc_record_state::try_rejected;
    records_.emplace(command.txn, record);
    mark_finished(command.txn, now_ms);
    return answer(code);
  }
  record.state = tcc_record_state::tried;
  records_.emplace(command.txn, record);
  ++open_transactions_;
  pending_claims_ += headroom_claim(command.type, command.amount);  // checked in check_try
  post(command.txn, tcc_phase::try_, delta_of(command.type, tcc_phase::try_, command.amount, 0), now_ms);
  return answer(result_code::ok);
}

leg_outcome wallet_core::confirm_leg(const leg_command& command, int64_t now_ms) {
  auto found = records_.find(command.txn);
  if (found == records_.end()) return answer(result_code::tcc_not_tried);
  tcc_record& record = found->second;
  switch (record.state) {
    case tcc_record_state::try_rejected: return answer(result_code::tcc_not_tried, true);
    case tcc_record_state::cancelled: return answer(result_code::tcc_cancelled, true);
    case tcc_record_state::confirmed:
      if (test_hooks::broken == 2 && record.confirmed_amount == command.amount) {
        // Test hook (txsim --break idempotent_confirm): a repeated confirm posts again.
        post(command.txn, tcc_phase::confirm,
             delta_of(record.type, tcc_phase::confirm, record.tried_amount, command.amount), now_ms);
        return answer(result_code::ok);
      }
      return answer(record.confirmed_amount == command.amount ? result_code::ok : result_code::tcc_conflict, true);
    case tcc_record_state::tried: break;
  }
  if (command.type != record.type) return answer(result_code::tcc_conflict);
  if (command.amount < 0) return answer(result_code::invalid_amount);
  if (command.amount > record.tried_amount) return answer(result_code::confirm_exceeds_tried);
  record.confirmed_amount = command.amount;
  pending_claims_ -= headroom_claim(record.type, record.tried_amount);
  post(command.txn, tcc_phase::confirm, delta_of(record.type, tcc_phase::confirm, record.tried_amount, command.amount),
       now_ms);
  finish(command.txn, record, tcc_record_state::confirmed, now_ms);
  return answer(result_code::ok);
}

leg_outcome wallet_core::cancel_leg(const leg_command& command, int64_t now_ms) {
  auto found = records_.find(command.txn);
  if (found == records_.end()) {
    // Empty rollback: cancel of a transaction never tried succeeds and leaves a tombstone,
    // so a try that arrives later is refused (no hanging).
    tcc_record tombstone;
    tombstone.type = command.type;
    tombstone.state = tcc_record_state::cancelled;
    tombstone.try_result = result_code::tcc_cancelled;
    records_.emplace(command.txn, tombstone);
    mark_finished(command.txn, now_ms);
    return answer(result_code::ok);
  }
  tcc_record& record = found->second;
  switch (record.state) {
    case tcc_record_state::cancelled: return answer(result_code::ok, true);
    case tcc_record_state::confirmed: return answer(result_code::tcc_confirmed, true);
    case tcc_record_state::try_rejected:
      // Nothing was changed by the rejected try; the record becomes a tombstone.
      record.state = tcc_record_state::cancelled;
      return answer(result_code::ok);
    case tcc_record_state::tried: break;
  }
  pending_claims_ -= headroom_claim(record.type, record.tried_amount);
  post(command.txn, tcc_phase::cancel, delta_of(record.type, tcc_phase::cancel, record.tried_amount, 0), now_ms);
  finish(command.txn, record, tcc_record_state::cancelled, now_ms);
  return answer(result_code::ok);
}

balances leg_step_delta(leg_type type, tcc_phase phase, int64_t tried, int64_t posted) {
  return delta_of(type, phase, tried, posted);
}

void wallet_core::post(order_id txn, tcc_phase phase, balances delta, int64_t now_ms) {
  balances after;
  // Tries were checked before; confirms and cancels are bounded by the try's headroom claim.
  TX_CHECK(add_balances(balances_, delta, after));
  if (delta == balances{}) return;
  balances_ = after;
  // Room first, then the entry: the journal never holds more than its bound, so its ring
  // (fifo_vector) never grows past the bound's power of two (256 entries: 256 slots, not 512).
  while (!journal_.empty() && journal_.size() >= config_.journal_entries_max) {
    journal_base_ = journal_.front().after;
    journal_.pop_front();
  }
  journal_.push_back({++journal_sequence_, txn, phase, delta, after, now_ms});
}

void wallet_core::finish(order_id txn, tcc_record& record, tcc_record_state state, int64_t now_ms) {
  TX_CHECK(record.state == tcc_record_state::tried);
  TX_CHECK(open_transactions_ > 0);
  record.state = state;
  --open_transactions_;
  mark_finished(txn, now_ms);
}

void wallet_core::mark_finished(order_id txn, int64_t now_ms) {
  if (finished_.empty()) oldest_finished_ms_ = now_ms;
  finished_.push_back({txn, now_ms});
}

void wallet_core::expire_finished(int64_t now_ms) {
  // Fast path without touching the deque's storage: nothing is old enough, and the count is
  // within bounds (the deque's size lives in the deque object itself).
  if (oldest_finished_ms_ == INT64_MAX ||
      (oldest_finished_ms_ + config_.finished_record_retention_ms >= now_ms &&
       finished_.size() <= config_.finished_records_max))
    return;
  // By age past the retention; by count only those past the minimum keep (a tombstone younger
  // than the try deadline still stops a late try: anti-hanging).
  while (!finished_.empty() &&
         (finished_.front().finished_at_ms + config_.finished_record_retention_ms < now_ms ||
          (finished_.size() > config_.finished_records_max &&
           finished_.front().finished_at_ms + config_.finished_record_min_keep_ms < now_ms))) {
    auto found = records_.find(finished_.front().txn);
    // A record may be listed twice (rejected, then turned into a tombstone): erase once.
    if (found != records_.end() && found->second.state != tcc_record_state::tried) records_.erase(found);
    finished_.pop_front();
  }
  oldest_finished_ms_ = finished_.empty() ? INT64_MAX : finished_.front().finished_at_ms;
}

const tcc_record* wallet_core::find_record(order_id txn) const {
  auto found = records_.find(txn);
  return found == records_.end() ? nullptr : &found->second;
}

leg_outcome wallet_core::answer_other_tenant(bool nothing_to_undo) {
  // What the shard answers for an id it does not know (wallet_actor.cpp): unknown_wallet, or
  // ok for a cancel, and no balances. Another tenant cannot tell the two apart.
  return {nothing_to_undo ? result_code::ok : result_code::unknown_wallet, balances{}, false};
}

result_code wallet_core::check_admin(tenant_id tenant) const {
  // Another tenant's wallet is answered as if it did not exist (DESIGN.md, "Tenants").
  if (tenant != info_.tenant) return result_code::unknown_wallet;
  if (info_.status == wallet_status::closed) return result_code::wallet_closed;
  return result_code::ok;
}

result_code wallet_core::freeze(tenant_id tenant) {
  if (auto code = check_admin(tenant); code != result_code::ok) return code;
  if (info_.kind == wallet_kind::system) return result_code::wallet_kind_not_allowed;
  info_.status = wallet_status::frozen;
  return result_code::ok;
}

result_code wallet_core::unfreeze(tenant_id tenant) {
  if (auto code = check_admin(tenant); code != result_code::ok) return code;
  info_.status = wallet_status::active;
  return result_code::ok;
}

result_code wallet_core::close(tenant_id tenant) {
  if (auto code = check_admin(tenant); code != result_code::ok) return code;
  if (info_.kind == wallet_kind::system) return result_code::wallet_kind_not_allowed;
  if (balances_ != balances{} || open_transactions_ != 0) return result_code::wallet_not_empty;
  info_.status = wallet_status::closed;
  return result_code::ok;
}

result_code wallet_core::set_overdraft_limit(tenant_id tenant, int64_t limit) {
  if (auto code = check_admin(tenant); code != result_code::ok) return code;
  if (limit < 0) return result_code::invalid_limit;
  if (info_.kind == wallet_kind::system) return result_code::wallet_kind_not_allowed;
  info_.overdraft_limit = limit;
  return result_code::ok;
}

bool wallet_core::verify_journal() const {
  balances running = journal_base_;
  for (const auto& entry : journal_) {
    if (!add_balances(running, entry.delta, running)) return false;
    if (running != entry.after) return false;
  }
  return running == balances_;
}

}  // namespace txengine
