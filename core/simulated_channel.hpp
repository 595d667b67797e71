#pragma once
// The rules of a simulated external payment provider (top-up and withdraw channel): it
// decides each order's true outcome, answers submits and queries after a latency, and
// misbehaves as configured (declines, lost replies, "processing" answers, submits that
// never arrive, partial settlement), with a QPS cap and a bounded queue (seed 001: a
// provider allows ~100 QPS). It takes one order per order id (a submit of an order it has is
// answered, not processed again), and closes orders on request. Deterministic for a seed; time
// is passed in.
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "core/fifo_vector.hpp"
#include "core/order_core.hpp"
#include "core/limits.hpp"
#include "core/timer_queue.hpp"

namespace txengine {

struct channel_config {
  int64_t latency_ms = 2;
  //! Time from receipt until the provider itself knows the outcome; queries before it
  //! answer "unknown".
  int64_t settle_ms = 0;
  // Rates in parts per million, integers so runs replay exactly.
  uint32_t decline_ppm = 50'000;
  uint32_t reply_lost_ppm = 20'000;      //!< the answer to a submit never comes back (timeout)
  uint32_t reply_unknown_ppm = 50'000;   //!< the answer to a submit says "processing"
  uint32_t submit_lost_ppm = 5'000;      //!< the submit never reaches the provider: "not found"
  uint32_t partial_ppm = 10'000;         //!< settles less than asked
  //! Of the declines, the share with a code declared "nothing moved" (channel_response::nothing_moved).
  uint32_t declared_decline_ppm = 0;
  //! Requests per second the provider accepts; 0 = no cap.
  uint32_t rate_per_s = 0;
  size_t queue_max = limits::channel_queue_max;
  //! Orders whose outcome the provider remembers, at most; the oldest are forgotten first.
  size_t known_orders_max = limits::channel_known_orders_max;
  //! How long it remembers an order after the last request about it (submit or query).
  int64_t known_order_ms = limits::channel_known_order_ms;
  uint64_t seed = 42;
};

struct channel_request {
  //! close: the engine asks the provider to close an order it cannot find (money coming in):
  //! one the provider never received is closed for good (a late submit of it is answered
  //! `closed`, never paid); one it has is answered with its outcome (`unknown` while it is
  //! being paid).
  enum class kind : uint8_t { submit, query, close } what = kind::submit;
  order_id order = 0;
  int64_t amount = 0;
  currency cur;
  //! Money coming in (a top-up: a payment at the provider) or going out (a withdrawal: a payout).
  bool money_in = false;
};

struct channel_response {
  order_id order = 0;
  channel_outcome outcome = channel_outcome::unknown;
  int64_t settled_amount = 0;
  //! True when the provider's queue was full and the submit was refused unseen.
  bool busy = false;
  //! A decline with a code the provider declared as "nothing moved, nothing will" (its
  //! `reroute_codes`): the order may go to another provider (core/channel_routing.hpp).
  bool nothing_moved = false;
  //! The channel that answered (set by its actor; 0: the order's current one).
  channel_id channel = 0;
};

class simulated_channel {
 public:
  explicit simulated_channel(channel_config config) : config_(config), rng_state_(config.seed) {}

  //! Accepts a request; a refused one (queue full) is answered at once into `out`.
  void receive(const channel_request& request, int64_t now_ms, std::vector<channel_response>& out);
  //! Emits every response due by `now_ms`.
  void poll(int64_t now_ms, std::vector<channel_response>& out);
  //! Earliest instant poll has something to do, or timer_queue::never.
  int64_t next_wakeup_ms() const;

  size_t queued() const { return queue_.size(); }
  size_t known_orders() const { return truth_.size(); }

 private:
  struct truth {
    channel_outcome outcome;
    int64_t settled_amount;
    int64_t known_at_ms;
    int64_t asked_ms;  //!< the last request about it (submit or query)
    bool declared = false;  //!< a decline with a declared "nothing moved" code
  };
  //! An entry of `truth_order_`: an order and when it was asked about; stale when the order
  //! was asked about again since (its newer entry is further back).
  struct asked {
    order_id order;
    int64_t at_ms;
  };
  bool draw(uint32_t ppm);
  void process(const channel_request& request, int64_t now_ms);
  //! `found` was asked about at `now_ms`: it is remembered for known_order_ms from now.
  void asked_about(std::unordered_map<order_id, truth>::iterator found, int64_t now_ms);
  //! Forgets the orders nobody asked about for known_order_ms, and the oldest past known_orders_max.
  void forget(int64_t now_ms);
  channel_response answer_for(order_id order, int64_t now_ms) const;
  void schedule(const channel_response& response, int64_t at_ms);

  channel_config config_;
  uint64_t rng_state_;
  std::deque<channel_request> queue_;
  int64_t next_admit_us_ = 0;  //!< token bucket: earliest instant the next request may pass
  std::unordered_map<order_id, truth> truth_;
  fifo_vector<asked> truth_order_;  //!< truth_'s keys by when they were last asked about, oldest first
  timer_queue<uint64_t> replies_;
  std::unordered_map<uint64_t, channel_response> scheduled_;
  uint64_t next_reply_slot_ = 0;
};

}  // namespace txengine
