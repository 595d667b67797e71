// txbench: load generator for a txengine server. N connections, closed loop with a window of
// pipelined requests per connection, a chosen mix; a progress line a second, a final table
// (throughput, p50/p95/p99/max), optional CSV of latencies and a log of every acknowledged
// request (so a later check can verify that nothing acknowledged was lost). With --tls-ca every
// connection is TLS 1.3 (a protocol/tls session per connection in the same epoll loop).
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "apps/client_cli.hpp"
#include "protocol/client.hpp"

using namespace txengine;
using namespace txengine::wire;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  client_options server;
  //! --servers: the nodes of a cluster (HOST:PORT each). Wallets are created through each in
  //! turn (so they are spread over the nodes' partitions), connection i goes to server i mod N,
  //! and a connection that breaks reconnects to the next server that answers and resends what it
  //! had in flight, same request ids.
  std::vector<std::pair<std::string, uint16_t>> servers;
  uint32_t connections = 16;
  double duration_s = 10;
  std::string mix = "transfer";
  uint32_t window = 256;
  uint32_t wallets = 1000;
  bool json = false;
  std::string csv;
  std::string ack_log;
  std::string unanswered_log;
  std::string replay;
  //! `unavailable` (storage down or behind, recovery running) is retried with the same request
  //! id after this long; 0 turns retries off (the reply counts as an error).
  uint32_t retry_unavailable_ms = 50;
  //! Retries of one request at most, past which it counts as an error.
  uint32_t retries_max = 200;
  //! After the load, how long the answers still outstanding are waited for.
  double drain_s = 30;
};

void add_options(CLI::App& app, options& o) {
  cli::add_client_options(app, o.server);
  app.add_option_function<std::vector<std::string>>(
         "--servers",
         [&o](const std::vector<std::string>& list) {
           for (const auto& text : list) {
             std::pair<std::string, uint16_t> address;
             wire::parse_address(text, address.first, address.second);
             o.servers.push_back(address);
           }
         },
         "the nodes of a cluster, HOST:PORT,HOST:PORT,...: wallets made through each, connections spread over "
         "them, and a broken connection moves to the next node with what it had in flight (instead of --server)")
      ->delimiter(',')
      ->type_name("HOST:PORT,...")
      ->check(cli::server_address())
      ->excludes("--server");
  cli::add_number(app, "--connections", o.connections, "connections to the server", 1);
  cli::add_real(app, "--duration", o.duration_s, "seconds of load", 0.1);
  cli::add_choice(app, "--mix", o.mix,
                  "transfer (user to user), pay_hot (every payment to one merchant), mixed (70% transfer, 20% pay to "
                  "10 merchants, 10% wallet queries), with_top_ups (60% transfer, 20% pay to 10 merchants, 20% "
                  "top-ups through channel 1)",
                  {"transfer", "pay_hot", "mixed", "with_top_ups"});
  cli::add_number(app, "--window", o.window, "requests in flight per connection (closed loop)", 1);
  cli::add_number(app, "--wallets", o.wallets, "user wallets created and funded before the run", 2);
  app.add_flag("--json", o.json, "the result as one JSON object");
  app.add_option("--csv", o.csv, "one line per acknowledged request: latency_us,code")->type_name("FILE");
  app.add_option("--ack-log", o.ack_log,
                 "one line per order answered with a final state: request_id order_id amount state (5 succeeded, "
                 "6 failed)")
      ->type_name("FILE");
  app.add_option("--unanswered-log", o.unanswered_log,
                 "the order commands still unanswered at the end (connection lost, drain timeout): request_id kind "
                 "source destination amount")
      ->type_name("FILE");
  app.add_option("--replay", o.replay,
                 "first resend the commands of an --unanswered-log, same request ids (after a crash: each must get "
                 "its original order, never a second one)")
      ->type_name("FILE");
  cli::add_number(app, "--retry-unavailable", o.retry_unavailable_ms,
                  "resend a request answered `unavailable` after this many ms (0: count it as an error)");
  cli::add_real(app, "--drain-s", o.drain_s, "after the load, wait this long (seconds) for outstanding answers", 0);
}

//! The client options of server `i` (mod the --servers list; --server when there is no list).
client_options server_at(const options& o, size_t i) {
  client_options c = o.server;
  if (!o.servers.empty()) {
    c.host = o.servers[i % o.servers.size()].first;
    c.port = o.servers[i % o.servers.size()].second;
  }
  return c;
}

