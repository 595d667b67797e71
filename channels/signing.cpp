#include "channels/signing.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace txengine {

std::string provider_signature(const std::string& secret, const std::string& method, const std::string& path,
                               int64_t timestamp_ms, const std::string& body) {
  std::string message = method + "\n" + path + "\n" + std::to_string(timestamp_ms) + "\n" + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, sizeof mac,
                &length) == nullptr)
    return {};
  std::string hex;
  hex.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    static const char digits[] = "0123456789abcdef";
    hex.push_back(digits[mac[i] >> 4]);
    hex.push_back(digits[mac[i] & 0x0f]);
  }
  return hex;
}

bool same_provider_signature(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace txengine
