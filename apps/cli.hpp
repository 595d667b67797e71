#pragma once
// The command line of every executable (issue 11): CLI11 (Debian's libcli11-dev, header only),
// plus the few things CLI11 does not do the way txengine wants:
//  - numbers are decimal digits only: CLI11 reads integers with strtoull(base 0), which takes
//    "-1" (wrapped), "0x10", "010" (octal) and silently saturates on overflow;
//  - a usage error prints "<program>: <what>" and exits 2 (CLI11's own codes are 100+);
//  - a subcommand is a CLI::App and the function that runs it once parsed.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace txengine::cli {

constexpr int exit_usage = 2;

//! `text` as an unsigned decimal number: digits only (no sign, no space, no base prefix),
//! nothing after them, no overflow.
bool parse_u64(const std::string& text, uint64_t& out);

//! A transform for an option holding an unsigned integer: refuses what parse_u64 refuses and
//! values outside lo..hi, and hands CLI11 the canonical decimal.
CLI::Validator whole_number(uint64_t lo, uint64_t hi);

//! Adds `--name N` (names as CLI11 spells them, e.g. "--orders" or "-n,--orders") storing into
//! an integer, lo..hi (hi defaults to the type's maximum), its default shown in --help.
template <class T>
CLI::Option* add_number(CLI::App& app, const std::string& names, T& target, const std::string& help, uint64_t lo = 0,
                        uint64_t hi = static_cast<uint64_t>(std::numeric_limits<T>::max())) {
  static_assert(std::is_integral_v<T>, "add_number is for integers (never negative ones)");
  return app.add_option(names, target, help)->capture_default_str()->type_name("N")->transform(whole_number(lo, hi));
}

//! A prefix of database names: lower-case letters, digits and _, not empty.
CLI::Validator database_prefix();

//! Adds `--name X` storing a floating-point number of at least `lo` (seconds, mostly).
CLI::Option* add_real(CLI::App& app, const std::string& names, double& target, const std::string& help, double lo);

//! Adds `--name VALUE` that must be one of `choices`.
CLI::Option* add_choice(CLI::App& app, const std::string& names, std::string& target, const std::string& help,
                        const std::vector<std::string>& choices);

//! A subcommand and what runs it once the command line named it.
struct command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

//! Parses the command line. Returns -1 when the program goes on; otherwise its exit code: 0
//! after --help (printed to stdout), exit_usage after a usage error ("<name>: <what>" and a
//! hint to --help on stderr).
int parse(CLI::App& app, int argc, char** argv);

//! Parses, then runs the subcommand that was named; the exit code.
int parse_and_run(CLI::App& app, const std::vector<command>& commands, int argc, char** argv);

}  // namespace txengine::cli
