#include "core/order_command.hpp"

#include <gtest/gtest.h>

#include "core/limits.hpp"

namespace txengine {
namespace {

const currency usd = *currency::parse("USD");

// A valid command of each kind; each test breaks exactly one thing.
order_command valid(order_kind kind) {
  order_command c;
  c.tenant = 7;
  c.request_id = "req-1";
  c.kind = kind;
  c.amount = 1000;
  c.cur = usd;
  switch (kind) {
    case order_kind::top_up:
      c.destination = 11;
      c.channel = 1;
      break;
    case order_kind::pay:
      c.source = 10;
      c.destination = 11;
      break;
    case order_kind::withdraw:
      c.source = 10;
      c.channel = 1;
      break;
    case order_kind::transfer:
    case order_kind::commission:
      c.source = 10;
      c.destination = 11;
      break;
    case order_kind::refund:
      c.original_order = 99;
      break;
  }
  return c;
}

constexpr order_kind all_kinds[] = {order_kind::top_up,   order_kind::pay,    order_kind::withdraw,
                                    order_kind::transfer, order_kind::refund, order_kind::commission};

TEST(order_command_test, valid_commands_pass) {
  for (auto k : all_kinds) EXPECT_EQ(validate(valid(k)), result_code::ok) << to_string(k);
  auto with_fee = valid(order_kind::pay);
  with_fee.fee_wallet = 12;
  with_fee.fee_amount = 999;  // the merchant still gets 1
  EXPECT_EQ(validate(with_fee), result_code::ok);
}

TEST(order_command_test, request_id_length) {
  for (auto k : all_kinds) {
    auto c = valid(k);
    c.request_id = "";
    EXPECT_EQ(validate(c), result_code::invalid_request_id);
    c.request_id = std::string(limits::request_id_length_max + 1, 'x');  // 65 bytes
    EXPECT_EQ(validate(c), result_code::invalid_request_id);
    c.request_id = std::string(limits::request_id_length_max, 'x');  // 64 bytes: the limit itself is fine
    EXPECT_EQ(validate(c), result_code::ok);
  }
}

TEST(order_command_test, tenant_kind_amount_currency) {
  for (auto k : all_kinds) {
    auto c = valid(k);
    c.tenant = 0;
    EXPECT_EQ(validate(c), result_code::invalid_argument);

    c = valid(k);
    c.amount = 0;
    EXPECT_EQ(validate(c), result_code::invalid_amount);
    c.amount = -1;
    EXPECT_EQ(validate(c), result_code::invalid_amount);

    c = valid(k);
    c.cur = currency{};
    EXPECT_EQ(validate(c), result_code::invalid_currency);
    c.cur = currency{0x755344};  // "uSD"
    EXPECT_EQ(validate(c), result_code::invalid_currency);
  }
  auto c = valid(order_kind::pay);
  c.kind = static_cast<order_kind>(6);  // not a kind
  EXPECT_EQ(validate(c), result_code::invalid_argument);
}

TEST(order_command_test, precedence_is_stable) {
  // Several things wrong at once: the ladder's first rung decides.
  order_command c;
  EXPECT_EQ(validate(c), result_code::invalid_request_id);
  c.request_id = "r";
  EXPECT_EQ(validate(c), result_code::invalid_argument);  // tenant 0
  c.tenant = 1;
  EXPECT_EQ(validate(c), result_code::invalid_amount);
  c.amount = 5;
  EXPECT_EQ(validate(c), result_code::invalid_currency);
}

TEST(order_command_test, missing_and_extra_wallets_per_kind) {
  for (auto k : all_kinds) {
    bool wants_source = k != order_kind::top_up && k != order_kind::refund;
    bool wants_destination = k != order_kind::withdraw && k != order_kind::refund;
    auto c = valid(k);
    c.source = wants_source ? no_wallet : 55;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k) << " source";
    c = valid(k);
    c.destination = wants_destination ? no_wallet : 55;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k) << " destination";
  }
}

