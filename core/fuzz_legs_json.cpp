// libFuzzer target: the `legs` JSON of a stored order (read back from MySQL at recovery; a
// corrupt or hostile row must be refused, never crash). What parses must format back to the
// same legs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/limits.hpp"
#include "core/order_core.hpp"

using namespace txengine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<stored_leg> legs;
  std::string error;
  if (!parse_legs_json(std::string_view(reinterpret_cast<const char*>(data), size), legs, &error)) {
    if (!legs.empty()) __builtin_trap();  // a refused text leaves nothing behind
    return 0;
  }
  if (legs.size() > limits::order_legs_max) __builtin_trap();
  std::vector<stored_leg> again;
  if (!parse_legs_json(format_legs_json(legs), again) || !(again == legs)) __builtin_trap();
  return 0;
}
