// txengine: the engine's executable. Subcommands:
//   demo   run a mixed demo workload and check the invariants
//   serve  serve the wire protocol (docs/protocol.md)
#include "apps/cli.hpp"
#include "apps/demo.hpp"
#include "apps/serve.hpp"

int main(int argc, char** argv) {
  CLI::App app{"txengine: the payment engine", "txengine"};
  app.require_subcommand(1);
  std::vector<txengine::cli::command> commands = {txengine::demo_command(app), txengine::serve_command(app)};
  return txengine::cli::parse_and_run(app, commands, argc, argv);
}
