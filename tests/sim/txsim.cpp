// txsim: the deterministic simulator of the whole engine (docs/simulation.md).
//   txsim --seed S [--steps N] [--json] [--trace] [--break anti_hanging|idempotent_confirm|intent]
//   txsim --seeds A-B [--steps N] [--json] [--keep-going]  runs seeds A..B; stops at the first
//                                                    failing seed unless --keep-going
//   txsim --find-break RULE --seeds A-B              succeeds once a seed of A..B catches the broken rule
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "tests/sim/sim.hpp"

using namespace txengine::sim;

namespace {

bool parse_u64(const char* s, uint64_t& out) {
  if (s == nullptr || *s < '0' || *s > '9') return false;
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return end != nullptr && *end == '\0';
}

bool parse_rule(const std::string& s, broken_rule& rule) {
  if (s == "anti_hanging") rule = broken_rule::anti_hanging;
  else if (s == "idempotent_confirm") rule = broken_rule::idempotent_confirm;
  else if (s == "intent") rule = broken_rule::intent_before_effects;
  else return false;
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: txsim (--seed S | --seeds A-B) [--steps N] [--json] [--trace] [--long-pauses] [--keep-going]\n"
               "             [--break anti_hanging|idempotent_confirm|intent] [--find-break RULE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  sim_options options;
  uint64_t first = 0, last = 0;
  bool have_seed = false, json = false, find = false, keep_going = false;
  uint64_t failed = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--seed" && parse_u64(v, first)) {
      last = first;
      have_seed = true;
      ++i;
    } else if (a == "--seeds" && v != nullptr) {
      std::string r = v;
      auto dash = r.find('-');
      if (dash == std::string::npos || !parse_u64(r.substr(0, dash).c_str(), first) ||
          !parse_u64(r.substr(dash + 1).c_str(), last) || last < first)
        return usage();
      have_seed = true;
      ++i;
    } else if (a == "--steps" && parse_u64(v, options.steps)) {
      ++i;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--trace") {
      options.trace = true;
    } else if (a == "--keep-going") {
      keep_going = true;
    } else if (a == "--long-pauses") {
      options.long_pauses = true;
    } else if ((a == "--break" || a == "--find-break") && v != nullptr && parse_rule(v, options.broken)) {
      find = a == "--find-break";
      ++i;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      return usage();
    }
  }
  if (!have_seed) return usage();
  // The engine's alerts are expected under faults; --trace shows them.
  if (!options.trace) spdlog::set_level(spdlog::level::err);
  uint64_t passed = 0;
  for (uint64_t seed = first; seed <= last; ++seed) {
    options.seed = seed;
    sim_result r = run_seed(options);
    if (json) std::printf("%s\n", r.json().c_str());
    if (find) {
      if (!r.ok()) {
        std::printf("txsim: broken rule caught by seed %llu after %llu steps: %s\n", static_cast<unsigned long long>(seed),
                    static_cast<unsigned long long>(r.steps), r.violations.front().c_str());
        return 0;
      }
      continue;
    }
    if (!r.ok()) {
      std::printf("txsim: seed %llu FAILED (replay: txsim --seed %llu --steps %llu%s%s --trace)\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(options.steps), options.long_pauses ? " --long-pauses" : "",
                  options.broken != broken_rule::none ? " --break ..." : "");
      for (const auto& v : r.violations) std::printf("  %s\n", v.c_str());
      if (!keep_going) return 1;
      ++failed;
      continue;
    }
    ++passed;
    if (!json) std::printf("seed %llu ok: %llu commands, digest %016llx\n", static_cast<unsigned long long>(seed),
                           static_cast<unsigned long long>(r.commands), static_cast<unsigned long long>(r.digest));
  }
  if (find) {
    std::printf("txsim: the broken rule was NOT caught by seeds %llu-%llu\n", static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(last));
    return 1;
  }
  if (failed != 0) {
    std::printf("txsim: %llu seeds passed, %llu failed\n", static_cast<unsigned long long>(passed),
                static_cast<unsigned long long>(failed));
    return 1;
  }
  std::printf("txsim: %llu seeds passed\n", static_cast<unsigned long long>(passed));
  return 0;
}
