// txsim: the deterministic simulator of the whole engine (docs/simulation.md).
//   txsim --seed S [--steps N] [--nodes 1|2] [--json] [--trace]
//         [--break anti_hanging|idempotent_confirm|intent|gateway_barrier|fence]
//   txsim --seeds A-B [--steps N] [--json] [--keep-going]  runs seeds A..B; stops at the first
//                                                    failing seed unless --keep-going
//   txsim --find-break RULE --seeds A-B              succeeds once a seed of A..B catches the broken rule
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "apps/cli.hpp"
#include "tests/sim/sim.hpp"

using namespace txengine::sim;

namespace {

struct txsim_flags {
  sim_options options;
  uint64_t seed = 0;
  std::string seeds, rule, find_rule;
  bool json = false, keep_going = false;
  uint64_t first = 0, last = 0;
};

//! "A-B" with A <= B, both plain decimals.
CLI::Validator seed_range() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto dash = text.find('-');
        uint64_t a = 0, b = 0;
        if (dash == std::string::npos || !txengine::cli::parse_u64(text.substr(0, dash), a) ||
            !txengine::cli::parse_u64(text.substr(dash + 1), b) || b < a)
          return "expects A-B (decimal seeds, A <= B), got '" + text + "'";
        return "";
      },
      "", "A-B");
}

broken_rule rule_of(const std::string& s) {
  if (s == "anti_hanging") return broken_rule::anti_hanging;
  if (s == "idempotent_confirm") return broken_rule::idempotent_confirm;
  if (s == "intent") return broken_rule::intent_before_effects;
  if (s == "gateway_barrier") return broken_rule::gateway_barrier;
  if (s == "fence") return broken_rule::fence;
  if (s == "stale_steps") return broken_rule::stale_steps;
  return broken_rule::none;
}

void add_flags(CLI::App& app, txsim_flags& f) {
  auto* seed = txengine::cli::add_number(app, "--seed", f.seed, "run this seed");
  auto* seeds = app.add_option("--seeds", f.seeds, "run seeds A..B (stops at the first failure unless --keep-going)")
                    ->check(seed_range());
  seed->excludes(seeds);
  txengine::cli::add_number(app, "--steps", f.options.steps, "steps per seed", 1);
  app.add_flag("--json", f.json, "one JSON line per seed: seed, steps, faults by kind, orders by state, digest");
  app.add_flag("--trace", f.options.trace, "print every delivered message and the engine's alerts");
  app.add_flag("--long-pauses", f.options.long_pauses, "clock jumps longer than the TCC record retention");
  txengine::cli::add_number(app, "--nodes", f.options.nodes,
                            "1: one engine; 2: two cluster nodes (leases, fence, cross-node legs, node faults)", 1, 2);
  app.add_flag("--keep-going", f.keep_going, "with --seeds: run every seed, then report the failures");
  const std::vector<std::string> rules = {"anti_hanging", "idempotent_confirm", "intent", "gateway_barrier", "fence", "stale_steps"};
  auto* brk = txengine::cli::add_choice(app, "--break", f.rule, "break this rule on purpose (core/test_hooks.hpp)", rules);
  auto* find = txengine::cli::add_choice(app, "--find-break", f.find_rule,
                                         "break RULE; succeed once a seed of --seeds catches it", rules);
  brk->excludes(find);
}

//! Runs the seeds; the exit code.
int run(txsim_flags& f) {
  bool find = !f.find_rule.empty();
  f.options.broken = rule_of(find ? f.find_rule : f.rule);
  // The engine's alerts are expected under faults; --trace shows them.
  if (!f.options.trace) spdlog::set_level(spdlog::level::err);
  uint64_t passed = 0, failed = 0;
  for (uint64_t seed = f.first; seed <= f.last; ++seed) {
    f.options.seed = seed;
    sim_result r = run_seed(f.options);
    if (f.json) std::printf("%s\n", r.json().c_str());
    if (find) {
      if (!r.ok()) {
        std::printf("txsim: broken rule caught by seed %llu after %llu steps: %s\n", static_cast<unsigned long long>(seed),
                    static_cast<unsigned long long>(r.steps), r.violations.front().c_str());
        return 0;
      }
      continue;
    }
    if (!r.ok()) {
      std::printf("txsim: seed %llu FAILED (replay: txsim --seed %llu --steps %llu%s%s%s --trace)\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(f.options.steps), f.options.nodes == 2 ? " --nodes 2" : "",
                  f.options.long_pauses ? " --long-pauses" : "",
                  f.rule.empty() ? "" : (" --break " + f.rule).c_str());
      for (const auto& v : r.violations) std::printf("  %s\n", v.c_str());
      if (!f.keep_going) return 1;
      ++failed;
      continue;
    }
    ++passed;
    if (!f.json) std::printf("seed %llu ok: %llu commands, digest %016llx\n", static_cast<unsigned long long>(seed),
                             static_cast<unsigned long long>(r.commands), static_cast<unsigned long long>(r.digest));
  }
  if (find) {
    std::printf("txsim: the broken rule was NOT caught by seeds %llu-%llu\n", static_cast<unsigned long long>(f.first),
                static_cast<unsigned long long>(f.last));
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"txsim: the deterministic simulator of the whole engine (docs/simulation.md)", "txsim"};
  txsim_flags f;
  add_flags(app, f);
  if (int code = txengine::cli::parse(app, argc, argv); code >= 0) return code;
  if (app.count("--seed") != 0) {
    f.first = f.last = f.seed;
  } else if (!f.seeds.empty()) {
    auto dash = f.seeds.find('-');
    txengine::cli::parse_u64(f.seeds.substr(0, dash), f.first);
    txengine::cli::parse_u64(f.seeds.substr(dash + 1), f.last);
  } else {
    std::fprintf(stderr, "txsim: --seed S or --seeds A-B is required\nRun 'txsim --help' for usage.\n");
    return txengine::cli::exit_usage;
  }
  if (!f.find_rule.empty() && app.count("--seeds") == 0) {
    std::fprintf(stderr, "txsim: --find-break needs --seeds A-B\nRun 'txsim --help' for usage.\n");
    return txengine::cli::exit_usage;
  }
  return run(f);
}
