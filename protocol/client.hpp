#pragma once
// A C++ client of the txengine wire protocol: one TCP connection, pipelined signed requests,
// replies matched by correlation id. Blocking calls (`call`) and asynchronous ones
// (`call_async`, callback on the client's reader thread) can be mixed. With a CA file
// (`client_options::tls`) the connection is TLS 1.3 (protocol/tls.hpp) and the server's
// certificate and name are verified before anything is sent.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "protocol/tls.hpp"
#include "protocol/wire.hpp"

namespace txengine::wire {

struct client_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7400;
  std::string key_id = std::string(dev_key_id);
  std::string secret = std::string(dev_secret);
  //! The deployment the server serves (its `[server] deployment_id`); covered by signatures.
  std::string deployment_id = std::string(dev_deployment_id);
  //! How long a blocking call waits for its reply (and the TLS handshake at most).
  std::chrono::milliseconds timeout{30'000};
  //! TLS 1.3 when `tls.ca` is set: the server's certificate must chain to it and name `host`
  //! (or `tls_server_name`); `tls.cert`/`tls.key` for a server that asks for a client
  //! certificate (mutual TLS). Empty: plain TCP (servers allow it on loopback only).
  tls_files tls;
  std::string tls_server_name;
  //! The local address to connect from (a host with several; the tests use 127.0.0.2 to be
  //! "another address"). Empty: the system's choice.
  std::string source_address;
  bool tls_enabled() const { return !tls.ca.empty(); }
  //! The name the server's certificate must carry.
  const std::string& tls_peer_name() const { return tls_server_name.empty() ? host : tls_server_name; }
};

//! Runs a client TLS handshake on connected socket `fd` (blocking or not), waiting at most
//! `timeout` for each step; application data that arrives with the last step is appended to
//! `plaintext`. False with `error` (the session's reason, or the socket's).
bool tls_handshake(int fd, tls_session& session, std::chrono::milliseconds timeout, std::string& plaintext,
                   std::string& error);

//! A random first correlation id for a connection (1 .. 2^62): two connections that sign the
//! same request in the same millisecond still send different frames, which the server's
//! replay check (protocol/replay_cache.hpp) needs. Every connection that signs frames uses it.
uint64_t random_correlation_start();

//! Parses "HOST:PORT".
bool parse_address(const std::string& text, std::string& host, uint16_t& port);

class client {
 public:
  //! `reply` is null when the connection was lost before the reply came (outcome unknown).
  using callback = std::function<void(const Reply* reply)>;

  explicit client(client_options options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connect(std::string& error);
  bool connected() const { return connected_.load(); }
  void close();

  //! Sends a signed request; `done` runs on the reader thread. False if not connected.
  bool call_async(const Request& request, callback done);
  //! Sends a signed request and waits for its reply; nullopt with `error` on a lost
  //! connection or a timeout (the outcome is then unknown).
  std::optional<Reply> call(const Request& request, std::string& error);

  // For tests: raw bytes, and replies that match no pending request (correlation 0).
  bool send_raw(const std::string& bytes);
  void on_unsolicited(std::function<void(uint64_t, const Reply&)> handler);
  //! Waits until the server closed the connection; false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout);
  //! Signs and frames a request without sending it.
  std::string frame(uint64_t correlation_id, const Request& request, int64_t timestamp_ms) const;

 private:
  void reader();
  void fail_all();
  bool write_all(const char* data, size_t size);
  //! TLS bytes from the socket into `plaintext`; false when the session failed.
  bool decrypt(const char* data, size_t size, std::string& plaintext);
  //! `what`, with why the TLS session failed if it did.
  std::string with_tls_error(std::string what);

  //! With TLS: the session (its own mutex: the reader decrypts while callers encrypt), what
  //! the handshake already decrypted, and why the session failed.
  std::unique_ptr<tls_session> tls_;
  std::mutex tls_mutex_;
  std::string tls_early_;
  std::string tls_error_;

  client_options options_;
  int fd_ = -1;
  std::atomic<bool> connected_{false};
  std::thread reader_;
  std::mutex write_mutex_;
  std::mutex mutex_;
  std::condition_variable closed_cv_;
  std::unordered_map<uint64_t, callback> pending_;
  std::function<void(uint64_t, const Reply&)> unsolicited_;
  std::atomic<uint64_t> next_correlation_{1};
};

}  // namespace txengine::wire
