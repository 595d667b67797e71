#include "providersim/sim_server.hpp"

#include <chrono>
#include <cstdio>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "providersim/signing.hpp"

namespace txprovider {

namespace {

using json = nlohmann::json;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Draw salts of the transport faults (per request: the order id and the request's serial).
enum salt : uint64_t {
  salt_latency = 201,
  salt_slow,
  salt_error_before,
  salt_drop,
  salt_error_after,
  salt_hang,
};

void answer(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void refuse(httplib::Response& res, int status, const std::string& error, const std::string& message) {
  answer(res, status, json{{"error", error}, {"message", message}});
}

json view_json(const order_view& v) {
  json j = {{"order_id", v.id},
            {"kind", to_string(v.kind)},
            {"status", to_string(v.status)},
            {"amount", v.amount},
            {"currency", v.currency},
            {"settled_amount", v.settled_amount},
            {"code", v.code},
            {"finished_at_ms", v.finished_ms == never ? json(nullptr) : json(v.finished_ms)}};
  if (v.kind == order_kind::payment) j["qr_code"] = "txsim://pay/" + v.id;
  return j;
}

//! Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

//! "YYYY-MM-DD" as the first millisecond of that UTC day; false when it is not a real date.
bool parse_day(const std::string& text, int64_t& from_ms) {
  unsigned y = 0, m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3) return false;
  static const unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > month_days[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap) return false;
  from_ms = days_from_civil(y, m, d) * 86'400'000;
  return true;
}

//! cpp-httplib 0.11 listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into
//! Debian's library), so an engine opening its 100 connections at once has most SYNs dropped and
//! retried a second later: connect timeouts a real provider would not cause. listen() again on
//! the same socket only raises the backlog; the socket is found by its port (the library does
//! not hand it out).
void widen_backlog(int port) {
  for (int fd = 3; fd < 4096; ++fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int listening = 0;
    socklen_t flag_length = sizeof listening;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) continue;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_length) != 0 || !listening) continue;
    int bound = address.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port)
                : address.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port)
                                                : -1;
    if (bound == port) ::listen(fd, 4096);
  }
}

}  // namespace

std::unique_ptr<sim_server> sim_server::start(const sim_options& options, std::string& error) {
  std::unique_ptr<sim_server> s(new sim_server());
  s->options_ = options;
  const auto& url = options.settings.callback_url;
  if (!url.empty()) {  // http://host[:port]/path (profile.cpp checked the scheme)
    auto rest = url.substr(7);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    s->callback_path_ = slash == std::string::npos ? "/" : rest.substr(slash);
    auto colon = authority.rfind(':');
    s->callback_host_ = authority.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        s->callback_port_ = std::stoi(authority.substr(colon + 1));
      } catch (const std::exception&) {
        s->callback_port_ = -1;
      }
    }
    if (s->callback_host_.empty() || s->callback_port_ <= 0 || s->callback_port_ > 65535) {
      error = "callback url " + url + " is not http://HOST[:PORT]/PATH";
      return nullptr;
    }
  }
  s->book_ = std::make_unique<provider_book>(options.settings);
  s->journal_ = journal::open(options.state_dir, *s->book_, wall_ms(), error);
  if (s->journal_) s->journal_->set_gather_ms(std::min<int64_t>(options.settings.latency_min_ms / 2, 5));
  if (!s->journal_) return nullptr;
  s->server_ = std::make_unique<httplib::Server>();
  size_t threads = options.threads;
  s->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->server_->set_payload_max_length(64 * 1024);
  s->server_->set_keep_alive_max_count(1'000'000);
  s->server_->set_keep_alive_timeout(30);
  // An answer is written as headers then body: without TCP_NODELAY, Nagle holds the body until
  // the client's delayed ACK of the headers (40 ms on Linux), which capped a whole run at 64
  // in flight / 50 ms = 1.3k requests/s (bench_channels).
  s->server_->set_tcp_nodelay(true);
  s->routes();
  if (options.port == 0) {
    s->port_ = s->server_->bind_to_any_port(options.host);
  } else {
    s->port_ = s->server_->bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (s->port_ <= 0) {
    error = "cannot listen on " + options.host + ":" + std::to_string(options.port);
    return nullptr;
  }
  widen_backlog(s->port_);
  s->threads_.emplace_back([raw = s.get()] { raw->report_loop(); });
  for (size_t i = 0; i < std::max<size_t>(1, options.callback_senders); ++i)
    s->threads_.emplace_back([raw = s.get()] { raw->send_loop(); });
  return s;
}