size_t server_count(const options& o) { return o.servers.empty() ? 1 : o.servers.size(); }

struct setup_result {
  std::vector<uint64_t> users, merchants;
  std::string currency = "USD";
};

bool retryable_code(ResultCode code) {
  return code == OVERLOADED || code == WALLET_BUSY || code == UNAVAILABLE || code == CHANNEL_BUSY;
}

//! Sends every request, waits for the replies, resends (same request id) those answered with a
//! retryable code until `deadline`. `answers[i]` is the final reply of request i (code OK or a
//! business refusal), absent when the deadline passed or the connection was lost.
bool call_all(client& c, const std::vector<Request>& requests, std::chrono::steady_clock::time_point deadline,
              std::vector<std::optional<Reply>>& answers, std::string& error) {
  answers.assign(requests.size(), std::nullopt);
  std::vector<size_t> pending(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) pending[i] = i;
  auto backoff = std::chrono::milliseconds(20);
  while (!pending.empty()) {
    std::vector<std::promise<std::optional<Reply>>> done(pending.size());
    for (size_t k = 0; k < pending.size(); ++k) {
      auto* p = &done[k];
      if (!c.call_async(requests[pending[k]], [p](const Reply* reply) {
            p->set_value(reply ? std::optional<Reply>(*reply) : std::nullopt);
          })) {
        c.close();
        error = "connection lost";
        return false;
      }
    }
    std::vector<size_t> again;
    for (size_t k = 0; k < pending.size(); ++k) {
      auto f = done[k].get_future();
      if (f.wait_until(deadline) != std::future_status::ready) {
        c.close();  // answers the pending callbacks while their promises still exist
        error = "no reply before the setup deadline";
        return false;
      }
      auto reply = f.get();
      if (!reply) {
        error = "connection lost";
        return false;
      }
      if (retryable_code(reply->code())) again.push_back(pending[k]);
      else answers[pending[k]] = std::move(reply);
    }
    pending.swap(again);
    if (!pending.empty()) {
      if (std::chrono::steady_clock::now() + backoff >= deadline) {
        error = std::to_string(pending.size()) + " requests still refused as retryable at the setup deadline";
        return false;
      }
      // The server said "later" (storage behind, recovery running): back off before resending.
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
  return true;
}

bool setup(const options& o, setup_result& s, std::string& error) {
  // Bounded: a server that stops answering fails the setup instead of hanging txbench.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<std::optional<Reply>> answers;
  // Wallets are made through each server in turn: a cluster node creates them in its partitions.
  auto create = [&](WalletKind kind, std::vector<uint64_t>& out, size_t n) {
    for (size_t k = 0; k < server_count(o); ++k) {
      size_t share = n / server_count(o) + (k < n % server_count(o) ? 1 : 0);
      if (share == 0) continue;
      client via(server_at(o, k));
      if (!via.connect(error)) return false;
      std::vector<Request> requests(share);
      for (auto& r : requests) {
        r.mutable_create_wallet()->set_kind(kind);
        r.mutable_create_wallet()->set_currency(s.currency);
      }
      if (!call_all(via, requests, deadline, answers, error)) return false;
      for (auto& a : answers) {
        if (!a || a->code() != OK) {
          error = "creating wallets failed: " + std::string(a ? code_name(a->code()) : "no reply");
          return false;
        }
        out.push_back(a->wallet().wallet());
      }
    }
    return true;
  };
  if (!create(WALLET_KIND_USER, s.users, o.wallets) || !create(WALLET_KIND_MERCHANT, s.merchants, 10)) return false;
  client c(server_at(o, 0));
  if (!c.connect(error)) return false;
  std::string run = std::to_string(now_ms());
  std::vector<Request> top_ups(s.users.size());
  for (size_t i = 0; i < s.users.size(); ++i) {
    auto* t = top_ups[i].mutable_top_up();
    t->set_request_id("txbench-fund-" + run + "-" + std::to_string(i));
    t->set_wallet(s.users[i]);
    t->set_amount(100'000'000'00);
    t->set_currency(s.currency);
    t->set_channel(1);
  }
  if (!call_all(c, top_ups, deadline, answers, error)) return false;
  size_t bad = 0;
  for (auto& a : answers) bad += a && a->code() == OK ? 0 : 1;
  if (bad) {
    error = std::to_string(bad) + " top-ups failed (channel 1 must be a well-behaved provider)";
    return false;
  }
  return true;
}

//! One order command txbench sent, enough to send it again with the same request id.
struct command {
  std::string request_id;  //!< empty: a wallet query (no request id)
  char kind = 't';         //!< t transfer, p pay, u top-up (channel 1), q wallet query
  uint64_t source = 0, destination = 0;
  int64_t amount = 0;
};

void build_request(const command& cmd, const std::string& currency, Request& r) {
  r.Clear();
  if (cmd.kind == 't') {
    auto* t = r.mutable_transfer();
    t->set_request_id(cmd.request_id), t->set_from(cmd.source), t->set_to(cmd.destination);
    t->set_amount(cmd.amount), t->set_currency(currency);
  } else if (cmd.kind == 'u') {
    auto* t = r.mutable_top_up();
    t->set_request_id(cmd.request_id), t->set_wallet(cmd.source), t->set_amount(cmd.amount);
    t->set_currency(currency), t->set_channel(1);
  } else if (cmd.kind == 'p') {
    auto* p = r.mutable_pay();
    p->set_request_id(cmd.request_id), p->set_payer(cmd.source), p->set_merchant(cmd.destination);
    p->set_amount(cmd.amount), p->set_currency(currency);
  } else {
    r.mutable_get_wallet()->set_wallet(cmd.source);
  }
}

//! Lines of an --unanswered-log: "request_id kind source destination amount".
bool read_commands(const std::string& path, std::vector<command>& out, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    error = "cannot read " + path;
    return false;
  }
  char id[256], kind[8];
  unsigned long long source = 0, destination = 0;
  long long amount = 0;
  int line = 0;
  for (;;) {
    int n = std::fscanf(f, "%255s %7s %llu %llu %lld", id, kind, &source, &destination, &amount);
    if (n == EOF) break;
    ++line;
    if (n != 5 || (kind[0] != 't' && kind[0] != 'p' && kind[0] != 'u') || amount <= 0) {
      error = path + ":" + std::to_string(line) + ": expected 'request_id t|p|u source destination amount'";
      std::fclose(f);
      return false;
    }
    out.push_back(command{id, kind[0], source, destination, amount});
  }
  std::fclose(f);
  return true;
}

struct connection {
  int fd = -1;
  frame_splitter splitter{64 << 20};
  std::unique_ptr<tls_session> tls;  //!< with --tls-ca
  std::string plain;                 //!< with TLS: frames not yet encrypted into `out`
  std::string out;
  size_t out_pos = 0;
  uint64_t next_correlation = random_correlation_start();
  struct sent {
    int64_t start_ns;   //!< first send (latency counts retries)
    uint64_t seq;       //!< request id = run prefix + seq (no string per request in flight)
    int64_t replay = -1;  //!< else: index of a replayed command (its own request id)
    char kind = 't';
    uint64_t source = 0, destination = 0;
    int64_t amount = 0;
    uint32_t retries = 0;
  };
  std::unordered_map<uint64_t, sent> outstanding;
  //! Requests answered `unavailable`, resent at their due time (steady clock, ns).
  std::deque<std::pair<int64_t, sent>> retry_queue;
  bool want_write = false;
  size_t server = 0;  //!< index into --servers
  //! --servers: what was in flight when the connection broke, resent once it reconnects.
  std::vector<sent> parked;
};

int connect_socket(const client_options& o, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &found); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[i];
}

//! What a run counted, for the report.
struct totals {
  uint64_t acknowledged = 0, errors = 0, sent = 0, lost = 0, retried = 0, reconnects = 0;
  std::unordered_map<std::string, uint64_t> errors_by_code;
  std::vector<uint32_t> latencies;  //!< of acknowledged requests (and of errors with --csv)
  std::vector<uint16_t> codes;      //!< with --csv: the code of each latency
  double elapsed_s = 0;
};

//! The closed loop: `o.connections` non-blocking connections on one epoll, `o.window` requests
//! in flight on each, for `o.duration_s`, then a drain of the answers still outstanding.
class load_run {
 public:
  load_run(const options& o, const setup_result& s) : o_(o), s_(s) {}
  ~load_run() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
    close_logs();
  }

  //! Opens the logs, reads the replay file and connects; false with `error` (and its exit code).
  bool open(std::string& error, int& exit_code) {
    exit_code = 2;
    if (!o_.ack_log.empty() && !(ack_ = std::fopen(o_.ack_log.c_str(), "w"))) return fail(error, "cannot write " + o_.ack_log);
    if (!o_.unanswered_log.empty() && !(unanswered_log_ = std::fopen(o_.unanswered_log.c_str(), "w")))
      return fail(error, "cannot write " + o_.unanswered_log);
    if (!o_.replay.empty() && !read_commands(o_.replay, replay_, error)) return false;
    std::shared_ptr<tls_context> tls;
    if (o_.server.tls_enabled() && !(tls = tls_context::client(o_.server.tls, error))) return false;
    exit_code = 3;
    ep_ = epoll_create1(0);
    conns_.resize(o_.connections);
    tls_ = tls;
    for (uint32_t i = 0; i < o_.connections; ++i) {
      conns_[i].server = i % server_count(o_);
      if (!attach(conns_[i], i, error)) return fail(error, "cannot connect: " + error);
    }
    t_.latencies.reserve(1 << 22);
    if (!o_.csv.empty()) t_.codes.reserve(1 << 22);
    return true;
  }

  //! Connects `c` to its server (with TLS: the handshake) and adds it to the epoll set.
  bool attach(connection& c, uint32_t index, std::string& error) {
    client_options server = server_at(o_, c.server);
    c.fd = connect_socket(server, error);
    if (c.fd < 0) return false;
    if (tls_) {
      c.tls = std::make_unique<tls_session>(tls_, server.tls_peer_name());
      std::string early;
      if (!tls_handshake(c.fd, *c.tls, server.timeout, early, error)) {
        ::close(c.fd);
        c.fd = -1;
        return false;
      }
      c.splitter.feed(early.data(), early.size());
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = index;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  //! --servers: a broken connection keeps what it had in flight and moves to the next server
  //! that answers (each tried once per call); the parked requests go out again, same request ids.
  void reconnect(connection& c, uint32_t index) {
    for (size_t k = 1; k <= server_count(o_); ++k) {
      c.server = (c.server + 1) % server_count(o_);
      std::string error;
      if (!attach(c, index, error)) continue;
      ++t_.reconnects;
      for (const auto& x : c.parked) transmit(c, x);
      c.parked.clear();
      if (sending_) fill(c);
      flush(c, index);
      return;
    }
  }

  totals run() {
    auto start = clock_type::now();
    end_ = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o_.duration_s));
    auto drain_deadline = end_ + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o_.drain_s));
    next_progress_ = start + std::chrono::seconds(1);
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      fill(conns_[i]);
      flush(conns_[i], i);
    }
    std::vector<epoll_event> events(conns_.size());
    open_ = conns_.size();
    for (;;) {
      auto now = clock_type::now();
      if (sending_ && now >= end_) sending_ = false;
      size_t outstanding = send_retries();
      if (!o_.servers.empty())
        for (uint32_t i = 0; i < conns_.size(); ++i)
          if (conns_[i].fd < 0 && (!conns_[i].parked.empty() || sending_)) reconnect(conns_[i], i);
      if (open_ == 0) break;  // every connection is gone (the server went away): nothing more can come
      if (!sending_ && (outstanding == 0 || now >= drain_deadline)) break;
      progress(now, start);
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
      for (int e = 0; e < n; ++e) on_event(events[e]);
    }
    t_.elapsed_s = std::chrono::duration<double>(clock_type::now() - start).count();
    for (auto& c : conns_) {
      t_.lost += c.fd >= 0 ? in_flight(c) : c.parked.size();
      if (c.fd >= 0 || !c.parked.empty()) close_connection(c);
    }
    close_logs();
    std::fprintf(stderr, "\n");
    return std::move(t_);
  }

 private:
  void close_logs() {
    if (ack_) std::fclose(ack_);
    if (unanswered_log_) std::fclose(unanswered_log_);
    ack_ = unanswered_log_ = nullptr;
  }
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }
  static int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
  }
  static size_t in_flight(const connection& c) { return c.outstanding.size() + c.retry_queue.size(); }

  const std::string& request_id_of(const connection::sent& x) {
    if (x.replay >= 0) return replay_[static_cast<size_t>(x.replay)].request_id;
    id_scratch_.assign(run_);
    id_scratch_ += std::to_string(x.seq);
    return id_scratch_;
  }

  void transmit(connection& c, const connection::sent& x) {
    command cmd;
    cmd.kind = x.kind, cmd.source = x.source, cmd.destination = x.destination, cmd.amount = x.amount;
    if (x.kind != 'q') cmd.request_id = request_id_of(x);
    build_request(cmd, s_.currency, request_);
    uint64_t corr = c.next_correlation++;
    append_envelope_frame(
        c.tls ? c.plain : c.out, make_request(corr, request_, o_.server.key_id, o_.server.secret, now_ms(), o_.server.deployment_id));
    c.outstanding.emplace(corr, x);
  }

  //! The next command of the mix (or of the replay file, first).
  connection::sent next_command() {
    connection::sent x{};
    x.start_ns = steady_ns();
    if (replay_next_ < replay_.size()) {
      // The commands a crash left unanswered go first, with their own request ids.
      const command& cmd = replay_[replay_next_];
      x.replay = static_cast<int64_t>(replay_next_++);
      x.kind = cmd.kind, x.source = cmd.source, x.destination = cmd.destination, x.amount = cmd.amount;
      return x;
    }
    x.seq = seq_++;
    x.amount = 1 + static_cast<int64_t>(rng_() % 100);
    uint64_t pick = rng_() % 100;
    auto user = [&] { return s_.users[rng_() % s_.users.size()]; };
    const std::string& mix = o_.mix;
    if (mix == "transfer" || (mix == "mixed" && pick < 70) || (mix == "with_top_ups" && pick < 60)) {
      x.kind = 't';
      x.source = user();
      x.destination = user();
      while (x.destination == x.source) x.destination = user();
    } else if (mix == "with_top_ups" && pick >= 80) {
      // Through the provider: the order waits for its intent's commit and for the channel, so
      // a crash finds some of them mid-way (recovery queries the provider).
      x.kind = 'u';
      x.source = user();
    } else if (mix == "pay_hot" || mix == "with_top_ups" || pick < 90) {
      x.kind = 'p';
      x.source = user();
      x.destination = mix == "pay_hot" ? s_.merchants[0] : s_.merchants[rng_() % s_.merchants.size()];
    } else {
      x.kind = 'q';
      x.source = user();
      x.amount = 0;
    }
    return x;
  }

  void fill(connection& c) {
    while (in_flight(c) < o_.window) {
      transmit(c, next_command());
      ++t_.sent;
    }
  }

  //! Resends the retries that are due; the requests still outstanding on open connections.
  size_t send_retries() {
    size_t outstanding = 0;
    for (auto& c : conns_) outstanding += c.fd >= 0 ? in_flight(c) : c.parked.size();
    int64_t now = steady_ns();
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      if (c.fd < 0 || c.retry_queue.empty()) continue;
      while (!c.retry_queue.empty() && c.retry_queue.front().first <= now) {
        transmit(c, c.retry_queue.front().second);
        c.retry_queue.pop_front();
      }
      flush(c, i);  // an error shows again on the next read, where the connection is closed
    }
    return outstanding;
  }

  bool flush(connection& c, uint32_t index) {
    if (c.tls && !c.plain.empty()) {
      if (!c.tls->write(c.plain.data(), c.plain.size())) return false;
      c.plain.clear();
      c.tls->drain(c.out);
    }
    while (c.out_pos < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return false;
      }
      c.out_pos += static_cast<size_t>(n);
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    bool want = c.out_pos < c.out.size();
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
      ev.data.u32 = index;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
    return true;
  }

  void progress(clock_type::time_point now, clock_type::time_point start) {
    if (now < next_progress_) return;
    double t = std::chrono::duration<double>(now - start).count();
    uint64_t answered = t_.acknowledged + t_.errors;
    std::fprintf(stderr, "\r[%5.1fs] acknowledged %" PRIu64 "  errors %" PRIu64 "  %.0f ops/s (last second %" PRIu64 ")   ",
                 t, t_.acknowledged, t_.errors, static_cast<double>(answered) / t, answered - last_answered_);
    last_answered_ = answered;
    next_progress_ += std::chrono::seconds(1);
  }

  //! Reads what the socket has; false when the connection is gone.
  bool receive(connection& c) {
    for (;;) {
      ssize_t got = ::recv(c.fd, buf_.data(), buf_.size(), 0);
      if (got > 0) {
        if (!c.tls) {
          c.splitter.feed(buf_.data(), static_cast<size_t>(got));
        } else {
          plain_in_.clear();
          bool ok = c.tls->feed(buf_.data(), static_cast<size_t>(got), plain_in_);
          c.splitter.feed(plain_in_.data(), plain_in_.size());
          if (!ok) {
            if (tls_errors_++ == 0) std::fprintf(stderr, "\ntxbench: %s\n", c.tls->error().c_str());
            return false;
          }
        }
        if (static_cast<size_t>(got) < buf_.size()) return true;
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
  }

  void on_reply(connection& c, const Reply& reply, uint64_t corr, int64_t now_ns) {
    auto it = c.outstanding.find(corr);
    if (it == c.outstanding.end()) return;
    if (reply.code() == UNAVAILABLE && o_.retry_unavailable_ms > 0 && it->second.retries < o_.retries_max) {
      // Retryable and nothing changed: the same request id again after a pause.
      ++it->second.retries;
      ++t_.retried;
      c.retry_queue.emplace_back(now_ns + int64_t(o_.retry_unavailable_ms) * 1'000'000, it->second);
      c.outstanding.erase(it);
      return;
    }
    uint32_t us = static_cast<uint32_t>(std::min<int64_t>((now_ns - it->second.start_ns) / 1000, UINT32_MAX));
    if (reply.code() == OK) {
      ++t_.acknowledged;
      t_.latencies.push_back(us);
    } else {
      ++t_.errors;
      ++t_.errors_by_code[code_name(reply.code())];
    }
    if (ack_ && reply.has_order() && reply.order().order_id() != 0 &&
        (reply.order().state() == ORDER_STATE_SUCCEEDED || reply.order().state() == ORDER_STATE_FAILED))
      std::fprintf(ack_, "%s %" PRIu64 " %" PRId64 " %d\n", request_id_of(it->second).c_str(), reply.order().order_id(),
                   it->second.amount, static_cast<int>(reply.order().state()));
    if (!o_.csv.empty()) t_.codes.push_back(static_cast<uint16_t>(reply.code()));
    if (!o_.csv.empty() && reply.code() != OK) t_.latencies.push_back(us);
    c.outstanding.erase(it);
  }

  void on_event(const epoll_event& event) {
    uint32_t index = event.data.u32;
    auto& c = conns_[index];
    if (c.fd < 0) return;
    bool dead = false;
    if (event.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      dead = !receive(c);
      std::string_view payload;
      int64_t now_ns = steady_ns();
      while (c.splitter.next(payload) == frame_splitter::status::frame) {
        // One envelope reused for every reply: protobuf keeps its sub-messages allocated.
        if (!envelope_.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
            envelope_.content_case() != Envelope::kReply)
          continue;
        on_reply(c, envelope_.reply(), envelope_.correlation_id(), now_ns);
      }
      if (sending_) fill(c);
    }
    if (!dead && !flush(c, index)) dead = true;
    if (dead) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      if (!o_.servers.empty()) {
        // A cluster: the node went away; what was in flight goes to another node.
        for (auto& [corr, x] : c.outstanding) c.parked.push_back(x);
        for (auto& [due, x] : c.retry_queue) c.parked.push_back(x);
        c.outstanding.clear();
        c.retry_queue.clear();
        ::close(c.fd);
        c.fd = -1;
        c.tls.reset();
        c.splitter = frame_splitter{64 << 20};
        c.out.clear();
        c.plain.clear();
        c.out_pos = 0;
        c.want_write = false;
        reconnect(c, index);
        return;
      }
      t_.lost += in_flight(c);
      close_connection(c);
      --open_;
    }
  }

  //! Order commands whose outcome is unknown (the server went away): a later run can --replay them.
  void close_connection(connection& c) {
    auto write = [&](const connection::sent& x) {
      if (unanswered_log_ && x.kind != 'q')
        std::fprintf(unanswered_log_, "%s %c %" PRIu64 " %" PRIu64 " %" PRId64 "\n", request_id_of(x).c_str(), x.kind,
                     x.source, x.destination, x.amount);
    };
    for (const auto& [corr, x] : c.outstanding) write(x);
    for (const auto& [due, x] : c.retry_queue) write(x);
    for (const auto& x : c.parked) write(x);
    c.outstanding.clear();
    c.retry_queue.clear();
    c.parked.clear();
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }

  const options& o_;
  const setup_result& s_;
  int ep_ = -1;
  std::shared_ptr<tls_context> tls_;
  std::vector<connection> conns_;
  size_t open_ = 0;
  FILE* ack_ = nullptr;
  FILE* unanswered_log_ = nullptr;
  std::vector<command> replay_;
  size_t replay_next_ = 0;
  std::mt19937_64 rng_{static_cast<uint64_t>(now_ms())};
  std::string run_ = "txbench-" + std::to_string(now_ms()) + "-";
  uint64_t seq_ = 0;
  std::string id_scratch_;
  Request request_;
  Envelope envelope_;
  std::vector<char> buf_ = std::vector<char>(256 * 1024);
  std::string plain_in_;  //!< with TLS: what one read decrypted
  uint64_t tls_errors_ = 0;
  bool sending_ = true;
  clock_type::time_point end_, next_progress_;
  uint64_t last_answered_ = 0;
  totals t_;
};

