#pragma once
// Tagged timers for actors that host many timed things (orders, channel requests): one
// min-heap instead of one CAF delayed message per timer. CAF 0.17 timers cannot be
// cancelled, so each entry carries a tag; an entry whose tag is no longer the key's
// current tag is stale and skipped.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

namespace txengine {

template <class Key>
class timer_queue {
 public:
  static constexpr int64_t never = std::numeric_limits<int64_t>::max();

  void arm(int64_t at_ms, Key key, uint64_t tag) { heap_.push(entry{at_ms, key, tag}); }

  //! Earliest armed instant (stale entries included), or `never`.
  int64_t next_ms() const { return heap_.empty() ? never : heap_.top().at_ms; }

  //! Pops every entry due at `now_ms` and calls `fire(key, tag)` for each.
  template <class F>
  size_t expire(int64_t now_ms, F&& fire) {
    size_t fired = 0;
    while (!heap_.empty() && heap_.top().at_ms <= now_ms) {
      entry e = heap_.top();
      heap_.pop();
      fire(e.key, e.tag);
      ++fired;
    }
    return fired;
  }

  size_t size() const { return heap_.size(); }

 private:
  struct entry {
    int64_t at_ms;
    Key key;
    uint64_t tag;
    bool operator>(const entry& other) const { return at_ms > other.at_ms; }
  };
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> heap_;
};

}  // namespace txengine
