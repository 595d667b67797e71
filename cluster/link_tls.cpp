#include "cluster/link_tls.hpp"

#include <sys/stat.h>

#include <memory>

#include <caf/openssl/manager.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace txengine::cluster {

namespace {

std::string openssl_error() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

struct free_ctx {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

}  // namespace

std::string link_tls_problem(const cluster_config& config) {
  if (!config.tls()) return {};
  struct stat st {};
  if (::stat(config.tls_key.c_str(), &st) != 0) return "[cluster] tls_key " + config.tls_key + " cannot be read";
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return "[cluster] tls_key " + config.tls_key + " is readable by others than its owner (chmod 600 it)";
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, free_ctx> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return "OpenSSL: " + openssl_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.tls_cert.c_str()) != 1)
    return "[cluster] tls_cert " + config.tls_cert + " is not a PEM certificate chain: " + openssl_error();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
    return "[cluster] tls_key " + config.tls_key + " is not the PEM private key of tls_cert " + config.tls_cert +
           ": " + openssl_error();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "[cluster] tls_key " + config.tls_key + " is not the PEM private key of tls_cert " + config.tls_cert;
  if (SSL_CTX_load_verify_locations(ctx.get(), config.tls_ca.c_str(), nullptr) != 1)
    return "[cluster] tls_ca " + config.tls_ca + " is not a PEM CA certificate: " + openssl_error();
  return {};
}

void enable_link_tls(caf::actor_system_config& cfg, const cluster_config& config) {
  cfg.load<caf::openssl::manager>();
  // Any of these set makes CAF's sessions verify the peer on both sides
  // (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT against the CA file).
  cfg.openssl_certificate = config.tls_cert;
  cfg.openssl_key = config.tls_key;
  cfg.openssl_cafile = config.tls_ca;
}

}  // namespace txengine::cluster
