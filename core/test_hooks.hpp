#pragma once
// Test hooks: rules the deterministic simulator (tests/sim, docs/simulation.md) breaks on purpose
// to show that it finds the break. Zero (the default, and always outside txsim --break) keeps
// every rule. Read only on paths that are rare or once per order (a try after a tombstone, a
// repeated confirm, an order's intent row), never per message.
#include <cstdint>

namespace txengine::test_hooks {

//! sim::broken_rule: 1 anti-hanging (a try after its cancel is applied), 2 idempotent confirm
//! (a repeated confirm posts again), 3 intent before effects (an order's intent row is not written).
inline uint8_t broken = 0;

}  // namespace txengine::test_hooks
