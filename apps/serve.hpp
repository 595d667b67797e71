#pragma once
#include "apps/cli.hpp"

namespace txengine {

//! Adds `serve` (--config FILE, --listen HOST:PORT, --keys FILE, ...) to txengine's command
//! line; running it serves until SIGINT or SIGTERM and returns the exit code.
cli::command serve_command(CLI::App& txengine_app);

}  // namespace txengine
