#include "core/simulated_channel.hpp"

#include <algorithm>

namespace txengine {

bool simulated_channel::draw(uint32_t ppm) {
  // splitmix64: tiny, deterministic, good enough to decide simulated misbehaviour.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z % 1'000'000) < ppm;
}

void simulated_channel::receive(const channel_request& request, int64_t now_ms, std::vector<channel_response>& out) {
  if (queue_.size() >= config_.queue_max) {
    channel_response refused;
    refused.order = request.order;
    if (request.what == channel_request::kind::submit && truth_.count(request.order) == 0) {
      refused.outcome = channel_outcome::declined;  // never seen by the provider: safe to cancel
      refused.busy = true;
    }
    out.push_back(refused);
    return;
  }
  queue_.push_back(request);
  poll(now_ms, out);
}

void simulated_channel::poll(int64_t now_ms, std::vector<channel_response>& out) {
  int64_t now_us = now_ms * 1000;
  while (!queue_.empty() && (config_.rate_per_s == 0 || next_admit_us_ <= now_us)) {
    if (config_.rate_per_s != 0)
      next_admit_us_ = std::max(next_admit_us_, now_us) + 1'000'000 / config_.rate_per_s;  // evenly spaced, no burst
    channel_request request = queue_.front();
    queue_.pop_front();
    process(request, now_ms);
  }
  replies_.expire(now_ms, [&](uint64_t slot, uint64_t) {
    auto found = scheduled_.find(slot);
    if (found == scheduled_.end()) return;
    out.push_back(found->second);
    scheduled_.erase(found);
  });
}

int64_t simulated_channel::next_wakeup_ms() const {
  int64_t wakeup = replies_.next_ms();
  if (!queue_.empty()) wakeup = std::min(wakeup, config_.rate_per_s == 0 ? 0 : next_admit_us_ / 1000 + 1);
  return wakeup;
}

void simulated_channel::schedule(const channel_response& response, int64_t at_ms) {
  uint64_t slot = next_reply_slot_++;
  scheduled_.emplace(slot, response);
  replies_.arm(at_ms, slot, 0);
}

void simulated_channel::process(const channel_request& request, int64_t now_ms) {
  int64_t reply_at = now_ms + config_.latency_ms;
  forget(now_ms);
  auto found = truth_.find(request.order);
  if (request.what == channel_request::kind::query) {
    if (found != truth_.end()) asked_about(found, now_ms);
    schedule(answer_for(request.order, now_ms), reply_at);
    return;
  }
  if (request.what == channel_request::kind::close) {
    if (found != truth_.end()) {
      asked_about(found, now_ms);  // it has the order: its outcome (unknown while being paid)
    } else {
      truth t{channel_outcome::closed, 0, now_ms, now_ms};  // never received: closed for good
      truth_.emplace(request.order, t);
      truth_order_.push_back({request.order, now_ms});
      forget(now_ms);
    }
    if (draw(config_.reply_lost_ppm)) return;
    schedule(answer_for(request.order, now_ms), reply_at);
    return;
  }
  if (found != truth_.end()) {
    asked_about(found, now_ms);
  } else {
    if (draw(config_.submit_lost_ppm)) return;  // lost on the way in: the provider never knew it
    truth t;
    t.known_at_ms = now_ms + config_.settle_ms;
    if (draw(config_.decline_ppm)) {
      t.outcome = channel_outcome::declined;
      t.settled_amount = 0;
      t.declared = config_.declared_decline_ppm > 0 && draw(config_.declared_decline_ppm);
    } else {
      t.outcome = channel_outcome::succeeded;
      t.settled_amount = draw(config_.partial_ppm) ? request.amount - request.amount / 4 : request.amount;
    }
    t.asked_ms = now_ms;
    truth_.emplace(request.order, t);
    truth_order_.push_back({request.order, now_ms});
    forget(now_ms);
  }
  if (draw(config_.reply_lost_ppm)) return;  // processed, but the answer is lost: a timeout
  channel_response response = answer_for(request.order, now_ms);
  if (draw(config_.reply_unknown_ppm)) response.outcome = channel_outcome::unknown;
  schedule(response, reply_at);
}

void simulated_channel::asked_about(std::unordered_map<order_id, truth>::iterator found, int64_t now_ms) {
  if (found->second.asked_ms == now_ms) return;  // its newest entry says so already
  found->second.asked_ms = now_ms;
  truth_order_.push_back({found->first, now_ms});
}

void simulated_channel::forget(int64_t now_ms) {
  // Bounded memory: entries leave oldest first, by age or past the maximum (stale entries of
  // orders asked about again count towards the maximum too, so the queue is bounded as well).
  while (!truth_order_.empty()) {
    const asked oldest = truth_order_.front();
    bool too_many = truth_.size() > config_.known_orders_max || truth_order_.size() > 2 * config_.known_orders_max;
    if (!too_many && now_ms - oldest.at_ms < config_.known_order_ms) break;
    truth_order_.pop_front();
    auto found = truth_.find(oldest.order);
    if (found != truth_.end() && found->second.asked_ms == oldest.at_ms) truth_.erase(found);
  }
}

channel_response simulated_channel::answer_for(order_id order, int64_t now_ms) const {
  channel_response response;
  response.order = order;
  auto found = truth_.find(order);
  if (found == truth_.end()) {
    response.outcome = channel_outcome::not_found;
  } else if (found->second.known_at_ms > now_ms) {
    response.outcome = channel_outcome::unknown;
  } else {
    response.outcome = found->second.outcome;
    response.settled_amount = found->second.settled_amount;
    response.nothing_moved = found->second.declared;
  }
  return response;
}

}  // namespace txengine
