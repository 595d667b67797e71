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
//! The first three are the engine's test hooks (core/test_hooks.hpp); the cluster's two (--nodes 2)
//! are broken in the simulator's own wiring: a wallet gateway with no commit barrier (it answers a
//! remote step before its effect is committed), a store without the fence (a node that lost its
//! leases still commits).
enum class broken_rule : uint8_t {
  none,
  anti_hanging,
  idempotent_confirm,
  intent_before_effects,
  gateway_barrier,
  fence,
  stale_steps  //!< a gateway accepts steps of a node that lost their order's home (no epoch fence)
};

struct sim_options {
  uint64_t seed = 0;
  uint64_t steps = 8000;  //!< events with faults; then quiescence
  broken_rule broken = broken_rule::none;
  bool trace = false;  //!< prints every event (replaying a failing seed)
  //! Clock jumps of up to a minute (default: 25 s, below the wallets' record retention of 30 s).
  bool long_pauses = false;
  //! 1: one engine (no cluster). 2: two cluster nodes sharing the store, with partition leases,
  //! the fence, cross-node legs through wallet gateways, and the cluster's faults (a node killed,
  //! paused past its leases, the link between the nodes cut).
  uint32_t nodes = 1;
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
  fault_node_crash,   //!< one cluster node killed (restarted later)
  fault_node_pause,   //!< one cluster node stopped for a while (SIGSTOP), maybe past its leases
  fault_link_cut,     //!< the link between the nodes cut for a while
  fault_fenced,       //!< a node's commit or lease round refused: it stops (and is restarted)
  fault_takeover,     //!< partitions taken over from another node while serving
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
  uint64_t routed = 0;    //!< committed channel orders the engine's route chose a provider for
  uint64_t rerouted = 0;  //!< of them, sent on to a next provider after a declared decline
  uint64_t commands = 0;
  uint64_t acknowledged = 0;
  int64_t virtual_ms = 0;  //!< virtual time that passed
  std::vector<std::string> violations;  //!< empty when every invariant held
  bool ok() const { return violations.empty(); }
  std::string json() const;
};

sim_result run_seed(const sim_options& options);

}  // namespace txengine::sim
