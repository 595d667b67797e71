// libFuzzer target: the two texts txprovider-sim reads from files, its TOML profile
// (providersim/profile.cpp) and a line of its journal (providersim/journal.cpp). Beyond "no
// crash": a refused profile says why and leaves the profile as it was; an accepted one is
// consistent (ranges in order, credentials present); a journal line read back encodes to a line
// that reads back the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "providersim/journal.hpp"
#include "providersim/profile.hpp"

using namespace txprovider;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  profile p;
  p.seed = 12345;
  std::string error;
  if (parse_profile(text, p, error)) {
    if (!error.empty() || p.latency_min_ms > p.latency_max_ms || p.settle_min_ms > p.settle_max_ms ||
        p.api_key.empty() || p.secret.empty() || p.decline_codes.empty())
      __builtin_trap();
  } else if (error.empty() || p.seed != 12345) {
    __builtin_trap();
  }
  provider_order order;
  int64_t at = 0;
  if (decode_order(text, order, at)) {
    auto line = encode_order(order, at);
    provider_order again;
    int64_t at2 = 0;
    if (!decode_order(line.substr(0, line.size() - 1), again, at2) || encode_order(again, at2) != line)
      __builtin_trap();
  }
  return 0;
}
