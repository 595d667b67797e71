#pragma once
// Test certificates made at test time (OpenSSL API) in a temporary directory, removed with the
// object: a CA, a server certificate it issued (names localhost and 127.0.0.1), a client
// certificate it issued, a cluster node's (both uses), and an unrelated CA with its own server
// and node certificates. Keys are P-256,
// written owner-only. No private key is ever committed.
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace txengine::tls_testing {

class test_pki {
 public:
  test_pki() {
    char pattern[] = "/tmp/txengine-tls-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    issue("ca", "txengine test CA", nullptr, nullptr, nullptr);
    issue("server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1", "serverAuth");
    issue("client", "txengine test client", "ca", nullptr, "clientAuth");
    issue("other_ca", "another CA", nullptr, nullptr, nullptr);
    issue("other_server", "localhost", "other_ca", "DNS:localhost,IP:127.0.0.1", "serverAuth");
    // Cluster nodes (docs/cluster.md): each end of a link is server and client of the other.
    issue("node", "txengine cluster node", "ca", "DNS:localhost,IP:127.0.0.1", "serverAuth,clientAuth");
    issue("other_node", "txengine cluster node", "other_ca", "DNS:localhost,IP:127.0.0.1", "serverAuth,clientAuth");
  }
  ~test_pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

  std::string cert(const std::string& name) const { return dir + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }

  std::string dir;

 private:
  struct free_key {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct free_cert {
    void operator()(X509* x) const { X509_free(x); }
  };

  static void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("bad test certificate extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  static std::unique_ptr<X509, free_cert> read_cert(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    X509* x = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return std::unique_ptr<X509, free_cert>(x);
  }
  static std::unique_ptr<EVP_PKEY, free_key> read_key(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    EVP_PKEY* k = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return std::unique_ptr<EVP_PKEY, free_key>(k);
  }

  //! Writes NAME.key and NAME.crt; `issuer` null: self-signed CA.
  void issue(const std::string& name, const char* common_name, const char* issuer, const char* alt_names,
             const char* usage) {
    std::unique_ptr<EVP_PKEY, free_key> key(EVP_EC_gen("P-256"));
    std::unique_ptr<X509, free_cert> cert(X509_new());
    std::unique_ptr<X509, free_cert> issuer_cert = issuer ? read_cert(this->cert(issuer)) : nullptr;
    std::unique_ptr<EVP_PKEY, free_key> issuer_key = issuer ? read_key(this->key(issuer)) : nullptr;
    if (!key || !cert || (issuer && (!issuer_cert || !issuer_key))) throw std::runtime_error("test PKI failed");
    X509* x = cert.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 24 * 3600);
    X509_set_pubkey(x, key.get());
    X509_NAME* subject = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1,
                               -1, 0);
    X509* signer = issuer ? issuer_cert.get() : x;
    X509_set_issuer_name(x, X509_get_subject_name(signer));
    add_extension(x, signer, NID_subject_key_identifier, "hash");
    if (issuer == nullptr) {
      add_extension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
      add_extension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      add_extension(x, signer, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(x, signer, NID_authority_key_identifier, "keyid");
      add_extension(x, signer, NID_key_usage, "critical,digitalSignature");
      add_extension(x, signer, NID_ext_key_usage, usage);
    }
    if (alt_names) add_extension(x, signer, NID_subject_alt_name, alt_names);
    if (X509_sign(x, issuer ? issuer_key.get() : key.get(), EVP_sha256()) == 0)
      throw std::runtime_error("signing the test certificate failed");
    FILE* c = std::fopen(this->cert(name).c_str(), "w");
    FILE* k = std::fopen(this->key(name).c_str(), "w");
    if (!c || !k) throw std::runtime_error("cannot write the test PKI");
    ::chmod(this->key(name).c_str(), 0600);
    PEM_write_X509(c, x);
    PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(c);
    std::fclose(k);
  }

  long serial_ = 0;
};

}  // namespace txengine::tls_testing
