// txprovider-sim: a payment provider in its own process (issue 15, item 1), for the engine's
// channel adapters, tests, benchmarks and the demo. HTTP/JSON API, signed callbacks,
// misbehaviour from a profile, state on disk. docs/channels.md, "txprovider-sim".
#include <cstdio>
#include <string>
#include <thread>

#include <signal.h>

#include "apps/cli.hpp"
#include "providersim/sim_server.hpp"

int main(int argc, char** argv) {
  using namespace txengine;
  txprovider::sim_options options;
  std::string listen = "127.0.0.1:8700", profile_path, callback_url;
  CLI::App app{"txprovider-sim: a misbehaving payment provider over HTTP, for txengine's channels", "txprovider-sim"};
  app.add_option("--listen", listen, "HOST:PORT to serve on (PORT 0: any free port, printed)")->capture_default_str();
  app.add_option("--profile", profile_path, "TOML profile: latency, outcomes, faults, callbacks, auth "
                                            "(config/provider-sim/*.toml); none: an honest, fast provider");
  app.add_option("--state-dir", options.state_dir, "where the journal of orders lives")->capture_default_str();
  app.add_option("--callback-url", callback_url, "http://HOST:PORT/PATH for callbacks (overrides the profile's)");
  cli::add_number(app, "--threads", options.threads, "connections served at once", 1, 4096);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;

  std::string error;
  if (!profile_path.empty() && !txprovider::load_profile(profile_path, options.settings, error)) {
    std::fprintf(stderr, "txprovider-sim: %s\n", error.c_str());
    return cli::exit_usage;
  }
  if (!callback_url.empty()) {
    if (callback_url.rfind("http://", 0) != 0) {
      std::fprintf(stderr, "txprovider-sim: --callback-url must start with http://\n");
      return cli::exit_usage;
    }
    options.settings.callback_url = callback_url;
  }
  auto colon = listen.rfind(':');
  uint64_t port = 0;
  if (colon == std::string::npos || colon == 0 || !cli::parse_u64(listen.substr(colon + 1), port) || port > 65535) {
    std::fprintf(stderr, "txprovider-sim: --listen expects HOST:PORT, got '%s'\n", listen.c_str());
    return cli::exit_usage;
  }
  options.host = listen.substr(0, colon);
  options.port = static_cast<int>(port);

  // The stop signals are taken by one thread with sigwait, blocked before any other starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = txprovider::sim_server::start(options, error);
  if (!server) {
    std::fprintf(stderr, "txprovider-sim: %s\n", error.c_str());
    return 1;
  }
  std::printf("txprovider-sim: listening on %s:%d, %zu orders restored from %s, callbacks %s\n", options.host.c_str(),
              server->port(), server->restored(), options.state_dir.c_str(),
              options.settings.callback_url.empty() ? "off" : options.settings.callback_url.c_str());
  std::fflush(stdout);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::printf("txprovider-sim: signal %d, stopping\n", sig);
    std::fflush(stdout);
    server->stop();
  });
  server->run();
  pthread_kill(stopper.native_handle(), SIGTERM);  // if run() ended by itself, wake the stopper
  stopper.join();
  std::printf("txprovider-sim: stopped; %s\n", server->stats_json().c_str());
  return 0;
}
