#pragma once
// Wall-clock milliseconds for the actor shells; the cores take time as an argument.
#include <chrono>
#include <cstdint>

namespace txengine {

inline int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace txengine
