#pragma once
// The business rules of one wallet: its three sub-balances, its status and limits, and its
// TCC participant records. Plain C++: no CAF, MySQL or Kafka; time is passed in, so the
// same inputs always give the same state.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/fifo_vector.hpp"
#include "core/limits.hpp"
#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {

struct wallet_info {
  wallet_id id = no_wallet;
  tenant_id tenant = 0;
  currency cur;
  wallet_kind kind = wallet_kind::user;
  wallet_status status = wallet_status::active;
  //! How far below zero `available` may go (user, merchant, fee wallets); system wallets
  //! are the platform's counterparty and may go negative without a limit.
  int64_t overdraft_limit = 0;
};

//! One step of one leg of one order, addressed to one wallet.
struct leg_command {
  order_id txn = 0;
  tcc_phase phase = tcc_phase::try_;
  leg_type type = leg_type::debit_hold;
  //! try: the amount tried; confirm: the amount posted (0..tried, partial confirm); cancel: unused.
  int64_t amount = 0;
  tenant_id tenant = 0;
  currency cur;
  //! A try arriving after this instant is refused, so a late try can never hang.
  int64_t try_deadline_ms = 0;
  //! Bit (1 << wallet_kind) for each kind this leg may touch; 0 accepts any kind.
  uint16_t wallet_kinds_allowed = 0;
};

struct leg_outcome {
  result_code code = result_code::ok;
  //! The wallet's balances after the step; all zero when the step is of another tenant (the
  //! caller sees nothing of a wallet that is not its own).
  balances after;
  //! True when this was a repeat answered from the record, not a new change.
  bool repeated = false;
};

//! One change of a wallet's sub-balances: the fund-movement journal.
struct journal_entry {
  uint64_t sequence = 0;
  order_id txn = 0;
  tcc_phase phase = tcc_phase::try_;
  balances delta;
  balances after;
  int64_t at_ms = 0;
};

enum class tcc_record_state : uint8_t { tried, try_rejected, confirmed, cancelled };

struct tcc_record {
  leg_type type = leg_type::debit_hold;
  tcc_record_state state = tcc_record_state::tried;
  result_code try_result = result_code::ok;
  int64_t tried_amount = 0;
  int64_t confirmed_amount = 0;
};

struct wallet_config {
  //! How long finished TCC records (and cancel tombstones) are kept for idempotent repeats.
  //! Must exceed every order's try deadline and retry horizon.
  int64_t finished_record_retention_ms = limits::wallet_finished_record_retention_ms;
  //! Finished records kept at most; past it the oldest are dropped, but never one younger than
  //! `finished_record_min_keep_ms`: a cancel tombstone must outlive every try of its order that
  //! can still arrive (a try is refused past its order's try deadline anyway). When the records
  //! that young alone exceed the bound, new tries are refused `wallet_busy` (retryable) instead.
  size_t finished_records_max = limits::wallet_finished_records_max;
  //! The orders' longest try deadline (node/engine.cpp sets it from `[order] try_deadline_ms`).
  int64_t finished_record_min_keep_ms = limits::order_try_deadline_ms_default;
  size_t open_transactions_max = limits::wallet_open_transactions_max;
  size_t journal_entries_max = limits::wallet_journal_entries_max;
};

//! The sub-balance change one step of a leg makes (`tried` the amount tried, `posted` the amount
//! a confirm posts): the table of docs/engine.md.
balances leg_step_delta(leg_type type, tcc_phase phase, int64_t tried, int64_t posted);

class wallet_core {
 public:
  wallet_core(wallet_info info, wallet_config config = {});

  //! A wallet as storage kept it: its balances, its version (the sequence of its last journal
  //! entry) and its TCC records (tried ones are open transactions). Storage keeps only records
  //! of orders not final (a final row deletes its order's records), which recovery resumes:
  //! their finished records are kept for the life of this wallet in memory, not for the
  //! retention, so a resumed order finds them after any pause. The in-memory journal starts
  //! empty at these balances; `now_ms` is unused (kept for callers).
  static wallet_core restore(wallet_info info, wallet_config config, balances current, uint64_t sequence,
                             const std::vector<std::pair<order_id, tcc_record>>& records, int64_t now_ms);

  //! Applies one TCC step. Idempotent per (txn, phase); see DESIGN.md "TCC participant rules".
  //! A step of another tenant changes nothing and gets what an unknown wallet gets:
  //! unknown_wallet (ok for a cancel with nothing to undo) and no balances.
  leg_outcome apply(const leg_command& command, int64_t now_ms);

  //! Administration; another tenant gets unknown_wallet, as for a wallet that does not exist.
  result_code freeze(tenant_id tenant);
  result_code unfreeze(tenant_id tenant);
  //! Closing needs zero sub-balances and no open transaction.
  result_code close(tenant_id tenant);
  result_code set_overdraft_limit(tenant_id tenant, int64_t limit);

  const wallet_info& info() const { return info_; }
  const balances& current() const { return balances_; }
  size_t open_transactions() const { return open_transactions_; }
  size_t records() const { return records_.size(); }
  const tcc_record* find_record(order_id txn) const;

  //! Journal entries still in memory, oldest first; `journal_base()` is the balance before them.
  const fifo_vector<journal_entry>& journal() const { return journal_; }
  const balances& journal_base() const { return journal_base_; }
  uint64_t journal_sequence() const { return journal_sequence_; }
  //! Replays the journal from its base: true when every entry chains and the end is `current()`.
  bool verify_journal() const;

 private:
  leg_outcome try_leg(const leg_command& command, int64_t now_ms);
  leg_outcome confirm_leg(const leg_command& command, int64_t now_ms);
  leg_outcome cancel_leg(const leg_command& command, int64_t now_ms);
  result_code check_try(const leg_command& command) const;
  result_code check_admin(tenant_id tenant) const;
  //! Applies a delta after every sum was checked; records it in the journal.
  void post(order_id txn, tcc_phase phase, balances delta, int64_t now_ms);
  void finish(order_id txn, tcc_record& record, tcc_record_state state, int64_t now_ms);
  void expire_finished(int64_t now_ms);
  void mark_finished(order_id txn, int64_t now_ms);
  leg_outcome answer(result_code code, bool repeated = false) const { return {code, balances_, repeated}; }
  //! The answer to a step of another tenant: the same as for a wallet that does not exist.
  static leg_outcome answer_other_tenant(bool nothing_to_undo);

  wallet_info info_;
  wallet_config config_;
  balances balances_;
  //! Sum of tried amounts that a later confirm or cancel may add back to available: headroom kept so confirm cannot overflow.
  int64_t pending_claims_ = 0;
  size_t open_transactions_ = 0;
  std::unordered_map<order_id, tcc_record> records_;
  struct finished_mark {
    order_id txn;
    int64_t finished_at_ms;
  };
  fifo_vector<finished_mark> finished_;
  //! finished_.front().finished_at_ms, or INT64_MAX when empty: lets expire_finished return
  //! without touching the deque's storage (a cache miss per step with many wallets).
  int64_t oldest_finished_ms_ = INT64_MAX;
  fifo_vector<journal_entry> journal_;
  balances journal_base_;
  uint64_t journal_sequence_ = 0;
};

}  // namespace txengine
