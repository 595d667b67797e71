#pragma once
// What the benchmarks on MariaDB share: the CPU a process (this one, or the local server) used,
// waiting for a quiet server before a timed part, the endpoint as a storage URI, the seeded mix
// of their workloads and the percentiles of their latencies.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "persistence/mysql_connection.hpp"

namespace txengine::bench {

using persistence::mysql_endpoint;
using persistence::mysql_connection;

//! CPU seconds (user + system) of a process, from /proc; -1 when it cannot be read.
inline double process_cpu_s(long pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return -1;
  char buffer[1024] = {};
  size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
  std::fclose(f);
  const char* after_name = std::strrchr(buffer, ')');  // the command name may hold spaces
  unsigned long utime = 0, stime = 0;
  if (n == 0 || after_name == nullptr ||
      std::sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

//! The MySQL server's process id when it runs on this machine (its pid file is readable); 0 otherwise.
inline long server_pid(mysql_connection& conn) {
  try {
    auto rs = conn.query("SELECT @@pid_file");
    if (!rs->next()) return 0;
    std::FILE* f = std::fopen(std::string(rs->getString(1)).c_str(), "r");
    if (f == nullptr) return 0;
    long pid = 0;
    if (std::fscanf(f, "%ld", &pid) != 1) pid = 0;
    std::fclose(f);
    return pid > 0 && process_cpu_s(pid) >= 0 ? pid : 0;
  } catch (const sql::SQLException&) {
    return 0;
  }
}

inline double own_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

//! CPU used by this process and by the server during a timed part.
struct cpu_meter {
  long pid = 0;
  double own = 0, server = 0;
  explicit cpu_meter(long server_pid) : pid(server_pid), own(own_cpu_s()), server(pid ? process_cpu_s(pid) : 0) {}
  //! (own, server) CPU microseconds per order since construction; server -1 when unknown.
  std::pair<double, double> per_order(uint64_t orders) const {
    double n = static_cast<double>(std::max<uint64_t>(orders, 1));
    double server_now = pid ? process_cpu_s(pid) : -1;
    return {(own_cpu_s() - own) * 1e6 / n, pid && server_now >= 0 ? (server_now - server) * 1e6 / n : -1};
  }
};

//! Waits (at most `timeout`) until the local server is idle: below 5% of a core over two
//! 250 ms samples in a row. Seeding and the design measured before leave the server flushing
//! dirty pages and purging for seconds; each design's timed part starts on a quiet server.
//! Returns the seconds waited (0 when the server is not local).
inline double wait_for_idle_server(long pid, std::chrono::seconds timeout) {
  if (pid == 0) return 0;
  auto started = std::chrono::steady_clock::now();
  int quiet_samples = 0;
  double last = process_cpu_s(pid);
  while (quiet_samples < 2 && std::chrono::steady_clock::now() - started < timeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    double now = process_cpu_s(pid);
    quiet_samples = now - last < 0.05 * 0.25 ? quiet_samples + 1 : 0;
    last = now;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

//! The endpoint as a URI for the engine's storage configuration.
inline std::string uri_of(const mysql_endpoint& e) {
  std::string uri = "mysql://" + e.user + ":" + e.password + "@" + e.host + ":" + std::to_string(e.port);
  if (!e.database.empty()) uri += "/" + e.database;
  if (!e.socket.empty()) uri += "?socket=" + e.socket;
  return uri;
}

//! A 64-bit mix of `x` (splitmix64's finalizer): the benchmarks' seeded, reproducible choices.
inline uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

//! The p-quantile (0..1) of latencies sorted ascending; 0 when there are none.
inline double percentile(std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i];
}

}  // namespace txengine::bench
