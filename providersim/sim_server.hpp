#pragma once
// txprovider-sim's HTTP side (cpp-httplib, Debian's libcpp-httplib-dev): the provider's API
// over the book (providersim/provider_book.hpp), its journal, the misbehaviour of the transport
// the profile asks for, and the signed callbacks. docs/channels.md, "txprovider-sim", has the API.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "providersim/callbacks.hpp"
#include "providersim/journal.hpp"
#include "providersim/profile.hpp"
#include "providersim/provider_book.hpp"

namespace httplib {
class Server;
class Request;
struct Response;
}  // namespace httplib

namespace txprovider {

struct sim_options {
  std::string host = "127.0.0.1";
  int port = 8700;  //!< 0: any free port
  std::string state_dir = "txprovider-sim-state";
  profile settings;
  //! Connections served at once (each holds a thread while it waits out its latency).
  size_t threads = 128;
  size_t callback_senders = 4;
  //! Callbacks waiting to be sent at most; past it new ones are dropped (counted).
  size_t callback_queue_max = 1'000'000;
};

class sim_server {
 public:
  //! Restores the journal and binds; nullptr and `error` when it cannot.
  static std::unique_ptr<sim_server> start(const sim_options& options, std::string& error);
  ~sim_server();

  int port() const { return port_; }
  size_t restored() const { return journal_->restored(); }
  //! Serves until stop() (from a signal handler's thread or another thread).
  void run();
  void stop();
  //! The counters served at GET /sim/stats, as JSON text.
  std::string stats_json();

 private:
  sim_server() = default;
  void routes();
  //! Authentication, the rate limit and the faults before processing; false when the request
  //! was answered (refused) already. `faults`: whether the transport faults apply. `due_ms`: when
  //! the answer may go (the request's latency from now): the caller processes the request at
  //! once and waits until then before answering (pause_until), so its journal's sync runs while
  //! the latency passes. A slow request (slow_ppm) is held here, before it is looked at: a query
  //! of it meanwhile finds nothing (a query too early).
  bool admit(const httplib::Request& req, httplib::Response& res, bool faults, uint64_t& serial, int64_t& due_ms);
  //! The faults after processing; false when the answer is withheld or replaced.
  bool deliver(httplib::Response& res, uint64_t serial);
  //! Draws one fault for request `serial`; when it strikes, counts it, holds the request for
  //! hang_ms if `hang`, answers `status` and returns true.
  bool fault(httplib::Response& res, uint64_t serial, uint64_t salt, uint32_t ppm, std::atomic<uint64_t>& counter,
             bool hang, int status, const char* error, const char* message);
  //! An order id from the path; false when it is not one (400 sent).
  bool check_id(const std::string& id, httplib::Response& res);
  void submit(const httplib::Request& req, httplib::Response& res, order_kind kind);
  void query(const httplib::Request& req, httplib::Response& res);
  void close(const httplib::Request& req, httplib::Response& res);
  void statement(const httplib::Request& req, httplib::Response& res);
  //! Writes an order change to the journal, waits until `due_ms` and until it is durable; false:
  //! 500 sent.
  bool persist(const provider_order& order, int64_t now, int64_t due_ms, httplib::Response& res);
  //! Holds the calling request's thread `ms` (less when the server stops). Sleeps, in slices:
  //! no lock shared by the request threads (a shared one made every waking thread queue for it).
  void pause(int64_t ms);
  void pause_until(int64_t wall_ms_due);
  void report_loop();
  void send_loop();

  sim_options options_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::mutex book_mutex_;
  std::unique_ptr<provider_book> book_;
  std::unique_ptr<journal> journal_;

  std::mutex rate_mutex_;
  std::deque<int64_t> admitted_;  //!< admitted requests in the last second (the QPS limit)
  std::deque<int64_t> arrivals_;  //!< every authenticated request in the last second (peak)

  std::mutex callbacks_mutex_;
  std::condition_variable callbacks_wake_;
  struct later {
    bool operator()(const callback_delivery& a, const callback_delivery& b) const { return a.due_ms > b.due_ms; }
  };
  std::priority_queue<callback_delivery, std::vector<callback_delivery>, later> scheduled_;
  std::deque<callback_delivery> due_;
  std::vector<std::thread> threads_;
  std::string callback_host_, callback_path_;
  int callback_port_ = 80;

  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> serial_{0};

  struct counters {
    std::atomic<uint64_t> requests{0}, unauthorized{0}, bad_requests{0}, rate_limited{0}, errors_before{0},
        errors_after{0}, dropped{0}, hung{0}, accepted{0}, existing{0}, conflicts{0}, full{0}, queries{0},
        not_found{0}, closes{0}, statements{0}, journal_failures{0}, callbacks_planned{0}, callbacks_sent{0},
        callbacks_failed{0}, callbacks_given_up{0}, callbacks_lost{0}, callbacks_overflow{0};
    std::atomic<uint64_t> peak_per_s{0};
  } stats_;
};

}  // namespace txprovider
