#pragma once
// 64-bit, time-ordered order ids, unique across nodes (seed 001):
//   bit 63      0 (ids stay positive as signed 64-bit integers, for SQL and Java clients)
//   bits 62..22 milliseconds since 2024-01-01T00:00:00Z (41 bits, ~69 years)
//   bits 21..12 generator id: node id (6 bits) << 4 | lane (4 bits); each lane is one
//               order host of a node, so the host that owns an order is read off its id
//   bits 11..0  sequence within the millisecond (4096 ids per ms per lane)
// Time is passed in. When the clock steps backwards the generator keeps using the last
// millisecond it issued; when a millisecond's sequence is exhausted it borrows the next
// millisecond. Either way ids stay strictly increasing per generator.
#include <cstdint>

namespace txengine {

class order_id_generator {
 public:
  static constexpr int64_t epoch_ms = 1704067200000;  // 2024-01-01T00:00:00Z
  static constexpr int sequence_bits = 12;
  static constexpr int lane_bits = 4;
  static constexpr int node_bits = 6;
  static constexpr int generator_bits = lane_bits + node_bits;
  static constexpr uint32_t nodes_max = 1u << node_bits;
  static constexpr uint32_t lanes_max = 1u << lane_bits;
  static constexpr uint64_t sequence_mask = (uint64_t{1} << sequence_bits) - 1;

  order_id_generator(uint32_t node_id, uint32_t lane);

  //! Next id for wall-clock time `now_ms` (Unix epoch milliseconds).
  uint64_t next(int64_t now_ms);

  static uint32_t node_of(uint64_t id) { return (id >> (sequence_bits + lane_bits)) & (nodes_max - 1); }
  static uint32_t lane_of(uint64_t id) { return (id >> sequence_bits) & (lanes_max - 1); }
  static int64_t unix_ms_of(uint64_t id) { return static_cast<int64_t>(id >> (sequence_bits + generator_bits)) + epoch_ms; }

 private:
  uint64_t generator_id_;
  int64_t last_ms_ = 0;  // relative to epoch_ms
  uint64_t sequence_ = 0;
};

}  // namespace txengine
