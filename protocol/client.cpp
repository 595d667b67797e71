#include "protocol/client.hpp"

#include <random>

#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>

namespace txengine::wire {

bool parse_address(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  char* end = nullptr;
  long p = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (end == text.c_str() + colon + 1 || *end != '\0' || p <= 0 || p > 65535) return false;
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(p);
  return true;
}

uint64_t random_correlation_start() {
  std::random_device device;
  uint64_t start = ((uint64_t{device()} << 32) ^ device()) & 0x3FFF'FFFF'FFFF'FFFFull;
  return start == 0 ? 1 : start;
}

namespace {

//! Waits until `fd` is ready for `events`; false on timeout or error.
bool wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

//! Sends every byte (waiting while a non-blocking socket is full); false on error.
bool send_bytes(int fd, const char* data, size_t size, std::chrono::milliseconds timeout) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_ready(fd, POLLOUT, timeout)) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool tls_handshake(int fd, tls_session& session, std::chrono::milliseconds timeout, std::string& plaintext,
                   std::string& error) {
  if (!session.start()) {
    error = session.error();
    return false;
  }
  std::string bytes;
  char buf[16 * 1024];
  for (;;) {
    bytes.clear();
    session.drain(bytes);
    if (!send_bytes(fd, bytes.data(), bytes.size(), timeout)) {
      error = std::string("TLS handshake: cannot send: ") + std::strerror(errno);
      return false;
    }
    if (session.handshake_done()) return true;
    if (!wait_ready(fd, POLLIN, timeout)) {
      error = "TLS handshake: no answer within " + std::to_string(timeout.count()) + " ms";
      return false;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) {
      error = "TLS handshake: the server closed the connection (is it serving TLS?)";
      return false;
    }
    if (!session.feed(buf, static_cast<size_t>(n), plaintext)) {
      error = session.error();
      bytes.clear();
      session.drain(bytes);  // the alert, so the server knows why
      send_bytes(fd, bytes.data(), bytes.size(), timeout);
      return false;
    }
  }
}

client::client(client_options options) : options_(std::move(options)) {
  next_correlation_ = random_correlation_start();
}

client::~client() { close(); }

namespace {

//! Binds `fd` (of `family`) to the local address `address` before it connects.
bool bind_source(int fd, int family, const std::string& address, std::string& error) {
  sockaddr_storage local{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&local);
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, address.c_str(), &in->sin_addr) != 1) {
      error = "source address " + address + " is not an IPv4 address";
      return false;
    }
    length = sizeof(sockaddr_in);
  } else if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&local);
    in6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr) != 1) {
      error = "source address " + address + " is not an IPv6 address";
      return false;
    }
    length = sizeof(sockaddr_in6);
  } else {
    error = "source address for an unknown address family";
    return false;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), length) != 0) {
    error = "cannot bind to " + address + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool client::connect(std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options_.port);
  int rc = getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    error = "cannot resolve " + options_.host + ": " + gai_strerror(rc);
    return false;
  }
  int fd = -1;
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (!options_.source_address.empty() && !bind_source(fd, a->ai_family, options_.source_address, error)) {
      ::close(fd);
      fd = -1;
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    error = "cannot connect to " + options_.host + ":" + port + ": " + error;
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (options_.tls_enabled()) {
    auto context = tls_context::client(options_.tls, error);
    if (!context) {
      ::close(fd);
      return false;
    }
    tls_ = std::make_unique<tls_session>(std::move(context), options_.tls_peer_name());
    tls_early_.clear();
    tls_error_.clear();
    if (!tls_handshake(fd, *tls_, options_.timeout, tls_early_, error)) {
      error = "cannot connect to " + options_.host + ":" + port + ": " + error;
      tls_.reset();
      ::close(fd);
      return false;
    }
  }
  fd_ = fd;
  connected_ = true;
  reader_ = std::thread([this] { reader(); });
  return true;
}

void client::close() {
  if (fd_ >= 0 && tls_ && connected_) {
    // close_notify: the server sees a clean end rather than a truncated stream.
    std::lock_guard<std::mutex> guard(write_mutex_);
    std::string bytes;
    {
      std::lock_guard<std::mutex> tls_guard(tls_mutex_);
      tls_->shutdown();
      tls_->drain(bytes);
    }
    send_bytes(fd_, bytes.data(), bytes.size(), options_.timeout);
  }
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  connected_ = false;
}

bool client::write_all(const char* data, size_t size) {
  std::lock_guard<std::mutex> guard(write_mutex_);
  if (!tls_) return send_bytes(fd_, data, size, options_.timeout);
  std::string bytes;
  {
    std::lock_guard<std::mutex> tls_guard(tls_mutex_);
    if (!tls_->write(data, size)) return false;
    tls_->drain(bytes);
  }
  return send_bytes(fd_, bytes.data(), bytes.size(), options_.timeout);
}


