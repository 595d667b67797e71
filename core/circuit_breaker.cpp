#include "core/circuit_breaker.hpp"

#include <algorithm>

namespace txengine {

circuit_breaker::circuit_breaker(breaker_config config) : config_(config) {
  config_.window_s = std::clamp<uint32_t>(config_.window_s, 1, window_max_s);
  config_.probes = std::max<uint32_t>(config_.probes, 1);
}

std::string_view to_string(circuit_breaker::state state) {
  switch (state) {
    case circuit_breaker::state::closed: return "closed";
    case circuit_breaker::state::open: return "open";
    case circuit_breaker::state::half_open: return "half_open";
  }
  return "closed";
}

circuit_breaker::state circuit_breaker::current(int64_t now_ms) const {
  if (state_ == state::open && now_ms >= opened_ms_ + config_.open_ms) return state::half_open;
  return state_;
}

bool circuit_breaker::allow(int64_t now_ms) {
  if (state_ == state::open) {
    if (now_ms < opened_ms_ + config_.open_ms) return false;
    state_ = state::half_open;
    probes_sent_ = probes_ok_ = 0;
  }
  if (state_ == state::half_open) {
    if (probes_sent_ >= config_.probes) return false;
    ++probes_sent_;
  }
  return true;
}

void circuit_breaker::record(bool failure, int64_t now_ms) {
  if (state_ == state::open) return;  // an answer to a request sent before it opened
  if (state_ == state::half_open) {
    if (failure) {
      open(now_ms);
    } else if (++probes_ok_ >= config_.probes) {
      state_ = state::closed;
      clear();
    }
    return;
  }
  int64_t second = now_ms / 1000;
  auto& b = window_[static_cast<size_t>(second % config_.window_s)];
  if (b.second != second) b = bucket{second, 0, 0};
  ++b.requests;
  b.failures += failure ? 1 : 0;
  uint64_t requests = 0, failures = 0;
  for (uint32_t i = 0; i < config_.window_s; ++i)
    if (window_[i].second > second - config_.window_s) {
      requests += window_[i].requests;
      failures += window_[i].failures;
    }
  if (requests >= config_.min_requests && failures * 1'000'000 >= uint64_t{config_.failure_ppm} * requests)
    open(now_ms);
}

void circuit_breaker::open(int64_t now_ms) {
  state_ = state::open;
  opened_ms_ = now_ms;
  ++opened_count_;
  clear();
}

void circuit_breaker::clear() { window_.fill(bucket{}); }

}  // namespace txengine
