#include "channels/http_channel.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <cerrno>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "channels/signing.hpp"
#include "core/channel_routing.hpp"
#include "core/circuit_breaker.hpp"
#include "core/order_id_generator.hpp"
#include "core/provider_answer.hpp"
#include "core/rate_gate.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t collect(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  // An answer is a small JSON object: past 64 KiB it is not one (the body is cut, so unreadable).
  if (body->size() + size * count > 64 * 1024) return 0;
  body->append(data, size * count);
  return size * count;
}

provider_request request_kind(const channel_request& r) {
  switch (r.what) {
    case channel_request::kind::submit: return provider_request::submit;
    case channel_request::kind::query: return provider_request::query;
    case channel_request::kind::close: return provider_request::close;
  }
  return provider_request::query;
}

}  // namespace

//! The provider's thread: queues, caps, gate, breaker and the libcurl multi loop.
class http_channel_link {
 public:
  http_channel_link(channel_id id, http_provider_settings settings, std::shared_ptr<channel_health> health)
      : id_(id),
        settings_(std::move(settings)),
        health_(std::move(health)),
        gate_(settings_.qps, settings_.burst),
        breaker_(settings_.breaker) {
    // libcurl's socket interface on epoll: each wait costs what is ready, not every connection
    // (curl_multi_poll polled all of them each time: a third of the adapter's CPU at 8k/s).
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = wake_fd_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_fd_, &wake);
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(settings_.submit_inflight_max + settings_.query_inflight_max));
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    thread_ = std::thread([this] { run(); });
  }

  // Runs where the channel actor's state goes (a CAF worker, at the engine's stop): the thread is
  // woken and leaves its loop at once (nothing of it blocks: its epoll wait returns on the
  // wakeup), so the join is bounded; requests still in flight are abandoned, as at a crash.
  ~http_channel_link() {
    stopping_ = true;
    wake();
    thread_.join();
    for (auto& [easy, call] : calls_) {
      curl_multi_remove_handle(multi_, easy);
      curl_slist_free_all(call.headers);
      curl_easy_cleanup(easy);
    }
    for (CURL* easy : idle_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
    ::close(wake_fd_);
    ::close(epoll_);
  }

  void set_hosts(std::vector<order_host_actor> hosts) {
    std::lock_guard<std::mutex> lock(mutex_);
    hosts_ = std::move(hosts);
  }

  void enqueue(const std::vector<channel_request>& requests) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      inbox_.insert(inbox_.end(), requests.begin(), requests.end());
    }
    wake();
  }

  http_channel_counters counters() const {
    http_channel_counters c;
    c.requests = requests_;
    c.answered = answered_;
    c.unknown = unknown_;
    c.timeouts = timeouts_;
    c.connect_failures = connect_failures_;
    c.rate_limited = rate_limited_;
    c.refused_full = refused_full_;
    c.refused_open = refused_open_;
    c.retried_unseen = retried_unseen_;
    c.queries_coalesced = queries_coalesced_;
    c.anomalies = anomalies_;
    c.breaker_opened = breaker_opened_;
    c.in_flight = in_flight_;
    c.queued = queued_;
    return c;
  }

 private:
  struct pending {
    channel_request request;
    uint32_t unseen_tries = 0;
    int64_t not_before_us = 0;
  };
  struct call {
    pending p;
    bool submit_queue = true;
    std::string body;
    std::string answer;
    curl_slist* headers = nullptr;
  };
  enum queue_index { submits = 0, queries = 1 };

  static bool in_submit_queue(const channel_request& r) { return r.what != channel_request::kind::query; }

  //! Answers a request without asking the provider: a first submit refused unseen is busy
  //! (declined, nothing moved); anything else is unknown.
  void refuse(const channel_request& r) {
    finished(r);
    channel_response response;
    response.order = r.order;
    if (r.what == channel_request::kind::submit) {
      response.outcome = channel_outcome::declined;
      response.busy = true;
    }
    respond(response);
  }

  //! A query's last answer is on its way: the next query of that order is sent again.
  void finished(const channel_request& r) {
    if (r.what == channel_request::kind::query) queries_open_.erase(r.order);
  }

  void respond(channel_response response) {
    response.channel = id_;
    ++answered_;
    if (response.outcome == channel_outcome::unknown) ++unknown_;
    outbox_[order_id_generator::lane_of(response.order)].push_back(response);
  }

  void flush_outbox() {
    if (outbox_.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [lane, responses] : outbox_)
      if (lane < hosts_.size()) caf::anon_send(hosts_[lane], chan_ack_atom::value, std::move(responses));
    outbox_.clear();
  }

  void take_inbox() {
    std::vector<channel_request> in;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in.swap(inbox_);
    }
    for (const auto& r : in) {
      // A query of an order whose query is still queued or in flight adds nothing: its answer
      // comes, and the order asks again after it. Under load (a slow provider, a full query
      // queue) each order's timer would otherwise queue another copy at every interval.
      if (r.what == channel_request::kind::query && !queries_open_.insert(r.order).second) {
        ++queries_coalesced_;
        continue;
      }
      ++requests_;
      auto& q = queues_[in_submit_queue(r) ? submits : queries];
      if (q.size() >= settings_.queue_max) {
        ++refused_full_;
        refuse(r);
        continue;
      }
      q.push_back(pending{r, 0, 0});
    }
  }

  //! Starts what the caps, the gate and the breaker allow; the next instant something may start
  //! that cannot now (or 0).
  int64_t dispatch(int64_t now_us) {
    int64_t wake_us = 0;
    // Retries whose time came go back to the front of their queue.
    for (size_t i = 0; i < delayed_.size();) {
      if (delayed_[i].not_before_us <= now_us) {
        queues_[in_submit_queue(delayed_[i].request) ? submits : queries].push_front(delayed_[i]);
        delayed_[i] = delayed_.back();
        delayed_.pop_back();
      } else {
        wake_us = wake_us == 0 ? delayed_[i].not_before_us : std::min(wake_us, delayed_[i].not_before_us);
        ++i;
      }
    }
    for (int index : {submits, queries}) {
      auto& q = queues_[index];
      size_t cap = index == submits ? settings_.submit_inflight_max : settings_.query_inflight_max;
      while (!q.empty() && in_flight_of_[index] < cap) {
        if (!gate_.try_take(now_us)) {
          int64_t next = gate_.next_us(now_us);
          wake_us = wake_us == 0 ? next : std::min(wake_us, next);
          return wake_us;
        }
        pending p = q.front();
        q.pop_front();
        if (!breaker_.allow(now_us / 1000)) {
          ++refused_open_;
          refuse(p.request);
          continue;
        }
        start(p, index == submits);
      }
    }
    return wake_us;
  }

  void start(const pending& p, bool submit_queue) {
    const auto& r = p.request;
    std::string id = std::to_string(r.order);
    std::string method = "POST", path, body;
    switch (r.what) {
      case channel_request::kind::submit:
        // Built in place (every submit): the id is digits, the currency three capitals, the amount
        // an integer, so nothing needs escaping.
        path = r.money_in ? "/v1/payments" : "/v1/payouts";
        body.reserve(80);
        body += "{\"order_id\":\"";
        body += id;
        body += "\",\"amount\":";
        body += std::to_string(r.amount);
        body += ",\"currency\":\"";
        body += r.cur.code();
        body += "\"}";
        break;
      case channel_request::kind::query:
        method = "GET";
        path = "/v1/orders/" + id;
        break;
      case channel_request::kind::close: path = "/v1/orders/" + id + "/close"; break;
    }
    // A handle of an earlier request, reset, when there is one: no allocation per request.
    CURL* easy = nullptr;
    if (!idle_.empty()) {
      easy = idle_.back();
      idle_.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
    }
    call c;
    c.p = p;
    c.submit_queue = submit_queue;
    c.body = std::move(body);
    int64_t ts = wall_ms();
    std::string signature = provider_signature(settings_.secret, method, path, ts, c.body);
    c.headers = curl_slist_append(c.headers, ("X-TxSim-Key: " + settings_.api_key).c_str());
    c.headers = curl_slist_append(c.headers, ("X-TxSim-Timestamp: " + std::to_string(ts)).c_str());
    c.headers = curl_slist_append(c.headers, ("X-TxSim-Signature: " + signature).c_str());
    c.headers = curl_slist_append(c.headers, "Content-Type: application/json");
    c.headers = curl_slist_append(c.headers, "Expect:");
    auto [slot, inserted] = calls_.emplace(easy, std::move(c));
    (void)inserted;
    auto& stored = slot->second;
    std::string url = settings_.base_url + path;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, stored.headers);
    if (method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, stored.body.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(stored.body.size()));
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &stored.answer);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.connect_timeout_ms));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(r.what == channel_request::kind::query ? settings_.query_timeout_ms
                                                                              : settings_.submit_timeout_ms));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, easy);
    curl_multi_add_handle(multi_, easy);
    ++in_flight_of_[submit_queue ? submits : queries];
    in_flight_ = in_flight_of_[0] + in_flight_of_[1];
  }

  void complete(CURL* easy, CURLcode result, int64_t now_us) {
    auto found = calls_.find(easy);
    if (found == calls_.end()) return;
    call c = std::move(found->second);
    calls_.erase(found);
    curl_multi_remove_handle(multi_, easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    // Kept for the next request, at most as many as may be in flight at once.
    if (idle_.size() < settings_.submit_inflight_max + settings_.query_inflight_max) idle_.push_back(easy);
    else curl_easy_cleanup(easy);
    curl_slist_free_all(c.headers);
    --in_flight_of_[c.submit_queue ? submits : queries];
    in_flight_ = in_flight_of_[0] + in_flight_of_[1];

    const auto& r = c.p.request;
    http_exchange x;
    nlohmann::json body;
    std::string order_status;
    if (result == CURLE_OK) {
      x.result = http_exchange::transport::answered;
      x.status = static_cast<int>(status);
      body = nlohmann::json::parse(c.answer, nullptr, false);
      auto field = [&](const char* name) { return body.is_object() ? body.find(name) : body.end(); };
      if (body.is_object() && field("order_id") != body.end() && field("order_id")->is_string() &&
          *field("order_id") == std::to_string(r.order) && field("status") != body.end() &&
          field("status")->is_string()) {
        order_status = field("status")->get<std::string>();
        bool amounts = true;
        for (const char* name : {"amount", "settled_amount"}) {
          auto f = field(name);
          if (f == body.end()) continue;
          if (!f->is_number_integer()) amounts = false;
        }
        x.body_valid = amounts;
        if (amounts && field("amount") != body.end()) x.amount = field("amount")->get<int64_t>();
        if (amounts && field("settled_amount") != body.end())
          x.settled_amount = field("settled_amount")->get<int64_t>();
      }
    } else if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST) {
      x.result = http_exchange::transport::connect_failed;
      ++connect_failures_;
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
      x.result = http_exchange::transport::timed_out;
      ++timeouts_;
    } else {
      x.result = http_exchange::transport::broken;
      spdlog::warn("channel {}: order {}: {}", id_, r.order, curl_easy_strerror(result));
    }
    x.order_status = order_status;
    std::string decline_code;
    if (x.body_valid && order_status == "declined") {
      auto f = body.find("code");
      if (f != body.end() && f->is_string()) decline_code = f->get<std::string>();
    }
    if (r.what == channel_request::kind::submit) x.requested_amount = r.amount;
    auto reading = read_provider_answer(request_kind(r), x);
    uint64_t opened_before = breaker_.times_opened();
    breaker_.record(reading.health_failure, now_us / 1000);
    if (breaker_.times_opened() != opened_before) {
      ++breaker_opened_;
      spdlog::warn("channel {}: circuit breaker opened ({} for {} ms)", id_, settings_.base_url,
                   settings_.breaker.open_ms);
    }
    if (reading.rate_limited) ++rate_limited_;
    if (reading.anomaly != provider_anomaly::none) {
      ++anomalies_;
      spdlog::warn("channel {}: {} answering order {} (HTTP {}, curl {})", id_, to_string(reading.anomaly), r.order,
                   x.status, static_cast<int>(result));
    }
    bool futile = reading.anomaly == provider_anomaly::bad_request ||
                  reading.anomaly == provider_anomaly::refused_credentials;
    if (reading.unseen && !futile && c.p.unseen_tries < settings_.unseen_retries) {
      pending again = c.p;
      ++again.unseen_tries;
      again.not_before_us = now_us + (100'000LL << std::min<uint32_t>(again.unseen_tries - 1, 4));
      ++retried_unseen_;
      delayed_.push_back(again);
      return;
    }
    if (reading.unseen) {
      refuse(r);
      return;
    }
    finished(r);
    channel_response response;
    response.order = r.order;
    response.outcome = reading.outcome;
    response.settled_amount = reading.settled_amount;
    response.nothing_moved = reading.outcome == channel_outcome::declined &&
                             declared_no_money_moved(decline_code, settings_.reroute_codes);
    respond(response);
  }

  //! Wakes the thread from its epoll wait (new requests, the stop).
  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

  //! libcurl says which sockets to watch for what.
  static int on_socket(CURL*, curl_socket_t socket, int what, void* self_ptr, void*) {
    auto* self = static_cast<http_channel_link*>(self_ptr);
    if (what == CURL_POLL_REMOVE) {
      ::epoll_ctl(self->epoll_, EPOLL_CTL_DEL, socket, nullptr);  // EBADF when it is closed already: gone anyway
      return 0;
    }
    epoll_event e{};
    e.events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    e.data.fd = socket;
    if (::epoll_ctl(self->epoll_, EPOLL_CTL_MOD, socket, &e) != 0 && errno == ENOENT)
      ::epoll_ctl(self->epoll_, EPOLL_CTL_ADD, socket, &e);
    return 0;
  }

  //! libcurl's one timer: when it wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT) (-1: never).
  static int on_timer(CURLM*, long timeout_ms, void* self_ptr) {
    auto* self = static_cast<http_channel_link*>(self_ptr);
    self->curl_due_us_ = timeout_ms < 0 ? -1 : steady_us() + static_cast<int64_t>(timeout_ms) * 1000;
    return 0;
  }

  void run() {
    epoll_event events[64];
    while (!stopping_) {
      take_inbox();
      int64_t now = steady_us();
      int64_t wake_us = dispatch(now);
      queued_ = queues_[0].size() + queues_[1].size() + delayed_.size();
      if (health_) health_->set_open(id_, breaker_.current(now / 1000) == circuit_breaker::state::open);
      flush_outbox();
      int64_t due = now + 100'000;  // at least every 100 ms: the breaker's state, the stop
      if (wake_us != 0) due = std::min(due, wake_us);
      if (curl_due_us_ >= 0) due = std::min(due, curl_due_us_);
      int timeout_ms = static_cast<int>(std::clamp<int64_t>((due - now + 999) / 1000, 0, 100));
      int ready = ::epoll_wait(epoll_, events, 64, timeout_ms);
      int running = 0;
      for (int i = 0; i < ready; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_) {
          uint64_t count = 0;
          [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
          continue;
        }
        int flags = ((events[i].events & EPOLLIN) != 0 ? CURL_CSELECT_IN : 0) |
                    ((events[i].events & EPOLLOUT) != 0 ? CURL_CSELECT_OUT : 0) |
                    ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0 ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi_, fd, flags, &running);
      }
      if (curl_due_us_ >= 0 && steady_us() >= curl_due_us_) {
        curl_due_us_ = -1;  // the action sets the next one
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      int left = 0;
      now = steady_us();
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
        if (msg->msg == CURLMSG_DONE) complete(msg->easy_handle, msg->data.result, now);
      flush_outbox();
    }
  }

  channel_id id_;
  http_provider_settings settings_;
  std::shared_ptr<channel_health> health_;  //!< where the breaker's state is shown to the router (may be null)
  rate_gate gate_;
  circuit_breaker breaker_;
  CURLM* multi_ = nullptr;
  int epoll_ = -1;
  int wake_fd_ = -1;
  int64_t curl_due_us_ = -1;  //!< libcurl's timer (on_timer), steady microseconds; -1: none
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;  // inbox_ and hosts_
  std::vector<channel_request> inbox_;
  std::vector<order_host_actor> hosts_;

  // The provider thread's own.
  std::deque<pending> queues_[2];
  std::vector<pending> delayed_;
  size_t in_flight_of_[2] = {0, 0};
  std::unordered_map<CURL*, call> calls_;
  std::unordered_map<uint32_t, std::vector<channel_response>> outbox_;
  std::vector<CURL*> idle_;  //!< easy handles of finished requests, reused (this thread only)
  //! Orders with a query queued or in flight (at most queue_max + query_inflight_max).
  std::unordered_set<order_id> queries_open_;

  std::atomic<uint64_t> requests_{0}, answered_{0}, unknown_{0}, timeouts_{0}, connect_failures_{0},
      rate_limited_{0}, refused_full_{0}, refused_open_{0}, retried_unseen_{0}, anomalies_{0}, breaker_opened_{0},
      in_flight_{0}, queued_{0}, queries_coalesced_{0};
};

namespace {

struct http_channel_state {
  std::shared_ptr<http_channel_link> link;
  uint64_t handled = 0;
  static inline const char* name = "http_channel";
};

channel_actor::behavior_type http_channel_behavior(channel_actor::stateful_pointer<http_channel_state> self,
                                                   std::shared_ptr<http_channel_link> link) {
  self->state.link = std::move(link);
  return {
      [=](peers_atom, std::vector<order_host_actor> hosts) { self->state.link->set_hosts(std::move(hosts)); },
      [=](channel_atom, const std::vector<channel_request>& requests) {
        ++self->state.handled;
        self->state.link->enqueue(requests);
      },
      [=](stats_atom) { return self->state.handled; },
  };
}

}  // namespace

channel_actor spawn_http_channel(caf::actor_system& system, channel_id id, http_provider_settings settings,
                                 std::shared_ptr<http_channel_link>* link_out, std::shared_ptr<channel_health> health) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
  auto link = std::make_shared<http_channel_link>(id, std::move(settings), std::move(health));
  if (link_out != nullptr) *link_out = link;
  return system.spawn(http_channel_behavior, std::move(link));
}

http_channel_counters counters_of(const http_channel_link& link) { return link.counters(); }

}  // namespace txengine
