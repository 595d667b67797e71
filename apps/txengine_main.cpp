// txengine: the engine's executable. Subcommands:
//   demo   run a mixed demo workload in memory and check the invariants
#include <cstdio>
#include <cstring>
#include <string>

#include "apps/demo.hpp"
#include "apps/serve.hpp"

namespace {

void usage() {
  std::printf(
      "usage: txengine <command> [options]\n"
      "commands:\n"
      "  demo [--wallets N] [--orders N] [--concurrency N] [--json]\n"
      "       run a mixed workload (all six order kinds, a misbehaving simulated channel)\n"
      "       on the in-memory engine and check the invariants\n"
      "  serve [--listen HOST:PORT] [--keys FILE]\n"
      "       serve the wire protocol (docs/protocol.md); default 127.0.0.1:7400,\n"
      "       development mode (one tenant, one key) without --keys\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  if (command == "demo") return txengine::run_demo(argc - 1, argv + 1);
  if (command == "serve") return txengine::run_serve(argc - 1, argv + 1);
  std::fprintf(stderr, "txengine: unknown command '%s'\n", argv[1]);
  usage();
  return 2;
}
