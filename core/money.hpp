#pragma once
// Money: int64 minor units plus an ISO-4217 currency code. Never floating point; every
// addition is overflow-checked and an overflow is a rejected command, never a wrapped value.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace txengine {

//! ISO-4217 alphabetic code packed into 24 bits ("USD" -> 'U'<<16|'S'<<8|'D'); 0 = none.
class currency {
 public:
  constexpr currency() = default;
  constexpr explicit currency(uint32_t packed) : packed_(packed) {}

  //! Parses exactly three upper-case ASCII letters; anything else is std::nullopt.
  static std::optional<currency> parse(std::string_view code) {
    if (code.size() != 3) return std::nullopt;
    uint32_t packed = 0;
    for (char c : code) {
      if (c < 'A' || c > 'Z') return std::nullopt;
      packed = (packed << 8) | static_cast<uint8_t>(c);
    }
    return currency{packed};
  }

  constexpr uint32_t packed() const { return packed_; }
  //! For serializers only (they read and write the packed form in place).
  uint32_t& packed_for_serialization() { return packed_; }
  constexpr bool valid() const {
    for (int shift = 0; shift <= 16; shift += 8) {
      uint32_t c = (packed_ >> shift) & 0xFF;
      if (c < 'A' || c > 'Z') return false;
    }
    return (packed_ >> 24) == 0;
  }
  std::string code() const {
    if (!valid()) return "???";
    return std::string{static_cast<char>(packed_ >> 16), static_cast<char>((packed_ >> 8) & 0xFF),
                       static_cast<char>(packed_ & 0xFF)};
  }
  friend constexpr bool operator==(currency a, currency b) { return a.packed_ == b.packed_; }
  friend constexpr bool operator!=(currency a, currency b) { return a.packed_ != b.packed_; }
  friend constexpr bool operator<(currency a, currency b) { return a.packed_ < b.packed_; }

 private:
  uint32_t packed_ = 0;
};

//! Overflow-checked addition: false (and `out` untouched) when a + b does not fit.
inline bool checked_add(int64_t a, int64_t b, int64_t& out) {
  int64_t result;
  if (__builtin_add_overflow(a, b, &result)) return false;
  out = result;
  return true;
}

//! Overflow-checked subtraction: false (and `out` untouched) when a - b does not fit.
inline bool checked_sub(int64_t a, int64_t b, int64_t& out) {
  int64_t result;
  if (__builtin_sub_overflow(a, b, &result)) return false;
  out = result;
  return true;
}

//! Formats minor units with two decimals ("-12.05"); display only, never parsed back as money.
inline std::string format_minor_units(int64_t minor) {
  bool negative = minor < 0;
  uint64_t magnitude = negative ? uint64_t(0) - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::string cents = std::to_string(magnitude % 100);
  if (cents.size() < 2) cents.insert(0, "0");
  return (negative ? "-" : "") + std::to_string(magnitude / 100) + "." + cents;
}

}  // namespace txengine
