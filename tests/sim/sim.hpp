#pragma once
// The deterministic simulator of the whole engine (docs/simulation.md): one thread runs the real
// order hosts, wallet shards and channel actors on CAF's test_coordinator and a manual clock,
// against an in-memory store that speaks the writer's and the loaders' protocol, with faults
// chosen from a seed. run_seed() runs one seed and reports what it saw.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace txengine::sim {

//! Rules the simulator can break on purpose (test hooks), to show it finds the break.
enum class broken_rule : uint8_t { none, anti_hanging, idempotent_confirm, intent_before_effects };

struct sim_options {
  uint64_t seed = 0;
  uint64_t steps = 8000;  //!< events with faults; then quiescence
  broken_rule broken = broken_rule::none;
  bool trace = false;  //!< prints every event (replaying a failing seed)
  //! Clock jumps of up to a minute (default: 25 s, below the wallets' record retention of 30 s).
  bool long_pauses = false;
};

//! Fault kinds, counted per run.
enum fault_kind : size_t {
  fault_commit_failed,
  fault_commit_slow,
  fault_message_dropped,
  fault_message_duplicated,
  fault_message_delayed,
  fault_reply_lost,
  fault_crash,
  fault_clock_jump,
  fault_load_failed,
  fault_provider_outage,
  fault_kinds
};
const char* fault_name(size_t kind);

struct sim_result {
  uint64_t seed = 0;
  uint64_t steps = 0;
  uint64_t jobs_run = 0;
  uint64_t digest = 0;  //!< FNV-1a over every delivered message, its time and every reply
  std::array<uint64_t, fault_kinds> faults{};
  std::map<std::string, uint64_t> orders_by_state;  //!< committed orders by final state at the end
  uint64_t commands = 0;
  uint64_t acknowledged = 0;
  int64_t virtual_ms = 0;  //!< virtual time that passed
  std::vector<std::string> violations;  //!< empty when every invariant held
  bool ok() const { return violations.empty(); }
  std::string json() const;
};

sim_result run_seed(const sim_options& options);

}  // namespace txengine::sim
