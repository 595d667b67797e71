#pragma once
// The txprovider-sim program as a child process on a free port of loopback (the port read from
// its first line of output), for the programs that drive the engine against it: bench_channels,
// the demo and the provider tests. Header only.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace txengine {

//! A port of loopback free at the time of asking (0 when none could be had): for an endpoint
//! whose address others must know before it starts (the engine's callback endpoint, named in the
//! provider's callback URL before either runs).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

class provider_sim_process {
 public:
  //! Starts `binary --listen 127.0.0.1:0 ARGS...`; throws when it does not say where it listens.
  provider_sim_process(const std::string& binary, std::vector<std::string> args) {
    args.insert(args.begin(), {binary, "--listen", "127.0.0.1:0"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
    if (rc != 0) {
      pid_ = 0;
      throw std::runtime_error("cannot start " + binary);
    }
    char line[512] = {0};
    // "txprovider-sim: listening on 127.0.0.1:PORT, ..."
    if (!std::fgets(line, sizeof line, out_) ||
        std::sscanf(line, "txprovider-sim: listening on 127.0.0.1:%d", &port_) != 1)
      throw std::runtime_error(binary + ": unexpected first line: " + line);
  }
  provider_sim_process(const provider_sim_process&) = delete;
  provider_sim_process& operator=(const provider_sim_process&) = delete;
  ~provider_sim_process() {
    if (pid_ != 0) end(SIGKILL);
  }

  int port() const { return port_; }
  //! Ends it with `sig` and returns its wait status.
  int end(int sig) {
    ::kill(pid_, sig);
    char buffer[4096];
    while (std::fread(buffer, 1, sizeof buffer, out_) > 0) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::fclose(out_);
    pid_ = 0;
    return status;
  }
  //! Its CPU time so far (user + system), seconds.
  double cpu_s() const {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(text.substr(close + 2));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
  FILE* out_ = nullptr;
};

}  // namespace txengine
