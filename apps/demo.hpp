#pragma once
// `txengine demo`: a mixed workload on the embedded defaults, with the simulated channel
// misbehaving, then the invariant checks.
#include "apps/cli.hpp"

namespace txengine {
//! Adds `demo` and its options to txengine's command line; running it returns the exit code.
cli::command demo_command(CLI::App& txengine_app);
}
