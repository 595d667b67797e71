#pragma once
// A request rate cap (issue 15: a provider's QPS cap, seed 001's 100/s): the generic cell rate
// algorithm, the token bucket's exact twin in one number. `rate_per_s` requests a second on
// average, up to `burst` at once after a quiet spell; in any window of one second it lets at most
// rate_per_s + burst through, so a provider that allows L in any second is given
// rate_per_s + burst <= L (docs/channels.md). Integer nanoseconds; time is passed in.
#include <algorithm>
#include <cstdint>

namespace txengine {

class rate_gate {
 public:
  //! rate_per_s 0: no cap. burst >= 1.
  rate_gate(uint32_t rate_per_s, uint32_t burst)
      : interval_ns_(rate_per_s == 0 ? 0 : (1'000'000'000LL + rate_per_s - 1) / rate_per_s),
        tolerance_ns_(interval_ns_ * (std::max<uint32_t>(burst, 1) - 1)) {}

  //! Lets one request through at `now_us` if the cap allows.
  bool try_take(int64_t now_us) {
    int64_t now = now_us * 1000;
    if (interval_ns_ == 0) return true;
    int64_t tat = std::max(tat_ns_, now);
    if (tat - now > tolerance_ns_) return false;
    tat_ns_ = tat + interval_ns_;
    return true;
  }
  //! The earliest instant (µs) try_take will let one through.
  int64_t next_us(int64_t now_us) const {
    if (interval_ns_ == 0) return now_us;
    int64_t at = tat_ns_ - tolerance_ns_;
    return std::max(now_us, (at + 999) / 1000);
  }

 private:
  int64_t interval_ns_;
  int64_t tolerance_ns_;
  int64_t tat_ns_ = 0;  //!< theoretical arrival time of the next request
};

}  // namespace txengine
