#pragma once
// A provider's circuit breaker (issue 15, item 2; seed 004's bulkheads): when too many of its
// recent requests fail (timeouts, 5xx, refused connections), stop sending it any for a while,
// then let a few probes through; they close it again or reopen it. Routing skips an open provider
// (docs/channels.md). Deterministic: time is passed in.
#include <array>
#include <cstdint>
#include <string_view>

namespace txengine {

struct breaker_config {
  //! Failures are counted over the last window_s seconds (one bucket a second).
  uint32_t window_s = 10;
  //! It opens only with at least this many requests in the window...
  uint32_t min_requests = 20;
  //! ... and this share of them failed (parts per million).
  uint32_t failure_ppm = 500'000;
  //! How long it stays open before letting probes through.
  int64_t open_ms = 5'000;
  //! Probes let through half-open; all must succeed to close it.
  uint32_t probes = 3;
};

class circuit_breaker {
 public:
  enum class state : uint8_t { closed, open, half_open };
  static constexpr uint32_t window_max_s = 60;

  explicit circuit_breaker(breaker_config config);

  //! May a request go now? (Half open: one of the probes, counted as it goes.)
  bool allow(int64_t now_ms);
  //! The outcome of a request that was allowed.
  void record(bool failure, int64_t now_ms);
  state current(int64_t now_ms) const;
  uint64_t times_opened() const { return opened_count_; }

 private:
  struct bucket {
    int64_t second = -1;
    uint32_t requests = 0;
    uint32_t failures = 0;
  };
  void open(int64_t now_ms);
  void clear();

  breaker_config config_;
  state state_ = state::closed;
  int64_t opened_ms_ = 0;
  uint32_t probes_sent_ = 0;
  uint32_t probes_ok_ = 0;
  uint64_t opened_count_ = 0;
  std::array<bucket, window_max_s> window_{};
};

std::string_view to_string(circuit_breaker::state state);

}  // namespace txengine
