#include "core/movement_history.hpp"

#include <algorithm>

#include "core/money.hpp"

namespace txengine {

namespace {

//! Whether the leg's steps may have made a journal entry its pointers do not name.
bool pointer_missing(const stored_leg& leg) {
  if (leg.type == leg_type::credit_on_confirm) {
    // Its try changes nothing; its confirm credits what it posts.
    return leg.phase == tcc_phase::confirm && leg.done && leg.confirmed > 0 && leg.step_sequence == 0;
  }
  bool tried = leg.phase != tcc_phase::try_ || leg.done;
  // A try that was refused made no entry and has no pointer either: the lookup by order
  // then finds nothing, which is the truth.
  if (tried && leg.try_sequence == 0) return true;
  return leg.phase != tcc_phase::try_ && leg.done && leg.step_sequence == 0;
}

}  // namespace

std::vector<movement_lookup> movement_lookups(const std::vector<stored_leg>& legs) {
  std::vector<movement_lookup> out;
  for (const auto& leg : legs) {
    if (leg.participant != participant_kind::wallet || leg.target == no_wallet) continue;
    movement_lookup lookup;
    lookup.wallet = leg.target;
    lookup.by_order = pointer_missing(leg);
    if (!lookup.by_order) {
      if (leg.try_sequence != 0) lookup.sequences.push_back(leg.try_sequence);
      if (leg.step_sequence != 0) lookup.sequences.push_back(leg.step_sequence);
      if (lookup.sequences.empty()) continue;  // no step of it moved money
    }
    out.push_back(std::move(lookup));
  }
  return out;
}

const stored_leg* leg_of_wallet(const std::vector<stored_leg>& legs, wallet_id wallet) {
  for (const auto& leg : legs)
    if (leg.participant == participant_kind::wallet && leg.target == wallet) return &leg;
  return nullptr;
}

bool split_try_confirm(const journal_entry& combined, leg_type type, int64_t tried, journal_entry& try_entry,
                       journal_entry& confirm_entry) {
  if (combined.sequence < 2 || tried <= 0) return false;
  balances try_delta = leg_step_delta(type, tcc_phase::try_, tried, 0);
  balances confirm_delta;
  balances try_after;
  if (!checked_sub(combined.delta.available, try_delta.available, confirm_delta.available) ||
      !checked_sub(combined.delta.frozen, try_delta.frozen, confirm_delta.frozen) ||
      !checked_sub(combined.delta.incoming, try_delta.incoming, confirm_delta.incoming) ||
      !checked_sub(combined.after.available, confirm_delta.available, try_after.available) ||
      !checked_sub(combined.after.frozen, confirm_delta.frozen, try_after.frozen) ||
      !checked_sub(combined.after.incoming, confirm_delta.incoming, try_after.incoming))
    return false;
  if (try_delta == balances{}) return false;  // such a try makes no entry: not a pair
  try_entry = journal_entry{combined.sequence - 1, combined.txn, tcc_phase::try_, try_delta, try_after, combined.at_ms};
  confirm_entry =
      journal_entry{combined.sequence, combined.txn, tcc_phase::confirm, confirm_delta, combined.after, combined.at_ms};
  return true;
}

std::vector<journal_entry> join_page(std::vector<journal_entry> older, const fifo_vector<journal_entry>& memory,
                                     uint64_t from_sequence, uint32_t limit) {
  std::vector<journal_entry> page;
  page.reserve(std::min<size_t>(limit, older.size() + memory.size()));
  uint64_t next = from_sequence;
  for (auto& entry : older) {
    if (page.size() >= limit) return page;
    if (entry.sequence < next) continue;  // out of order or repeated: never listed twice
    next = entry.sequence + 1;
    page.push_back(std::move(entry));
  }
  for (const auto& entry : memory) {
    if (page.size() >= limit) break;
    if (entry.sequence < next) continue;
    next = entry.sequence + 1;
    page.push_back(entry);
  }
  return page;
}

std::vector<wallet_balance> balances_after(const std::vector<wallet_id>& leg_wallets,
                                           const std::vector<order_movement>& movements) {
  std::vector<wallet_balance> out;
  for (wallet_id wallet : leg_wallets) {
    const journal_entry* newest = nullptr;
    for (const auto& m : movements)
      if (m.wallet == wallet && (newest == nullptr || m.entry.sequence > newest->sequence)) newest = &m.entry;
    if (newest != nullptr) out.push_back({wallet, newest->after});
  }
  return out;
}

}  // namespace txengine
