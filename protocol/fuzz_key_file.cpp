// libFuzzer target: the key file parser (an operator's file, but one typo must never crash the
// server or load half a file).
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "protocol/wire.hpp"

using namespace txengine::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  key_table keys;
  std::string error;
  bool ok = keys.load_stream(in, "fuzz", error);
  if (!ok && keys.size() != 0) __builtin_trap();  // refused whole
  if (ok && !error.empty()) __builtin_trap();
  return 0;
}
