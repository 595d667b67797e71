#pragma once
// Shared by the in-process wire tests: an engine whose channel 1 is a well-behaved provider.
#include "node/engine.hpp"

namespace txengine::wire_testing {

inline engine_config engine_with_good_channel() {
  engine_config cfg;
  channel_config good;
  good.latency_ms = 1;
  good.decline_ppm = good.reply_lost_ppm = good.reply_unknown_ppm = good.submit_lost_ppm = good.partial_ppm = 0;
  cfg.channels = {{1, good}};
  return cfg;
}

}  // namespace txengine::wire_testing
