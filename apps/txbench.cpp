// txbench: load generator for a txengine server. N connections, closed loop with a window of
// pipelined requests per connection, a chosen mix; a progress line a second, a final table
// (throughput, p50/p95/p99/max), optional CSV of latencies and a log of every acknowledged
// request (so a later check can verify that nothing acknowledged was lost).
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
#include <optional>
#include <thread>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/client.hpp"

using namespace txengine;
using namespace txengine::wire;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  client_options server;
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

void usage(FILE* out) {
  std::fprintf(out,
               "usage: txbench [--server HOST:PORT] [--connections N] [--duration SECONDS]\n"
               "               [--mix transfer|pay_hot|mixed] [--window N] [--wallets N] [--json]\n"
               "               [--csv FILE] [--ack-log FILE] [--unanswered-log FILE] [--replay FILE]\n"
               "               [--retry-unavailable MS] [--drain-s SECONDS] [--key-id ID --secret S]\n"
               "  --window N    requests in flight per connection (closed loop; default 256)\n"
               "  --wallets N   user wallets created and funded before the run (default 1000)\n"
               "  --csv FILE    one line per acknowledged request: latency_us,code\n"
               "  --ack-log FILE  one line per order answered with a final state:\n"
               "                  request_id order_id amount state (5 succeeded, 6 failed)\n"
               "  --unanswered-log FILE  the order commands still unanswered at the end (connection\n"
               "                  lost, drain timeout): request_id kind source destination amount\n"
               "  --replay FILE   first resend the commands of an --unanswered-log, same request ids\n"
               "                  (after a crash: each must get its original order, never a second one)\n"
               "  --drain-s SECONDS  after the load, wait this long for outstanding answers (default 30)\n"
               "  --retry-unavailable MS  resend a request answered `unavailable` after MS (default 50;\n"
               "                  0: count it as an error)\n"
               "mixes: transfer (user to user), pay_hot (every payment to one merchant),\n"
               "       mixed (70%% transfer, 20%% pay to 10 merchants, 10%% wallet queries),\n"
               "       with_top_ups (60%% transfer, 20%% pay to 10 merchants, 20%% top-ups through channel 1)\n");
}

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
  client c(o.server);
  if (!c.connect(error)) return false;
  std::vector<std::optional<Reply>> answers;
  auto create = [&](WalletKind kind, std::vector<uint64_t>& out, size_t n) {
    std::vector<Request> requests(n);
    for (auto& r : requests) {
      r.mutable_create_wallet()->set_kind(kind);
      r.mutable_create_wallet()->set_currency(s.currency);
    }
    if (!call_all(c, requests, deadline, answers, error)) return false;
    for (auto& a : answers) {
      if (!a || a->code() != OK) {
        error = "creating wallets failed: " + std::string(a ? code_name(a->code()) : "no reply");
        return false;
      }
      out.push_back(a->wallet().wallet());
    }
    return true;
  };
  if (!create(WALLET_KIND_USER, s.users, o.wallets) || !create(WALLET_KIND_MERCHANT, s.merchants, 10)) return false;
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

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "txbench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--server") {
      if (!parse_address(value(), o.server.host, o.server.port)) {
        std::fprintf(stderr, "txbench: --server expects HOST:PORT\n");
        return 2;
      }
    } else if (a == "--connections") o.connections = std::max(1, std::atoi(value().c_str()));
    else if (a == "--duration") o.duration_s = std::max(0.1, std::atof(value().c_str()));
    else if (a == "--mix") o.mix = value();
    else if (a == "--window") o.window = std::max(1, std::atoi(value().c_str()));
    else if (a == "--wallets") o.wallets = std::max(2, std::atoi(value().c_str()));
    else if (a == "--json") o.json = true;
    else if (a == "--csv") o.csv = value();
    else if (a == "--ack-log") o.ack_log = value();
    else if (a == "--unanswered-log") o.unanswered_log = value();
    else if (a == "--replay") o.replay = value();
    else if (a == "--drain-s") o.drain_s = std::max(0.0, std::atof(value().c_str()));
    else if (a == "--retry-unavailable") o.retry_unavailable_ms = static_cast<uint32_t>(std::max(0, std::atoi(value().c_str())));
    else if (a == "--key-id") o.server.key_id = value();
    else if (a == "--secret") o.server.secret = value();
    else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "txbench: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (o.mix != "transfer" && o.mix != "pay_hot" && o.mix != "mixed" && o.mix != "with_top_ups") {
    std::fprintf(stderr, "txbench: --mix must be transfer, pay_hot, mixed or with_top_ups\n");
    return 2;
  }
  setup_result s;
  std::string error;
  std::fprintf(stderr, "txbench: creating and funding %u wallets on %s:%u ...\n", o.wallets, o.server.host.c_str(),
               static_cast<unsigned>(o.server.port));
  if (!setup(o, s, error)) {
    std::fprintf(stderr, "txbench: setup failed: %s\n", error.c_str());
    return 3;
  }

  int ep = epoll_create1(0);
  std::vector<connection> conns(o.connections);
  for (uint32_t i = 0; i < o.connections; ++i) {
    conns[i].fd = connect_socket(o.server, error);
    if (conns[i].fd < 0) {
      std::fprintf(stderr, "txbench: cannot connect: %s\n", error.c_str());
      return 3;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }

  std::mt19937_64 rng(now_ms());
  std::string run = "txbench-" + std::to_string(now_ms()) + "-";
  uint64_t seq = 0;
  std::vector<uint32_t> latencies;
  latencies.reserve(1 << 22);
  std::vector<uint16_t> codes;
  if (!o.csv.empty()) codes.reserve(1 << 22);
  FILE* ack = o.ack_log.empty() ? nullptr : std::fopen(o.ack_log.c_str(), "w");
  if (!o.ack_log.empty() && !ack) {
    std::fprintf(stderr, "txbench: cannot write %s\n", o.ack_log.c_str());
    return 2;
  }
  uint64_t acknowledged = 0, errors = 0, sent = 0, lost = 0;
  std::unordered_map<std::string, uint64_t> errors_by_code;

  std::vector<command> replay;
  if (!o.replay.empty() && !read_commands(o.replay, replay, error)) {
    std::fprintf(stderr, "txbench: %s\n", error.c_str());
    return 2;
  }
  size_t replay_next = 0;
  uint64_t retried = 0;

  std::string id_scratch;
  Request r;
  auto steady_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
  };
  auto request_id_of = [&](const connection::sent& x) -> const std::string& {
    if (x.replay >= 0) return replay[static_cast<size_t>(x.replay)].request_id;
    id_scratch.assign(run);
    id_scratch += std::to_string(x.seq);
    return id_scratch;
  };
  auto transmit = [&](connection& c, const connection::sent& x) {
    command cmd;
    cmd.kind = x.kind, cmd.source = x.source, cmd.destination = x.destination, cmd.amount = x.amount;
    if (x.kind != 'q') cmd.request_id = request_id_of(x);
    build_request(cmd, s.currency, r);
    uint64_t corr = c.next_correlation++;
    append_envelope_frame(c.out,
                          make_request(corr, r, o.server.key_id, o.server.secret, now_ms(), o.server.deployment_id));
    c.outstanding.emplace(corr, x);
  };
  auto make = [&](connection& c) {
    connection::sent x{};
    x.start_ns = steady_ns();
    if (replay_next < replay.size()) {
      // The commands a crash left unanswered go first, with their own request ids.
      const command& cmd = replay[replay_next];
      x.replay = static_cast<int64_t>(replay_next++);
      x.kind = cmd.kind, x.source = cmd.source, x.destination = cmd.destination, x.amount = cmd.amount;
    } else {
      x.seq = seq++;
      x.amount = 1 + static_cast<int64_t>(rng() % 100);
      uint64_t pick = rng() % 100;
      auto user = [&] { return s.users[rng() % s.users.size()]; };
      if (o.mix == "transfer" || (o.mix == "mixed" && pick < 70) || (o.mix == "with_top_ups" && pick < 60)) {
        x.kind = 't';
        x.source = user();
        x.destination = user();
        while (x.destination == x.source) x.destination = user();
      } else if (o.mix == "with_top_ups" && pick >= 80) {
        // Through the provider: the order waits for its intent's commit and for the channel, so
        // a crash finds some of them mid-way (recovery queries the provider).
        x.kind = 'u';
        x.source = user();
      } else if (o.mix == "pay_hot" || o.mix == "with_top_ups" || pick < 90) {
        x.kind = 'p';
        x.source = user();
        x.destination = o.mix == "pay_hot" ? s.merchants[0] : s.merchants[rng() % s.merchants.size()];
      } else {
        x.kind = 'q';
        x.source = user();
        x.amount = 0;
      }
    }
    transmit(c, x);
    ++sent;
  };
  auto in_flight = [](const connection& c) { return c.outstanding.size() + c.retry_queue.size(); };
  auto send_due_retries = [&](connection& c) {
    int64_t now = steady_ns();
    while (!c.retry_queue.empty() && c.retry_queue.front().first <= now) {
      transmit(c, c.retry_queue.front().second);
      c.retry_queue.pop_front();
    }
  };

  auto flush = [&](connection& c, uint32_t index) -> bool {
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
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
    return true;
  };

  FILE* unanswered_log = o.unanswered_log.empty() ? nullptr : std::fopen(o.unanswered_log.c_str(), "w");
  if (!o.unanswered_log.empty() && !unanswered_log) {
    std::fprintf(stderr, "txbench: cannot write %s\n", o.unanswered_log.c_str());
    return 2;
  }
  // Order commands whose outcome is unknown (the server went away): a later run can --replay them.
  auto remember_unanswered = [&](connection& c) {
    auto write = [&](const connection::sent& x) {
      if (unanswered_log && x.kind != 'q')
        std::fprintf(unanswered_log, "%s %c %" PRIu64 " %" PRIu64 " %" PRId64 "\n", request_id_of(x).c_str(), x.kind,
                     x.source, x.destination, x.amount);
    };
    for (const auto& [corr, x] : c.outstanding) write(x);
    for (const auto& [due, x] : c.retry_queue) write(x);
    c.outstanding.clear();
    c.retry_queue.clear();
  };

  auto start = clock_type::now();
  auto end = start + std::chrono::duration<double>(o.duration_s);
  auto next_progress = start + std::chrono::seconds(1);
  uint64_t last_ack = 0;
  bool sending = true;
  for (uint32_t i = 0; i < conns.size(); ++i) {
    while (in_flight(conns[i]) < o.window) make(conns[i]);
    flush(conns[i], i);
  }
  std::vector<char> buf(256 * 1024);
  Envelope envelope;
  std::vector<epoll_event> events(conns.size());
  size_t open = conns.size();
  auto drain_deadline = end + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.drain_s));
  for (;;) {
    auto now = clock_type::now();
    if (sending && now >= end) sending = false;
    size_t outstanding = 0;
    for (auto& c : conns) outstanding += c.fd >= 0 ? in_flight(c) : 0;
    for (uint32_t i = 0; i < conns.size(); ++i)
      if (conns[i].fd >= 0 && !conns[i].retry_queue.empty()) {
        send_due_retries(conns[i]);
        if (!flush(conns[i], i)) {
          // The error shows again on the next read, where the connection is closed.
        }
      }
    if (open == 0) break;  // every connection is gone (the server went away): nothing more can come
    if (!sending && (outstanding == 0 || now >= drain_deadline)) break;
    if (now >= next_progress) {
      double t = std::chrono::duration<double>(now - start).count();
      std::fprintf(stderr, "\r[%5.1fs] acknowledged %" PRIu64 "  errors %" PRIu64 "  %.0f ops/s (last second %" PRIu64
                           ")   ",
                   t, acknowledged, errors, static_cast<double>(acknowledged + errors) / t,
                   acknowledged + errors - last_ack);
      last_ack = acknowledged + errors;
      next_progress += std::chrono::seconds(1);
    }
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < n; ++e) {
      uint32_t index = events[e].data.u32;
      auto& c = conns[index];
      if (c.fd < 0) continue;
      bool dead = false;
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t got = ::recv(c.fd, buf.data(), buf.size(), 0);
          if (got > 0) {
            c.splitter.feed(buf.data(), static_cast<size_t>(got));
            if (static_cast<size_t>(got) < buf.size()) break;
            continue;
          }
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (got < 0 && errno == EINTR) continue;
          dead = true;
          break;
        }
        std::string_view payload;
        int64_t now_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
        while (c.splitter.next(payload) == frame_splitter::status::frame) {
          // One envelope reused for every reply: protobuf keeps its sub-messages allocated.
          if (!envelope.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
              envelope.content_case() != Envelope::kReply)
            continue;
          uint64_t corr = envelope.correlation_id();
          const Reply& reply = envelope.reply();
          auto it = c.outstanding.find(corr);
          if (it == c.outstanding.end()) continue;
          if (reply.code() == UNAVAILABLE && o.retry_unavailable_ms > 0 && it->second.retries < o.retries_max) {
            // Retryable and nothing changed: the same request id again after a pause.
            ++it->second.retries;
            ++retried;
            c.retry_queue.emplace_back(now_ns + int64_t(o.retry_unavailable_ms) * 1'000'000, it->second);
            c.outstanding.erase(it);
            continue;
          }
          uint32_t us = static_cast<uint32_t>(std::min<int64_t>((now_ns - it->second.start_ns) / 1000, UINT32_MAX));
          if (reply.code() == OK) {
            ++acknowledged;
            latencies.push_back(us);
          } else {
            ++errors;
            ++errors_by_code[code_name(reply.code())];
          }
          if (ack && reply.has_order() && reply.order().order_id() != 0 &&
              (reply.order().state() == ORDER_STATE_SUCCEEDED || reply.order().state() == ORDER_STATE_FAILED))
            std::fprintf(ack, "%s %" PRIu64 " %" PRId64 " %d\n", request_id_of(it->second).c_str(),
                         reply.order().order_id(), it->second.amount, static_cast<int>(reply.order().state()));
          if (!o.csv.empty()) codes.push_back(static_cast<uint16_t>(reply.code()));
          if (!o.csv.empty() && reply.code() != OK) latencies.push_back(us);
          c.outstanding.erase(it);
        }
        if (sending)
          while (in_flight(c) < o.window) make(c);
      }
      if (!dead && !flush(c, index)) dead = true;
      if (dead) {
        lost += in_flight(c);
        remember_unanswered(c);
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
        --open;
      }
    }
  }
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  for (auto& c : conns) {
    lost += c.fd >= 0 ? in_flight(c) : 0;
    if (c.fd >= 0) {
      remember_unanswered(c);
      ::close(c.fd);
    }
  }
  if (unanswered_log) std::fclose(unanswered_log);
  ::close(ep);
  if (ack) std::fclose(ack);
  std::fprintf(stderr, "\n");
  if (!o.csv.empty()) {
    FILE* f = std::fopen(o.csv.c_str(), "w");
    if (f) {
      std::fprintf(f, "latency_us,code\n");
      for (size_t i = 0; i < latencies.size() && i < codes.size(); ++i) std::fprintf(f, "%u,%u\n", latencies[i], codes[i]);
      std::fclose(f);
    }
  }
  std::vector<uint32_t> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  double ops = static_cast<double>(acknowledged + errors) / elapsed;
  double p50 = percentile(sorted, 50), p95 = percentile(sorted, 95), p99 = percentile(sorted, 99);
  double max = sorted.empty() ? 0 : sorted.back();
  errors += lost;
  if (o.json) {
    std::string by_code;
    for (const auto& [name, count] : errors_by_code)
      by_code += (by_code.empty() ? "\"" : ",\"") + name + "\":" + std::to_string(count);
    std::printf("{\"mix\":\"%s\",\"connections\":%u,\"window\":%u,\"duration_s\":%.2f,\"ops_per_s\":%.0f,"
                "\"p50_us\":%.0f,\"p95_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"errors\":%" PRIu64
                ",\"acknowledged\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"unanswered\":%" PRIu64
                ",\"retried_unavailable\":%" PRIu64 ",\"errors_by_code\":{%s}}\n",
                o.mix.c_str(), o.connections, o.window, elapsed, ops, p50, p95, p99, max, errors, acknowledged, sent,
                lost, retried, by_code.c_str());
  } else {
    std::printf("txbench: mix %s, %u connections, window %u, %.1f s\n", o.mix.c_str(), o.connections, o.window,
                elapsed);
    std::printf("%12s %12s %8s %12s %9s %9s %9s %9s\n", "sent", "acknowledged", "errors", "ops/s", "p50 us", "p95 us",
                "p99 us", "max us");
    std::printf("%12" PRIu64 " %12" PRIu64 " %8" PRIu64 " %12.0f %9.0f %9.0f %9.0f %9.0f\n", sent, acknowledged, errors,
                ops, p50, p95, p99, max);
    for (const auto& [name, count] : errors_by_code) std::printf("  error %-24s %" PRIu64 "\n", name.c_str(), count);
    if (lost) std::printf("  unanswered (connection lost or drain timeout): %" PRIu64 "\n", lost);
    if (retried) std::printf("  resent after `unavailable`: %" PRIu64 "\n", retried);
  }
  return lost ? 3 : 0;
}
