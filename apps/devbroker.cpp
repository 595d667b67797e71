// txengine-devbroker: a Kafka-protocol development broker built on librdkafka's mock cluster
// (docs/kafka.md). It lives inside this process: brokers on loopback, topics created at start,
// the bootstrap address printed as one line on stdout, then it runs until SIGTERM/SIGINT.
//
// Outage control (for tests and the demo): `down` / `up` / `status` lines on stdin or on the
// control FIFO given by --control, or the signals SIGUSR1 (down) and SIGUSR2 (up). Down means
// every broker refuses connections (rd_kafka_mock_broker_set_down); clients retry until up.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli.hpp"

namespace {

constexpr int exit_ok = 0, exit_usage = 2, exit_failed = 3;
constexpr int max_brokers = 16;
constexpr int max_partitions = 256;
constexpr size_t max_control_line = 256;

struct topic_spec {
  std::string name;
  int partitions;
};

struct options {
  uint32_t brokers = 3;
  std::vector<topic_spec> topics;
  uint32_t replication = 3;
  std::string bootstrap_file;
  std::string control_fifo;
  bool stdin_control = true;
};

// Kafka topic names: [a-zA-Z0-9._-], 1..249 characters.
bool valid_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

//! "NAME[:PARTITIONS]" (8 partitions by default); false with `error`.
bool parse_topic(const std::string& spec, topic_spec& out, std::string& error) {
  out = topic_spec{spec, 8};
  auto colon = spec.rfind(':');
  if (colon != std::string::npos) {
    out.name = spec.substr(0, colon);
    uint64_t n = 0;
    if (!txengine::cli::parse_u64(spec.substr(colon + 1), n) || n < 1 || n > max_partitions) {
      error = "partitions of '" + spec + "' must be 1.." + std::to_string(max_partitions);
      return false;
    }
    out.partitions = static_cast<int>(n);
  }
  if (!valid_topic_name(out.name)) {
    error = "invalid topic name '" + out.name + "'";
    return false;
  }
  return true;
}

void add_options(CLI::App& app, options& opt, std::vector<std::string>& topics) {
  namespace cli = txengine::cli;
  cli::add_number(app, "--brokers", opt.brokers, "brokers of the mock cluster", 1, max_brokers);
  app.add_option("--topic", topics,
                 "a topic to create, NAME[:PARTITIONS] (partitions 1..256, default 8); repeatable (default "
                 "txengine.orders.finalized:8)")
      ->type_name("NAME[:PARTITIONS]")
      ->check(CLI::Validator(
          [](std::string& spec) {
            topic_spec t;
            std::string error;
            return parse_topic(spec, t, error) ? std::string() : error;
          },
          "", "topic"));
  cli::add_number(app, "--replication", opt.replication, "replication factor (at most --brokers)", 1, max_brokers);
  app.add_option("--bootstrap-file", opt.bootstrap_file, "also write the bootstrap address to this file")
      ->type_name("PATH");
  app.add_option("--control", opt.control_fifo, "read control commands from this FIFO too")->type_name("FIFO");
  app.add_flag("--no-stdin", "do not read control commands from stdin");
  app.footer(
      "Starts librdkafka's mock Kafka cluster on 127.0.0.1, creates the topics, prints the bootstrap address on one "
      "line on stdout, and runs until SIGTERM/SIGINT.\nControl commands (one per line on stdin or the FIFO): down | "
      "up | status. Signals: SIGUSR1 = down, SIGUSR2 = up.");
}

//! The command line; -1 to go on, else the exit code.
int parse_args(int argc, char** argv, options& opt) {
  CLI::App app{"txengine-devbroker: a Kafka cluster for development and tests (librdkafka's mock cluster)",
               "txengine-devbroker"};
  std::vector<std::string> topics;
  add_options(app, opt, topics);
  if (int code = txengine::cli::parse(app, argc, argv); code >= 0) return code;
  opt.stdin_control = app.count("--no-stdin") == 0;
  for (const auto& spec : topics) {
    topic_spec t;
    std::string error;
    parse_topic(spec, t, error);
    opt.topics.push_back(t);
  }
  if (opt.replication > opt.brokers) opt.replication = opt.brokers;
  if (opt.topics.empty()) opt.topics.push_back({"txengine.orders.finalized", 8});
  return -1;
}

class broker {
 public:
  broker(rd_kafka_mock_cluster_t* mc, int brokers) : mc_(mc), brokers_(brokers) {}

  // Applies one control command; returns the reply line.
  std::string command(const std::string& line) {
    if (line == "down") return set_all(false);
    if (line == "up") return set_all(true);
    if (line == "status") return up_ ? "status up" : "status down";
    return "error unknown command '" + line + "' (down|up|status)";
  }

