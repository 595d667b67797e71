// libFuzzer target: txengine's TOML config file (apps/config_file.cpp load_config_text), an
// operator's file where one typo must be refused with its name, never crash or half-apply.
// Checks beyond "no crash": a refused file says why; an accepted one passes the engine's own
// check of the settings (engine_config_problem).
// toml++ 3.3.0 (Debian 12) reaches __builtin_unreachable in is_non_ascii_horizontal_whitespace for
// most non-ASCII code points outside strings and comments (e.g. a stray "é"), undefined behaviour
// in the library that this target found (docs/security.md, "Fuzzing"): load_config_text refuses
// such bytes before the library sees them, and this target feeds them to check that it does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/config_file.hpp"

using namespace txengine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  serve_settings settings;
  std::string error;
  if (!load_config_text(text, "fuzz.toml", settings, error)) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  if (!error.empty()) __builtin_trap();
  if (!engine_config_problem(settings.engine).empty()) __builtin_trap();
  return 0;
}
