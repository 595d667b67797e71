#pragma once
// The clock port: where the actor shells take the time and their timers from (the cores take
// time as an argument). Two implementations:
//   - wall_clock: the system's clock, timers through CAF's delayed_send (production);
//   - manual_clock: virtual time that only moves when its owner advances it, delivering the
//     wake-ups that became due in due order (tests, the simulator in tests/sim).
// The engine hands one clock to every actor (engine_config::clock; the wall clock by default).
//
// Cost on the hot path: an actor reads the time once per message. now_ms() is not virtual:
// one predictable branch on a flag, then the same inline read of the system clock as before;
// only a virtual clock pays an indirect call. Wake-ups (one per armed timer, not per message)
// go through a virtual call.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace txengine {

//! Wall-clock milliseconds since the epoch.
inline int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class clock_port {
 public:
  virtual ~clock_port() = default;
  clock_port(const clock_port&) = delete;
  clock_port& operator=(const clock_port&) = delete;

  //! Milliseconds since the epoch (virtual time for a manual clock).
  int64_t now_ms() const { return wall_ ? wall_clock_ms() : virtual_now_ms(); }

  //! Delivers `msg` to `self` (as sent by itself) once the time is `due_ms` or later; at once
  //! (within a millisecond for the wall clock) when that is not in the future. Like CAF's
  //! timers it cannot be cancelled: tag what you send and ignore stale wake-ups.
  //! (Any actor: the typed ones of ports/actor_interfaces.hpp too.)
  virtual void wake_at(caf::local_actor* self, int64_t due_ms, caf::message msg) = 0;

  //! As wake_at; for a typed actor the compiler checks that its interface takes the message.
  template <class Self, class... Ts>
  void wake(Self* self, int64_t due_ms, Ts&&... xs) {
    static_assert(!caf::statically_typed<Self>() ||
                      caf::response_type_unbox<caf::signatures_of_t<Self>,
                                               caf::detail::type_list<caf::detail::strip_and_convert_t<Ts>...>>::valid,
                  "the actor's interface does not take this wake-up");
    wake_at(self, due_ms, caf::make_message(std::forward<Ts>(xs)...));
  }

  bool is_wall() const { return wall_; }

 protected:
  explicit clock_port(bool wall) : wall_(wall) {}
  virtual int64_t virtual_now_ms() const { return wall_clock_ms(); }

 private:
  const bool wall_;
};

//! The system's clock; timers are CAF's delayed_send. Stateless: one instance serves everyone.
class wall_clock final : public clock_port {
 public:
  wall_clock() : clock_port(true) {}
  void wake_at(caf::local_actor* self, int64_t due_ms, caf::message msg) override {
    int64_t delay = std::max<int64_t>(due_ms - wall_clock_ms(), 1);
    // What delayed_send does, for any actor type.
    auto& clock = self->system().clock();
    auto me = caf::actor_cast<caf::strong_actor_ptr>(self);
    clock.schedule_message(clock.now() + std::chrono::milliseconds(delay), me,
                           caf::make_mailbox_element(me, caf::make_message_id(), caf::no_stages, std::move(msg)));
  }
  static wall_clock& instance() {
    static wall_clock c;
    return c;
  }
};

//! `c`, or the wall clock when `c` is null (configurations default to nullptr).
inline clock_port& clock_or_wall(clock_port* c) { return c != nullptr ? *c : wall_clock::instance(); }

//! Virtual time. Starts at `start_ms` and moves only by advance()/advance_to(); each moves the
//! time to every due wake-up in turn (ties in the order they were asked for) and delivers it
//! with that time, then to the target. Thread-safe (the actors may run on CAF's workers), and
//! deterministic when the actors are run by one thread (tests/sim). A wake-up for an actor
//! that is gone is dropped.
class manual_clock final : public clock_port {
 public:
  explicit manual_clock(int64_t start_ms = 1'750'000'000'000) : clock_port(false), now_(start_ms) {}

  void wake_at(caf::local_actor* self, int64_t due_ms, caf::message msg) override {
    auto target = caf::actor_cast<caf::weak_actor_ptr>(self);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (due_ms > now_.load(std::memory_order_relaxed)) {
        due_.push(entry{due_ms, next_seq_++, std::move(target), std::move(msg)});
        return;
      }
    }
    deliver(target, std::move(msg));
  }

  //! Moves the time forward by `ms`; returns the wake-ups delivered.
  size_t advance(int64_t ms) { return advance_to(now_ms() + ms); }

  //! Moves the time to `target_ms` (never backwards); returns the wake-ups delivered.
  size_t advance_to(int64_t target_ms) {
    size_t delivered = 0;
    for (;;) {
      entry next;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (due_.empty() || due_.top().due_ms > target_ms) {
          if (target_ms > now_.load(std::memory_order_relaxed)) now_.store(target_ms);
          return delivered;
        }
        next = due_.top();
        due_.pop();
        if (next.due_ms > now_.load(std::memory_order_relaxed)) now_.store(next.due_ms);
      }
      deliver(next.target, std::move(next.msg));
      ++delivered;
    }
  }

  //! Moves the time to the earliest pending wake-up and delivers every wake-up due then;
  //! false when none is pending.
  bool advance_to_next() {
    int64_t due = next_due_ms();
    if (due == never) return false;
    advance_to(due);
    return true;
  }

  //! Sets the time without delivering anything (a clock jump; may go backwards). Wake-ups keep
  //! their due instants.
  void set_now(int64_t ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_.store(ms);
  }

  static constexpr int64_t never = INT64_MAX;
  //! The due instant of the earliest pending wake-up, or `never`.
  int64_t next_due_ms() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return due_.empty() ? never : due_.top().due_ms;
  }
  size_t pending() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return due_.size();
  }
  //! Forgets every pending wake-up (the simulator's crash: the timers die with the actors).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    due_ = decltype(due_)();
  }

 protected:
  int64_t virtual_now_ms() const override { return now_.load(std::memory_order_acquire); }

 private:
  struct entry {
    int64_t due_ms = 0;
    uint64_t seq = 0;
    caf::weak_actor_ptr target;
    caf::message msg;
  };
  struct later {
    bool operator()(const entry& a, const entry& b) const {
      return a.due_ms != b.due_ms ? a.due_ms > b.due_ms : a.seq > b.seq;
    }
  };

  static void deliver(const caf::weak_actor_ptr& target, caf::message msg) {
    if (auto strong = target.lock()) strong->enqueue(strong, caf::make_message_id(), std::move(msg), nullptr);
  }

  std::atomic<int64_t> now_;
  mutable std::mutex mutex_;
  uint64_t next_seq_ = 0;
  std::priority_queue<entry, std::vector<entry>, later> due_;
};

}  // namespace txengine