void write_csv(const std::string& path, const totals& t) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return;
  std::fprintf(f, "latency_us,code\n");
  for (size_t i = 0; i < t.latencies.size() && i < t.codes.size(); ++i)
    std::fprintf(f, "%u,%u\n", t.latencies[i], t.codes[i]);
  std::fclose(f);
}

void print_report(const options& o, const totals& t) {
  std::vector<uint32_t> sorted = t.latencies;
  std::sort(sorted.begin(), sorted.end());
  double ops = static_cast<double>(t.acknowledged + t.errors) / t.elapsed_s;
  double p50 = percentile(sorted, 50), p95 = percentile(sorted, 95), p99 = percentile(sorted, 99);
  double max = sorted.empty() ? 0 : sorted.back();
  uint64_t errors = t.errors + t.lost;
  if (o.json) {
    std::string by_code;
    for (const auto& [name, count] : t.errors_by_code)
      by_code += (by_code.empty() ? "\"" : ",\"") + name + "\":" + std::to_string(count);
    std::printf("{\"mix\":\"%s\",\"connections\":%u,\"window\":%u,\"duration_s\":%.2f,\"ops_per_s\":%.0f,"
                "\"p50_us\":%.0f,\"p95_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"errors\":%" PRIu64
                ",\"acknowledged\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"unanswered\":%" PRIu64
                ",\"retried_unavailable\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"errors_by_code\":{%s}}\n",
                o.mix.c_str(), o.connections, o.window, t.elapsed_s, ops, p50, p95, p99, max, errors, t.acknowledged,
                t.sent, t.lost, t.retried, t.reconnects, by_code.c_str());
    return;
  }
  std::printf("txbench: mix %s, %u connections, window %u, %.1f s\n", o.mix.c_str(), o.connections, o.window,
              t.elapsed_s);
  std::printf("%12s %12s %8s %12s %9s %9s %9s %9s\n", "sent", "acknowledged", "errors", "ops/s", "p50 us", "p95 us",
              "p99 us", "max us");
  std::printf("%12" PRIu64 " %12" PRIu64 " %8" PRIu64 " %12.0f %9.0f %9.0f %9.0f %9.0f\n", t.sent, t.acknowledged,
              errors, ops, p50, p95, p99, max);
  for (const auto& [name, count] : t.errors_by_code) std::printf("  error %-24s %" PRIu64 "\n", name.c_str(), count);
  if (t.lost) std::printf("  unanswered (connection lost or drain timeout): %" PRIu64 "\n", t.lost);
  if (t.retried) std::printf("  resent after `unavailable`: %" PRIu64 "\n", t.retried);
  if (t.reconnects) std::printf("  reconnected to another node (--servers): %" PRIu64 "\n", t.reconnects);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"txbench: load generator for a txengine server (closed loop, pipelined requests)", "txbench"};
  options o;
  add_options(app, o);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  setup_result s;
  std::string error;
  std::fprintf(stderr, "txbench: creating and funding %u wallets on %s:%u%s ...\n", o.wallets,
               server_at(o, 0).host.c_str(), static_cast<unsigned>(server_at(o, 0).port),
               o.servers.size() > 1 ? " and the other --servers" : "");
  if (!setup(o, s, error)) {
    std::fprintf(stderr, "txbench: setup failed: %s\n", error.c_str());
    return 3;
  }
  load_run load(o, s);
  int exit_code = 0;
  if (!load.open(error, exit_code)) {
    std::fprintf(stderr, "txbench: %s\n", error.c_str());
    return exit_code;
  }
  totals t = load.run();
  if (!o.csv.empty()) write_csv(o.csv, t);
  print_report(o, t);
  return t.lost ? 3 : 0;
}
