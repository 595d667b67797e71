#include "apps/cli.hpp"

#include <cstdio>
#include <cstdlib>

namespace txengine::cli {

bool parse_u64(const std::string& text, uint64_t& out) {
  if (text.empty()) return false;
  uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    uint64_t digit = static_cast<uint64_t>(ch - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

CLI::Validator whole_number(uint64_t lo, uint64_t hi) {
  std::string range = hi != std::numeric_limits<uint64_t>::max() ? " from " + std::to_string(lo) + " to " + std::to_string(hi)
                     : lo > 0                                    ? " of at least " + std::to_string(lo)
                                                                 : "";
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        uint64_t value = 0;
        if (!parse_u64(text, value) || value < lo || value > hi)
          return "expects a whole number" + range + " (digits only), got '" + text + "'";
        text = std::to_string(value);  // CLI11 reads a leading 0 as octal
        return {};
      },
      "", "whole_number");
}

CLI::Validator database_prefix() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
          return "must be lower-case letters, digits and _, got '" + text + "'";
        return {};
      },
      "", "database_prefix");
}

CLI::Option* add_real(CLI::App& app, const std::string& names, double& target, const std::string& help, double lo) {
  return app.add_option(names, target, help)
      ->capture_default_str()
      ->type_name("X")
      ->check(CLI::Validator(
          [lo](std::string& text) -> std::string {
            // Decimal digits and one point only: strtod alone also takes signs, spaces, hex and "inf".
            bool plain = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos &&
                         text.find('.') == text.rfind('.') && text != ".";
            char* end = nullptr;
            double value = plain ? std::strtod(text.c_str(), &end) : 0;
            if (!plain || *end != '\0' || !(value >= lo) || value > 1e12)
            {
              char bound[32];
              std::snprintf(bound, sizeof bound, "%g", lo);
              return "expects a number of at least " + std::string(bound) + ", got '" + text + "'";
            }
            return {};
          },
          "", "real"));
}

CLI::Option* add_choice(CLI::App& app, const std::string& names, std::string& target, const std::string& help,
                        const std::vector<std::string>& choices) {
  return app.add_option(names, target, help)->capture_default_str()->check(CLI::IsMember(choices));
}

int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // "txctl wallet get" when the error is in a subcommand's options.
    std::string path = app.get_name();
    const CLI::App* leaf = &app;
    while (!leaf->get_subcommands().empty()) {
      leaf = leaf->get_subcommands().front();
      path += " " + leaf->get_name();
    }
    std::string what = e.what();
    // CLI11 reports a missing subcommand before the word it did not know.
    if (std::vector<std::string> extra = leaf->remaining(); !extra.empty() && e.get_name() == "RequiredError")
      what = "unknown command or argument '" + extra.front() + "' (" + what + ")";
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", path.c_str(), what.c_str(), path.c_str());
    return exit_usage;
  }
}

int parse_and_run(CLI::App& app, const std::vector<command>& commands, int argc, char** argv) {
  if (int code = parse(app, argc, argv); code >= 0) return code;
  for (const auto& c : commands)
    if (c.app->parsed()) return c.run();
  std::fprintf(stderr, "%s: no command given\n", app.get_name().c_str());
  return exit_usage;
}

}  // namespace txengine::cli
