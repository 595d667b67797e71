// libFuzzer target: txengine's TOML config file (apps/config_file.cpp load_config_text), an
// operator's file where one typo must be refused with its name, never crash or half-apply.
// Checks beyond "no crash": a refused file says why; an accepted one passes the engine's own
// check of the settings (engine_config_problem).
// Inputs with non-ASCII bytes are skipped: toml++ 3.3.0 (Debian 12) reaches __builtin_unreachable
// in is_non_ascii_horizontal_whitespace for most non-ASCII code points outside strings and
// comments (e.g. a stray "é": U+00A1..U+0499, U+2D6E..U+3167, U+FB26..U+FEFE), undefined
// behaviour in the library that this target found; docs/security.md, "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/config_file.hpp"

using namespace txengine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i)
    if (data[i] >= 0x80) return 0;
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