sim_server::~sim_server() {
  stop();
  {
    std::lock_guard<std::mutex> lock(callbacks_mutex_);
  }
  callbacks_wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void sim_server::run() { server_->listen_after_bind(); }

void sim_server::stop() {
  {
    // Under the callbacks' lock: their threads check it before they wait (no lost wakeup); the
    // request threads see it within a pause slice.
    std::lock_guard<std::mutex> lock(callbacks_mutex_);
    stopping_ = true;
  }
  callbacks_wake_.notify_all();
  if (server_) server_->stop();
}

void sim_server::pause(int64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stopping_) {
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100)));
  }
}

void sim_server::pause_until(int64_t due_ms) {
  int64_t left = due_ms - wall_ms();
  if (left > 0) pause(left);
}

void sim_server::routes() {
  auto& s = *server_;
  s.Post("/v1/payouts", [this](const httplib::Request& req, httplib::Response& res) {
    submit(req, res, order_kind::payout);
  });
  s.Post("/v1/payments", [this](const httplib::Request& req, httplib::Response& res) {
    submit(req, res, order_kind::payment);
  });
  s.Get(R"(/v1/orders/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) { query(req, res); });
  s.Post(R"(/v1/orders/([^/]+)/close)",
         [this](const httplib::Request& req, httplib::Response& res) { close(req, res); });
  s.Get(R"(/v1/statements/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res) { statement(req, res); });
  s.Get("/sim/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(stats_json(), "application/json");
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) refuse(res, res.status, "not_found", "no such endpoint");
  });
}

bool sim_server::admit(const httplib::Request& req, httplib::Response& res, bool faults, uint64_t& serial,
                       int64_t& due_ms) {
  const auto& p = options_.settings;
  ++stats_.requests;
  int64_t now = wall_ms();
  // Authentication: the merchant's key, a fresh timestamp, the signature of the request.
  int64_t timestamp = 0;
  try {
    timestamp = std::stoll(req.get_header_value(header_timestamp));
  } catch (const std::exception&) {
    timestamp = 0;
  }
  auto expected = hmac_sha256_hex(p.secret, signing_string(req.method, req.path, timestamp, req.body));
  if (req.get_header_value(header_key) != p.api_key || timestamp <= 0 || timestamp < now - p.max_clock_skew_ms ||
      timestamp > now + p.max_clock_skew_ms || !same_signature(req.get_header_value(header_signature), expected)) {
    ++stats_.unauthorized;
    refuse(res, 401, "unauthorized", "the key, timestamp or signature is not valid");
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(rate_mutex_);
    arrivals_.push_back(now);
    while (!arrivals_.empty() && arrivals_.front() <= now - 1000) arrivals_.pop_front();
    if (arrivals_.size() > stats_.peak_per_s) stats_.peak_per_s = arrivals_.size();
    while (!admitted_.empty() && admitted_.front() <= now - 1000) admitted_.pop_front();
    if (p.qps_limit != 0 && admitted_.size() >= p.qps_limit) {
      ++stats_.rate_limited;
      res.set_header("Retry-After", "1");
      refuse(res, 429, "rate_limited", "more than " + std::to_string(p.qps_limit) + " requests in a second");
      return false;
    }
    admitted_.push_back(now);
  }
  serial = ++serial_;
  std::string key = std::to_string(serial);
  int64_t latency = p.latency_min_ms + (p.latency_max_ms > p.latency_min_ms
                                            ? static_cast<int64_t>(draw(p.seed, key, salt_latency) %
                                                                   (p.latency_max_ms - p.latency_min_ms + 1))
                                            : 0);
  due_ms = wall_ms() + latency;
  if (draw_ppm(p.seed, key, salt_slow, p.slow_ppm)) {
    pause(p.slow_ms);  // held before it is looked at
    due_ms = wall_ms();
  }
  if (!faults) return true;
  if (fault(res, serial, salt_error_before, p.error_before_ppm, stats_.errors_before, false, 503, "unavailable",
            "try again later")) {
    pause_until(due_ms);
    return false;
  }
  return !fault(res, serial, salt_drop, p.drop_ppm, stats_.dropped, true, 504, "dropped", "the request never arrived");
}