  std::string set_all(bool up) {
    for (int id = 1; id <= brokers_; ++id) {
      rd_kafka_resp_err_t err =
          up ? rd_kafka_mock_broker_set_up(mc_, id) : rd_kafka_mock_broker_set_down(mc_, id);
      if (err) return std::string("error broker ") + std::to_string(id) + ": " + rd_kafka_err2str(err);
    }
    up_ = up;
    return up ? "ok up" : "ok down";
  }

 private:
  rd_kafka_mock_cluster_t* mc_;
  int brokers_;
  std::atomic<bool> up_{true};
};

void reply(const std::string& text) {
  std::fprintf(stderr, "txengine-devbroker: %s\n", text.c_str());
}

// Reads command lines from fd until `stop` or EOF; a FIFO is reopened after its writer closes.
void control_loop(broker& b, int fd, const std::atomic<bool>& stop, const std::string& fifo_path) {
  std::string line;
  char buf[512];
  while (!stop.load()) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      if (fifo_path.empty()) return;  // stdin closed: no more commands, keep running
      ::close(fd);
      fd = ::open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK);
      if (fd < 0) return;
      continue;
    }
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (c == '\n') {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) reply(b.command(line));
        line.clear();
      } else if (line.size() < max_control_line) {
        line.push_back(c);
      }
    }
  }
  if (!fifo_path.empty()) ::close(fd);
}

//! The librdkafka handle that hosts the mock cluster, and the cluster; destroyed in that order reversed.
struct cluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  ~cluster() {
    if (mc) rd_kafka_mock_cluster_destroy(mc);
    if (rk) rd_kafka_destroy(rk);
  }
};

//! Starts the brokers and creates the topics; false with the error printed.
bool start_cluster(const options& opt, cluster& c) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock cluster; keep its own logging quiet.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!c.rk) {
    std::fprintf(stderr, "txengine-devbroker: rd_kafka_new: %s\n", errstr);
    return false;
  }
  c.mc = rd_kafka_mock_cluster_new(c.rk, static_cast<int>(opt.brokers));
  if (!c.mc) {
    std::fprintf(stderr, "txengine-devbroker: could not create the mock cluster\n");
    return false;
  }
  for (const auto& t : opt.topics) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(c.mc, t.name.c_str(), t.partitions, static_cast<int>(opt.replication));
    if (err) {
      std::fprintf(stderr, "txengine-devbroker: topic %s: %s\n", t.name.c_str(), rd_kafka_err2str(err));
      return false;
    }
    std::fprintf(stderr, "txengine-devbroker: topic %s partitions=%d replication=%u\n", t.name.c_str(),
                 t.partitions, opt.replication);
  }
  return true;
}

//! Written to a temporary name then renamed, so a reader never sees a partial line.
bool write_bootstrap_file(const std::string& path, const std::string& bootstrap) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f || std::fprintf(f, "%s\n", bootstrap.c_str()) < 0 || std::fclose(f) != 0 ||
      std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "txengine-devbroker: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  return true;
}

//! The threads reading control commands from stdin and the FIFO.
std::vector<std::thread> start_control(const options& opt, broker& b, const std::atomic<bool>& stop) {
  std::vector<std::thread> threads;
  if (opt.stdin_control) threads.emplace_back([&] { control_loop(b, STDIN_FILENO, stop, ""); });
  if (opt.control_fifo.empty()) return threads;
  if (::mkfifo(opt.control_fifo.c_str(), 0600) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "txengine-devbroker: mkfifo %s: %s\n", opt.control_fifo.c_str(), std::strerror(errno));
    return threads;
  }
  // O_NONBLOCK: opening for reading does not wait for a writer.
  int fd = ::open(opt.control_fifo.c_str(), O_RDONLY | O_NONBLOCK);
  if (fd < 0)
    std::fprintf(stderr, "txengine-devbroker: open %s: %s\n", opt.control_fifo.c_str(), std::strerror(errno));
  else
    threads.emplace_back([&, fd] { control_loop(b, fd, stop, opt.control_fifo); });
  return threads;
}

//! SIGUSR1 takes the brokers down, SIGUSR2 up; any other of `signals` returns.
void wait_for_stop(const sigset_t& signals, broker& b) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR1) reply(b.set_all(false));
    else if (sig == SIGUSR2) reply(b.set_all(true));
    else return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse_args(argc, argv, opt); code >= 0) return code;
  // Signals are taken by sigwait, in the main thread only.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  cluster c;
  if (!start_cluster(opt, c)) return exit_failed;
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(c.mc);
  if (!opt.bootstrap_file.empty() && !write_bootstrap_file(opt.bootstrap_file, bootstrap)) return exit_failed;
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);

  broker b(c.mc, static_cast<int>(opt.brokers));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads = start_control(opt, b, stop);
  wait_for_stop(signals, b);
  stop = true;
  for (auto& t : threads) t.join();
  if (!opt.bootstrap_file.empty()) std::remove(opt.bootstrap_file.c_str());
  reply("stopped");
  return exit_ok;
}
