#include "core/money.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {
namespace {

constexpr int64_t max64 = std::numeric_limits<int64_t>::max();
constexpr int64_t min64 = std::numeric_limits<int64_t>::min();

TEST(currency_test, parses_three_upper_case_letters) {
  auto usd = currency::parse("USD");
  ASSERT_TRUE(usd.has_value());
  EXPECT_TRUE(usd->valid());
  EXPECT_EQ(usd->packed(), (uint32_t('U') << 16) | (uint32_t('S') << 8) | uint32_t('D'));
  EXPECT_EQ(usd->code(), "USD");
  EXPECT_EQ(*usd, *currency::parse("USD"));
  EXPECT_NE(*usd, *currency::parse("EUR"));
  // Ordering follows the packed value, so "AAA" sorts first: usable as a map key.
  EXPECT_TRUE(*currency::parse("AAA") < *currency::parse("ZZZ"));
}

TEST(currency_test, rejects_bad_codes) {
  for (const char* bad : {"usd", "US", "USDX", "U1D", "", "Usd", "US ", "U-D", "\xC3\x9CSD"})
    EXPECT_FALSE(currency::parse(bad).has_value()) << "'" << bad << "'";
  // Embedded NUL: the view has three bytes but one is not a letter.
  EXPECT_FALSE(currency::parse(std::string_view("U\0D", 3)).has_value());
}

TEST(currency_test, valid_checks_every_byte) {
  EXPECT_FALSE(currency{}.valid());  // default: "no currency"
  EXPECT_EQ(currency{}.code(), "???");
  EXPECT_TRUE(currency{0x555344}.valid());                 // "USD"
  EXPECT_FALSE(currency{0x755344}.valid());                // "uSD": lower case
  EXPECT_FALSE(currency{0x553144}.valid());                // "U1D"
  EXPECT_FALSE(currency{0x00555344 | (1u << 24)}.valid()); // a fourth byte
  EXPECT_FALSE(currency{0x5553}.valid());                  // only two letters
  EXPECT_EQ(currency{0x553144}.code(), "???");
}

TEST(checked_arithmetic_test, add_in_range_and_overflow) {
  int64_t out = 7;
  EXPECT_TRUE(checked_add(2, 3, out));
  EXPECT_EQ(out, 5);
  EXPECT_TRUE(checked_add(max64 - 1, 1, out));
  EXPECT_EQ(out, max64);
  EXPECT_TRUE(checked_add(min64, max64, out));
  EXPECT_EQ(out, -1);

  // On overflow the output is left untouched: callers never see a wrapped value.
  out = 42;
  EXPECT_FALSE(checked_add(max64, 1, out));
  EXPECT_EQ(out, 42);
  EXPECT_FALSE(checked_add(min64, -1, out));
  EXPECT_EQ(out, 42);
  EXPECT_FALSE(checked_add(max64, max64, out));
  EXPECT_EQ(out, 42);
}

TEST(checked_arithmetic_test, sub_in_range_and_overflow) {
  int64_t out = 7;
  EXPECT_TRUE(checked_sub(2, 3, out));
  EXPECT_EQ(out, -1);
  EXPECT_TRUE(checked_sub(min64 + 1, 1, out));
  EXPECT_EQ(out, min64);
  EXPECT_TRUE(checked_sub(-1, max64, out));
  EXPECT_EQ(out, min64);

  out = 42;
  EXPECT_FALSE(checked_sub(min64, 1, out));
  EXPECT_EQ(out, 42);
  EXPECT_FALSE(checked_sub(0, min64, out));  // -INT64_MIN does not fit
  EXPECT_EQ(out, 42);
  EXPECT_FALSE(checked_sub(max64, -1, out));
  EXPECT_EQ(out, 42);
}

TEST(format_minor_units_test, two_decimals_and_sign) {
  EXPECT_EQ(format_minor_units(0), "0.00");
  EXPECT_EQ(format_minor_units(5), "0.05");
  EXPECT_EQ(format_minor_units(10), "0.10");
  EXPECT_EQ(format_minor_units(100), "1.00");
  EXPECT_EQ(format_minor_units(1205), "12.05");
  EXPECT_EQ(format_minor_units(-1205), "-12.05");
  EXPECT_EQ(format_minor_units(-5), "-0.05");
  EXPECT_EQ(format_minor_units(max64), "92233720368547758.07");
  // The magnitude of INT64_MIN does not fit in int64: it must still print correctly.
  EXPECT_EQ(format_minor_units(min64), "-92233720368547758.08");
}

TEST(result_code_test, names_and_retryable_codes) {
  EXPECT_EQ(to_string(result_code::ok), "ok");
  EXPECT_EQ(to_string(result_code::wallet_busy), "wallet_busy");
  EXPECT_EQ(to_string(result_code::tcc_conflict), "tcc_conflict");
  EXPECT_EQ(to_string(static_cast<result_code>(999)), "unknown_result_code");
  // Exactly the five "try again later" codes are retryable.
  int retryable = 0;
  for (int raw = 0; raw < 100; ++raw) {
    auto code = static_cast<result_code>(raw);
    if (is_retryable(code)) ++retryable;
  }
  EXPECT_EQ(retryable, 5);
  EXPECT_TRUE(is_retryable(result_code::overloaded));
  EXPECT_TRUE(is_retryable(result_code::wallet_busy));
  EXPECT_TRUE(is_retryable(result_code::unavailable));
  EXPECT_TRUE(is_retryable(result_code::channel_busy));
  EXPECT_TRUE(is_retryable(result_code::rate_limited));
  EXPECT_FALSE(is_retryable(result_code::insufficient_funds));
}

TEST(types_test, names_round_trip) {
  for (auto k : {wallet_kind::user, wallet_kind::merchant, wallet_kind::system, wallet_kind::fee}) {
    wallet_kind parsed = wallet_kind::user;
    ASSERT_TRUE(parse_wallet_kind(to_string(k), parsed));
    EXPECT_EQ(parsed, k);
  }
  for (auto k : {order_kind::top_up, order_kind::pay, order_kind::withdraw, order_kind::transfer,
                 order_kind::refund, order_kind::commission}) {
    order_kind parsed = order_kind::pay;
    ASSERT_TRUE(parse_order_kind(to_string(k), parsed));
    EXPECT_EQ(parsed, k);
  }
  wallet_kind wk = wallet_kind::fee;
  EXPECT_FALSE(parse_wallet_kind("USER", wk));
  EXPECT_EQ(wk, wallet_kind::fee);  // untouched on failure
  order_kind ok = order_kind::refund;
  EXPECT_FALSE(parse_order_kind("topup", ok));
  EXPECT_EQ(ok, order_kind::refund);
  EXPECT_TRUE(is_debit(leg_type::debit_hold));
  EXPECT_TRUE(is_debit(leg_type::debit_direct));
  EXPECT_FALSE(is_debit(leg_type::credit_incoming));
  EXPECT_FALSE(is_debit(leg_type::credit_on_confirm));
  EXPECT_TRUE(is_final(order_state::succeeded));
  EXPECT_TRUE(is_final(order_state::failed));
  EXPECT_FALSE(is_final(order_state::processing));
}

}  // namespace
}  // namespace txengine
