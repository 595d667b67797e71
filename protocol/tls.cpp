#include "protocol/tls.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "protocol/wire.hpp"

namespace txengine::wire {

namespace {

//! OpenSSL's queued errors as text (and the queue emptied); "unknown" if none.
std::string openssl_errors() {
  std::string text;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed": the reason is after the last ':'.
    const char* reason = std::strrchr(buf, ':');
    if (!text.empty()) text += "; ";
    text += reason && reason[1] ? reason + 1 : buf;
  }
  return text.empty() ? "unknown error" : text;
}

//! `path` can be opened for reading; else false with `error` ("WHAT PATH: reason").
bool readable(const char* what, const std::string& path, std::string& error) {
  if (path.empty()) {
    error = std::string(what) + ": no file given";
    return false;
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = std::string(what) + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

bool load_certificate(SSL_CTX* ctx, const std::string& path, std::string& error) {
  if (!readable("TLS certificate", path, error)) return false;
  if (SSL_CTX_use_certificate_chain_file(ctx, path.c_str()) == 1) return true;
  error = "TLS certificate " + path + ": not a usable PEM certificate (" + openssl_errors() + ")";
  return false;
}

//! The key (owner-only, PEM) that must match the certificate loaded before.
bool load_key(SSL_CTX* ctx, const std::string& path, const std::string& cert, std::string& error) {
  std::string why;
  if (!readable("TLS key", path, error)) return false;
  if (!check_private_file(path, why)) {
    error = "TLS key " + path + ": " + why;
    return false;
  }
  BIO* in = BIO_new_file(path.c_str(), "r");
  EVP_PKEY* key = in ? PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(in);
  if (key == nullptr) {
    error = "TLS key " + path + ": not a PEM private key (" + openssl_errors() + ")";
    return false;
  }
  bool ok = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!ok) {
    ERR_clear_error();
    error = "TLS key " + path + " does not match the certificate " + cert;
  }
  return ok;
}

bool load_ca(SSL_CTX* ctx, const std::string& path, std::string& error) {
  if (!readable("TLS CA file", path, error)) return false;
  if (SSL_CTX_load_verify_locations(ctx, path.c_str(), nullptr) == 1) return true;
  error = "TLS CA file " + path + ": no PEM certificate in it (" + openssl_errors() + ")";
  return false;
}

//! A TLS 1.3-only context of one side; null with `error`.
SSL_CTX* new_context(bool server, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) {
    error = "TLS: cannot create a context (" + openssl_errors() + ")";
    return nullptr;
  }
  // TLS 1.3 only: a peer that offers at most 1.2 fails the handshake (protocol_version alert).
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (server) SSL_CTX_set_num_tickets(ctx, 0);  // the clients never resume: no tickets to send
  return ctx;
}

}  // namespace

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

std::shared_ptr<tls_context> tls_context::server(const tls_files& files, std::string& error) {
  SSL_CTX* ctx = new_context(true, error);
  if (ctx == nullptr) return nullptr;
  std::shared_ptr<tls_context> context(new tls_context(ctx, true));
  if (!load_certificate(ctx, files.cert, error) || !load_key(ctx, files.key, files.cert, error)) return nullptr;
  if (!files.ca.empty()) {
    // Mutual TLS: a client must present a certificate issued by one of these CAs.
    if (!load_ca(ctx, files.ca, error)) return nullptr;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return context;
}

std::shared_ptr<tls_context> tls_context::client(const tls_files& files, std::string& error) {
  SSL_CTX* ctx = new_context(false, error);
  if (ctx == nullptr) return nullptr;
  std::shared_ptr<tls_context> context(new tls_context(ctx, false));
  if (!load_ca(ctx, files.ca, error)) return nullptr;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (files.cert.empty() != files.key.empty()) {
    error = "TLS: a client certificate needs its key, and a key its certificate";
    return nullptr;
  }
  if (!files.cert.empty() && (!load_certificate(ctx, files.cert, error) || !load_key(ctx, files.key, files.cert, error)))
    return nullptr;
  return context;
}

tls_session::tls_session(std::shared_ptr<tls_context> context, const std::string& peer_name)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->native());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    failed_ = true;
    error_ = "TLS: out of memory";
    return;
  }
  BIO_set_mem_eof_return(in, -1);  // empty: "try again", not end of stream
  SSL_set_bio(ssl_, in, out);
  if (context_->is_server()) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (peer_name.empty()) {
    failed_ = true;
    error_ = "TLS: no server name to verify";
    return;
  }
  unsigned char address[16];
  bool is_ip = inet_pton(AF_INET, peer_name.c_str(), address) == 1 || inet_pton(AF_INET6, peer_name.c_str(), address) == 1;
  bool named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), peer_name.c_str()) == 1
                     : SSL_set_tlsext_host_name(ssl_, peer_name.c_str()) == 1 && SSL_set1_host(ssl_, peer_name.c_str()) == 1;
  if (!named) {
    failed_ = true;
    error_ = "TLS: cannot verify the server name '" + peer_name + "'";
  }
}

