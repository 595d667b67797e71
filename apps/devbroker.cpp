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
  int brokers = 3;
  std::vector<topic_spec> topics;
  int replication = 3;
  std::string bootstrap_file;
  std::string control_fifo;
  bool stdin_control = true;
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: txengine-devbroker [--brokers N] [--topic NAME[:PARTITIONS]]... [--replication N]\n"
               "                          [--bootstrap-file PATH] [--control FIFO] [--no-stdin]\n"
               "Starts librdkafka's mock Kafka cluster on 127.0.0.1 (N brokers, default 3), creates the\n"
               "topics (default txengine.orders.finalized:8), prints the bootstrap address on one line\n"
               "on stdout (and writes it to --bootstrap-file), and runs until SIGTERM/SIGINT.\n"
               "Control commands (one per line on stdin or the FIFO): down | up | status.\n"
               "Signals: SIGUSR1 = down, SIGUSR2 = up.\n");
}

bool parse_int(const char* text, int lo, int hi, int& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) return false;
  out = static_cast<int>(v);
  return true;
}

// Kafka topic names: [a-zA-Z0-9._-], 1..249 characters.
bool valid_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

bool parse_args(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "txengine-devbroker: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    if (a == "--brokers") {
      const char* v = value("--brokers");
      if (!v || !parse_int(v, 1, max_brokers, opt.brokers)) {
        std::fprintf(stderr, "txengine-devbroker: --brokers must be 1..%d\n", max_brokers);
        return false;
      }
    } else if (a == "--replication") {
      const char* v = value("--replication");
      if (!v || !parse_int(v, 1, max_brokers, opt.replication)) {
        std::fprintf(stderr, "txengine-devbroker: --replication must be 1..%d\n", max_brokers);
        return false;
      }
    } else if (a == "--topic") {
      const char* v = value("--topic");
      if (!v) return false;
      std::string spec = v;
      topic_spec t{spec, 8};
      auto colon = spec.rfind(':');
      if (colon != std::string::npos) {
        t.name = spec.substr(0, colon);
        if (!parse_int(spec.c_str() + colon + 1, 1, max_partitions, t.partitions)) {
          std::fprintf(stderr, "txengine-devbroker: partitions of '%s' must be 1..%d\n", v, max_partitions);
          return false;
        }
      }
      if (!valid_topic_name(t.name)) {
        std::fprintf(stderr, "txengine-devbroker: invalid topic name '%s'\n", t.name.c_str());
        return false;
      }
      opt.topics.push_back(t);
    } else if (a == "--bootstrap-file") {
      const char* v = value("--bootstrap-file");
      if (!v) return false;
      opt.bootstrap_file = v;
    } else if (a == "--control") {
      const char* v = value("--control");
      if (!v) return false;
      opt.control_fifo = v;
    } else if (a == "--no-stdin") {
      opt.stdin_control = false;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(exit_ok);
    } else {
      std::fprintf(stderr, "txengine-devbroker: unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  if (opt.replication > opt.brokers) opt.replication = opt.brokers;
  if (opt.topics.empty()) opt.topics.push_back({"txengine.orders.finalized", 8});
  return true;
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

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse_args(argc, argv, opt)) {
    usage(stderr);
    return exit_usage;
  }

  // Signals are taken by sigwait below, in the main thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock cluster; keep its own logging quiet.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    std::fprintf(stderr, "txengine-devbroker: rd_kafka_new: %s\n", errstr);
    return exit_failed;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, opt.brokers);
  if (!mc) {
    std::fprintf(stderr, "txengine-devbroker: could not create the mock cluster\n");
    rd_kafka_destroy(rk);
    return exit_failed;
  }
  for (const auto& t : opt.topics) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, t.name.c_str(), t.partitions, opt.replication);
    if (err) {
      std::fprintf(stderr, "txengine-devbroker: topic %s: %s\n", t.name.c_str(), rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(mc);
      rd_kafka_destroy(rk);
      return exit_failed;
    }
    std::fprintf(stderr, "txengine-devbroker: topic %s partitions=%d replication=%d\n", t.name.c_str(),
                 t.partitions, opt.replication);
  }

  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
  if (!opt.bootstrap_file.empty()) {
    // Written to a temporary name then renamed, so a reader never sees a partial line.
    std::string tmp = opt.bootstrap_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f || std::fprintf(f, "%s\n", bootstrap.c_str()) < 0 || std::fclose(f) != 0 ||
        std::rename(tmp.c_str(), opt.bootstrap_file.c_str()) != 0) {
      std::fprintf(stderr, "txengine-devbroker: cannot write %s: %s\n", opt.bootstrap_file.c_str(),
                   std::strerror(errno));
      rd_kafka_mock_cluster_destroy(mc);
      rd_kafka_destroy(rk);
      return exit_failed;
    }
  }
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);

  broker b(mc, opt.brokers);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  if (opt.stdin_control) threads.emplace_back([&] { control_loop(b, STDIN_FILENO, stop, ""); });
  if (!opt.control_fifo.empty()) {
    if (::mkfifo(opt.control_fifo.c_str(), 0600) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "txengine-devbroker: mkfifo %s: %s\n", opt.control_fifo.c_str(), std::strerror(errno));
    } else {
      // O_NONBLOCK: opening for reading does not wait for a writer.
      int fd = ::open(opt.control_fifo.c_str(), O_RDONLY | O_NONBLOCK);
      if (fd < 0)
        std::fprintf(stderr, "txengine-devbroker: open %s: %s\n", opt.control_fifo.c_str(), std::strerror(errno));
      else
        threads.emplace_back([&, fd] { control_loop(b, fd, stop, opt.control_fifo); });
    }
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGUSR1) {
      reply(b.set_all(false));
    } else if (sig == SIGUSR2) {
      reply(b.set_all(true));
    } else {
      break;
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  if (!opt.bootstrap_file.empty()) std::remove(opt.bootstrap_file.c_str());
  reply("stopped");
  return exit_ok;
}