bool sim_server::deliver(httplib::Response& res, uint64_t serial) {
  const auto& p = options_.settings;
  return !fault(res, serial, salt_error_after, p.error_after_ppm, stats_.errors_after, false, 500, "internal_error",
                "something went wrong") &&
         !fault(res, serial, salt_hang, p.hang_ppm, stats_.hung, true, 504, "hung", "the answer never came");
}

bool sim_server::fault(httplib::Response& res, uint64_t serial, uint64_t salt, uint32_t ppm,
                       std::atomic<uint64_t>& counter, bool hang, int status, const char* error, const char* message) {
  if (!draw_ppm(options_.settings.seed, std::to_string(serial), salt, ppm)) return false;
  ++counter;
  if (hang) pause(options_.settings.hang_ms);  // the caller gave up long before
  refuse(res, status, error, message);
  return true;
}

bool sim_server::check_id(const std::string& id, httplib::Response& res) {
  if (valid_order_id(id)) return true;
  ++stats_.bad_requests;
  refuse(res, 400, "bad_request", "order_id must be 1..64 of [A-Za-z0-9_-]");
  return false;
}

bool sim_server::persist(const provider_order& order, int64_t now, int64_t due_ms, httplib::Response& res) {
  uint64_t seq = journal_->append(order, now);
  pause_until(due_ms);  // the sync runs meanwhile: usually durable by then, no wait
  if (journal_->wait_durable(seq)) return true;
  ++stats_.journal_failures;
  refuse(res, 500, "internal_error", "the provider could not store the order");
  return false;
}

