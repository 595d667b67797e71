#pragma once
// TLS 1.3 for the client protocol (OpenSSL), without sockets: a context made from certificate,
// key and CA files, and a per-connection session that the caller feeds with the bytes that came
// from the network and drains of the bytes to send (two memory BIOs). The server's broker, the
// blocking client and txbench move the bytes themselves; the unit tests connect two sessions
// in memory.
//
// Only TLS 1.3 is spoken: a peer offering 1.2 or less is refused during the handshake.
#include <cstddef>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace txengine::wire {

//! The files of one side. A server needs `cert` and `key` (`ca`: the CAs whose client
//! certificates it accepts; set = mutual TLS, a client without one is refused). A client
//! needs `ca` (the server's certificate is verified against it, and its host name or IP
//! address); `cert` and `key` when the server asks for a client certificate.
struct tls_files {
  std::string cert;  //!< PEM certificate (chain: the leaf first)
  std::string key;   //!< PEM private key; an owner-only file (check_private_file)
  std::string ca;    //!< PEM CA certificates
};

class tls_context {
 public:
  //! The server's context; null with `error` naming the file and the reason (missing,
  //! unreadable, readable by others, not PEM, key not matching the certificate).
  static std::shared_ptr<tls_context> server(const tls_files& files, std::string& error);
  //! A client's context (`files.ca` required); null with `error` likewise.
  static std::shared_ptr<tls_context> client(const tls_files& files, std::string& error);

  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  SSL_CTX* native() const { return ctx_; }
  bool is_server() const { return server_; }

 private:
  tls_context(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* ctx_;
  bool server_;
};

//! One connection's TLS state. Not thread-safe: one thread at a time (the client serialises).
class tls_session {
 public:
  //! A client session names the server it expects (`peer_name`: a DNS name checked against the
  //! certificate's names, or an IP address checked against its IP addresses); a server
  //! session ignores it.
  tls_session(std::shared_ptr<tls_context> context, const std::string& peer_name = "");
  ~tls_session();
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  //! Bytes that came from the network: advances the handshake and appends what they decrypt
  //! to `plaintext`. False on a TLS error (a failed handshake or verification, a corrupt or
  //! truncated record, a peer's alert): see error(); the connection must be closed after
  //! sending what drain() still gives (the alert).
  bool feed(const char* data, size_t size, std::string& plaintext);
  //! The transport reached its end: true if the peer had closed the session properly (or
  //! nothing was under way), false with error() when it stopped mid-record or mid-handshake
  //! (a truncated stream).
  bool end_of_input();
  //! Plaintext to send: encrypted now if the handshake is done, else kept until it is.
  //! False on a TLS error.
  bool write(const char* data, size_t size);
  //! Ends the session: a close_notify for drain() (nothing if the handshake is not done).
  void shutdown();
  //! Appends the bytes to send to the network (handshake messages, records, alerts) to `out`.
  void drain(std::string& out);
  //! Whether there is something for drain().
  bool pending_output() const;

  //! Starts the handshake (a client sends its hello; a server waits for it).
  bool start();
  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return failed_; }
  //! Why it failed: OpenSSL's reason, with the verification result when that is the cause.
  const std::string& error() const { return error_; }
  //! True if the peer closed the TLS session (close_notify).
  bool peer_closed() const { return peer_closed_; }

 private:
  bool step();  //!< handshake, then pending plaintext
  bool fail(int ssl_result, const char* what);
  bool flush_pending();

  std::shared_ptr<tls_context> context_;
  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
  std::string error_;
  std::string pending_;  //!< plaintext written before the handshake finished
};

}  // namespace txengine::wire
