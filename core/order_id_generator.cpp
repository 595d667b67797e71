#include "core/order_id_generator.hpp"

#include "core/check.hpp"

namespace txengine {

order_id_generator::order_id_generator(uint32_t node_id, uint32_t lane)
    : generator_id_((uint64_t{node_id} << lane_bits) | lane) {
  TX_CHECK(node_id < nodes_max);
  TX_CHECK(lane < lanes_max);
}

uint64_t order_id_generator::next(int64_t now_ms) {
  int64_t relative_ms = now_ms - epoch_ms;
  if (relative_ms < 0) relative_ms = 0;
  if (relative_ms > last_ms_) {
    last_ms_ = relative_ms;
    sequence_ = 0;
  } else if (++sequence_ > sequence_mask) {
    // Same (or an earlier, after a clock step back) millisecond with its sequence used up:
    // borrow the next millisecond rather than repeat or wait.
    ++last_ms_;
    sequence_ = 0;
  }
  TX_CHECK(last_ms_ < (int64_t{1} << 41));
  return (static_cast<uint64_t>(last_ms_) << (sequence_bits + generator_bits)) |
         (generator_id_ << sequence_bits) | sequence_;
}

}  // namespace txengine
