#pragma once
// Wallet checkpoints (docs/durability-design.md, storage_config::wallet_checkpoint_interval_ms):
// a wallet changed only by fund movements has its row written at most an interval after its
// first change since its last checkpoint, a bounded number per batch. Pure: the writer hands
// it each batch's rows and the time, it answers which checkpoints the batch writes.
#include <chrono>
#include <cstddef>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ports/storage_rows.hpp"
#include "persistence/batch_builder.hpp"

namespace txengine::persistence {

class checkpoint_scheduler {
 public:
  using clock = std::chrono::steady_clock;

  //! `interval`: how long a wallet's row may lag its journal; `rows_per_batch_max`: checkpoints
  //! one batch writes at most; `pending_max`: wallets waiting at most (past it the oldest are
  //! written right away).
  checkpoint_scheduler(std::chrono::milliseconds interval, size_t rows_per_batch_max, size_t pending_max)
      : interval_(interval), rows_per_batch_max_(rows_per_batch_max), pending_max_(pending_max) {}

  //! Notes a batch's movements as pending checkpoints of their wallets and chooses the ones
  //! that are due at `now` (all of them with `flush_all`, at a clean stop) for this batch. A
  //! wallet row in the batch (creation, status, limit) is written whole and is checkpoint enough.
  std::vector<wallet_checkpoint> choose(const std::vector<movement_row>& movements,
                                        const std::unordered_map<wallet_id, wallet_row>& wallets, bool flush_all,
                                        clock::time_point now);

  //! True when wallets wait for a checkpoint.
  bool pending() const { return !pending_.empty(); }
  //! True when a checkpoint is due at `now` (an idle writer commits them on its own).
  bool due(clock::time_point now) const { return !queue_.empty() && now - queue_.front().first >= interval_; }
  //! True while a checkpoint waits for its time (a timer should look again at next_due()).
  bool waiting() const { return !queue_.empty(); }
  //! When the oldest waiting checkpoint is due; only while waiting() is true.
  clock::time_point next_due() const { return queue_.front().first + interval_; }

 private:
  struct pending_checkpoint {
    uint64_t version = 0;  //!< the sequence of the wallet's newest movement
    balances current;      //!< its resulting balances
    int64_t updated_ms = 0;
    clock::time_point since;  //!< when the row first fell behind
  };
  std::chrono::milliseconds interval_;
  size_t rows_per_batch_max_;
  size_t pending_max_;
  //! The newest state of each wallet whose row is older than its journal, and the order in
  //! which they became so. Both bounded by pending_max (queue entries of wallets written since
  //! are skipped).
  std::unordered_map<wallet_id, pending_checkpoint> pending_;
  std::deque<std::pair<clock::time_point, wallet_id>> queue_;
};

}  // namespace txengine::persistence
