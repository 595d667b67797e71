#pragma once
// Which final orders leave memory, and when (issue 12). A host keeps a final order for an
// idempotency window (`retention_ms` after it became final) and at most `retained_max` of
// them; past either bound the oldest leave first. Orders become final in time order, so a
// FIFO of (order, since) is the age order: eviction looks only at the front, O(1) amortized
// per order, never a scan.
//
// The host decides per order whether it may go (`evictable`):
// - `evict`: it went (the host erased it);
// - `gone`: it is no longer there (a stale entry: adopted twice, or erased elsewhere);
// - `not_yet`: it cannot go yet and neither can any order behind it (its final row is not
//   committed: later orders are committed later still), so eviction stops here;
// - `pinned`: it cannot go now but later ones may (a payment with a refund reserving part of
//   it): it goes to the back with `now` as its new age.
// Deterministic: time is an argument.
#include <cstddef>
#include <cstdint>
#include <deque>

#include "core/types.hpp"

namespace txengine {

enum class eviction : uint8_t { evict, gone, not_yet, pinned };

class final_retention {
 public:
  final_retention(int64_t retention_ms, size_t retained_max)
      : retention_ms_(retention_ms), retained_max_(retained_max) {}

  //! An order became final (or was read back from storage) at `since_ms`.
  void add(order_id id, int64_t since_ms) { queue_.push_back({id, since_ms}); }

  //! Evicts from the front while the oldest is older than the window or `retained` (the
  //! host's count of final orders) exceeds the maximum. `evictable(id)` says what became of
  //! each; `retained` is decremented per eviction. Returns how many were evicted. Pinned
  //! orders met in one call are looked at once per call (they move to the back).
  template <class F>
  size_t expire(int64_t now_ms, size_t retained, F&& evictable) {
    size_t evicted = 0;
    size_t pinned_seen = 0;
    while (!queue_.empty() && pinned_seen < queue_.size()) {
      const entry front = queue_.front();
      bool too_old = now_ms - front.since_ms >= retention_ms_;
      if (!too_old && retained <= retained_max_) break;
      eviction verdict = evictable(front.id);
      if (verdict == eviction::not_yet) break;
      queue_.pop_front();
      if (verdict == eviction::evict) {
        ++evicted;
        if (retained > 0) --retained;
      } else if (verdict == eviction::pinned) {
        queue_.push_back({front.id, now_ms});
        ++pinned_seen;
      }
    }
    return evicted;
  }

  //! The instant the front entry leaves by age (for a timer), or INT64_MAX when empty.
  int64_t next_expiry_ms() const {
    return queue_.empty() ? INT64_MAX : queue_.front().since_ms + retention_ms_;
  }

  size_t size() const { return queue_.size(); }
  int64_t retention_ms() const { return retention_ms_; }
  size_t retained_max() const { return retained_max_; }

 private:
  struct entry {
    order_id id;
    int64_t since_ms;
  };
  int64_t retention_ms_;
  size_t retained_max_;
  std::deque<entry> queue_;
};

}  // namespace txengine
