#pragma once
// The txengine network server: a CAF io broker that accepts many TCP connections, decodes
// frames (wire.hpp), authenticates each request, submits order commands straight to the
// engine's order hosts (batched per host), runs queries and wallet administration on a small
// thread pool, and writes replies back in whatever order they complete.
//
// The engine owns its actor system and does not load the middleman, so the server runs the
// broker in an actor system of its own (middleman loaded, one scheduler thread) and sends to
// the engine's actors with send_as, so that they keep running on the engine's scheduler.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "node/engine.hpp"
#include "protocol/tls.hpp"
#include "protocol/wire.hpp"

namespace txengine::wire {

//! Reply bytes set aside for each request in flight on a connection, counted with the bytes
//! queued for it against `write_buffer_max`: a dispatched request's reply comes back whether
//! or not the client reads, so a client that stops reading cannot make the server hold more
//! than the bound. An order's reply is a few hundred bytes; a query's (a page of movements) is
//! bounded by the reply frame.
constexpr size_t order_reply_reserve_bytes = 512;
constexpr size_t query_reply_reserve_bytes = 64 * 1024;

struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 7400;  //!< 0 = an ephemeral port (see server::port())
  //! Largest frame accepted; a longer one is answered with frame_too_large and the
  //! connection is closed.
  size_t frame_size_max = wire::frame_size_max;
  //! Requests of one connection being executed at once; past it the server stops reading
  //! from that connection until replies went out (TCP back-pressure).
  size_t in_flight_max = 4096;
  //! Reply bytes queued for one connection past which the server stops reading from it.
  size_t write_buffer_max = 8 << 20;
  size_t connections_max = 1024;
  //! Connections from one peer address at most: 1,024 idle sockets from one host would
  //! otherwise lock everyone else out. Past it the new connection is closed at once.
  size_t connections_per_address_max = 64;
  //! Frames of one connection refused unauthenticated, stale or replayed, past which the
  //! connection is closed (after its reply): a client that cannot sign is broken or guessing.
  uint32_t auth_failures_max = 8;
  //! A new connection that has not sent a correctly signed frame by then is closed: sockets
  //! that only hold a slot are let go.
  int64_t auth_deadline_ms = 10'000;
  //! A connection that sent nothing and awaits no reply for this long is closed.
  int64_t idle_timeout_ms = 300'000;
  //! How often (wall time) the server looks for connections past those two deadlines.
  int64_t sweep_interval_ms = 1'000;
  //! The server's clock in Unix milliseconds (timestamp window, deadlines); tests set their
  //! own. Empty: the system clock.
  std::function<int64_t()> clock;
  //! Threads that run queries and wallet administration (blocking engine calls).
  size_t query_threads = 2;
  //! Queries waiting for a query thread, at most (all connections together); past it a query
  //! is answered `unavailable` (retryable) at once. Each query also has the engine's deadline.
  size_t query_queue_max = 4096;
  int64_t timestamp_window_ms = wire::timestamp_window_ms;
  //! Signed frames remembered to refuse replays (replay_cache.hpp), each for twice the
  //! timestamp window; about 45 bytes each, so the default holds ~190 MB when full, enough
  //! for ~70,000 frames/s with the 30 s window. Past it new frames get `overloaded`.
  size_t replay_cache_max = size_t{1} << 22;
  //! This deployment's name, covered by every signature (wire.hpp dev_deployment_id).
  std::string deployment_id = std::string(dev_deployment_id);
  key_table keys;
  //! TLS 1.3 on every connection when `tls.cert` is set (its key in `tls.key`, owner-only);
  //! `tls.ca` set: mutual TLS, a client must present a certificate issued by one of those CAs.
  //! The bounds above count an encrypted connection like a plain one: one that never finishes
  //! its handshake is closed at `auth_deadline_ms`.
  tls_files tls;
};

//! Counters, readable from any thread.
struct server_counters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> connections_refused_address{0};  //!< of which past connections_per_address_max
  std::atomic<uint64_t> closed_auth_failures{0};         //!< connections closed after auth_failures_max
  std::atomic<uint64_t> closed_unauthenticated{0};       //!< closed past auth_deadline_ms without a signed frame
  std::atomic<uint64_t> closed_idle{0};                  //!< closed past idle_timeout_ms
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> unauthenticated{0};
  std::atomic<uint64_t> stale{0};
  std::atomic<uint64_t> replayed{0};     //!< frames refused as replays
  std::atomic<uint64_t> forbidden{0};    //!< requests past their key's scopes or bounds
  std::atomic<uint64_t> rate_limited{0}; //!< requests past their key's rate
  std::atomic<uint64_t> replay_full{0};  //!< frames refused because the replay cache was full
  std::atomic<uint64_t> oversized_frames{0};
  std::atomic<uint64_t> paused_reads{0};
  std::atomic<uint64_t> tls_handshakes{0};          //!< TLS handshakes completed
  std::atomic<uint64_t> tls_handshake_failures{0};  //!< connections closed by a failed TLS handshake
  std::atomic<uint64_t> tls_record_errors{0};       //!< closed by a bad TLS record after the handshake
};

class server {
 public:
  server(engine& eng, server_config config);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  //! Binds and starts accepting; false with `error` if the address cannot be bound or the TLS
  //! files cannot be used (tls.hpp names the file and the reason).
  bool start(std::string& error);
  //! The bound port (after start).
  uint16_t port() const { return port_; }
  //! Closes every connection and stops taking requests; idempotent. The server's actor system
  //! stays until the destructor: the engine's order hosts answer the server's broker directly,
  //! and one still answering a request of a closed connection must find that broker's system
  //! alive (its message is then dropped; sent into a destroyed system it crashed a node's clean
  //! stop under load). So stop the server, then the engine, then destroy the server.
  void stop();
  //! Closes the connections past their authentication deadline or idle timeout now (the server
  //! also does so every `sweep_interval_ms`); returns how many. For tests on their own clock.
  size_t sweep_now();
  const server_counters& counters() const { return *counters_; }

  struct impl;

 private:
  engine& engine_;
  server_config config_;
  uint16_t port_ = 0;
  std::shared_ptr<server_counters> counters_;
  std::unique_ptr<caf::actor_system_config> caf_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<impl> impl_;
  caf::actor broker_;
  bool stopped_ = false;  //!< stop() ran (the system lives on until the destructor)
};

//! Executes one query or administrative request (anything but the six order commands)
//! with the engine's blocking calls.
Reply execute_query(engine& eng, const Request& request, tenant_id tenant);

}  // namespace txengine::wire