void sim_server::submit(const httplib::Request& req, httplib::Response& res, order_kind kind) {
  uint64_t serial = 0;
  int64_t due = 0;
  if (!admit(req, res, true, serial, due)) return;
  auto body = json::parse(req.body, nullptr, false);
  submit_request request;
  request.kind = kind;
  std::string bad;
  if (body.is_discarded() || !body.is_object()) {
    bad = "the body is not a JSON object";
  } else {
    for (const auto& [key, value] : body.items()) {
      if (key == "order_id" && value.is_string()) request.id = value.get<std::string>();
      else if (key == "amount" && value.is_number_integer()) request.amount = value.get<int64_t>();
      else if (key == "currency" && value.is_string()) request.currency = value.get<std::string>();
      else if (key == "account" || key == "description") continue;
      else bad = "unknown or mistyped field '" + key + "'";
    }
    if (bad.empty() && !valid_order_id(request.id)) bad = "order_id must be 1..64 of [A-Za-z0-9_-]";
    if (bad.empty() && (request.amount <= 0 || request.amount > 1'000'000'000'000'000LL))
      bad = "amount must be a whole number of minor units, 1 .. 10^18";
    if (bad.empty() && !valid_currency(request.currency)) bad = "currency must be three upper-case letters";
  }
  if (!bad.empty()) {
    ++stats_.bad_requests;
    refuse(res, 400, "bad_request", bad);
    return;
  }
  int64_t now = wall_ms();
  submit_result result;
  {
    std::lock_guard<std::mutex> lock(book_mutex_);
    result = book_->submit(request, now);
  }
  switch (result.outcome) {
    case submit_outcome::conflict:
      ++stats_.conflicts;
      pause_until(due);
      refuse(res, 409, "order_conflict", "order " + request.id + " exists with another kind, amount or currency");
      return;
    case submit_outcome::full:
      ++stats_.full;
      pause_until(due);
      refuse(res, 503, "provider_full", "the provider holds too many orders");
      return;
    case submit_outcome::existing:
      ++stats_.existing;
      pause_until(due);
      break;
    case submit_outcome::accepted:
      ++stats_.accepted;
      if (!persist(*result.recorded, now, due, res)) return;
      callbacks_wake_.notify_one();
      break;
  }
  if (!deliver(res, serial)) return;
  answer(res, 200, view_json(result.view));
}

void sim_server::query(const httplib::Request& req, httplib::Response& res) {
  uint64_t serial = 0;
  int64_t due = 0;
  if (!admit(req, res, true, serial, due)) return;
  ++stats_.queries;
  const std::string id = req.matches[1];
  if (!check_id(id, res)) return;
  std::optional<order_view> view;
  {
    std::lock_guard<std::mutex> lock(book_mutex_);
    view = book_->query(id, wall_ms());
  }
  pause_until(due);
  if (!deliver(res, serial)) return;
  if (!view) {
    ++stats_.not_found;
    answer(res, 404, json{{"order_id", id}, {"status", "not_found"}});
    return;
  }
  answer(res, 200, view_json(*view));
}

void sim_server::close(const httplib::Request& req, httplib::Response& res) {
  uint64_t serial = 0;
  int64_t due = 0;
  if (!admit(req, res, true, serial, due)) return;
  ++stats_.closes;
  const std::string id = req.matches[1];
  if (!check_id(id, res)) return;
  int64_t now = wall_ms();
  close_result result;
  {
    std::lock_guard<std::mutex> lock(book_mutex_);
    result = book_->close(id, now);
  }
  if (result.recorded) {
    if (!persist(*result.recorded, now, due, res)) return;
    callbacks_wake_.notify_one();
  } else {
    pause_until(due);
  }
  if (!deliver(res, serial)) return;
  answer(res, 200, view_json(result.view));
}

void sim_server::statement(const httplib::Request& req, httplib::Response& res) {
  uint64_t serial = 0;
  int64_t due = 0;
  if (!admit(req, res, false, serial, due)) return;
  ++stats_.statements;
  int64_t from = 0;
  if (!parse_day(req.matches[1], from)) {
    ++stats_.bad_requests;
    refuse(res, 400, "bad_request", "a statement is for a day, YYYY-MM-DD");
    return;
  }
  std::vector<order_view> rows;
  {
    std::lock_guard<std::mutex> lock(book_mutex_);
    rows = book_->finished_between(from, from + 86'400'000, wall_ms());
  }
  std::string csv = "order_id,kind,status,currency,amount,settled_amount,code,finished_at_ms\n";
  for (const auto& v : rows) {
    csv += v.id + "," + to_string(v.kind) + "," + to_string(v.status) + "," + v.currency + "," +
           std::to_string(v.amount) + "," + std::to_string(v.settled_amount) + "," + v.code + "," +
           std::to_string(v.finished_ms) + "\n";
  }
  res.status = 200;
  res.set_content(csv, "text/csv");
}

void sim_server::report_loop() {
  const auto& p = options_.settings;
  std::unique_lock<std::mutex> lock(callbacks_mutex_);
  while (!stopping_) {
    int64_t now = wall_ms();
    std::vector<order_view> finals;
    int64_t next_final = never;
    {
      std::lock_guard<std::mutex> book_lock(book_mutex_);
      finals = book_->newly_final(now);
      next_final = book_->next_final_ms();
    }
    for (const auto& view : finals) {
      auto planned = plan_callbacks(p, view, now);
      if (planned.empty() && !p.callback_url.empty()) ++stats_.callbacks_lost;
      for (auto& d : planned) {
        if (scheduled_.size() + due_.size() >= options_.callback_queue_max) {
          ++stats_.callbacks_overflow;
          continue;
        }
        ++stats_.callbacks_planned;
        scheduled_.push(std::move(d));
      }
    }
    bool moved = false;
    while (!scheduled_.empty() && scheduled_.top().due_ms <= now) {
      due_.push_back(scheduled_.top());
      scheduled_.pop();
      moved = true;
    }
    if (moved) callbacks_wake_.notify_all();
    int64_t next = std::min(next_final, scheduled_.empty() ? never : scheduled_.top().due_ms);
    int64_t wait = std::clamp<int64_t>(next == never ? 100 : next - now, 1, 100);
    callbacks_wake_.wait_for(lock, std::chrono::milliseconds(wait));
  }
}

void sim_server::send_loop() {
  const auto& p = options_.settings;
  if (callback_host_.empty()) return;
  httplib::Client client(callback_host_, callback_port_);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  for (;;) {
    callback_delivery delivery;
    {
      std::unique_lock<std::mutex> lock(callbacks_mutex_);
      callbacks_wake_.wait(lock, [&] { return stopping_ || !due_.empty(); });
      if (stopping_) return;
      delivery = std::move(due_.front());
      due_.pop_front();
    }
    int64_t now = wall_ms();
    json body = view_json(delivery.view);
    body["event_id"] = delivery.event_id;
    body["sent_at_ms"] = now;
    std::string text = body.dump();
    httplib::Headers headers = {
        {header_key, p.api_key},
        {header_timestamp, std::to_string(now)},
        {header_signature, hmac_sha256_hex(p.secret, signing_string("POST", callback_path_, now, text))}};
    auto result = client.Post(callback_path_.c_str(), headers, text, "application/json");
    if (result && result->status >= 200 && result->status < 300) {
      ++stats_.callbacks_sent;
      continue;
    }
    ++stats_.callbacks_failed;
    std::lock_guard<std::mutex> lock(callbacks_mutex_);
    if (retry_callback(p, delivery, wall_ms())) scheduled_.push(std::move(delivery));
    else ++stats_.callbacks_given_up;
  }
}

std::string sim_server::stats_json() {
  size_t orders = 0;
  {
    std::lock_guard<std::mutex> lock(book_mutex_);
    orders = book_->size();
  }
  const auto& s = stats_;
  json j = {{"orders", orders},
            {"requests", s.requests.load()},
            {"unauthorized", s.unauthorized.load()},
            {"bad_requests", s.bad_requests.load()},
            {"rate_limited", s.rate_limited.load()},
            {"peak_requests_per_s", s.peak_per_s.load()},
            {"errors_before", s.errors_before.load()},
            {"errors_after", s.errors_after.load()},
            {"dropped", s.dropped.load()},
            {"hung", s.hung.load()},
            {"accepted", s.accepted.load()},
            {"existing", s.existing.load()},
            {"conflicts", s.conflicts.load()},
            {"full", s.full.load()},
            {"queries", s.queries.load()},
            {"not_found", s.not_found.load()},
            {"closes", s.closes.load()},
            {"statements", s.statements.load()},
            {"journal_failures", s.journal_failures.load()},
            {"callbacks_planned", s.callbacks_planned.load()},
            {"callbacks_sent", s.callbacks_sent.load()},
            {"callbacks_failed", s.callbacks_failed.load()},
            {"callbacks_given_up", s.callbacks_given_up.load()},
            {"callbacks_lost", s.callbacks_lost.load()},
            {"callbacks_overflow", s.callbacks_overflow.load()}};
  return j.dump();
}

}  // namespace txprovider
