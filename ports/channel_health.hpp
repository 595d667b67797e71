#pragma once
// Whether each channel's circuit breaker is open, as its adapter last saw it: written by the
// channel (an HTTP channel's own thread, channels/http_channel.cpp), read by the order hosts when
// they route an order (core/channel_routing.hpp). One flag per channel, fixed at start; relaxed
// atomics: a route chosen from a state a moment old is refused by the breaker itself at worst
// (busy: nothing reached the provider), and re-routed.
#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "core/types.hpp"

namespace txengine {

class channel_health {
 public:
  explicit channel_health(std::vector<channel_id> ids)
      : ids_(std::move(ids)), open_(std::make_unique<std::atomic<bool>[]>(ids_.size())) {
    for (size_t i = 0; i < ids_.size(); ++i) open_[i].store(false, std::memory_order_relaxed);
  }
  channel_health(const channel_health&) = delete;
  channel_health& operator=(const channel_health&) = delete;

  //! A channel this board does not know is never open.
  bool open(channel_id id) const {
    size_t i = index(id);
    return i < ids_.size() && open_[i].load(std::memory_order_relaxed);
  }
  void set_open(channel_id id, bool open) {
    size_t i = index(id);
    if (i < ids_.size()) open_[i].store(open, std::memory_order_relaxed);
  }

 private:
  size_t index(channel_id id) const {
    return static_cast<size_t>(std::find(ids_.begin(), ids_.end(), id) - ids_.begin());
  }
  std::vector<channel_id> ids_;
  std::unique_ptr<std::atomic<bool>[]> open_;
};

}  // namespace txengine
