// apps/cli: the checks every executable's numbers go through, and the exit codes of a parse.
#include <gtest/gtest.h>

#include "apps/cli.hpp"

using namespace txengine;

namespace {

//! Parses `line` (without the program name) into a fresh app with --n (1..100) and --x (>= 0.5).
struct parsed {
  uint32_t n = 7;
  double x = 1;
  std::string error;
  bool ok = false;
};

parsed parse(const std::string& line) {
  parsed p;
  CLI::App app{"test", "test"};
  cli::add_number(app, "--n", p.n, "a number", 1, 100);
  cli::add_real(app, "--x", p.x, "a real", 0.5);
  try {
    app.parse(line, false);
    p.ok = true;
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  }
  return p;
}

}  // namespace

TEST(CliParseU64, DigitsOnlyNoOverflow) {
  uint64_t v = 0;
  EXPECT_TRUE(cli::parse_u64("0", v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(cli::parse_u64("18446744073709551615", v));
  EXPECT_EQ(v, UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616", "99999999999999999999"})
    EXPECT_FALSE(cli::parse_u64(bad, v)) << bad;
}

TEST(CliNumbers, InRangeAcceptedAsDecimal) {
  EXPECT_EQ(parse("--n 42").n, 42u);
  EXPECT_EQ(parse("--n=100").n, 100u);
  EXPECT_EQ(parse("--n 010").n, 10u);  // decimal, not octal
  EXPECT_EQ(parse("").n, 7u);          // default kept
  EXPECT_DOUBLE_EQ(parse("--x 2.5").x, 2.5);
}

TEST(CliNumbers, RefusedWithTheFlagNamed) {
  for (const char* bad : {"--n 0", "--n 101", "--n -1", "--n 1x", "--n 0x10", "--n 99999999999999999999", "--x 0.1",
                          "--x -1", "--x inf", "--x nan", "--x 1e3", "--x 1.2.3"}) {
    parsed p = parse(bad);
    EXPECT_FALSE(p.ok) << bad;
    EXPECT_NE(p.error.find(std::string(bad).substr(0, 3)), std::string::npos) << bad << ": " << p.error;
    EXPECT_EQ(p.n, 7u) << bad;  // unchanged
  }
}

TEST(CliParse, HelpIsZeroUsageErrorIsTwo) {
  std::vector<std::string> help_args{"test", "--help"}, bad_args{"test", "--bogus"};
  auto run = [](std::vector<std::string>& args) {
    CLI::App app{"test", "test"};
    uint32_t n = 0;
    cli::add_number(app, "--n", n, "a number");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    int code = cli::parse(app, static_cast<int>(argv.size()), argv.data());
    std::string out = testing::internal::GetCapturedStdout() + testing::internal::GetCapturedStderr();
    return std::make_pair(code, out);
  };
  auto [help_code, help_out] = run(help_args);
  EXPECT_EQ(help_code, 0);
  EXPECT_NE(help_out.find("--n"), std::string::npos);
  auto [bad_code, bad_out] = run(bad_args);
  EXPECT_EQ(bad_code, cli::exit_usage);
  EXPECT_NE(bad_out.find("--bogus"), std::string::npos);
}