std::string client::frame(uint64_t correlation_id, const Request& request, int64_t timestamp_ms) const {
  std::string out;
  append_envelope_frame(out, make_request(correlation_id, request, options_.key_id, options_.secret, timestamp_ms,
                                        options_.deployment_id));
  return out;
}

bool client::call_async(const Request& request, callback done) {
  if (!connected_) return false;
  uint64_t correlation = next_correlation_++;
  std::string bytes = frame(correlation, request, now_ms());
  {
    std::lock_guard<std::mutex> guard(mutex_);
    pending_.emplace(correlation, std::move(done));
  }
  if (!write_all(bytes.data(), bytes.size())) {
    callback cb;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      auto it = pending_.find(correlation);
      if (it == pending_.end()) return false;
      cb = std::move(it->second);
      pending_.erase(it);
    }
    return false;
  }
  return true;
}

std::optional<Reply> client::call(const Request& request, std::string& error) {
  auto promise = std::make_shared<std::promise<std::optional<Reply>>>();
  auto future = promise->get_future();
  if (!call_async(request, [promise](const Reply* reply) {
        promise->set_value(reply ? std::optional<Reply>(*reply) : std::nullopt);
      })) {
    error = with_tls_error("not connected");
    return std::nullopt;
  }
  if (future.wait_for(options_.timeout) != std::future_status::ready) {
    error = "no reply within " + std::to_string(options_.timeout.count()) + " ms (outcome unknown)";
    return std::nullopt;
  }
  auto reply = future.get();
  if (!reply) error = with_tls_error("connection lost before the reply (outcome unknown)");
  return reply;
}

std::string client::with_tls_error(std::string what) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!tls_error_.empty()) what += ": " + tls_error_;  // e.g. the server's alert "certificate required"
  return what;
}

bool client::send_raw(const std::string& bytes) { return connected_ && write_all(bytes.data(), bytes.size()); }

void client::on_unsolicited(std::function<void(uint64_t, const Reply&)> handler) {
  std::lock_guard<std::mutex> guard(mutex_);
  unsolicited_ = std::move(handler);
}

bool client::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return closed_cv_.wait_for(lock, timeout, [this] { return !connected_.load(); });
}

void client::fail_all() {
  std::unordered_map<uint64_t, callback> pending;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    pending.swap(pending_);
    connected_ = false;
  }
  closed_cv_.notify_all();
  for (auto& [id, cb] : pending)
    if (cb) cb(nullptr);
}

bool client::decrypt(const char* data, size_t size, std::string& plaintext) {
  plaintext.clear();
  bool ok = false;
  bool reply_due = false;
  {
    std::lock_guard<std::mutex> guard(tls_mutex_);
    ok = tls_->feed(data, size, plaintext);
    reply_due = ok && tls_->pending_output();
    if (!ok) {
      std::lock_guard<std::mutex> errors(mutex_);
      tls_error_ = tls_->error();
    }
  }
  // Something TLS must answer (a key update): sent now unless a caller is writing, whose
  // next record takes it along. Never waits for the write lock: a blocked writer may need
  // this thread to keep reading.
  if (reply_due && write_mutex_.try_lock()) {
    std::string bytes;
    {
      std::lock_guard<std::mutex> guard(tls_mutex_);
      tls_->drain(bytes);
    }
    send_bytes(fd_, bytes.data(), bytes.size(), options_.timeout);
    write_mutex_.unlock();
  }
  return ok;
}

void client::reader() {
  frame_splitter splitter(64 << 20);
  std::string buf(64 * 1024, '\0');
  std::string plaintext;
  splitter.feed(tls_early_.data(), tls_early_.size());
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!tls_) {
      splitter.feed(buf.data(), static_cast<size_t>(n));
    } else if (!decrypt(buf.data(), static_cast<size_t>(n), plaintext)) {
      break;
    } else {
      splitter.feed(plaintext.data(), plaintext.size());
    }
    std::string_view payload;
    frame_splitter::status st;
    while ((st = splitter.next(payload)) == frame_splitter::status::frame) {
      uint64_t correlation = 0;
      Reply reply;
      if (!decode_reply(payload, correlation, reply)) continue;
      callback cb;
      std::function<void(uint64_t, const Reply&)> other;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        auto it = pending_.find(correlation);
        if (it != pending_.end()) {
          cb = std::move(it->second);
          pending_.erase(it);
        } else {
          other = unsolicited_;
        }
      }
      if (cb)
        cb(&reply);
      else if (other)
        other(correlation, reply);
    }
    if (st != frame_splitter::status::need_more) break;
  }
  fail_all();
}

}  // namespace txengine::wire