TEST(order_command_test, same_wallet) {
  for (auto k : {order_kind::pay, order_kind::transfer, order_kind::commission}) {
    auto c = valid(k);
    c.destination = c.source;
    EXPECT_EQ(validate(c), result_code::same_wallet) << to_string(k);
  }
}

TEST(order_command_test, fee_rules) {
  auto c = valid(order_kind::pay);
  c.fee_amount = -1;
  EXPECT_EQ(validate(c), result_code::invalid_amount);
  c = valid(order_kind::pay);
  c.fee_wallet = 12;
  c.fee_amount = c.amount;  // the merchant would get nothing
  EXPECT_EQ(validate(c), result_code::invalid_amount);
  c.fee_amount = c.amount + 1;
  EXPECT_EQ(validate(c), result_code::invalid_amount);
  c = valid(order_kind::pay);
  c.fee_amount = 10;  // fee without a fee wallet
  EXPECT_EQ(validate(c), result_code::invalid_argument);
  c = valid(order_kind::pay);
  c.fee_wallet = 12;  // fee wallet without a fee
  EXPECT_EQ(validate(c), result_code::invalid_argument);
  c = valid(order_kind::pay);
  c.fee_amount = 10;
  c.fee_wallet = c.source;
  EXPECT_EQ(validate(c), result_code::same_wallet);
  c.fee_wallet = c.destination;
  EXPECT_EQ(validate(c), result_code::same_wallet);
  // Only pay carries a fee.
  for (auto k : all_kinds) {
    if (k == order_kind::pay) continue;
    c = valid(k);
    c.fee_amount = 10;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k);
    c = valid(k);
    c.fee_wallet = 12;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k);
  }
}

TEST(order_command_test, refund_needs_original_and_only_refund_has_one) {
  auto c = valid(order_kind::refund);
  c.original_order = 0;
  EXPECT_EQ(validate(c), result_code::invalid_argument);
  for (auto k : all_kinds) {
    if (k == order_kind::refund) continue;
    c = valid(k);
    c.original_order = 99;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k);
  }
}

TEST(order_command_test, only_a_refund_has_a_home_of_its_own_and_it_is_not_content) {
  auto c = valid(order_kind::refund);
  c.home = 42;  // set by a cluster node: its original's home wallet
  EXPECT_EQ(validate(c), result_code::ok);
  auto unresolved = valid(order_kind::refund);
  EXPECT_TRUE(c.same_content(unresolved));  // a repeat is the same order wherever it was resolved
  for (auto k : all_kinds) {
    if (k == order_kind::refund) continue;
    c = valid(k);
    c.home = 42;
    EXPECT_EQ(validate(c), result_code::invalid_argument) << to_string(k);
  }
}

TEST(order_command_test, channel_rules) {
  for (auto k : all_kinds) {
    bool channel_kind = k == order_kind::top_up || k == order_kind::withdraw;
    auto c = valid(k);
    c.channel = 3;
    // A top-up or payout names its provider, or leaves it to the engine's routes (0); no other
    // kind names one.
    EXPECT_EQ(validate(c), channel_kind ? result_code::ok : result_code::invalid_argument) << to_string(k);
    c.channel = 0;
    EXPECT_EQ(validate(c), result_code::ok) << to_string(k);
  }
}

TEST(order_command_test, same_content_ignores_request_id_only) {
  auto a = valid(order_kind::pay);
  auto b = a;
  b.request_id = "another";
  EXPECT_TRUE(a.same_content(b));
  b = a;
  b.amount += 1;
  EXPECT_FALSE(a.same_content(b));
  b = a;
  b.destination = 77;
  EXPECT_FALSE(a.same_content(b));
  b = a;
  b.tenant = 8;
  EXPECT_FALSE(a.same_content(b));
  b = a;
  b.cur = *currency::parse("EUR");
  EXPECT_FALSE(a.same_content(b));
}

}  // namespace
}  // namespace txengine