tls_session::~tls_session() { SSL_free(ssl_); }

bool tls_session::fail(int ssl_result, const char* what) {
  int code = SSL_get_error(ssl_, ssl_result);
  failed_ = true;
  error_ = std::string("TLS ") + what + " failed: ";
  long verify = SSL_get_verify_result(ssl_);
  if (code == SSL_ERROR_SSL || code == SSL_ERROR_SYSCALL) {
    error_ += openssl_errors();
  } else {
    error_ += "SSL error " + std::to_string(code);
    ERR_clear_error();
  }
  if (verify != X509_V_OK) error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
  return false;
}

bool tls_session::start() {
  if (failed_) return false;
  ERR_clear_error();
  return step();
}

bool tls_session::step() {
  if (handshake_done_) return true;
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    return flush_pending();
  }
  int code = SSL_get_error(ssl_, r);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
  return fail(r, "handshake");
}

bool tls_session::flush_pending() {
  if (pending_.empty()) return true;
  std::string data;
  data.swap(pending_);
  return write(data.data(), data.size());
}

bool tls_session::feed(const char* data, size_t size, std::string& plaintext) {
  if (failed_) return false;
  ERR_clear_error();
  if (size > 0 && BIO_write(SSL_get_rbio(ssl_), data, static_cast<int>(size)) != static_cast<int>(size)) {
    failed_ = true;
    error_ = "TLS: out of memory";
    return false;
  }
  if (!step()) return false;
  if (!handshake_done_) return true;
  constexpr size_t chunk = 16 * 1024;  // one record's plaintext at most
  for (;;) {
    size_t old = plaintext.size();
    plaintext.resize(old + chunk);
    size_t got = 0;
    int r = SSL_read_ex(ssl_, plaintext.data() + old, chunk, &got);
    plaintext.resize(old + got);
    if (r == 1) continue;
    int code = SSL_get_error(ssl_, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
    if (code == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return true;
    }
    return fail(r, "read");
  }
}

bool tls_session::end_of_input() {
  if (failed_) return false;
  if (peer_closed_) return true;
  ERR_clear_error();
  BIO_set_mem_eof_return(SSL_get_rbio(ssl_), 0);
  char byte;
  size_t got = 0;
  int r = handshake_done_ ? SSL_read_ex(ssl_, &byte, 1, &got) : SSL_do_handshake(ssl_);
  if (r == 1 || SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN) return true;
  return fail(r, handshake_done_ ? "read" : "handshake");
}

bool tls_session::write(const char* data, size_t size) {
  if (failed_) return false;
  if (!handshake_done_) {
    pending_.append(data, size);
    return true;
  }
  ERR_clear_error();
  while (size > 0) {
    size_t written = 0;
    int r = SSL_write_ex(ssl_, data, size, &written);
    if (r != 1) return fail(r, "write");
    data += written;
    size -= written;
  }
  return true;
}

void tls_session::shutdown() {
  if (failed_ || !handshake_done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

void tls_session::drain(std::string& out) {
  if (ssl_ == nullptr) return;
  BIO* wbio = SSL_get_wbio(ssl_);
  size_t n = BIO_ctrl_pending(wbio);
  if (n == 0) return;
  size_t old = out.size();
  out.resize(old + n);
  int got = BIO_read(wbio, out.data() + old, static_cast<int>(n));
  out.resize(old + static_cast<size_t>(got > 0 ? got : 0));
}

bool tls_session::pending_output() const { return ssl_ != nullptr && BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

}  // namespace txengine::wire
